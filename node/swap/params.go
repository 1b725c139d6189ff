package swap

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

// Timelocks (relative CSV blocks). Hop i of a route through n makers has
// L_i = LastHopLocktime + LocktimeStep·(n − i): the taker's own refund
// (hop 0) is the longest, the last hop (Mn → T) the shortest.
const (
	// MinReactionBlocks is the least time a party needs between learning
	// the preimage on one hop and having its claim on the previous hop
	// confirmed: 1 block to detect (the watcher polls every few seconds,
	// a block is the unit) + 6 blocks to get the claim confirmed under
	// fee pressure (the claim is a CPFP child and can be fee-bumped) + 3
	// blocks of reorg safety = 10. It is the floor of every consecutive
	// locktime gap (L_{i−1} − L_i) and of the last hop's locktime (the
	// taker must get its hashlock claim confirmed before Mn could
	// refund).
	MinReactionBlocks = 1 + 6 + 3

	// DefaultReactionBlocks is a maker's default required gap between its
	// incoming and outgoing CSV: twice the floor, the reference's
	// MIN_CONTRACT_REACTION_TIME (20).
	DefaultReactionBlocks = 2 * MinReactionBlocks

	// DefaultLastHopLocktime and DefaultLocktimeStep: the reference's
	// REFUND_LOCKTIME and REFUND_LOCKTIME_STEP (20, 20): 2 makers give
	// 60/40/20. Each is ≥ MinReactionBlocks.
	DefaultLastHopLocktime = 20
	DefaultLocktimeStep    = 20

	// MaxLocktime bounds any CSV we accept or propose: 2016 blocks (two
	// weeks). Longer locks only let a counterparty freeze our coins
	// longer; even 8 makers × step 20 + 20 = 180 is far below it.
	MaxLocktime = 2016

	// DefaultMakerSwapTimeoutBlocks is the maker's liveness deadline,
	// counted from its incoming funding's confirmation: a swap not settled
	// by then is recovered even if the taker keeps sending keep-alives.
	// It is NOT a safety bound: CSV clocks start only when a contract tx
	// confirms, so a maker that recovers late still has its full
	// outgoing CSV to refund, and any contract broadcast by someone else
	// triggers recovery at once. It bounds how long liquidity stays locked
	// in a stalled swap: the rest of a route of up to protocol.MaxFundingTxs
	// (8) makers needs at most 8 hops × (6 confirmations + 1 block of
	// slack) = 56 blocks before settlement; 72 (12 h) leaves margin.
	DefaultMakerSwapTimeoutBlocks = 72

	// DefaultRequiredConfirms: confirmations a maker needs on its incoming
	// funding before funding its outgoing hop (the reference's 1).
	DefaultRequiredConfirms = 1
	// MaxRequiredConfirms: more than a day of blocks is refused as config.
	MaxRequiredConfirms = 144
)

// Sizes and fees (vbytes from wallet/script's size constants).
const (
	// FundingTxVSize is the reimbursed size of one funding transaction:
	// 1 P2WPKH input, 1 P2WSH output, 1 P2WPKH change (11 + 68 + 43 + 31 =
	// 153 vB). A maker whose coin selection needs more bears the difference.
	FundingTxVSize = script.TxOverheadVSize + script.P2WPKHInputVSize + script.P2WSHOutputVSize + script.P2WPKHOutputVSize

	// ContractTxVSize: 1 2-of-2 input, 1 P2WSH output (42 + 384 + 172 WU =
	// 598 WU = 150 vB).
	ContractTxVSize = (script.TxOverheadWeight + script.MultisigInputWeight + script.P2WSHOutputWeight + 3) / 4

	// SweepTxVSize: a cooperative sweep of one 2-of-2 output to P2WPKH
	// (42 + 384 + 124 WU = 550 WU = 138 vB). One sweep per output: merging
	// the tx_count outputs would re-link them on chain.
	SweepTxVSize = (script.TxOverheadWeight + script.MultisigInputWeight + script.P2WPKHOutputWeight + 3) / 4

	// HashlockClaimVSize / TimelockClaimVSize: spends of a contract output
	// to P2WPKH.
	HashlockClaimVSize = (script.TxOverheadWeight + script.HashlockInputWeight + script.P2WPKHOutputWeight + 3) / 4
	TimelockClaimVSize = (script.TxOverheadWeight + script.TimelockInputWeight + script.P2WPKHOutputWeight + 3) / 4

	// ContractFeeMultiplier: the contract tx's fee is pre-signed and its
	// timelock spend can never be a CPFP child (CSV ≥ 1 needs a confirmed
	// parent), so the taker proposes a contract fee rate of this multiple
	// of the funding estimate. The hashlock claim needs no margin: it
	// carries its parent (CPFP). Residual risk (fee spikes beyond 2×):
	// anchors/TRUC are future work.
	ContractFeeMultiplier = 2

	// MinOutputValue is the smallest funding output (and so contract
	// output) we build or accept: it must pay the contract fee, a claim
	// at a high rate and stay above dust. 10,000 sat covers the contract
	// tx (150 vB) and a claim (137 vB) at 30 sat/vB with margin.
	MinOutputValue = 10_000

	// FeeRateTolerancePercent: a maker accepts a proposed funding fee rate
	// down to this share of its own estimate (estimates differ between
	// nodes; half keeps the swap confirming within a few blocks).
	FeeRateTolerancePercent = 50
)

// Terms are a maker's fee terms (protocol.Offer carries them).
type Terms struct {
	BaseFee      int64
	AmountFeePPB uint32
	TimeFeePPB   uint32
}

