package taker_test

// Unit tests of whole swaps: the real taker, makers, engine and wallets in
// one process, on chaintest's in-memory chain, makers behind the inbound
// server on loopback listeners (internal/swaptest). The integration tests
// (*_itest_test.go) run the same flows on btcd and Tor.

import (
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/wallet"
)

// TestSwapCompletes: whole swaps through 1 maker (2 outputs per hop) and
// 2 makers (3 outputs per hop), with makers from a directory (offer asked
// for on connecting) and from the offer book (offer known): exact amounts
// and fees for every party, nothing but funding and sweep transactions on
// the chain, one connection per maker, and the round trips per maker: 4
// from a directory (hello+offer, setup, fund, settle), 3 from the book
// (hello+setup, fund, settle) — 8 against 6 for 2 makers.
func TestSwapCompletes(t *testing.T) {
	for _, tc := range []struct {
		name            string
		makers, txCount int
		amount          int64
		book            bool
		roundTrips      int
	}{
		{"one maker, directory", 1, 2, 6_000_000, false, 4},
		{"one maker, book", 1, 2, 6_000_000, true, 3},
		{"two makers, directory", 2, 3, 10_000_000, false, 8},
		{"two makers, book", 2, 3, 10_000_000, true, 6},
	} {
		t.Run(tc.name, func(t *testing.T) { completeSwap(t, tc.makers, tc.txCount, tc.amount, tc.book, tc.roundTrips) })
	}
}

