package script

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Errors shared by the script builders and parsers.
var (
	// ErrNilKey is returned when a required public or private key is nil.
	ErrNilKey = errors.New("script: nil key")
	// ErrDuplicateKey is returned for a 2-of-2 whose two keys are equal: it
	// would be spendable by one party alone.
	ErrDuplicateKey = errors.New("script: 2-of-2 keys are identical")
	// ErrNotMultisig is returned when a script is not exactly our 2-of-2 template.
	ErrNotMultisig = errors.New("script: not a sorted 2-of-2 multisig script")
	// ErrKeyNotInScript is returned when a key or signature does not belong
	// to the script it is used with.
	ErrKeyNotInScript = errors.New("script: key does not belong to the script")
)

// MultisigScriptLen is the length of the 2-of-2 script:
// OP_2 (1) + 2 × (push 1 + key 33) + OP_2 (1) + OP_CHECKMULTISIG (1) = 71.
const MultisigScriptLen = 71

// MultisigScript returns the 2-of-2 witness script
// OP_2 <pk_low> <pk_high> OP_2 OP_CHECKMULTISIG with the keys sorted by their
// compressed serialization, so both parties build the same script from the
// same two keys regardless of who is "a" and who is "b".
func MultisigScript(a, b *btcec.PublicKey) ([]byte, error) {
	if a == nil || b == nil {
		return nil, ErrNilKey
	}
	lo, hi := a.SerializeCompressed(), b.SerializeCompressed()
	switch bytes.Compare(lo, hi) {
	case 0:
		return nil, ErrDuplicateKey
	case 1:
		lo, hi = hi, lo
	}
	return txscript.NewScriptBuilder().
		AddOp(txscript.OP_2).AddData(lo).AddData(hi).
		AddOp(txscript.OP_2).AddOp(txscript.OP_CHECKMULTISIG).Script()
}

// ParseMultisig returns the two keys (low, high) of a script produced by
// MultisigScript. Anything else (unsorted or uncompressed keys, other
// thresholds, trailing bytes) is refused, so a counterparty cannot slip in a
// script we would not have built ourselves.
func ParseMultisig(script []byte) (low, high *btcec.PublicKey, err error) {
	if len(script) != MultisigScriptLen ||
		script[0] != txscript.OP_2 || script[1] != txscript.OP_DATA_33 ||
		script[35] != txscript.OP_DATA_33 || script[69] != txscript.OP_2 ||
		script[70] != txscript.OP_CHECKMULTISIG {
		return nil, nil, ErrNotMultisig
	}
	if low, err = parseCompressed(script[2:35]); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotMultisig, err)
	}
	if high, err = parseCompressed(script[36:69]); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotMultisig, err)
	}
	if bytes.Compare(script[2:35], script[36:69]) >= 0 {
		return nil, nil, fmt.Errorf("%w: keys not strictly sorted", ErrNotMultisig)
	}
	return low, high, nil
}

// MultisigWitness assembles the witness <empty> <sig_low> <sig_high> <script>
// for a 2-of-2 input from the two keys and their signatures in any order.
// The empty first element is the dummy OP_CHECKMULTISIG pops (NULLDUMMY).
// The signatures are not checked here; Verify the finished transaction.
func MultisigWitness(witnessScript []byte, pubA *btcec.PublicKey, sigA []byte,
	pubB *btcec.PublicKey, sigB []byte) (wire.TxWitness, error) {

	if pubA == nil || pubB == nil {
		return nil, ErrNilKey
	}
	low, high, err := ParseMultisig(witnessScript)
	if err != nil {
		return nil, err
	}
	switch {
	case pubA.IsEqual(low) && pubB.IsEqual(high):
	case pubA.IsEqual(high) && pubB.IsEqual(low):
		sigA, sigB = sigB, sigA
	default:
		return nil, ErrKeyNotInScript
	}
	return wire.TxWitness{{}, sigA, sigB, witnessScript}, nil
}

// WitnessScriptHash returns the P2WSH pkScript OP_0 <sha256(witnessScript)>.
func WitnessScriptHash(witnessScript []byte) []byte {
	h := sha256.Sum256(witnessScript)
	pk := make([]byte, 0, P2WSHPkScriptLen)
	pk = append(pk, txscript.OP_0, txscript.OP_DATA_32)
	return append(pk, h[:]...)
}

// parseCompressed accepts only a 33-byte compressed key on the curve:
// witness v0 policy (WITNESS_PUBKEYTYPE) refuses uncompressed keys anyway.
func parseCompressed(b []byte) (*btcec.PublicKey, error) {
	if len(b) != btcec.PubKeyBytesLenCompressed || (b[0] != 0x02 && b[0] != 0x03) {
		return nil, errors.New("public key is not compressed")
	}
	return btcec.ParsePubKey(b)
}
