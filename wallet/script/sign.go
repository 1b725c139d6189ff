package script

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Signing and verification errors.
var (
	// ErrBadSignature is returned by VerifyInputSig for a signature that is
	// malformed, not strict low-S DER, not SIGHASH_ALL, or not valid for the
	// key and input.
	ErrBadSignature = errors.New("script: invalid signature")
	// ErrScriptMismatch is returned when a prevout's pkScript does not pay to
	// the witness script (or key) we are asked to sign for.
	ErrScriptMismatch = errors.New("script: prevout pkScript does not match")
	// ErrMissingPrevOut is returned by Verify when a spent output is unknown.
	ErrMissingPrevOut = errors.New("script: missing previous output")
	// ErrVerify wraps a script engine failure in Verify.
	ErrVerify = errors.New("script: transaction does not verify")
	// ErrInputIndex is returned for an input index outside the transaction.
	ErrInputIndex = errors.New("script: input index out of range")
)

// SigHashType is the only sighash onionswap signs or accepts: every
// signature commits to all inputs and outputs.
const SigHashType = txscript.SigHashAll

// SignInput returns a BIP143 signature (DER + SIGHASH_ALL byte) for input
// idx of tx, which spends an output of value sat.
//
// For a P2WSH input pass its witnessScript; prevPkScript (optional for P2WSH)
// is checked to be P2WSH(witnessScript). For a P2WPKH input pass a nil
// witnessScript and the P2WPKH prevPkScript, which must pay to key.
//
// BIP143 (segwit v0) sighashes commit to the spent amount of this input only,
// so the other inputs' prevouts are not needed; a placeholder non-taproot
// prevout is served for them.
func SignInput(tx *wire.MsgTx, idx int, witnessScript []byte, value int64,
	prevPkScript []byte, key *btcec.PrivateKey) ([]byte, error) {

	if key == nil {
		return nil, ErrNilKey
	}
	sigHash, err := inputSigHash(tx, idx, witnessScript, value, prevPkScript, key.PubKey())
	if err != nil {
		return nil, err
	}
	sig := ecdsa.Sign(key, sigHash)
	return append(sig.Serialize(), byte(SigHashType)), nil
}

// VerifyInputSig checks a counterparty's signature for input idx before we
// store it or rely on it: it must be strict DER with low S (what the node's
// policy demands), carry SIGHASH_ALL, and be valid for pub over the BIP143
// sighash of tx with the given witness script (or P2WPKH prevPkScript) and
// value. Arguments mirror SignInput, with the public key and signature.
func VerifyInputSig(tx *wire.MsgTx, idx int, witnessScript []byte, value int64,
	prevPkScript []byte, pub *btcec.PublicKey, sig []byte) error {

	if pub == nil {
		return ErrNilKey
	}
	if len(sig) < ecdsa.MinSigLen+1 {
		return fmt.Errorf("%w: too short", ErrBadSignature)
	}
	if txscript.SigHashType(sig[len(sig)-1]) != SigHashType {
		return fmt.Errorf("%w: sighash type %#x", ErrBadSignature, sig[len(sig)-1])
	}
	der := sig[:len(sig)-1]
	parsed, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	// Serialize emits canonical DER with low S: anything else would pass
	// here but be refused by the node (DERSIG/LOW_S policy).
	if !bytes.Equal(parsed.Serialize(), der) {
		return fmt.Errorf("%w: not canonical low-S DER", ErrBadSignature)
	}
	sigHash, err := inputSigHash(tx, idx, witnessScript, value, prevPkScript, pub)
	if err != nil {
		return err
	}
	if !parsed.Verify(sigHash, pub) {
		return fmt.Errorf("%w: does not verify for input %d", ErrBadSignature, idx)
	}
	return nil
}

// inputSigHash computes the BIP143 SIGHASH_ALL digest for input idx.
func inputSigHash(tx *wire.MsgTx, idx int, witnessScript []byte, value int64,
	prevPkScript []byte, pub *btcec.PublicKey) ([]byte, error) {

	if tx == nil || idx < 0 || idx >= len(tx.TxIn) {
		return nil, ErrInputIndex
	}
	var scriptCode []byte
	switch {
	case witnessScript != nil:
		if prevPkScript != nil && !bytes.Equal(prevPkScript, WitnessScriptHash(witnessScript)) {
			return nil, fmt.Errorf("%w: not P2WSH of the witness script", ErrScriptMismatch)
		}
		if prevPkScript == nil {
			prevPkScript = WitnessScriptHash(witnessScript)
		}
		scriptCode = witnessScript
	default:
		want := P2WPKHPkScript(pub)
		if !bytes.Equal(prevPkScript, want) {
			return nil, fmt.Errorf("%w: not P2WPKH of the key", ErrScriptMismatch)
		}
		// btcd turns a P2WPKH program into the BIP143 P2PKH script code.
		scriptCode = prevPkScript
	}
	fetcher := &oneInputFetcher{op: tx.TxIn[idx].PreviousOutPoint, out: wire.NewTxOut(value, prevPkScript)}
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	return txscript.CalcWitnessSigHash(scriptCode, sigHashes, SigHashType, tx, idx, value)
}

