package script

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// swapFixture is a funded 2-of-2 with a fully signed contract tx on top.
type swapFixture struct {
	keyA, keyB    *btcec.PrivateKey // 2-of-2 keys
	hashlock      *btcec.PrivateKey
	timelock      *btcec.PrivateKey
	preimage      [32]byte
	ms            []byte
	funding       wire.OutPoint
	fundingValue  int64
	contract      []byte
	contractTx    *wire.MsgTx
	contractOut   wire.OutPoint
	contractValue int64
	contractPrev  map[wire.OutPoint]*wire.TxOut
}

const testCSV = 10

func newSwapFixture(t *testing.T) *swapFixture {
	t.Helper()
	f := &swapFixture{
		keyA: testKey("a"), keyB: testKey("b"),
		hashlock: testKey("hashlock"), timelock: testKey("timelock"),
		preimage: testPreimage("p"), funding: testOutPoint("funding", 1), fundingValue: 1_000_000,
	}
	var err error
	if f.ms, err = MultisigScript(f.keyA.PubKey(), f.keyB.PubKey()); err != nil {
		t.Fatal(err)
	}
	c := &Contract{Hash: PreimageHash(f.preimage), HashlockKey: f.hashlock.PubKey(),
		TimelockKey: f.timelock.PubKey(), CSV: testCSV}
	if f.contract, err = c.Script(); err != nil {
		t.Fatal(err)
	}
	fee := FeeForVSize(EstimateVSize([]InputKind{InputMultisig}, [][]byte{WitnessScriptHash(f.contract)}), 2000)
	if f.contractTx, err = NewContractTx(f.funding, f.fundingValue, f.contract, fee); err != nil {
		t.Fatal(err)
	}
	tx := f.contractTx
	if tx.Version != 2 || tx.LockTime != 0 || len(tx.TxIn) != 1 || len(tx.TxOut) != 1 ||
		tx.TxIn[0].Sequence != SequenceNoRelLock || tx.TxOut[0].Value != f.fundingValue-fee ||
		!bytes.Equal(tx.TxOut[0].PkScript, WitnessScriptHash(f.contract)) {
		t.Fatalf("contract tx template: %+v", tx)
	}
	// Each party signs; each checks the other's signature; then assemble.
	msPk := WitnessScriptHash(f.ms)
	sigA, err := SignInput(tx, 0, f.ms, f.fundingValue, msPk, f.keyA)
	if err != nil {
		t.Fatal(err)
	}
	sigB, err := SignInput(tx, 0, f.ms, f.fundingValue, msPk, f.keyB)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyInputSig(tx, 0, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), sigA); err != nil {
		t.Fatal(err)
	}
	if err := VerifyInputSig(tx, 0, f.ms, f.fundingValue, msPk, f.keyB.PubKey(), sigB); err != nil {
		t.Fatal(err)
	}
	// Order of arguments must not matter.
	w, err := MultisigWitness(f.ms, f.keyB.PubKey(), sigB, f.keyA.PubKey(), sigA)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = w
	if err := Verify(tx, prevMap(f.funding, f.fundingValue, msPk)); err != nil {
		t.Fatalf("contract tx does not verify: %v", err)
	}
	if len(w[0]) != 0 || len(w) != 4 || !bytes.Equal(w[3], f.ms) {
		t.Fatalf("multisig witness layout %x", w)
	}
	f.contractOut = wire.OutPoint{Hash: tx.TxHash(), Index: 0}
	f.contractValue = tx.TxOut[0].Value
	f.contractPrev = prevMap(f.contractOut, f.contractValue, WitnessScriptHash(f.contract))
	if vs := TxVSize(tx); vs > EstimateVSize([]InputKind{InputMultisig}, [][]byte{tx.TxOut[0].PkScript}) {
		t.Errorf("contract tx vsize %d above estimate", vs)
	}
	return f
}

func TestMultisigWitnessWrongSigOrderFails(t *testing.T) {
	f := newSwapFixture(t)
	tx := f.contractTx.Copy()
	w := tx.TxIn[0].Witness
	w[1], w[2] = w[2], w[1]
	if err := Verify(tx, prevMap(f.funding, f.fundingValue, WitnessScriptHash(f.ms))); !errors.Is(err, ErrVerify) {
		t.Fatalf("swapped signatures verified: %v", err)
	}
	if _, err := MultisigWitness(f.ms, f.keyA.PubKey(), nil, testKey("c").PubKey(), nil); !errors.Is(err, ErrKeyNotInScript) {
		t.Fatalf("foreign key accepted: %v", err)
	}
}

