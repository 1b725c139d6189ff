//go:build itest

package taker_test

import (
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/wallet"
)

// TestRecoveryPassDuringSwap: recovery passes run while a swap of the same
// taker waits for a confirmation (as a daemon's do, on every block). They
// must neither wait for the swap nor take it for an interrupted one: the
// swap stays in its phase, counted unfinished, and completes when blocks
// come; nothing goes on chain but the cooperative transactions.
func TestRecoveryPassDuringSwap(t *testing.T) {
	m1 := newMaker(t, "m1", makerOpts{})
	m2 := newMaker(t, "m2", makerOpts{})
	tk, tw := newTaker(t, "taker", source(m1, m2))

	type result struct {
		rep *taker.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := tk.Swap(tctx(t, 3*time.Minute), taker.Request{Amount: 5_000_000, TxCount: 2, Makers: 2})
		done <- result{rep, err}
	}()
	// No block is mined: the swap waits for its hop-0 funding to confirm.
	ctx := tctx(t, time.Minute)
	var phase swap.Phase
	for phase != swap.TakerHop0Broadcast {
		recs, err := tk.Swaps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 {
			phase = recs[0].Phase
		}
		select {
		case <-ctx.Done():
			t.Fatalf("swap never reached hop0_broadcast (phase %q)", phase)
		case res := <-done:
			t.Fatalf("swap ended early: %v", res.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for i := 0; i < 5; i++ {
		n, err := tk.RecoverStep(ctx)
		if err != nil || n != 1 {
			t.Fatalf("recovery pass %d during the swap: %d unfinished, %v; want 1, nil", i+1, n, err)
		}
		recs, err := tk.Swaps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p := recs[0].Phase; p == swap.PhaseRecovering || p.Final() {
			t.Fatalf("recovery pass %d took the live swap over: phase %s", i+1, p)
		}
		time.Sleep(200 * time.Millisecond)
	}

	stop := autoMiner(t)
	res := <-done
	stop()
	if res.err != nil {
		t.Fatalf("swap: %v", res.err)
	}
	if n, err := tk.RecoverStep(ctx); err != nil || n != 0 {
		t.Fatalf("after the swap: %d unfinished, %v", n, err)
	}
	waitMakerFinal(t, m1, time.Minute)
	waitMakerFinal(t, m2, time.Minute)
	mine(t, 1)
	syncAll(t, tw, m1.w, m2.w)
	for _, w := range []*wallet.Wallet{tw, m1.w, m2.w} {
		if c, s := category(t, w, wallet.Contract), category(t, w, wallet.SwapIncoming); c != 0 || s != 0 {
			t.Fatalf("contract balance %d, swap-incoming balance %d", c, s)
		}
	}
	recs, _ := tk.Swaps(ctx)
	if recs[0].Phase != swap.TakerComplete {
		t.Fatalf("taker phase %s, want complete", recs[0].Phase)
	}
	for _, m := range []*testMaker{m1, m2} {
		for _, s := range waitMakerFinal(t, m, time.Minute) {
			if s.Phase != swap.MakerComplete {
				t.Fatalf("maker phase %s, want complete", s.Phase)
			}
		}
	}
}
