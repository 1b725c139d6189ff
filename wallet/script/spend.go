package script

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// Transaction template constants (see doc.go for the rules).
const (
	// TxVersion is used for every transaction we build: version 2 is
	// required for BIP68, which OP_CHECKSEQUENCEVERIFY relies on.
	TxVersion = 2
	// SequenceNoRelLock has the BIP68 disable bit (1<<31) set, so it
	// imposes no relative lock, and is below 0xfffffffe, so it signals BIP125
	// replaceability and keeps nLockTime enforced. Used for the contract tx
	// and cooperative spends.
	SequenceNoRelLock uint32 = wire.MaxTxInSequenceNum - 2 // 0xfffffffd
	// SequenceLockTime is the highest sequence that keeps nLockTime (and so
	// OP_CHECKLOCKTIMEVERIFY) enforced; used by the bond redemption.
	SequenceLockTime uint32 = wire.MaxTxInSequenceNum - 1 // 0xfffffffe
)

// Errors of the transaction builders.
var (
	// ErrFee is returned for a negative fee or one that leaves nothing.
	ErrFee = errors.New("script: invalid fee")
	// ErrDust is returned when the output would be below the dust limit
	// of its pkScript and the node would refuse the transaction.
	ErrDust = errors.New("script: output below dust limit")
	// ErrBadPreimage is returned when a preimage does not hash to the
	// contract's hash.
	ErrBadPreimage = errors.New("script: preimage does not match the contract hash")
)

// NewContractTx builds the (unsigned) contract transaction: version 2,
// nLockTime 0, one input spending the 2-of-2 funding outpoint with nSequence
// SequenceNoRelLock, one output paying fundingValue − fee to
// P2WSH(contractScript). It is deterministic, so sender and receiver build the
// same transaction and can exchange signatures for it (SignInput with the
// multisig script, checked with VerifyInputSig, assembled with
// MultisigWitness, then Verify).
func NewContractTx(funding wire.OutPoint, fundingValue int64, contractScript []byte, fee int64) (*wire.MsgTx, error) {
	if _, err := ParseContract(contractScript); err != nil {
		return nil, err
	}
	return singleSpend(funding, SequenceNoRelLock, 0, fundingValue, WitnessScriptHash(contractScript), fee)
}

// HashlockSpendTx builds and signs the hashlock claim of a contract output:
// version 2, nSequence = HashlockSequence (no relative lock), witness
// {sig, preimage, script}, one output paying value − fee to dest. key must be
// the contract's hashlock key and preimage must hash to its Hash. The result
// has passed Verify. The node accepts it as soon as the contract tx is in
// its mempool, so the claim can carry the contract tx (child pays for
// parent: give it a fee covering both).
func HashlockSpendTx(contractOut wire.OutPoint, value int64, contractScript []byte,
	preimage [32]byte, key *btcec.PrivateKey, dest []byte, fee int64) (*wire.MsgTx, error) {

	c, err := ParseContract(contractScript)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, ErrNilKey
	}
	if !key.PubKey().IsEqual(c.HashlockKey) {
		return nil, fmt.Errorf("%w: not the hashlock key", ErrKeyNotInScript)
	}
	if PreimageHash(preimage) != c.Hash {
		return nil, ErrBadPreimage
	}
	tx, err := singleSpend(contractOut, HashlockSequence, 0, value, dest, fee)
	if err != nil {
		return nil, err
	}
	return signSingle(tx, contractScript, value, key, func(sig []byte) wire.TxWitness {
		return wire.TxWitness{sig, preimage[:], contractScript}
	})
}

// TimelockSpendTx builds and signs the refund of a contract output through
// the timelock branch: version 2, nSequence = the contract's CSV, witness
// {sig, script}, one output paying value − fee to dest. key must be the
// contract's timelock key. The node accepts it once the contract tx has CSV
// confirmations (it can be mined in block confHeight+CSV).
func TimelockSpendTx(contractOut wire.OutPoint, value int64, contractScript []byte,
	key *btcec.PrivateKey, dest []byte, fee int64) (*wire.MsgTx, error) {

	c, err := ParseContract(contractScript)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, ErrNilKey
	}
	if !key.PubKey().IsEqual(c.TimelockKey) {
		return nil, fmt.Errorf("%w: not the timelock key", ErrKeyNotInScript)
	}
	tx, err := singleSpend(contractOut, uint32(c.CSV), 0, value, dest, fee)
	if err != nil {
		return nil, err
	}
	return signSingle(tx, contractScript, value, key, func(sig []byte) wire.TxWitness {
		return wire.TxWitness{sig, contractScript}
	})
}