func TestHashlockSpend(t *testing.T) {
	f := newSwapFixture(t)
	dest := p2wpkh("dest")
	fee := FeeForVSize(HashlockInputVSize+P2WPKHOutputVSize+TxOverheadVSize, 2000)
	tx, err := HashlockSpendTx(f.contractOut, f.contractValue, f.contract, f.preimage, f.hashlock, dest, fee)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Version != 2 || tx.TxIn[0].Sequence != HashlockSequence || tx.LockTime != 0 {
		t.Fatalf("hashlock template: v%d seq %d lt %d", tx.Version, tx.TxIn[0].Sequence, tx.LockTime)
	}
	w := tx.TxIn[0].Witness
	if len(w) != 3 || !bytes.Equal(w[1], f.preimage[:]) || !bytes.Equal(w[2], f.contract) {
		t.Fatalf("hashlock witness layout %x", w)
	}
	if got, ok := PreimageFromWitness(w, PreimageHash(f.preimage)); !ok || got != f.preimage {
		t.Fatal("preimage not recovered from witness")
	}
	est := EstimateVSize([]InputKind{InputHashlock}, [][]byte{dest})
	if vs := TxVSize(tx); vs > est || est-vs > 2 {
		t.Errorf("hashlock vsize %d vs estimate %d", vs, est)
	}

	// Builder refusals.
	if _, err := HashlockSpendTx(f.contractOut, f.contractValue, f.contract, f.preimage, f.timelock, dest, fee); !errors.Is(err, ErrKeyNotInScript) {
		t.Errorf("timelock key accepted for hashlock: %v", err)
	}
	if _, err := HashlockSpendTx(f.contractOut, f.contractValue, f.contract, testPreimage("other"), f.hashlock, dest, fee); !errors.Is(err, ErrBadPreimage) {
		t.Errorf("wrong preimage accepted: %v", err)
	}
	if _, err := HashlockSpendTx(f.contractOut, f.contractValue, f.contract, f.preimage, f.hashlock, dest, f.contractValue-100); !errors.Is(err, ErrDust) {
		t.Errorf("dust output accepted: %v", err)
	}
	if _, err := HashlockSpendTx(f.contractOut, f.contractValue, f.contract, f.preimage, f.hashlock, dest, -1); !errors.Is(err, ErrFee) {
		t.Errorf("negative fee accepted: %v", err)
	}

	// Engine refusals of hand-made witnesses on the same transaction.
	long := append(f.preimage[:], 0x00)
	tests := []struct {
		name   string
		mutate func(tx *wire.MsgTx)
	}{
		{"31-byte preimage", func(tx *wire.MsgTx) { tx.TxIn[0].Witness[1] = f.preimage[:31] }},
		{"33-byte preimage", func(tx *wire.MsgTx) { tx.TxIn[0].Witness[1] = long }},
		{"wrong preimage", func(tx *wire.MsgTx) { p := testPreimage("other"); tx.TxIn[0].Witness[1] = p[:] }},
		{"empty preimage", func(tx *wire.MsgTx) { tx.TxIn[0].Witness[1] = nil }},
		{"wrong key", func(tx *wire.MsgTx) { resign(t, tx, f.contract, f.contractValue, f.timelock, 1, 2) }},
		{"sig for other tx", func(tx *wire.MsgTx) { tx.TxOut[0].Value-- }},
		{"preimage with timelock layout", func(tx *wire.MsgTx) {
			tx.TxIn[0].Witness = wire.TxWitness{tx.TxIn[0].Witness[0], f.contract}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := tx.Copy()
			tc.mutate(bad)
			if err := Verify(bad, f.contractPrev); !errors.Is(err, ErrVerify) {
				t.Fatalf("verified: %v", err)
			}
		})
	}
}

