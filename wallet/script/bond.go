package script

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// LockTimeThreshold is the consensus boundary below which nLockTime and
// OP_CHECKLOCKTIMEVERIFY values are block heights (≥ it they are UNIX
// timestamps). Bonds use heights only.
const LockTimeThreshold = txscript.LockTimeThreshold // 500,000,000

// Bond script length bounds: push 33-byte key (34) + OP_CHECKSIGVERIFY (1) +
// minimal push of the height (2..5: a height in [1, 16] is OP_1..OP_16
// (1 byte); heights < 500,000,000 take at most 4 data bytes + 1 push byte) +
// OP_CHECKLOCKTIMEVERIFY (1).
const (
	MinBondScriptLen = 34 + 1 + 1 + 1
	MaxBondScriptLen = 34 + 1 + 5 + 1
)

// Bond script errors.
var (
	// ErrNotBond is returned for a script that is not exactly our bond template.
	ErrNotBond = errors.New("script: not a fidelity bond script")
	// ErrBondLockTime is returned for a lock height of 0 or a timestamp
	// locktime (≥ 500,000,000).
	ErrBondLockTime = errors.New("script: bond locktime must be a block height in [1, 500000000)")
)

// BondScript returns the fidelity bond witness script
//
//	<pub> OP_CHECKSIGVERIFY <lockHeight> OP_CHECKLOCKTIMEVERIFY
//
// The coins can only move with pub's signature in a transaction whose
// nLockTime ≥ lockHeight, i.e. in a block above lockHeight: until then they
// are provably locked, which is what makes the bond costly. CLTV leaves the
// (non-zero) height on the stack, which satisfies CLEANSTACK as "true".
func BondScript(pub *btcec.PublicKey, lockHeight uint32) ([]byte, error) {
	if pub == nil {
		return nil, ErrNilKey
	}
	if lockHeight == 0 || lockHeight >= LockTimeThreshold {
		return nil, fmt.Errorf("%w: %d", ErrBondLockTime, lockHeight)
	}
	return txscript.NewScriptBuilder().
		AddData(pub.SerializeCompressed()).AddOp(txscript.OP_CHECKSIGVERIFY).
		AddInt64(int64(lockHeight)).AddOp(txscript.OP_CHECKLOCKTIMEVERIFY).Script()
}

// ParseBondScript returns the key and lock height of a script built by
// BondScript, refusing anything else (re-serialization must match exactly).
func ParseBondScript(script []byte) (*btcec.PublicKey, uint32, error) {
	if len(script) < MinBondScriptLen || len(script) > MaxBondScriptLen ||
		script[0] != txscript.OP_DATA_33 || script[34] != txscript.OP_CHECKSIGVERIFY ||
		script[len(script)-1] != txscript.OP_CHECKLOCKTIMEVERIFY {
		return nil, 0, ErrNotBond
	}
	pub, err := parseCompressed(script[1:34])
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotBond, err)
	}
	push := script[35 : len(script)-1]
	var height int64
	switch op := push[0]; {
	case op >= txscript.OP_1 && op <= txscript.OP_16 && len(push) == 1:
		height = int64(op - txscript.OP_1 + 1)
	case op >= txscript.OP_DATA_1 && op <= txscript.OP_DATA_4 && len(push) == int(op)+1:
		n, err := txscript.MakeScriptNum(push[1:], true, 4)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrNotBond, err)
		}
		height = int64(n)
	default:
		return nil, 0, ErrNotBond
	}
	if height <= 0 || height >= LockTimeThreshold {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotBond, ErrBondLockTime)
	}
	want, err := BondScript(pub, uint32(height))
	if err != nil || !bytes.Equal(want, script) {
		return nil, 0, ErrNotBond
	}
	return pub, uint32(height), nil
}

// BondPkScript returns P2WSH(BondScript(pub, lockHeight)).
func BondPkScript(pub *btcec.PublicKey, lockHeight uint32) ([]byte, error) {
	s, err := BondScript(pub, lockHeight)
	if err != nil {
		return nil, err
	}
	return WitnessScriptHash(s), nil
}

// BondRedeemTx builds and signs the redemption of an expired bond output:
// version 2, nLockTime = the bond's lock height, nSequence 0xfffffffe (so
// nLockTime is enforced, as CLTV requires), witness {sig, script}, one
// output paying value − fee to dest. The node accepts it once the tip height
// is ≥ the lock height (the tx is final in the next block). The result has
// passed Verify.
func BondRedeemTx(bondOut wire.OutPoint, value int64, bondScript []byte,
	key *btcec.PrivateKey, dest []byte, fee int64) (*wire.MsgTx, error) {

	pub, lockHeight, err := ParseBondScript(bondScript)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, ErrNilKey
	}
	if !key.PubKey().IsEqual(pub) {
		return nil, fmt.Errorf("%w: not the bond key", ErrKeyNotInScript)
	}
	tx, err := singleSpend(bondOut, SequenceLockTime, lockHeight, value, dest, fee)
	if err != nil {
		return nil, err
	}
	return signSingle(tx, bondScript, value, key, func(sig []byte) wire.TxWitness {
		return wire.TxWitness{sig, bondScript}
	})
}