// oneInputFetcher serves the prevout being signed and a placeholder for the
// others. txscript.NewTxSigHashes only looks at the other prevouts to decide
// whether taproot midstates are needed, which BIP143 signatures never use.
type oneInputFetcher struct {
	op  wire.OutPoint
	out *wire.TxOut
}

func (f *oneInputFetcher) FetchPrevOutput(op wire.OutPoint) *wire.TxOut {
	if op == f.op {
		return f.out
	}
	return &wire.TxOut{}
}

// Verify runs txscript's engine with StandardVerifyFlags (the node's
// mempool policy, which includes every consensus rule) on every input of tx,
// using prevOuts for the spent outputs, and checks the outputs do not exceed
// the inputs. Callers verify every transaction they sign before they
// broadcast it or hand it to a counterparty. It does not check finality or
// BIP68 sequence locks against the chain (the node does that).
func Verify(tx *wire.MsgTx, prevOuts map[wire.OutPoint]*wire.TxOut) error {
	if tx == nil || len(tx.TxIn) == 0 || len(tx.TxOut) == 0 {
		return fmt.Errorf("%w: no inputs or outputs", ErrVerify)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	var in, out int64
	seen := make(map[wire.OutPoint]struct{}, len(tx.TxIn))
	for i, txIn := range tx.TxIn {
		if _, dup := seen[txIn.PreviousOutPoint]; dup {
			return fmt.Errorf("%w: input %d spends %v twice", ErrVerify, i, txIn.PreviousOutPoint)
		}
		seen[txIn.PreviousOutPoint] = struct{}{}
		prev, ok := prevOuts[txIn.PreviousOutPoint]
		if !ok || prev == nil {
			return fmt.Errorf("%w: input %d spends %v", ErrMissingPrevOut, i, txIn.PreviousOutPoint)
		}
		fetcher.AddPrevOut(txIn.PreviousOutPoint, prev)
		in += prev.Value
	}
	for _, o := range tx.TxOut {
		if o.Value < 0 || o.Value > btcutil.MaxSatoshi {
			return fmt.Errorf("%w: output value %d out of range", ErrVerify, o.Value)
		}
		out += o.Value
	}
	if out > in {
		return fmt.Errorf("%w: outputs %d exceed inputs %d", ErrVerify, out, in)
	}
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, txIn := range tx.TxIn {
		prev := prevOuts[txIn.PreviousOutPoint]
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags,
			nil, sigHashes, prev.Value, fetcher)
		if err != nil {
			return fmt.Errorf("%w: input %d: %w", ErrVerify, i, err)
		}
		if err := vm.Execute(); err != nil {
			return fmt.Errorf("%w: input %d: %w", ErrVerify, i, err)
		}
	}
	return nil
}

// P2WPKHPkScript returns OP_0 <HASH160(compressed pub)>.
func P2WPKHPkScript(pub *btcec.PublicKey) []byte {
	pk := make([]byte, 0, P2WPKHPkScriptLen)
	pk = append(pk, txscript.OP_0, txscript.OP_DATA_20)
	return append(pk, btcutil.Hash160(pub.SerializeCompressed())...)
}

// P2WPKHWitness returns the witness {sig, compressed pub} of a P2WPKH input.
func P2WPKHWitness(sig []byte, pub *btcec.PublicKey) wire.TxWitness {
	return wire.TxWitness{sig, pub.SerializeCompressed()}
}

// FundingProofTag tags the digest a coin's owner signs to show, without a
// broadcastable signature, that a funding tx spends its coin
// (protocol.FundingProof).
const FundingProofTag = "onionswap/funding-proof"

// FundingProofDigest is what the owner of input idx of the funding tx
// txid signs: the tag keeps the signature from being anything else (a
// sighash, a bond certificate), txid and idx bind it to one input of one
// transaction.
func FundingProofDigest(txid chainhash.Hash, idx uint32) [32]byte {
	var b [chainhash.HashSize + 4]byte
	copy(b[:], txid[:])
	binary.LittleEndian.PutUint32(b[chainhash.HashSize:], idx)
	return *chainhash.TaggedHash([]byte(FundingProofTag), b[:])
}

// SignFundingProof signs input idx of txid with the coin's key (DER, no
// sighash byte).
func SignFundingProof(key *btcec.PrivateKey, txid chainhash.Hash, idx uint32) []byte {
	d := FundingProofDigest(txid, idx)
	return ecdsa.Sign(key, d[:]).Serialize()
}

// VerifyFundingProof checks an input owner's signature and that the spent
// output (pkScript) is P2WPKH of pub.
func VerifyFundingProof(pub *btcec.PublicKey, pkScript []byte, txid chainhash.Hash, idx uint32, sig []byte) error {
	if pub == nil {
		return ErrNilKey
	}
	if !bytes.Equal(P2WPKHPkScript(pub), pkScript) {
		return fmt.Errorf("%w: input %d is not P2WPKH of the proof's key", ErrScriptMismatch, idx)
	}
	s, err := ecdsa.ParseDERSignature(sig)
	if err != nil {
		return fmt.Errorf("%w: input %d: %v", ErrBadSignature, idx, err)
	}
	d := FundingProofDigest(txid, idx)
	if !s.Verify(d[:], pub) {
		return fmt.Errorf("%w: input %d funding proof", ErrBadSignature, idx)
	}
	return nil
}