// resign sets sequence and version on input 0 and re-signs with key, keeping
// the rest of the witness, so the only defect is the one under test.
func resign(t *testing.T, tx *wire.MsgTx, ws []byte, value int64, key *btcec.PrivateKey, seq uint32, version int32) {
	t.Helper()
	tx.TxIn[0].Sequence = seq
	tx.Version = version
	sig, err := SignInput(tx, 0, ws, value, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness[0] = sig
}

func TestTimelockSpend(t *testing.T) {
	f := newSwapFixture(t)
	dest := p2wpkh("refund")
	tx, err := TimelockSpendTx(f.contractOut, f.contractValue, f.contract, f.timelock, dest, 500)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Version != 2 || tx.TxIn[0].Sequence != testCSV || tx.LockTime != 0 {
		t.Fatalf("timelock template: v%d seq %d", tx.Version, tx.TxIn[0].Sequence)
	}
	if w := tx.TxIn[0].Witness; len(w) != 2 || !bytes.Equal(w[1], f.contract) {
		t.Fatalf("timelock witness layout %x", w)
	}
	est := EstimateVSize([]InputKind{InputTimelock}, [][]byte{dest})
	if vs := TxVSize(tx); vs > est || est-vs > 2 {
		t.Errorf("timelock vsize %d vs estimate %d", vs, est)
	}
	if _, err := TimelockSpendTx(f.contractOut, f.contractValue, f.contract, f.hashlock, dest, 500); !errors.Is(err, ErrKeyNotInScript) {
		t.Errorf("hashlock key accepted for timelock: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(tx *wire.MsgTx)
	}{
		{"sequence CSV-1", func(tx *wire.MsgTx) { resign(t, tx, f.contract, f.contractValue, f.timelock, testCSV-1, 2) }},
		{"sequence 0", func(tx *wire.MsgTx) { resign(t, tx, f.contract, f.contractValue, f.timelock, 0, 2) }},
		{"sequence disabled", func(tx *wire.MsgTx) {
			resign(t, tx, f.contract, f.contractValue, f.timelock, wire.MaxTxInSequenceNum, 2)
		}},
		{"time-based sequence", func(tx *wire.MsgTx) {
			resign(t, tx, f.contract, f.contractValue, f.timelock, wire.SequenceLockTimeIsSeconds|testCSV, 2)
		}},
		{"tx version 1", func(tx *wire.MsgTx) { resign(t, tx, f.contract, f.contractValue, f.timelock, testCSV, 1) }},
		{"wrong key", func(tx *wire.MsgTx) { resign(t, tx, f.contract, f.contractValue, f.hashlock, testCSV, 2) }},
		{"extra empty element (citadel layout)", func(tx *wire.MsgTx) {
			w := tx.TxIn[0].Witness
			tx.TxIn[0].Witness = wire.TxWitness{w[0], {}, w[1]}
		}},
		{"preimage with timelock sig", func(tx *wire.MsgTx) {
			w := tx.TxIn[0].Witness
			tx.TxIn[0].Witness = wire.TxWitness{w[0], f.preimage[:], w[1]}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := tx.Copy()
			tc.mutate(bad)
			if err := Verify(bad, f.contractPrev); !errors.Is(err, ErrVerify) {
				t.Fatalf("verified: %v", err)
			}
		})
	}
	// A larger sequence than CSV is fine (the lock is a minimum).
	ok := tx.Copy()
	resign(t, ok, f.contract, f.contractValue, f.timelock, testCSV+5, 2)
	if err := Verify(ok, f.contractPrev); err != nil {
		t.Fatalf("sequence CSV+5: %v", err)
	}
}

func TestCooperativeSpend(t *testing.T) {
	f := newSwapFixture(t)
	dest := p2wpkh("sweep")
	tx, err := CooperativeSpendTx(f.funding, f.fundingValue, f.ms, f.keyB, f.keyA, dest, 400)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Version != 2 || tx.TxIn[0].Sequence != SequenceNoRelLock || tx.LockTime != 0 ||
		tx.TxOut[0].Value != f.fundingValue-400 {
		t.Fatalf("cooperative template %+v", tx)
	}
	est := EstimateVSize([]InputKind{InputMultisig}, [][]byte{dest})
	if vs := TxVSize(tx); vs > est || est-vs > 2 {
		t.Errorf("cooperative vsize %d vs estimate %d", vs, est)
	}
	if _, err := CooperativeSpendTx(f.funding, f.fundingValue, f.ms, f.keyA, testKey("c"), dest, 400); !errors.Is(err, ErrKeyNotInScript) {
		t.Errorf("foreign key accepted: %v", err)
	}
	// One signature replaced by a signature from a key not in the script.
	bad := tx.Copy()
	sig, err := SignInput(bad, 0, f.ms, f.fundingValue, nil, testKey("c"))
	if err != nil {
		t.Fatal(err)
	}
	bad.TxIn[0].Witness[1] = sig
	if err := Verify(bad, prevMap(f.funding, f.fundingValue, WitnessScriptHash(f.ms))); !errors.Is(err, ErrVerify) {
		t.Fatalf("forged 2-of-2 verified: %v", err)
	}
	// Wrong amount in the prevout: BIP143 commits to it.
	if err := Verify(tx, prevMap(f.funding, f.fundingValue+1, WitnessScriptHash(f.ms))); !errors.Is(err, ErrVerify) {
		t.Fatalf("wrong amount verified: %v", err)
	}
	if err := Verify(tx, nil); !errors.Is(err, ErrMissingPrevOut) {
		t.Fatalf("missing prevout: %v", err)
	}
}

func TestBondRedeem(t *testing.T) {
	key := testKey("bond")
	const lockHeight = 15000
	bs, err := BondScript(key.PubKey(), lockHeight)
	if err != nil {
		t.Fatal(err)
	}
	op := testOutPoint("bond", 0)
	const value = 5_000_000
	dest := p2wpkh("bond-dest")
	tx, err := BondRedeemTx(op, value, bs, key, dest, 300)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Version != 2 || tx.LockTime != lockHeight || tx.TxIn[0].Sequence != 0xfffffffe {
		t.Fatalf("bond redeem template: v%d lt %d seq %#x", tx.Version, tx.LockTime, tx.TxIn[0].Sequence)
	}
	if w := tx.TxIn[0].Witness; len(w) != 2 || !bytes.Equal(w[1], bs) {
		t.Fatalf("bond witness %x", w)
	}
	est := EstimateVSize([]InputKind{InputBond}, [][]byte{dest})
	if vs := TxVSize(tx); vs > est || est-vs > 2 {
		t.Errorf("bond vsize %d vs estimate %d", vs, est)
	}
	if _, err := BondRedeemTx(op, value, bs, testKey("x"), dest, 300); !errors.Is(err, ErrKeyNotInScript) {
		t.Errorf("foreign key accepted: %v", err)
	}
	prev := prevMap(op, value, WitnessScriptHash(bs))
	resignBond := func(tx *wire.MsgTx, lt, seq uint32) {
		tx.LockTime, tx.TxIn[0].Sequence = lt, seq
		sig, err := SignInput(tx, 0, bs, value, nil, key)
		if err != nil {
			t.Fatal(err)
		}
		tx.TxIn[0].Witness[0] = sig
	}
	tests := []struct {
		name   string
		mutate func(tx *wire.MsgTx)
	}{
		{"no nLockTime", func(tx *wire.MsgTx) { resignBond(tx, 0, SequenceLockTime) }},
		{"nLockTime one below", func(tx *wire.MsgTx) { resignBond(tx, lockHeight-1, SequenceLockTime) }},
		{"final sequence", func(tx *wire.MsgTx) { resignBond(tx, lockHeight, wire.MaxTxInSequenceNum) }},
		{"timestamp nLockTime", func(tx *wire.MsgTx) { resignBond(tx, LockTimeThreshold+lockHeight, SequenceLockTime) }},
		{"wrong key", func(tx *wire.MsgTx) {
			sig, _ := SignInput(tx, 0, bs, value, nil, testKey("x"))
			tx.TxIn[0].Witness[0] = sig
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := tx.Copy()
			tc.mutate(bad)
			if err := Verify(bad, prev); !errors.Is(err, ErrVerify) {
				t.Fatalf("verified: %v", err)
			}
		})
	}
	later := tx.Copy()
	resignBond(later, lockHeight+100, SequenceLockTime)
	if err := Verify(later, prev); err != nil {
		t.Fatalf("later nLockTime: %v", err)
	}
}

func TestPreimageFromWitness(t *testing.T) {
	p := testPreimage("p")
	h := PreimageHash(p)
	other := testPreimage("q")
	tests := []struct {
		name string
		w    wire.TxWitness
		ok   bool
	}{
		{"hashlock layout", wire.TxWitness{make([]byte, 71), p[:], make([]byte, 104)}, true},
		{"any position", wire.TxWitness{p[:]}, true},
		{"other 32-byte elements first", wire.TxWitness{other[:], p[:]}, true},
		{"timelock layout", wire.TxWitness{make([]byte, 71), make([]byte, 104)}, false},
		{"wrong preimage", wire.TxWitness{other[:]}, false},
		{"31 bytes", wire.TxWitness{p[:31]}, false},
		{"33 bytes", wire.TxWitness{append(p[:], 0)}, false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		got, ok := PreimageFromWitness(tc.w, h)
		if ok != tc.ok || (ok && got != p) {
			t.Errorf("%s: got %x %v", tc.name, got, ok)
		}
	}
}

func TestVerifyInputSig(t *testing.T) {
	f := newSwapFixture(t)
	tx := f.contractTx.Copy()
	tx.TxIn[0].Witness = nil
	msPk := WitnessScriptHash(f.ms)
	sig, err := SignInput(tx, 0, f.ms, f.fundingValue, msPk, f.keyA)
	if err != nil {
		t.Fatal(err)
	}
	highS := makeHighS(t, sig)
	other := tx.Copy()
	other.TxOut[0].Value -= 1
	otherSig, _ := SignInput(other, 0, f.ms, f.fundingValue, msPk, f.keyA)
	forged, _ := SignInput(tx, 0, f.ms, f.fundingValue, msPk, testKey("mallory"))
	noneSig := append(bytes.Clone(sig[:len(sig)-1]), byte(txscript.SigHashNone))

	tests := []struct {
		name    string
		tx      *wire.MsgTx
		ws      []byte
		value   int64
		prevPk  []byte
		pub     *btcec.PublicKey
		sig     []byte
		wantErr error
	}{
		{"valid", tx, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), sig, nil},
		{"valid without prevPkScript", tx, f.ms, f.fundingValue, nil, f.keyA.PubKey(), sig, nil},
		{"other key's pubkey", tx, f.ms, f.fundingValue, msPk, f.keyB.PubKey(), sig, ErrBadSignature},
		{"forged by another key", tx, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), forged, ErrBadSignature},
		{"signature of another tx", tx, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), otherSig, ErrBadSignature},
		{"wrong amount", tx, f.ms, f.fundingValue + 1, msPk, f.keyA.PubKey(), sig, ErrBadSignature},
		{"wrong witness script", tx, f.contract, f.fundingValue, nil, f.keyA.PubKey(), sig, ErrBadSignature},
		{"prevPkScript mismatch", tx, f.ms, f.fundingValue, p2wpkh("x"), f.keyA.PubKey(), sig, ErrScriptMismatch},
		{"high S", tx, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), highS, ErrBadSignature},
		{"SIGHASH_NONE", tx, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), noneSig, ErrBadSignature},
		{"garbage", tx, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), []byte{0x30, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x01}, ErrBadSignature},
		{"empty", tx, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), nil, ErrBadSignature},
		{"bad index", tx, f.ms, f.fundingValue, msPk, f.keyA.PubKey(), sig, ErrInputIndex},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx := 0
			if tc.name == "bad index" {
				idx = 1
			}
			err := VerifyInputSig(tc.tx, idx, tc.ws, tc.value, tc.prevPk, tc.pub, tc.sig)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v want %v", err, tc.wantErr)
			}
		})
	}

	// P2WPKH signing and verification.
	k := testKey("wallet")
	pk := P2WPKHPkScript(k.PubKey())
	op := testOutPoint("p2wpkh", 0)
	spend := wire.NewMsgTx(2)
	spend.AddTxIn(wire.NewTxIn(&op, nil, nil))
	spend.AddTxOut(wire.NewTxOut(90_000, p2wpkh("d")))
	s, err := SignInput(spend, 0, nil, 100_000, pk, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyInputSig(spend, 0, nil, 100_000, pk, k.PubKey(), s); err != nil {
		t.Fatal(err)
	}
	spend.TxIn[0].Witness = P2WPKHWitness(s, k.PubKey())
	if err := Verify(spend, prevMap(op, 100_000, pk)); err != nil {
		t.Fatal(err)
	}
	if _, err := SignInput(spend, 0, nil, 100_000, pk, testKey("other")); !errors.Is(err, ErrScriptMismatch) {
		t.Fatalf("P2WPKH of another key signed: %v", err)
	}
	est := EstimateVSize([]InputKind{InputP2WPKH}, [][]byte{p2wpkh("d")})
	if vs := TxVSize(spend); vs > est || est-vs > 2 {
		t.Errorf("p2wpkh vsize %d vs estimate %d", vs, est)
	}
}

