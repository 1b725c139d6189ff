//go:build itest

package taker_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/wallet"
)

// weighted is a source whose first maker is (almost) always picked first.
type weighted struct {
	taker.StaticSource
	first string
}

func (w weighted) Weight(c taker.Candidate) float64 {
	if c.Addr == w.first {
		return 1e12
	}
	return 1
}

// assertUntouched checks a wallet spent nothing and holds nothing in swaps.
func assertUntouched(t *testing.T, name string, w *wallet.Wallet, before int64) {
	t.Helper()
	syncAll(t, w)
	if got := spendable(t, w); got != before {
		t.Fatalf("%s: spendable %d, want %d (unchanged)", name, got, before)
	}
	liq, _, err := w.Liquidity(tctx(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if int64(liq) != before {
		t.Fatalf("%s: liquidity %d, want %d: a reservation was not released", name, liq, before)
	}
}

// TestRouteLongerThanMakers: a 2-maker route with one maker fails before
// any funding, with nothing spent by anyone.
func TestRouteLongerThanMakers(t *testing.T) {
	m1 := newMaker(t, "m1", makerOpts{})
	tk, tw := newTaker(t, "taker", source(m1))
	tb, mb := spendable(t, tw), spendable(t, m1.w)
	_, err := tk.Swap(tctx(t, time.Minute), taker.Request{Amount: 5_000_000, TxCount: 3, Makers: 2})
	if !errors.Is(err, swap.ErrNotEnoughMakers) {
		t.Fatalf("err = %v, want ErrNotEnoughMakers", err)
	}
	time.Sleep(300 * time.Millisecond) // let the maker process a possible Abort
	assertUntouched(t, "taker", tw, tb)
	assertUntouched(t, "maker", m1.w, mb)
}

// TestSpareReplacesDroppedMaker: the first-picked maker drops at SetupHop
// (before any funds are at risk): it is marked bad, a spare takes its
// place and the swap succeeds; the dropper's funds are untouched.
func TestSpareReplacesDroppedMaker(t *testing.T) {
	bad := newMaker(t, "bad", makerOpts{faults: []string{"maker:close-at=setup"}})
	m1 := newMaker(t, "m1", makerOpts{})
	m2 := newMaker(t, "m2", makerOpts{})
	badBefore := spendable(t, bad.w)
	tk, _ := newTaker(t, "taker", weighted{source(bad, m1, m2), bad.m.Addr()})
	stop := autoMiner(t)
	rep, err := tk.Swap(tctx(t, 2*time.Minute), taker.Request{Amount: 4_000_000, TxCount: 3, Makers: 2})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	waitMakerFinal(t, m1, time.Minute)
	waitMakerFinal(t, m2, time.Minute)
	stop()
	if rep.ReplacedMakers != 1 || rep.Attempts != 2 {
		t.Fatalf("replaced %d makers in %d attempts", rep.ReplacedMakers, rep.Attempts)
	}
	badList, err := tk.BadMakers(tctx(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := badList[bad.m.Addr()]; !ok || len(badList) != 1 {
		t.Fatalf("bad makers %v", badList)
	}
	assertUntouched(t, "dropped maker", bad.w, badBefore)
}

// TestTakerRefusesFeeSkimming: a maker forwarding less than incoming − fee
// − reimbursement is refused before anything is funded; with no spare the
// swap fails with nothing spent, and the maker's reservation is released
// by the Abort.
func TestTakerRefusesFeeSkimming(t *testing.T) {
	skim := newMaker(t, "skim", makerOpts{faults: []string{"maker:skim-fee=500"}})
	tk, tw := newTaker(t, "taker", source(skim))
	tb, mb := spendable(t, tw), spendable(t, skim.w)
	_, err := tk.Swap(tctx(t, time.Minute), taker.Request{Amount: 5_000_000, TxCount: 2, Makers: 1})
	if !errors.Is(err, swap.ErrNotEnoughMakers) || !strings.Contains(err.Error(), swap.ErrFeeSkim.Error()) {
		t.Fatalf("err = %v, want a fee-skimming refusal", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss, _ := skim.m.Swaps(tctx(t, time.Minute))
		if len(ss) == 1 && ss[0].Phase == swap.PhaseAbandoned {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("maker swap not abandoned after Abort: %+v", ss)
		}
		time.Sleep(50 * time.Millisecond)
	}
	assertUntouched(t, "taker", tw, tb)
	assertUntouched(t, "maker", skim.w, mb)
}

// TestConcurrentTakersLimitedLiquidity: a maker with liquidity for one
// swap; two takers at once: one succeeds, the other is refused before any
// funding and its funds are intact.
func TestConcurrentTakersLimitedLiquidity(t *testing.T) {
	// 6 coins of 5M: one 16M swap always fits (3 parts need ≤ 6 coins),
	// two never do.
	m := newMaker(t, "m", makerOpts{utxos: 6, utxo: 5_000_000})
	t1, w1 := newTaker(t, "t1", source(m))
	t2, w2 := newTaker(t, "t2", source(m))
	b1, b2 := spendable(t, w1), spendable(t, w2)
	stop := autoMiner(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tk := range []*taker.Taker{t1, t2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = tk.Swap(tctx(t, 2*time.Minute), taker.Request{Amount: 16_000_000, TxCount: 3, Makers: 1})
		}()
	}
	wg.Wait()
	stop()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		if errors.Is(err, swap.ErrFundedRecovering) {
			t.Fatalf("taker %d failed after funding: %v", i+1, err)
		}
		t.Logf("taker %d refused: %v", i+1, err)
		assertUntouched(t, "loser", []*wallet.Wallet{w1, w2}[i], []int64{b1, b2}[i])
	}
	if ok != 1 {
		t.Fatalf("%d swaps succeeded, want exactly 1 (errs %v)", ok, errs)
	}
}
