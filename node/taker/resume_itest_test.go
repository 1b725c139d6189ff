//go:build itest

package taker_test

import (
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
)

// crashed is what the in-process "crash" panics with.
type crashed struct{}

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
			plan, err := swap.ParseFaultPlan([]string{"crash-after=" + string(tc.phase)}, &chaincfg.RegressionNetParams)
			if err != nil {
				t.Fatal(err)
			}
			plan.SetCrashFunc(func() { panic(crashed{}) })
			tk := takerOn(t, "taker", w, src, plan)
			stop := autoMiner(t)
			defer stop()
			func() {
				defer func() {
					if r := recover(); r != nil {
						if _, ok := r.(crashed); !ok {
							panic(r)
						}
					}
				}()
				_, err := tk.Swap(tctx(t, 2*time.Minute), taker.Request{Amount: 5_000_000, TxCount: 2, Makers: 2})
				t.Fatalf("swap returned %v without crashing after %s", err, tc.phase)
			}()

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