// makeHighS returns the same signature with S replaced by N − S.
func makeHighS(t *testing.T, sig []byte) []byte {
	t.Helper()
	der := sig[:len(sig)-1]
	rLen := int(der[3])
	r := der[4 : 4+rLen]
	sLen := int(der[5+rLen])
	sb := der[6+rLen : 6+rLen+sLen]
	var s btcec.ModNScalar
	var buf [32]byte
	copy(buf[32-len(sb):], sb)
	s.SetBytes(&buf)
	s.Negate()
	hs := s.Bytes()
	hsb := hs[:]
	if hsb[0]&0x80 != 0 {
		hsb = append([]byte{0}, hsb...)
	}
	out := []byte{0x30, byte(4 + len(r) + len(hsb)), 0x02, byte(len(r))}
	out = append(out, r...)
	out = append(out, 0x02, byte(len(hsb)))
	out = append(out, hsb...)
	return append(out, sig[len(sig)-1])
}

// TestMultiInputSigning: SignInput needs only its own prevout, and Verify
// checks every input of a transaction mixing P2WPKH and 2-of-2 inputs.
func TestMultiInputSigning(t *testing.T) {
	f := newSwapFixture(t)
	k := testKey("wallet")
	pk := P2WPKHPkScript(k.PubKey())
	op1 := testOutPoint("p2wpkh-coin", 3)
	tx := wire.NewMsgTx(TxVersion)
	tx.AddTxIn(wire.NewTxIn(&op1, nil, nil))
	tx.AddTxIn(wire.NewTxIn(&f.funding, nil, nil))
	dest := p2wpkh("dest")
	fee := FeeForVSize(EstimateVSize([]InputKind{InputP2WPKH, InputMultisig}, [][]byte{dest}), 1000)
	tx.AddTxOut(wire.NewTxOut(50_000+f.fundingValue-fee, dest))

	s0, err := SignInput(tx, 0, nil, 50_000, pk, k)
	if err != nil {
		t.Fatal(err)
	}
	msPk := WitnessScriptHash(f.ms)
	sa, _ := SignInput(tx, 1, f.ms, f.fundingValue, msPk, f.keyA)
	sb, _ := SignInput(tx, 1, f.ms, f.fundingValue, msPk, f.keyB)
	tx.TxIn[0].Witness = P2WPKHWitness(s0, k.PubKey())
	if tx.TxIn[1].Witness, err = MultisigWitness(f.ms, f.keyA.PubKey(), sa, f.keyB.PubKey(), sb); err != nil {
		t.Fatal(err)
	}
	prev := map[wire.OutPoint]*wire.TxOut{
		op1:       wire.NewTxOut(50_000, pk),
		f.funding: wire.NewTxOut(f.fundingValue, msPk),
	}
	if err := Verify(tx, prev); err != nil {
		t.Fatal(err)
	}
	est := EstimateVSize([]InputKind{InputP2WPKH, InputMultisig}, [][]byte{dest})
	if vs := TxVSize(tx); vs > est || est-vs > 3 {
		t.Errorf("vsize %d vs estimate %d", vs, est)
	}
	// A signature for input 0 does not verify on input 1 and vice versa.
	if err := VerifyInputSig(tx, 1, nil, 50_000, pk, k.PubKey(), s0); err == nil {
		t.Fatal("input 0 signature verified for input 1")
	}
	// Outputs above inputs and duplicate inputs are refused.
	over := tx.Copy()
	over.TxOut[0].Value += fee + 1
	if err := Verify(over, prev); !errors.Is(err, ErrVerify) {
		t.Fatalf("overspend verified: %v", err)
	}
	dup := tx.Copy()
	dup.TxIn[1].PreviousOutPoint = op1
	if err := Verify(dup, prev); !errors.Is(err, ErrVerify) {
		t.Fatalf("duplicate input verified: %v", err)
	}
}
