package coinjoin

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// Limits of a round's transaction, with their derivation.
const (
	// DefaultBand: how much more than its fee share an input may pay.
	// Joinstr accepts inputs of denomination + 500 … + 5,000 sat: a band
	// of 4,500 sat above the least fee lets a wallet join with the coin it
	// has instead of making an exact one first (which would link it).
	DefaultBand = 4500
	// MinDenomination: an output smaller than this is not worth the fees
	// of spending it later (10× the 546-sat dust limit of P2PKH, well
	// above P2WPKH's 294).
	MinDenomination = 5460
	// MaxParticipants: the seed's wallets collect 2T transactions and T
	// is 5 by default; 100 inputs is Wasabi's MaxInputCountByRound and
	// keeps a round's transaction near 10 kvB, far below the 100 kvB
	// standardness limit. The wire's bound (protocol.MaxCJPeers).
	MaxParticipants = protocol.MaxCJPeers
	// MinParticipants: a CoinJoin of fewer than 2 is no CoinJoin.
	MinParticipants = protocol.MinCJPeers
)

// Params are a round's terms, the same for every participant.
type Params struct {
	// Denomination of every output, in sat.
	Denomination int64
	// FeeRate: the least fee rate of the transaction, sat/vB.
	FeeRate int64
	// Band: an input may pay up to Band more than its share (0:
	// DefaultBand).
	Band int64
}

func (p Params) band() int64 {
	if p.Band == 0 {
		return DefaultBand
	}
	return p.Band
}

// Input is a participant's coin.
type Input struct {
	OutPoint wire.OutPoint
	Value    int64
	PkScript []byte
}

// Errors of building and checking a round's transaction.
var (
	ErrParams = errors.New("coinjoin: invalid round terms")
	ErrInput  = errors.New("coinjoin: input refused")
	ErrOutput = errors.New("coinjoin: output refused")
	// ErrNotMine: the transaction does not pay us what the round says, or
	// pays someone what it should not: do not sign.
	ErrNotMine = errors.New("coinjoin: transaction refused")
)

// VSize is the virtual size of a round's transaction with n participants
// (P2WPKH inputs and outputs, signatures at their largest).
func VSize(n int) int64 {
	ins := make([]script.InputKind, n)
	outs := make([][]byte, n)
	for i := range outs {
		outs[i] = make([]byte, script.P2WPKHPkScriptLen)
	}
	return script.EstimateVSize(ins, outs) // InputKind 0 is P2WPKH
}

// Share is one participant's part of the fee of a round of n: the
// transaction's fee at the round's rate, split evenly, rounded up.
func (p Params) Share(n int) int64 {
	total := VSize(n) * p.FeeRate
	return (total + int64(n) - 1) / int64(n)
}

// InputRange is the least and the most an input may hold in a round of n.
func (p Params) InputRange(n int) (lo, hi int64) {
	lo = p.Denomination + p.Share(n)
	return lo, lo + p.band()
}

func (p Params) check(n int) error {
	switch {
	case p.Denomination < MinDenomination:
		return fmt.Errorf("%w: denomination %d sat below %d", ErrParams, p.Denomination, MinDenomination)
	case p.FeeRate < 1 || p.FeeRate > MaxFeeRate:
		return fmt.Errorf("%w: fee rate %d sat/vB", ErrParams, p.FeeRate)
	case p.Band < 0:
		return fmt.Errorf("%w: negative band", ErrParams)
	case n < MinParticipants || n > MaxParticipants:
		return fmt.Errorf("%w: %d participants (%d to %d)", ErrParams, n, MinParticipants, MaxParticipants)
	}
	return nil
}

// CheckInput checks one participant's coin for a round of n.
func (p Params) CheckInput(in Input, n int) error {
	if !isP2WPKH(in.PkScript) {
		return fmt.Errorf("%w: %v is not a P2WPKH coin", ErrInput, in.OutPoint)
	}
	lo, hi := p.InputRange(n)
	if in.Value < lo || in.Value > hi {
		return fmt.Errorf("%w: %v holds %d sat, a round of %d takes %d to %d", ErrInput, in.OutPoint, in.Value, n, lo, hi)
	}
	return nil
}

func isP2WPKH(pk []byte) bool {
	return len(pk) == script.P2WPKHPkScriptLen && pk[0] == 0x00 && pk[1] == 0x14
}

