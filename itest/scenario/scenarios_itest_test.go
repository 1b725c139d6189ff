//go:build itest

package scenario

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/swap"
)

// scenarioTimeout bounds one scenario: a swap over Tor (~20–60 s on a
// loaded 2-core machine), restarts (~10 s each), an idle timeout (15 s),
// timelocks mined through and the makers' recovery interval (10 s).
const scenarioTimeout = 8 * time.Minute

func swapReq() control.TakerSwapRequest {
	return control.TakerSwapRequest{Amount: swapAmount, Makers: 2, TxCount: swapTxCount}
}

// startSwap runs a taker swap in the background (a swap that blocks: a
// stalled taker, a hop that needs blocks mined to time out).
func startSwap(ctx context.Context, tk *cluster.Proc) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := tk.Client().TakerSwap(ctx, swapReq())
		done <- err
	}()
	return done
}

// mineWhile mines one block every interval until done yields (the swap's
// error is returned): hops that need several confirmations, or a taker
// timing out a hop that never comes, need blocks without transactions.
func mineWhile(t *testing.T, ctx context.Context, done <-chan error, interval time.Duration) error {
	t.Helper()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			t.Fatalf("swap did not return: %v", ctx.Err())
		case <-time.After(interval):
			if _, err := clu.Mine(ctx, 1); err != nil {
				t.Logf("mining: %v", err)
			}
		}
	}
}

// TestScenarioTakerVanishesAfterFunding: every hop is funded and confirmed,
// then the taker vanishes (fault taker:vanish-after-funding, then SIGKILL).
// The makers recover on their own once the taker is silent for their idle
// timeout (they broadcast their outgoing contracts). The taker is
// restarted and `taker recover` claims its incoming hop with the preimage;
// each maker reads it on chain and claims its own incoming hop: the
// hashlock cascade completes the swap for everyone, nobody loses.
func TestScenarioTakerVanishesAfterFunding(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f)
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f}, swap.FaultTakerVanish)
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)

	if _, err := fx.tk.Client().TakerSwap(ctx, swapReq()); err == nil || !strings.Contains(err.Error(), "vanished") {
		t.Fatalf("swap: %v, want the vanish fault's error", err)
	}
	fx.tk.Kill()
	fx.forget(fx.tk)
	t.Log("taker killed after funding; waiting for the makers to recover on their own")
	for _, m := range []*cluster.Proc{fx.h1, fx.f} {
		waitUntil(t, ctx, m.Name+" recovering on its own", func() (bool, string) {
			ph := phaseOf(ctx, m, before[m])
			return ph == string(swap.PhaseRecovering) || ph == string(swap.PhaseRecovered), m.Name + " phase " + ph
		})
	}
	idle := logCount(fx.h1, msgIs("swap stalled or broken; recovering", "contract_seen", false, "deadline_reached", false)) +
		logCount(fx.f, msgIs("swap stalled or broken; recovering", "contract_seen", false, "deadline_reached", false))
	if idle == 0 {
		t.Error("no maker recovered on its idle timeout")
	}
	// Restarted (still with the vanish fault: no automatic recovery), the
	// taker's side is finished by `taker recover` alone.
	if err := fx.tk.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.tk.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ls := settleAndCheck(t, ctx, before, recoverTaker(ctx, fx.tk),
		party{fx.tk, true, "complete/hashlock"}, party{fx.h1, true, "complete/hashlock"}, party{fx.f, true, "complete/hashlock"})
	checkComplete(t, ls[fx.tk], ls[fx.h1], ls[fx.f])
	rr, err := fx.tk.Client().TakerRecover(ctx)
	if err != nil || rr.Unfinished != 0 {
		t.Fatalf("recover again: %+v %v", rr, err)
	}
}

