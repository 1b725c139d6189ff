package script

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
)

// HashlockSequence is the nSequence of a hashlock spend. The hashlock
// branch has no relative timelock (design decision 7, see doc.go), so the
// claim may spend an unconfirmed contract transaction and pay for it (child
// pays for parent); SequenceNoRelLock disables BIP68 for the input.
const HashlockSequence = SequenceNoRelLock

// PreimageLen is the only preimage length the hashlock branch accepts.
const PreimageLen = 32

// MinContractCSV is the smallest timelock-branch CSV we build or accept. A
// timelock of 0 would let the refund race the contract tx into the mempool
// (defeating the anti-pinning property) and make the hashlock useless; 1
// keeps the script minimal-encodable as OP_1 and is a floor, not a policy —
// the protocol's own minimum is far higher.
const MinContractCSV = 1

// Contract script length bounds: fixed part 101 bytes (see the layout in
// Script) plus the CSV push: 1 byte (OP_1..OP_16), 2 (17..127),
// 3 (128..32767) or 4 (32768..65535, needs a sign byte).
const (
	contractFixedLen   = 101
	MinContractLen     = contractFixedLen + 1
	MaxContractLen     = contractFixedLen + 4
	contractCSVOffset  = 97
	contractHashOffset = 7
	contractHLKeyOff   = 29
	contractTLKeyOff   = 64
)

// ErrNotContract is returned by ParseContract for anything that is not
// byte-for-byte a script Contract.Script would produce.
var ErrNotContract = errors.New("script: not an onionswap HTLC contract script")

// ErrInvalidCSV is returned for a timelock CSV below MinContractCSV.
var ErrInvalidCSV = errors.New("script: contract CSV out of range")

// Contract is the HTLC that secures each swap output when the parties do not
// cooperate. HashlockKey (the receiver) can spend with the preimage of Hash
// at any time, even while the contract tx is unconfirmed; TimelockKey (the
// sender) can spend CSV blocks after it confirms.
type Contract struct {
	Hash        [20]byte // HASH160(preimage)
	HashlockKey *btcec.PublicKey
	TimelockKey *btcec.PublicKey
	CSV         uint16 // relative timelock of the refund, in blocks
}

// Script returns the contract witness script:
//
//	OP_SIZE 32 OP_EQUAL
//	OP_IF
//	    OP_HASH160 <Hash> OP_EQUALVERIFY <HashlockKey>
//	OP_ELSE
//	    <TimelockKey> <CSV> OP_CHECKSEQUENCEVERIFY OP_DROP
//	OP_ENDIF
//	OP_CHECKSIG
//
// Byte layout (offsets): 0 OP_SIZE, 1-2 push 32, 3 OP_EQUAL, 4 OP_IF,
// 5 OP_HASH160, 6-26 push Hash, 27 OP_EQUALVERIFY, 28-61 push HashlockKey,
// 62 OP_ELSE, 63-96 push TimelockKey, 97.. minimal push of CSV, then
// OP_CHECKSEQUENCEVERIFY OP_DROP OP_ENDIF OP_CHECKSIG.
// The branch is selected by the size of the top witness element (32 bytes =
// preimage, anything else = a signature for the refund), see doc.go.
func (c *Contract) Script() ([]byte, error) {
	if c.HashlockKey == nil || c.TimelockKey == nil {
		return nil, ErrNilKey
	}
	if c.CSV < MinContractCSV {
		return nil, fmt.Errorf("%w: %d < %d", ErrInvalidCSV, c.CSV, MinContractCSV)
	}
	if c.HashlockKey.IsEqual(c.TimelockKey) {
		// Not unsafe for the script, but always a bug: the same party
		// would own both branches.
		return nil, ErrDuplicateKey
	}
	return txscript.NewScriptBuilder().
		AddOp(txscript.OP_SIZE).AddInt64(PreimageLen).AddOp(txscript.OP_EQUAL).
		AddOp(txscript.OP_IF).
		AddOp(txscript.OP_HASH160).AddData(c.Hash[:]).AddOp(txscript.OP_EQUALVERIFY).
		AddData(c.HashlockKey.SerializeCompressed()).
		AddOp(txscript.OP_ELSE).
		AddData(c.TimelockKey.SerializeCompressed()).AddInt64(int64(c.CSV)).
		AddOp(txscript.OP_CHECKSEQUENCEVERIFY).AddOp(txscript.OP_DROP).
		AddOp(txscript.OP_ENDIF).
		AddOp(txscript.OP_CHECKSIG).Script()
}

// PkScript returns the P2WSH pkScript paying to the contract.
func (c *Contract) PkScript() ([]byte, error) {
	s, err := c.Script()
	if err != nil {
		return nil, err
	}
	return WitnessScriptHash(s), nil
}

// ParseContract extracts the contract terms from a witness script and
// refuses anything that is not exactly what Contract.Script produces for
// those terms (non-minimal pushes, uncompressed or invalid keys, CSV 0,
// trailing bytes, another opcode anywhere).
// Counterparties send us scripts; we only sign for scripts we could have
// built ourselves.
func ParseContract(script []byte) (*Contract, error) {
	if len(script) < MinContractLen || len(script) > MaxContractLen {
		return nil, fmt.Errorf("%w: length %d", ErrNotContract, len(script))
	}
	if script[contractHashOffset-1] != txscript.OP_DATA_20 ||
		script[contractHLKeyOff-1] != txscript.OP_DATA_33 ||
		script[contractTLKeyOff-1] != txscript.OP_DATA_33 {
		return nil, ErrNotContract
	}
	var c Contract
	copy(c.Hash[:], script[contractHashOffset:contractHashOffset+20])
	var err error
	if c.HashlockKey, err = parseCompressed(script[contractHLKeyOff : contractHLKeyOff+33]); err != nil {
		return nil, fmt.Errorf("%w: hashlock key: %w", ErrNotContract, err)
	}
	if c.TimelockKey, err = parseCompressed(script[contractTLKeyOff : contractTLKeyOff+33]); err != nil {
		return nil, fmt.Errorf("%w: timelock key: %w", ErrNotContract, err)
	}
	csv, ok := parseCSVPush(script[contractCSVOffset : len(script)-4])
	if !ok {
		return nil, fmt.Errorf("%w: bad CSV push", ErrNotContract)
	}
	c.CSV = csv
	// Rebuild and compare: this checks every opcode of the template in one
	// place and guarantees parse(script).Script() == script.
	want, err := c.Script()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotContract, err)
	}
	if !bytes.Equal(want, script) {
		return nil, ErrNotContract
	}
	return &c, nil
}

// parseCSVPush decodes a minimally pushed number in [1, 65535]. Exactness of
// the encoding is enforced by the caller's rebuild-and-compare.
func parseCSVPush(b []byte) (uint16, bool) {
	if len(b) == 0 {
		return 0, false
	}
	op := b[0]
	switch {
	case op >= txscript.OP_1 && op <= txscript.OP_16 && len(b) == 1:
		return uint16(op - txscript.OP_1 + 1), true
	case op >= txscript.OP_DATA_1 && op <= txscript.OP_DATA_3 && len(b) == int(op)+1:
		n, err := txscript.MakeScriptNum(b[1:], true, 3)
		if err != nil || n < 1 || n > 0xffff {
			return 0, false
		}
		return uint16(n), true
	}
	return 0, false
}

// PreimageHash returns HASH160(preimage), the value a Contract commits to.
func PreimageHash(preimage [32]byte) [20]byte {
	var h [20]byte
	copy(h[:], btcutil.Hash160(preimage[:]))
	return h
}