func completeSwap(t *testing.T, nMakers, txCount int, amount int64, book bool, roundTrips int) {
	net := swaptest.New(t)
	var makers []*swaptest.Maker
	for i := 0; i < nMakers; i++ {
		makers = append(makers, net.NewMaker("m"+string(rune('1'+i)), swaptest.MakerOpts{}))
	}
	src := swaptest.Source(makers...)
	if book {
		src = swaptest.Book(t, makers...)
	}
	tk, tw := net.NewTaker("taker", src, swaptest.TakerOpts{})
	before := map[*wallet.Wallet]int64{tw: swaptest.Spendable(t, tw)}
	for _, m := range makers {
		before[m.W] = swaptest.Spendable(t, m.W)
	}
	accepted0 := len(net.Chain.Accepted())

	stop := net.AutoMine()
	rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: amount, TxCount: txCount, Makers: nMakers})
	if err != nil {
		t.Fatal(err)
	}
	final := map[*swaptest.Maker]*swap.MakerSwap{}
	for _, m := range makers {
		ss := swaptest.MakerFinal(t, m)
		if len(ss) != 1 || ss[0].Phase != swap.MakerComplete {
			t.Fatalf("%s: %d swaps, phase %s", m.Name, len(ss), ss[0].Phase)
		}
		final[m] = ss[0]
	}
	stop()
	ws := []*wallet.Wallet{tw}
	for _, m := range makers {
		ws = append(ws, m.W)
	}
	net.Mine(1, ws...)

	recs, err := tk.Swaps(swaptest.Ctx(t, swaptest.Timeout))
	if err != nil || len(recs) != 1 {
		t.Fatalf("taker swaps: %d, %v", len(recs), err)
	}
	rec := recs[0]
	if rec.Phase != swap.TakerComplete || rec.FundingFeeRate != 2000 {
		t.Fatalf("taker phase %s, funding fee rate %d", rec.Phase, rec.FundingFeeRate)
	}

	// Amounts along the route from the fee formula, independently of the
	// taker's own computation: hop i forwards in − fee(in, L_i) − reimb.
	locks := swap.Locktimes(nMakers, swap.DefaultLastHopLocktime, swap.DefaultLocktimeStep)
	reimb := swap.Reimbursement(txCount, rec.FundingFeeRate)
	in, fees := amount, int64(0)
	feeOf := map[string]int64{} // by maker address
	inOf := map[string]int64{}
	for i, leg := range rec.Makers {
		fee := swap.MakerFee(swaptest.Terms, in, locks[i+1])
		feeOf[leg.Addr], inOf[leg.Addr] = fee, in
		fees += fee
		in = swap.Forward(in, fee, reimb)
	}
	received := in
	if rep.AmountSent != amount || rep.AmountReceived != received || rep.MakerFees != fees ||
		rep.Reimbursements != int64(nMakers)*reimb {
		t.Fatalf("report %+v; want received %d, fees %d, reimbursements %d", rep, received, fees, int64(nMakers)*reimb)
	}

	// Exactly the funding and sweep transactions of every hop reached the
	// chain: no contract, no claim, no refund.
	want := map[chainhash.Hash]string{}
	for h, hop := range rec.Hops {
		for _, ho := range hop {
			want[ho.FundingOutPoint.Hash] = "funding of hop " + string(rune('0'+h))
		}
	}
	for _, o := range rec.In {
		want[*o.ResolveTxid] = "taker sweep"
	}
	for m, s := range final {
		for _, o := range s.In {
			want[*o.ResolveTxid] = m.Name + " sweep"
		}
	}
	if len(want) != 2*(nMakers+1)*txCount {
		t.Fatalf("%d distinct funding and sweep txids, want %d", len(want), 2*(nMakers+1)*txCount)
	}
	accepted := net.Chain.Accepted()[accepted0:]
	for _, tx := range accepted {
		if _, ok := want[tx.TxHash()]; !ok {
			t.Errorf("unexpected transaction %v on the chain", tx.TxHash())
		}
		if net.Chain.Confirmations(tx.TxHash()) < 1 {
			t.Errorf("transaction %v (%s) not confirmed", tx.TxHash(), want[tx.TxHash()])
		}
	}
	if len(accepted) != len(want) {
		t.Fatalf("%d transactions reached the chain, want %d", len(accepted), len(want))
	}

	// Taker: −sent + received − its own mining fees, each checked against
	// the fee the chain sees.
	var fundingFees, sweepFees int64
	for _, h := range rep.FundingTxids {
		fundingFees += net.Fee(h)
	}
	for _, h := range rep.SweepTxids {
		sweepFees += net.Fee(h)
	}
	if fundingFees != rep.FundingFees || sweepFees != rep.SweepFees || len(rep.SweepTxids) != txCount {
		t.Fatalf("taker fees: funding %d (report %d), sweeps %d (report %d), %d sweeps", fundingFees, rep.FundingFees,
			sweepFees, rep.SweepFees, len(rep.SweepTxids))
	}
	if got, want := swaptest.Spendable(t, tw)-before[tw], -amount+received-fundingFees-sweepFees; got != want {
		t.Fatalf("taker balance change %d, want %d", got, want)
	}
	// Makers: + fee + reimbursement − own funding and sweep fees.
	for _, m := range makers {
		s := final[m]
		if s.InTotal != inOf[m.Addr()] || s.Fee != feeOf[m.Addr()] || s.Reimbursement != reimb {
			t.Fatalf("%s: in %d fee %d reimbursement %d, want %d %d %d", m.Name, s.InTotal, s.Fee, s.Reimbursement,
				inOf[m.Addr()], feeOf[m.Addr()], reimb)
		}
		var mf, sf int64
		for _, o := range s.Out {
			mf += net.Fee(*o.FundingTxid)
		}
		for _, o := range s.In {
			sf += net.Fee(*o.ResolveTxid)
		}
		if got, want := swaptest.Spendable(t, m.W)-before[m.W], s.Fee+s.Reimbursement-mf-sf; got != want {
			t.Fatalf("%s balance change %d, want %d (fee %d reimbursement %d funding fees %d sweep fees %d)",
				m.Name, got, want, s.Fee, s.Reimbursement, mf, sf)
		}
	}
	for _, w := range ws {
		if c, s := swaptest.Balance(t, w, wallet.Contract), swaptest.Balance(t, w, wallet.SwapIncoming); c != 0 || s != 0 {
			t.Fatalf("contract balance %d, swap-incoming balance %d", c, s)
		}
	}
	if rep.Connections != nMakers || rep.RoundTrips != roundTrips {
		t.Errorf("connections %d (want %d), round trips %d (want %d)", rep.Connections, nMakers, rep.RoundTrips, roundTrips)
	}
}