// CooperativeSpendTx spends a 2-of-2 output with both private keys (after
// the counterparty handed its key over) to dest: version 2, nSequence
// SequenceNoRelLock, nLockTime 0, witness {<empty>, sig_low, sig_high,
// script}. This is the sweep that turns a received swap coin into a
// single-key coin. The result has passed Verify.
func CooperativeSpendTx(fundingOut wire.OutPoint, value int64, multisigScript []byte,
	keyA, keyB *btcec.PrivateKey, dest []byte, fee int64) (*wire.MsgTx, error) {

	if keyA == nil || keyB == nil {
		return nil, ErrNilKey
	}
	if _, _, err := ParseMultisig(multisigScript); err != nil {
		return nil, err
	}
	tx, err := singleSpend(fundingOut, SequenceNoRelLock, 0, value, dest, fee)
	if err != nil {
		return nil, err
	}
	sigA, err := SignInput(tx, 0, multisigScript, value, nil, keyA)
	if err != nil {
		return nil, err
	}
	sigB, err := SignInput(tx, 0, multisigScript, value, nil, keyB)
	if err != nil {
		return nil, err
	}
	w, err := MultisigWitness(multisigScript, keyA.PubKey(), sigA, keyB.PubKey(), sigB)
	if err != nil {
		return nil, err
	}
	tx.TxIn[0].Witness = w
	if err := verifySingle(tx, value, WitnessScriptHash(multisigScript)); err != nil {
		return nil, err
	}
	return tx, nil
}

// PreimageFromWitness returns the first 32-byte witness element whose
// HASH160 equals hash. It is how a party learns the preimage from a
// counterparty's hashlock spend (witness {sig, preimage, script}) seen in the
// mempool or in a block; scanning every element keeps it independent of the
// exact witness position.
func PreimageFromWitness(w wire.TxWitness, hash [20]byte) (preimage [32]byte, ok bool) {
	for _, el := range w {
		if len(el) != PreimageLen {
			continue
		}
		if bytes.Equal(btcutil.Hash160(el), hash[:]) {
			copy(preimage[:], el)
			return preimage, true
		}
	}
	return preimage, false
}

// singleSpend builds a version-2, one-input, one-output transaction paying
// value − fee to dest, refusing negative fees and dust outputs.
func singleSpend(op wire.OutPoint, sequence, lockTime uint32, value int64, dest []byte, fee int64) (*wire.MsgTx, error) {
	if len(dest) == 0 {
		return nil, fmt.Errorf("%w: empty destination", ErrScriptMismatch)
	}
	if fee < 0 || value <= 0 || value > btcutil.MaxSatoshi || fee >= value {
		return nil, fmt.Errorf("%w: value %d, fee %d", ErrFee, value, fee)
	}
	out := value - fee
	if limit := DustLimit(dest); out < limit {
		return nil, fmt.Errorf("%w: %d < %d", ErrDust, out, limit)
	}
	tx := wire.NewMsgTx(TxVersion)
	tx.LockTime = lockTime
	in := wire.NewTxIn(&op, nil, nil)
	in.Sequence = sequence
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(out, bytes.Clone(dest)))
	return tx, nil
}

// signSingle signs input 0 of tx (a P2WSH spend of witnessScript), sets the
// witness built by mk, and verifies the result.
func signSingle(tx *wire.MsgTx, witnessScript []byte, value int64, key *btcec.PrivateKey,
	mk func(sig []byte) wire.TxWitness) (*wire.MsgTx, error) {

	sig, err := SignInput(tx, 0, witnessScript, value, nil, key)
	if err != nil {
		return nil, err
	}
	tx.TxIn[0].Witness = mk(sig)
	if err := verifySingle(tx, value, WitnessScriptHash(witnessScript)); err != nil {
		return nil, err
	}
	return tx, nil
}

func verifySingle(tx *wire.MsgTx, value int64, pkScript []byte) error {
	return Verify(tx, map[wire.OutPoint]*wire.TxOut{
		tx.TxIn[0].PreviousOutPoint: wire.NewTxOut(value, pkScript),
	})
}
