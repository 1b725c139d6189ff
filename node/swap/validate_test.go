package swap

import (
	"errors"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

func mustKey(t *testing.T) *btcec.PrivateKey {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCheckContractTx: only the exact contract tx of (funding, value,
// script, fee rate), unsigned, passes.
func TestCheckContractTx(t *testing.T) {
	var hash [20]byte
	hash[3] = 7
	cs, err := ContractFor(hash, mustKey(t).PubKey(), mustKey(t).PubKey(), 40)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ContractFor(hash, mustKey(t).PubKey(), mustKey(t).PubKey(), 40)
	if err != nil {
		t.Fatal(err)
	}
	funding := wire.OutPoint{Hash: [32]byte{1}, Index: 1}
	const value, rate = 100_000, 4000
	build := func(op wire.OutPoint, v int64, s []byte, r int64) *wire.MsgTx {
		tx, err := script.NewContractTx(op, v, s, ContractFee(r))
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	tests := []struct {
		name string
		tx   *wire.MsgTx
		ok   bool
	}{
		{"exact", build(funding, value, cs, rate), true},
		{"other funding outpoint", build(wire.OutPoint{Hash: funding.Hash, Index: 0}, value, cs, rate), false},
		{"other value", build(funding, value+1, cs, rate), false},
		{"other contract", build(funding, value, other, rate), false},
		{"other fee rate", build(funding, value, cs, rate+1000), false},
		{"signed", func() *wire.MsgTx {
			tx := build(funding, value, cs, rate)
			tx.TxIn[0].Witness = wire.TxWitness{{1}}
			return tx
		}(), false},
		{"extra output", func() *wire.MsgTx {
			tx := build(funding, value, cs, rate)
			tx.AddTxOut(wire.NewTxOut(1000, tx.TxOut[0].PkScript))
			tx.TxOut[0].Value -= 1000
			return tx
		}(), false},
		{"other locktime", func() *wire.MsgTx {
			tx := build(funding, value, cs, rate)
			tx.LockTime = 1
			return tx
		}(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckContractTx(tc.tx, funding, value, cs, rate)
			if tc.ok != (err == nil) || (err != nil && (!errors.Is(err, ErrContractTx) || Code(err) != protocol.CodeInvalidRequest)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestCheckSigAndOtherKey: a counterparty's contract signature must be
// by the other key of the 2-of-2, over this tx and amount.
func TestCheckSigAndOtherKey(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	ms, err := script.MultisigScript(a.PubKey(), b.PubKey())
	if err != nil {
		t.Fatal(err)
	}
	var hash [20]byte
	cs, _ := ContractFor(hash, mustKey(t).PubKey(), mustKey(t).PubKey(), 20)
	const value = 50_000
	tx, err := script.NewContractTx(wire.OutPoint{Hash: [32]byte{9}}, value, cs, ContractFee(2000))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *btcec.PrivateKey, v int64) []byte {
		s, err := SignContract(tx, ms, v, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name string
		pub  *btcec.PublicKey
		sig  []byte
		ok   bool
	}{
		{"valid", a.PubKey(), sign(a, value), true},
		{"valid, other key", b.PubKey(), sign(b, value), true},
		{"signed by the other party", a.PubKey(), sign(b, value), false},
		{"over another amount", a.PubKey(), sign(a, value+1), false},
		{"with the sighash byte", a.PubKey(), WithSigHash(sign(a, value)), false},
		{"empty", a.PubKey(), nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSig(tx, ms, value, tc.pub, tc.sig)
			if tc.ok != (err == nil) || (err != nil && Code(err) != protocol.CodeInvalidSignature) {
				t.Fatalf("err = %v (code %s)", err, Code(err))
			}
		})
	}
	if k, err := OtherKey(ms, a.PubKey()); err != nil || !k.IsEqual(b.PubKey()) {
		t.Fatalf("other key of a: %v", err)
	}
	if k, err := OtherKey(ms, b.PubKey()); err != nil || !k.IsEqual(a.PubKey()) {
		t.Fatalf("other key of b: %v", err)
	}
	if _, err := OtherKey(ms, mustKey(t).PubKey()); !errors.Is(err, ErrKeyNotMine) {
		t.Fatalf("stranger: %v", err)
	}
	if _, err := OtherKey(cs, a.PubKey()); !errors.Is(err, ErrScript) {
		t.Fatalf("not a multisig: %v", err)
	}
}

// TestCode: every refusal reaches the peer with the code the protocol
// gives it; anything else is Internal.
func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		code protocol.ErrorCode
	}{
		{ErrSignature, protocol.CodeInvalidSignature},
		{ErrLiquidity, protocol.CodeInsufficientLiquidity},
		{ErrUnavailable, protocol.CodeBusy},
		{ErrBusy, protocol.CodeBusy},
		{ErrUnknownSwap, protocol.CodeUnknownSwap},
		{ErrWrongPhase, protocol.CodeProtocolViolation},
		{ErrAmount, protocol.CodeInvalidRequest},
		{ErrTxCount, protocol.CodeInvalidRequest},
		{ErrLocktime, protocol.CodeInvalidRequest},
		{ErrReactionTime, protocol.CodeInvalidRequest},
		{ErrFeeRate, protocol.CodeInvalidRequest},
		{ErrReimbursement, protocol.CodeInvalidRequest},
		{ErrFeeSkim, protocol.CodeInvalidRequest},
		{ErrScript, protocol.CodeInvalidRequest},
		{ErrKeyNotMine, protocol.CodeInvalidRequest},
		{ErrKeyMismatch, protocol.CodeInvalidRequest},
		{ErrContractTx, protocol.CodeInvalidRequest},
		{ErrHash, protocol.CodeInvalidRequest},
		{ErrOutpointBound, protocol.CodeInvalidRequest},
		{ErrDuplicate, protocol.CodeInvalidRequest},
		{ErrFundingMissing, protocol.CodeInvalidRequest},
		{ErrNotConfirmed, protocol.CodeInvalidRequest},
		{errors.New("disk full"), protocol.CodeInternal},
		{ErrConfig, protocol.CodeInternal},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := Code(fmt.Errorf("context: %w", tc.err)); got != tc.code {
				t.Fatalf("code %s, want %s", got, tc.code)
			}
		})
	}
	// A liquidity refusal wrapped in an amount refusal (the maker's
	// SetupHop when its coins are short) stays a liquidity refusal.
	if got := Code(fmt.Errorf("%w (%w)", refuse(ErrAmount, "too big"), ErrLiquidity)); got != protocol.CodeInsufficientLiquidity {
		t.Fatalf("amount+liquidity: %s", got)
	}
}

// TestFeeRules: the fee-rate bounds, the contract fee and the forwarding
// identity the taker checks every maker against.
func TestFeeRules(t *testing.T) {
	for _, tc := range []struct {
		rate int64
		ok   bool
	}{{wallet.MinFeeRate - 1, false}, {wallet.MinFeeRate, true}, {wallet.MaxFeeRate, true}, {wallet.MaxFeeRate + 1, false}} {
		if err := CheckFeeRate(tc.rate); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrFeeRate)) {
			t.Errorf("rate %d: %v", tc.rate, err)
		}
	}
	if got := ContractFee(4000); got != ContractTxVSize*4 {
		t.Fatalf("contract fee at 4 sat/vB: %d, want %d", got, ContractTxVSize*4)
	}
	// Along a route the amounts telescope: what the last hop receives is
	// the amount minus every fee and reimbursement, exactly.
	terms := Terms{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000}
	locks := Locktimes(3, DefaultLastHopLocktime, DefaultLocktimeStep)
	in, total := int64(20_000_000), int64(0)
	reimb := Reimbursement(2, 2000)
	for i := 1; i <= 3; i++ {
		fee := MakerFee(terms, in, locks[i])
		total += fee + reimb
		in = Forward(in, fee, reimb)
	}
	if in != 20_000_000-total {
		t.Fatalf("received %d, want %d", in, 20_000_000-total)
	}
	// A longer outgoing lock costs more.
	if MakerFee(terms, 1_000_000, 60) <= MakerFee(terms, 1_000_000, 40) {
		t.Fatal("time fee does not grow with the locktime")
	}
}
