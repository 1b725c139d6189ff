//go:build itest

package taker_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/wallet"
)

// crashed is what the in-process "crash" panics with.
type crashed struct{}

// crashSwap runs a 2-maker swap on w with a taker that "crashes" (its Swap
// unwinds) right after committing phase, and returns that taker.
func crashSwap(t *testing.T, w *wallet.Wallet, src taker.MakerSource, phase swap.Phase) (tk *taker.Taker) {
	t.Helper()
	plan, err := swap.ParseFaultPlan([]string{"crash-after=" + string(phase)}, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	plan.SetCrashFunc(func() { panic(crashed{}) })
	tk = takerOn(t, "taker", w, src, plan)
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashed); !ok {
				panic(r)
			}
		}
	}()
	_, err = tk.Swap(tctx(t, 2*time.Minute), taker.Request{Amount: 5_000_000, TxCount: 2, Makers: 2})
	t.Fatalf("swap returned %v without crashing after %s", err, phase)
	return tk
}

// TestResumeAfterCrash: the taker "crashes" (its Swap unwinds right after
// committing a phase, like crash-after=<phase> kills the real process); a
// new Taker on the same wallet runs Resume. From hop 0 on, the swap
// completes cooperatively with both makers (no contract on chain), with
// exact balances; a swap that broadcast nothing is ended and its makers
// are released at once by the Abort.
func TestResumeAfterCrash(t *testing.T) {
	tests := []struct {
		phase swap.Phase
		want  swap.Phase // taker's final phase
		maker swap.Phase // makers' final phase
	}{
		{swap.TakerSetupDone, swap.TakerFailed, swap.PhaseAbandoned},
		{swap.TakerFunded, swap.TakerComplete, swap.MakerComplete},
		{swap.TakerSettling, swap.TakerComplete, swap.MakerComplete},
		{swap.TakerPrivkeysSent, swap.TakerComplete, swap.MakerComplete},
	}
	for _, tc := range tests {
		t.Run(string(tc.phase), func(t *testing.T) {
			// The makers' idle timeout and disconnect grace are far
			// longer than the test: only the Abort releases them early.
			m1 := newMaker(t, "m1", makerOpts{idle: 10 * time.Minute, release: 10 * time.Minute})
			m2 := newMaker(t, "m2", makerOpts{idle: 10 * time.Minute, release: 10 * time.Minute})
			src := source(m1, m2)
			_, w := newTaker(t, "taker", src)
			before := spendable(t, w)
			stop := autoMiner(t)
			defer stop()
			crashSwap(t, w, src, tc.phase)

			restarted := takerOn(t, "taker", w, src, nil)
			t0 := time.Now()
			n, err := restarted.Resume(tctx(t, 3*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(t0)
			recs, err := restarted.Swaps(tctx(t, time.Minute))
			if err != nil || len(recs) != 1 {
				t.Fatalf("swaps %d, %v", len(recs), err)
			}
			rec := recs[0]
			if rec.Phase != tc.want {
				t.Fatalf("resumed swap is %s (%s), want %s", rec.Phase, rec.Error, tc.want)
			}
			if wantN := map[bool]int{true: 1, false: 0}[tc.want == swap.TakerComplete]; n != wantN {
				t.Fatalf("Resume completed %d swaps, want %d", n, wantN)
			}
			for i, m := range []*testMaker{m1, m2} {
				ss := waitMakerFinal(t, m, time.Minute)
				if len(ss) != 1 || ss[0].Phase != tc.maker {
					t.Fatalf("maker %d: %d swaps, phase %s; want %s", i+1, len(ss), ss[0].Phase, tc.maker)
				}
				for _, o := range ss[0].Outputs() {
					if o.Status == swap.StatusRefunded || o.Status == swap.StatusClaimed {
						t.Fatalf("maker %d output %d went through a contract (%s)", i+1, o.Idx, o.Status)
					}
				}
			}
			stop()
			mine(t, 1)
			syncAll(t, w)
			// Exact: the agreed fees and our own mining fees, nothing else.
			want := before
			if tc.want == swap.TakerComplete {
				for _, l := range rec.Makers {
					want -= l.Fee + l.Reimbursement
				}
				for _, f := range rec.FundingFees {
					want -= f
				}
				for _, f := range rec.SweepFees {
					want -= f
				}
			}
			if got := spendable(t, w); got != want {
				t.Fatalf("taker spendable %d, want %d (%+d)", got, want, got-want)
			}
			t.Logf("crash after %s: resumed to %s in %s", tc.phase, rec.Phase, took.Round(time.Millisecond))
		})
	}
}

// TestResumeSeesContractFromDowntime: the taker crashes after maker 1
// funded; while it is down its hop-0 contract reaches the chain (the
// watcher of the restarted process sees it in its first sync, before any
// swap handler is registered, so no event flags the swap). The resumed
// taker must find the contract by asking the node and hand the swap to
// recovery without dialing anyone; the makers and the taker then end it
// by timelock refunds.
func TestResumeSeesContractFromDowntime(t *testing.T) {
	m1 := newMaker(t, "m1", makerOpts{idle: 10 * time.Minute, release: 10 * time.Minute})
	m2 := newMaker(t, "m2", makerOpts{idle: 10 * time.Minute, release: 10 * time.Minute})
	src := source(m1, m2)
	path := filepath.Join(t.TempDir(), "taker.db")
	ctx := tctx(t, 3*time.Minute)
	w, _, err := wallet.Create(ctx, walletConfig("taker", path), wallet.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fund(t, w, 30_000_000, 30_000_000, 30_000_000)
	stop := autoMiner(t)
	defer stop()
	tk := crashSwap(t, w, src, swap.TakerFunded)
	recs, err := tk.Swaps(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("swaps %d, %v", len(recs), err)
	}
	var contracts []*wire.MsgTx
	for _, o := range recs[0].Out {
		tx, err := o.SignedContractTx(w.Keys())
		if err != nil {
			t.Fatal(err)
		}
		contracts = append(contracts, tx)
	}
	w.Close() // the process is gone: nothing of it sees what follows
	for _, tx := range contracts {
		if _, err := node.Backend().Broadcast(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	mine(t, 1)

	w2 := reopenWallet(t, "taker", path)
	restarted := takerOn(t, "taker", w2, src, nil)
	t0 := time.Now()
	if _, err := restarted.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err = restarted.Swaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec := recs[0]; rec.Phase != swap.PhaseRecovering || !strings.Contains(rec.Error, "contract of the swap is on chain") {
		t.Fatalf("resumed swap: phase %s (%s), want recovering because of the contract on chain", rec.Phase, rec.Error)
	}
	t.Logf("resume handed the swap to recovery in %v", time.Since(t0).Round(time.Millisecond))

	// Everyone refunds once the timelocks allow (60 blocks on hop 0).
	stop()
	for i := 0; i < 30; i++ {
		mine(t, 5)
		syncAll(t, w2, m1.w, m2.w)
		n, err := restarted.RecoverStep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	recs, _ = restarted.Swaps(ctx)
	if recs[0].Phase != swap.PhaseRecovered {
		t.Fatalf("taker phase %s, want recovered", recs[0].Phase)
	}
	mine(t, 1)
	for _, m := range []*testMaker{m1, m2} {
		waitMakerFinal(t, m, time.Minute)
	}
	syncAll(t, w2, m1.w, m2.w)
	for _, w := range []*wallet.Wallet{w2, m1.w, m2.w} {
		if c, s := category(t, w, wallet.Contract), category(t, w, wallet.SwapIncoming); c != 0 || s != 0 {
			t.Fatalf("contract balance %d, swap-incoming balance %d", c, s)
		}
	}
}