// Build is the round's transaction: every input (checked) and one output
// of the denomination per output script (P2WPKH, all distinct), both in
// BIP69 order, version 2, no locktime. There must be as many outputs as
// inputs: one each, no change.
func Build(p Params, ins []Input, outs [][]byte) (*wire.MsgTx, error) {
	n := len(ins)
	if err := p.check(n); err != nil {
		return nil, err
	}
	if len(outs) != n {
		return nil, fmt.Errorf("%w: %d outputs for %d inputs", ErrOutput, len(outs), n)
	}
	seenIn := make(map[wire.OutPoint]bool, n)
	for _, in := range ins {
		if seenIn[in.OutPoint] {
			return nil, fmt.Errorf("%w: %v twice", ErrInput, in.OutPoint)
		}
		seenIn[in.OutPoint] = true
		if err := p.CheckInput(in, n); err != nil {
			return nil, err
		}
	}
	seenOut := make(map[string]bool, n)
	for _, o := range outs {
		if !isP2WPKH(o) {
			return nil, fmt.Errorf("%w: not a P2WPKH script", ErrOutput)
		}
		if seenOut[string(o)] {
			return nil, fmt.Errorf("%w: the same script twice", ErrOutput)
		}
		seenOut[string(o)] = true
	}
	tx := wire.NewMsgTx(2)
	for _, in := range sortedInputs(ins) {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: in.OutPoint, Sequence: wire.MaxTxInSequenceNum})
	}
	sorted := slices.Clone(outs)
	slices.SortFunc(sorted, bytes.Compare) // BIP69: equal amounts, by script
	for _, o := range sorted {
		tx.AddTxOut(&wire.TxOut{Value: p.Denomination, PkScript: bytes.Clone(o)})
	}
	return tx, nil
}

// sortedInputs: BIP69 order, by txid (as displayed, i.e. reversed bytes)
// then index.
func sortedInputs(ins []Input) []Input {
	s := slices.Clone(ins)
	slices.SortFunc(s, func(a, b Input) int {
		if c := bytes.Compare(reversed(a.OutPoint.Hash[:]), reversed(b.OutPoint.Hash[:])); c != 0 {
			return c
		}
		return int(a.OutPoint.Index) - int(b.OutPoint.Index)
	})
	return s
}

func reversed(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

// CheckMine is what a participant checks before it signs tx: that it is
// exactly the transaction Build makes of ins and outs (so no input or
// output was added, dropped or altered), that its own coin and output are
// in it, and that it pays at least the round's fee rate. The other inputs'
// values are what their owners said: a segwit signature commits only to
// the signer's own input's value, so a lie makes the transaction invalid
// or makes the liar pay more, never costs the signer (the round looks the
// coins up on its chain backend before it gets here).
func CheckMine(p Params, tx *wire.MsgTx, ins []Input, outs [][]byte, mine Input, myOut []byte) error {
	want, err := Build(p, ins, outs)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotMine, err)
	}
	if tx.TxHash() != want.TxHash() {
		return fmt.Errorf("%w: not the round's transaction of these inputs and outputs", ErrNotMine)
	}
	if !slices.ContainsFunc(ins, func(in Input) bool {
		return in.OutPoint == mine.OutPoint && in.Value == mine.Value && bytes.Equal(in.PkScript, mine.PkScript)
	}) {
		return fmt.Errorf("%w: our coin is not among its inputs", ErrNotMine)
	}
	mineOut := 0
	for _, o := range tx.TxOut {
		if bytes.Equal(o.PkScript, myOut) && o.Value == p.Denomination {
			mineOut++
		}
	}
	if mineOut != 1 {
		return fmt.Errorf("%w: our output is in it %d times", ErrNotMine, mineOut)
	}
	var in int64
	for _, i := range ins {
		in += i.Value
	}
	fee := in - int64(len(outs))*p.Denomination
	if vs := VSize(len(ins)); fee < vs*p.FeeRate {
		return fmt.Errorf("%w: fee %d sat for %d vB is below %d sat/vB", ErrNotMine, fee, vs, p.FeeRate)
	}
	return nil
}

// PrevOuts maps the inputs to the outputs they spend, for script.Verify.
func PrevOuts(ins []Input) map[wire.OutPoint]*wire.TxOut {
	m := make(map[wire.OutPoint]*wire.TxOut, len(ins))
	for _, in := range ins {
		m[in.OutPoint] = &wire.TxOut{Value: in.Value, PkScript: in.PkScript}
	}
	return m
}