// TestScenarioTakerStallsWithKeepAlives: the taker funds, then stalls while
// it keeps sending keep-alives (fault taker:stall-with-keepalives). The
// idle timeout never fires; the makers' block deadline does: each logs
// that it reached it and recovers (outgoing contracts, timelock refunds).
// The taker, stopped and restarted healthy, refunds hop 0 by timelock.
// Everyone honest is refunded.
func TestScenarioTakerStallsWithKeepAlives(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f)
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f}, swap.FaultTakerStall)
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	kaBefore := logCount(fx.f, msgIs("keep-alive received"))
	// The first maker past its deadline broadcasts its contract, so the
	// other may see it in the same pass: both report deadline_reached.
	deadlineLog := msgIs("swap stalled or broken; recovering", "deadline_reached", true)
	dlBefore := logCount(fx.h1, deadlineLog) + logCount(fx.f, deadlineLog)

	swapCtx, cancelSwap := context.WithCancel(ctx)
	defer cancelSwap()
	done := startSwap(swapCtx, fx.tk)
	stall := msgIs("fault injection: taker stalls with keep-alives")
	waitUntil(t, ctx, "the taker to stall after funding", func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("swap returned: %v", err)
		default:
		}
		return logCount(fx.tk, stall) > 0, "not stalled yet"
	})
	// Keep-alives flow (the idle timeout cannot fire)...
	waitUntil(t, ctx, "keep-alives from the stalled taker", func() (bool, string) {
		n := logCount(fx.f, msgIs("keep-alive received")) - kaBefore
		return n >= 3, "keep-alives: " + itoa(n)
	})
	// ... and go on past the makers' liveness deadline
	// (swap.DefaultMakerSwapTimeoutBlocks after their incoming confirmed).
	if _, err := clu.Mine(ctx, swap.DefaultMakerSwapTimeoutBlocks+1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "both makers to reach their deadline", func() (bool, string) {
		n := logCount(fx.h1, deadlineLog) + logCount(fx.f, deadlineLog) - dlBefore
		return n >= 2, "deadline records: " + itoa(n)
	})
	// The makers refund by timelock while the taker still stalls.
	waitUntil(t, ctx, "the makers' timelock refunds", func() (bool, string) {
		mineEvery(t, ctx, 5)()
		for _, m := range []*cluster.Proc{fx.h1, fx.f} {
			if ok, why := allFinal(ctx, m, before[m]); !ok {
				return false, why
			}
		}
		return true, ""
	})
	// The taker is stopped and comes back healthy: it refunds hop 0.
	cancelSwap()
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f})
	settleAndCheck(t, ctx, before, steps(mineEvery(t, ctx, 5), recoverTaker(ctx, fx.tk)),
		party{fx.tk, true, "refunded/timelock"}, party{fx.h1, true, "refunded/timelock"}, party{fx.f, true, "refunded/timelock"})
}

// TestScenarioTakerBroadcastsContracts: once every hop is funded the taker
// broadcasts its contracts (fault taker:broadcast-contracts-after-setup)
// and recovers. Each maker sees a contract of its swap on chain and
// recovers; the taker, which knows the preimage, claims its incoming
// contracts by hashlock, and the preimage then cascades upstream: each
// maker claims its incoming by hashlock before any timelock could expire
// (the design: a hashlock spend anywhere gives the preimage). The swap
// completes for everyone; the makers bear the contract and claim fees
// instead of sweep fees.
func TestScenarioTakerBroadcastsContracts(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f)
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f}, swap.FaultTakerBroadcastContracts)
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	_, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err == nil || !strings.Contains(err.Error(), "contracts broadcast") {
		t.Fatalf("swap: %v, want the fault's error", err)
	}
	ls := settleAndCheck(t, ctx, before, recoverTaker(ctx, fx.tk),
		party{fx.tk, true, "complete/hashlock"}, party{fx.h1, true, "complete/hashlock"}, party{fx.f, true, "complete/hashlock"})
	checkComplete(t, ls[fx.tk], ls[fx.h1], ls[fx.f])
}