// TermsOf extracts the fee terms of an offer.
func TermsOf(o *protocol.Offer) Terms {
	return Terms{BaseFee: o.BaseFee, AmountFeePPB: o.AmountFeePPB, TimeFeePPB: o.TimeFeePPB}
}

var billion = big.NewInt(1_000_000_000)

// MakerFee is the maker's fee for forwarding amount (its incoming total)
// with an outgoing CSV of locktime blocks (how long its funds may be
// locked), in integers:
//
//	BaseFee + ⌊amount·AmountFeePPB/1e9⌋ + ⌊amount·locktime·TimeFeePPB/1e9⌋
//
// computed with big integers (amount·locktime·ppb overflows int64).
func MakerFee(t Terms, amount int64, locktime uint16) int64 {
	a := big.NewInt(amount)
	rel := new(big.Int).Mul(a, big.NewInt(int64(t.AmountFeePPB)))
	rel.Quo(rel, billion)
	tim := new(big.Int).Mul(a, big.NewInt(int64(locktime)))
	tim.Mul(tim, big.NewInt(int64(t.TimeFeePPB)))
	tim.Quo(tim, billion)
	return t.BaseFee + rel.Int64() + tim.Int64()
}

// Reimbursement is what the taker pays a maker for its outgoing funding
// txs: txCount × FundingTxVSize at fundingFeeRate sat/kvB, rounded down.
func Reimbursement(txCount int, fundingFeeRate int64) int64 {
	return int64(txCount) * FundingTxVSize * fundingFeeRate / 1000
}

// ContractFee is the fee of one contract tx at rate sat/kvB.
func ContractFee(rate int64) int64 { return script.FeeForVSize(ContractTxVSize, rate) }

// Forward is the exact outgoing total of a maker: incoming − fee −
// reimbursement. The taker refuses any other total (fee skimming).
func Forward(incoming, fee, reimbursement int64) int64 { return incoming - fee - reimbursement }

// Locktimes returns L_0..L_n for n makers.
func Locktimes(n int, last, step uint16) []uint16 {
	out := make([]uint16, n+1)
	for i := range out {
		out[i] = last + step*uint16(n-i)
	}
	return out
}

// CheckSchedule refuses a locktime schedule that is unsafe: the last hop
// below MinReactionBlocks, a step below MinReactionBlocks, or a first hop
// above MaxLocktime.
func CheckSchedule(n int, last, step uint16) error {
	switch {
	case n < 1 || n > protocol.MaxFundingTxs:
		return fmt.Errorf("%w: %d makers (1..%d)", ErrConfig, n, protocol.MaxFundingTxs)
	case last < MinReactionBlocks:
		return fmt.Errorf("%w: last hop locktime %d < MinReactionBlocks %d", ErrConfig, last, MinReactionBlocks)
	case step < MinReactionBlocks:
		return fmt.Errorf("%w: locktime step %d < MinReactionBlocks %d", ErrConfig, step, MinReactionBlocks)
	case int(last)+int(step)*n > MaxLocktime:
		return fmt.Errorf("%w: first hop locktime %d > MaxLocktime %d", ErrConfig, int(last)+int(step)*n, MaxLocktime)
	}
	return nil
}

// CheckFeeRate refuses rates outside the wallet's floor and sanity ceiling.
func CheckFeeRate(rate int64) error {
	if rate < wallet.MinFeeRate || rate > wallet.MaxFeeRate {
		return fmt.Errorf("%w: fee rate %d sat/kvB outside [%d, %d]", ErrFeeRate, rate, wallet.MinFeeRate, wallet.MaxFeeRate)
	}
	return nil
}

// SplitAmount splits total into n random parts, each ≥ min, summing to
// total exactly (crypto/rand). It fails when total < n·min.
func SplitAmount(total int64, n int, min int64) ([]int64, error) {
	if n < 1 {
		return nil, errors.New("split: no parts")
	}
	if total < int64(n)*min {
		return nil, fmt.Errorf("%w: %d sat cannot be split into %d parts of ≥ %d", ErrAmount, total, n, min)
	}
	// Random cut points over the surplus above the minimum.
	surplus := total - int64(n)*min
	cuts := make([]int64, 0, n+1)
	cuts = append(cuts, 0, surplus)
	for i := 0; i < n-1; i++ {
		r, err := rand.Int(rand.Reader, big.NewInt(surplus+1))
		if err != nil {
			return nil, err
		}
		cuts = append(cuts, r.Int64())
	}
	sortInt64(cuts)
	parts := make([]int64, n)
	for i := 0; i < n; i++ {
		parts[i] = min + cuts[i+1] - cuts[i]
	}
	return parts, nil
}

func sortInt64(s []int64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// RandomIndex returns a crypto/rand index in [0, n).
func RandomIndex(n int) int {
	r, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return int(r.Int64())
}

// WeightedPick returns an index chosen with probability proportional to
// weights (all ≥ 0; zero weights are never picked unless all are zero).
func WeightedPick(weights []float64) int {
	var maxW float64
	for _, w := range weights {
		maxW = max(maxW, w)
	}
	if maxW <= 0 {
		return RandomIndex(len(weights))
	}
	ints := make([]int64, len(weights))
	var sum int64
	for i, w := range weights {
		ints[i] = int64(w / maxW * 1e9)
		if w > 0 && ints[i] == 0 {
			ints[i] = 1
		}
		sum += ints[i]
	}
	r, err := rand.Int(rand.Reader, big.NewInt(sum))
	if err != nil {
		panic(err)
	}
	x := r.Int64()
	for i, v := range ints {
		if x < v {
			return i
		}
		x -= v
	}
	return len(ints) - 1
}
