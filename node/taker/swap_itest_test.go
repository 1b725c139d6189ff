//go:build itest

package taker_test

import (
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/wallet"
)

// TestSwapHappyPath: taker + 2 makers, tx_count 3, exact balances for
// everyone, every contract balance zero, the taker's report consistent.
func TestSwapHappyPath(t *testing.T) {
	m1 := newMaker(t, "m1", makerOpts{})
	m2 := newMaker(t, "m2", makerOpts{})
	tk, tw := newTaker(t, "taker", source(m1, m2))
	before := map[*wallet.Wallet]int64{tw: spendable(t, tw), m1.w: spendable(t, m1.w), m2.w: spendable(t, m2.w)}

	stop := autoMiner(t)
	const amount = 10_000_000
	rep, err := tk.Swap(tctx(t, 3*time.Minute), taker.Request{Amount: amount, TxCount: 3, Makers: 2})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	finals := map[*testMaker][]*swap.MakerSwap{m1: waitMakerFinal(t, m1, time.Minute), m2: waitMakerFinal(t, m2, time.Minute)}
	stop()
	mine(t, 1)
	syncAll(t, tw, m1.w, m2.w)

	// Amounts along the route from the offers' formula, independently.
	recs, err := tk.Swaps(tctx(t, time.Minute))
	if err != nil || len(recs) != 1 {
		t.Fatalf("taker swaps: %v %d", err, len(recs))
	}
	rec := recs[0]
	if rec.Phase != swap.TakerComplete {
		t.Fatalf("taker phase %s", rec.Phase)
	}
	locks := swap.Locktimes(2, swap.DefaultLastHopLocktime, swap.DefaultLocktimeStep)
	reimb := swap.Reimbursement(3, rec.FundingFeeRate)
	fee1 := swap.MakerFee(testTerms, amount, locks[1])
	out1 := amount - fee1 - reimb
	fee2 := swap.MakerFee(testTerms, out1, locks[2])
	out2 := out1 - fee2 - reimb
	if rep.AmountSent != amount || rep.AmountReceived != out2 || rep.MakerFees != fee1+fee2 || rep.Reimbursements != 2*reimb {
		t.Fatalf("report %+v; want received %d fees %d+%d reimb %d", rep, out2, fee1, fee2, reimb)
	}
	// Taker: exactly sent − Σ maker fees − reimbursements − its own mining fees.
	var fundingFees, sweepFees int64
	for _, h := range rep.FundingTxids {
		fundingFees += txFee(t, tw, h)
	}
	for _, h := range rep.SweepTxids {
		sweepFees += txFee(t, tw, h)
	}
	if fundingFees != rep.FundingFees || sweepFees != rep.SweepFees || len(rep.SweepTxids) != 3 {
		t.Fatalf("fees: funding %d/%d sweep %d/%d (%d sweeps)", fundingFees, rep.FundingFees, sweepFees, rep.SweepFees, len(rep.SweepTxids))
	}
	if got, want := spendable(t, tw)-before[tw], -amount+out2-fundingFees-sweepFees; got != want {
		t.Fatalf("taker balance change %d, want %d", got, want)
	}
	// Makers: gain = fee + reimbursement − own funding fees − sweep fees.
	for i, m := range []*testMaker{m1, m2} {
		ss := finals[m]
		if len(ss) != 1 || ss[0].Phase != swap.MakerComplete {
			t.Fatalf("maker %d swaps %d phase %s", i+1, len(ss), ss[0].Phase)
		}
		s := ss[0]
		var mf, sf int64
		for _, o := range s.Out {
			mf += txFee(t, m.w, *o.FundingTxid)
		}
		for _, o := range s.In {
			sf += txFee(t, m.w, *o.ResolveTxid)
		}
		fee := fee2 // route order is random (weighted by bond value)
		if s.InTotal == amount {
			fee = fee1
		}
		if s.Fee != fee || s.Reimbursement != reimb {
			t.Fatalf("maker %d fee %d reimb %d, want %d %d", i+1, s.Fee, s.Reimbursement, fee, reimb)
		}
		if got, want := spendable(t, m.w)-before[m.w], fee+reimb-mf-sf; got != want {
			t.Fatalf("maker %d balance change %d, want %d (fee %d reimb %d funding fees %d sweep fees %d)", i+1, got, want, fee, reimb, mf, sf)
		}
		t.Logf("maker %d: fee %d, reimbursement %d, funding fees %d, sweep fees %d", i+1, fee, reimb, mf, sf)
	}
	for _, w := range []*wallet.Wallet{tw, m1.w, m2.w} {
		if c, s := category(t, w, wallet.Contract), category(t, w, wallet.SwapIncoming); c != 0 || s != 0 {
			t.Fatalf("contract balance %d, swap-incoming balance %d", c, s)
		}
	}
	var wait time.Duration
	for _, p := range rep.Phases {
		wait += p.BlockWait
	}
	t.Logf("swap: wall %v, block waits %v, excluding waits %v; round trips %d, connections %d, bytes sent %d received %d",
		rep.Total.Round(time.Millisecond), wait.Round(time.Millisecond), (rep.Total - wait).Round(time.Millisecond),
		rep.RoundTrips, rep.Connections, rep.BytesSent, rep.BytesReceived)
	for _, p := range rep.Phases {
		t.Logf("  phase %-9s wall %v block wait %v", p.Phase, p.Wall.Round(time.Millisecond), p.BlockWait.Round(time.Millisecond))
	}
	if rep.Connections != 2 || rep.RoundTrips > 8 {
		t.Errorf("connections %d (want 2), round trips %d (want ≤ 8: hello+offer, setup, fund, settle per maker)", rep.Connections, rep.RoundTrips)
	}
}