// TestScenarioSpareReplacesDroppedMaker: maker X drops the connection at
// SetupHop (before it has anything at risk). The taker aborts the attempt
// (nothing was broadcast), marks X bad, replaces it with the spare F and
// the swap succeeds; X's balance is untouched.
func TestScenarioSpareReplacesDroppedMaker(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f)
	fx.maker(t, ctx, fx.x, swap.FaultMakerCloseAt+"=setup")
	forgiveMaker(t, ctx, fx.tk, fx.x.Onion())
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.x, fx.f})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f, fx.x)
	rep, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReplacedMakers != 1 || rep.Attempts != 2 {
		t.Errorf("replaced %d makers in %d attempts, want 1 in 2", rep.ReplacedMakers, rep.Attempts)
	}
	bad := badMakers(t, ctx, fx.tk)
	if _, ok := bad[fx.x.Onion()]; !ok {
		t.Errorf("dropped maker not marked bad: %v", bad)
	}
	t.Logf("bad makers: %d (dropper: %q)", len(bad), bad[fx.x.Onion()])
	ls := settleAndCheck(t, ctx, before, nil, party{fx.tk, true, "complete/cooperative"},
		party{fx.h1, true, "complete/cooperative"}, party{fx.f, true, "complete/cooperative"}, party{fx.x, false, "untouched"})
	checkComplete(t, ls[fx.tk], ls[fx.h1], ls[fx.f])
	if got := ls[fx.tk].Mining; got != rep.MiningFees {
		t.Errorf("taker mining fees %d, report says %d", got, rep.MiningFees)
	}
	forgiveMaker(t, ctx, fx.tk, fx.x.Onion())
}

// TestScenarioDropAtSetupNoSpare: the same dropper with no spare: the swap
// fails before any funding, the maker that had reserved liquidity for it
// releases it (Abort), every balance is unchanged.
func TestScenarioDropAtSetupNoSpare(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.x, swap.FaultMakerCloseAt+"=setup")
	forgiveMaker(t, ctx, fx.tk, fx.x.Onion())
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.x})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.x)
	_, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err == nil || !strings.Contains(err.Error(), swap.ErrNotEnoughMakers.Error()) {
		t.Fatalf("swap: %v, want %v", err, swap.ErrNotEnoughMakers)
	}
	t.Logf("refused: %v", err)
	if _, ok := badMakers(t, ctx, fx.tk)[fx.x.Onion()]; !ok {
		t.Error("dropped maker not marked bad")
	}
	settleAndCheck(t, ctx, before, nil, party{fx.tk, true, "untouched"}, party{fx.h1, true, "untouched"}, party{fx.x, false, "untouched"})
	// H1 had reserved liquidity for the attempt: released.
	for _, s := range newSwaps(t, ctx, fx.h1, before[fx.h1]) {
		if s.Phase != string(swap.PhaseAbandoned) {
			t.Errorf("h1 swap in phase %s, want abandoned", s.Phase)
		}
	}
	forgiveMaker(t, ctx, fx.tk, fx.x.Onion())
}

// TestScenarioTakerRefusesFeeSkim: maker X forwards 500 sat less than
// incoming − fee − reimbursement (fault maker:skim-fee=500). The taker
// refuses its SetupHopReply with an explicit error before signing
// anything for its hop, aborts, marks X bad; with no spare the swap fails
// before any funding and every balance is unchanged.
func TestScenarioTakerRefusesFeeSkim(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.x, swap.FaultMakerSkimFee+"=500")
	forgiveMaker(t, ctx, fx.tk, fx.x.Onion())
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.x})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.x)
	_, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err == nil || !strings.Contains(err.Error(), swap.ErrFeeSkim.Error()) {
		t.Fatalf("swap: %v, want a refusal: %v", err, swap.ErrFeeSkim)
	}
	t.Logf("refused: %v", err)
	if _, ok := badMakers(t, ctx, fx.tk)[fx.x.Onion()]; !ok {
		t.Error("skimming maker not marked bad")
	}
	settleAndCheck(t, ctx, before, nil, party{fx.tk, true, "untouched"}, party{fx.h1, true, "untouched"}, party{fx.x, false, "untouched"})
	for _, m := range []*cluster.Proc{fx.h1, fx.x} {
		for _, s := range newSwaps(t, ctx, m, before[m]) {
			if s.Phase != string(swap.PhaseAbandoned) {
				t.Errorf("%s swap in phase %s, want abandoned (reservation released)", m.Name, s.Phase)
			}
		}
	}
	forgiveMaker(t, ctx, fx.tk, fx.x.Onion())
}

func itoa(n int) string { return strconv.Itoa(n) }