// TestSwapSpareReplacesMakerClosingAtSetup: the first-picked maker drops
// the connection at SetupHop (fault maker:close-at=setup), before anything
// is at risk: it is marked bad, the spare takes its place and the swap
// completes; the dropper's wallet is untouched and its reservation
// released.
func TestSwapSpareReplacesMakerClosingAtSetup(t *testing.T) {
	net := swaptest.New(t)
	bad := net.NewMaker("bad", swaptest.MakerOpts{Faults: []string{swap.FaultMakerCloseAt + "=setup"}})
	good := net.NewMaker("good", swaptest.MakerOpts{})
	tk, _ := net.NewTaker("taker", swaptest.Source(bad, good), swaptest.TakerOpts{
		Faults: []string{swap.FaultTakerRoute + "=" + bad.Addr() + "/" + good.Addr()}})
	badBefore := swaptest.Spendable(t, bad.W)
	net.AutoMine()
	rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 4_000_000, TxCount: 2, Makers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReplacedMakers != 1 || rep.Attempts != 2 || len(rep.Makers) != 1 || rep.Makers[0].Addr != good.Addr() {
		t.Fatalf("replaced %d makers in %d attempts, route %+v", rep.ReplacedMakers, rep.Attempts, rep.Makers)
	}
	if ss := swaptest.MakerFinal(t, good); ss[0].Phase != swap.MakerComplete {
		t.Fatalf("spare's swap %s", ss[0].Phase)
	}
	badList, err := tk.BadMakers(swaptest.Ctx(t, swaptest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := badList[bad.Addr()]; !ok || len(badList) != 1 {
		t.Fatalf("bad makers %v", badList)
	}
	// The dropper closed before storing anything: no swap, coins intact.
	if ss, _ := bad.Swaps(swaptest.Ctx(t, swaptest.Timeout)); len(ss) != 0 {
		t.Fatalf("dropper stored %d swaps", len(ss))
	}
	net.StopMining()
	net.Sync(bad.W)
	if got := swaptest.Spendable(t, bad.W); got != badBefore {
		t.Fatalf("dropper's balance %d, was %d", got, badBefore)
	}
	recs, _ := tk.Swaps(swaptest.Ctx(t, swaptest.Timeout))
	if len(recs) != 2 || recs[0].Phase != swap.TakerFailed || recs[1].Phase != swap.TakerComplete {
		t.Fatalf("taker records %d: want the failed attempt, then the complete one", len(recs))
	}
}

// TestSwapRefusesFeeSkimmingMaker: a maker forwarding 500 sat less than
// incoming − fee − reimbursement (fault maker:skim-fee=500) is refused
// before anything is funded; with no spare the swap fails, nothing is
// spent, and the maker's reservation is released by the Abort.
func TestSwapRefusesFeeSkimmingMaker(t *testing.T) {
	net := swaptest.New(t)
	skim := net.NewMaker("skim", swaptest.MakerOpts{Faults: []string{swap.FaultMakerSkimFee + "=500"}})
	tk, tw := net.NewTaker("taker", swaptest.Source(skim), swaptest.TakerOpts{})
	tb, mb := swaptest.Spendable(t, tw), swaptest.Spendable(t, skim.W)
	accepted0 := len(net.Chain.Accepted())
	_, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 5_000_000, TxCount: 2, Makers: 1})
	if !errors.Is(err, swap.ErrNotEnoughMakers) || !strings.Contains(err.Error(), swap.ErrFeeSkim.Error()) {
		t.Fatalf("err = %v, want a fee-skimming refusal", err)
	}
	swaptest.Eventually(t, swaptest.Timeout, "maker swap abandoned", func() (bool, string) {
		ss, err := skim.Swaps(swaptest.Ctx(t, swaptest.Timeout))
		if err != nil || len(ss) != 1 {
			return false, "no swap"
		}
		return ss[0].Phase == swap.PhaseAbandoned, string(ss[0].Phase)
	})
	if n := len(net.Chain.Accepted()) - accepted0; n != 0 {
		t.Fatalf("%d transactions broadcast", n)
	}
	if _, ok := mustBad(t, tk)[skim.Addr()]; !ok {
		t.Fatal("skimming maker not marked bad")
	}
	for _, x := range []struct {
		name   string
		w      *wallet.Wallet
		before int64
	}{{"taker", tw, tb}, {"maker", skim.W, mb}} {
		net.Sync(x.w)
		liq, _, err := x.w.Liquidity(swaptest.Ctx(t, swaptest.Timeout))
		if err != nil {
			t.Fatal(err)
		}
		if got := swaptest.Spendable(t, x.w); got != x.before || int64(liq) != x.before {
			t.Fatalf("%s: spendable %d, liquidity %d, want %d: something spent or still reserved", x.name, got, liq, x.before)
		}
	}
}

func mustBad(t *testing.T, tk *taker.Taker) map[string]string {
	t.Helper()
	bad, err := tk.BadMakers(swaptest.Ctx(t, swaptest.Timeout))
	if err != nil {
		t.Fatal(err)
	}
	return bad
}
