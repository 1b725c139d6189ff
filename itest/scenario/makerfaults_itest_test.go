//go:build itest

package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/swap"
)

// Fault mapping. The reference's messages do not exist one to one here:
// every contract of every hop is cross-signed in SetupHop/SetupHopReply
// before anything is funded (swap-design.md), so
//   - "at the sender-signature request" (nothing at risk yet) is the
//     SetupHop: maker:close-at=setup (scenarios.go);
//   - "at proof of funding" and "at the combined receiver-and-sender
//     signatures, never funds its hop" are both the FundHop, which carries
//     the proof that the maker's incoming hop is funded and the receiver
//     signatures of its outgoing contracts, the last thing it needs before
//     funding: maker:close-at=funding, once as the first maker (only the
//     taker has funded) and once as the last (the first maker has funded
//     too);
//   - "after its own funding, at the receiver-signature request" is the
//     first message after its funding: the Preimage, maker:close-at=preimage;
//     "at the private-key handover" is the taker's PrivKeyHandover,
//     maker:close-at=privkeys.

// timelockStep mines blocks while waiting for timelock refunds: the
// longest CSV of a 2-maker route is 60 blocks; 5 blocks per poll passes it
// in a few seconds and leaves the makers' recovery loop (10 s, or at once
// on a watcher event) time to act between batches.
const timelockStep = 5

// TestScenarioMakerDropsAtProofOfFunding: the first maker F drops the
// connection at FundHop, when the taker's hop 0 is funded and confirmed.
// Only the taker has funds at risk: it refunds hop 0 by timelock; the
// second maker H1 had only reserved liquidity and releases it when the
// taker goes silent (idle timeout). F funded nothing.
func TestScenarioMakerDropsAtProofOfFunding(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f, swap.FaultMakerCloseAt+"=funding")
	fx.taker(t, ctx, []*cluster.Proc{fx.f, fx.h1})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	_, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err == nil || !strings.Contains(err.Error(), "recover") {
		t.Fatalf("swap: %v, want a failure after funding", err)
	}
	t.Logf("swap failed: %v", err)
	settleAndCheck(t, ctx, before, steps(mineEvery(t, ctx, timelockStep), recoverTaker(ctx, fx.tk)),
		party{fx.tk, true, "refunded/timelock"}, party{fx.h1, true, "untouched"}, party{fx.f, false, "untouched"})
	for _, s := range newSwaps(t, ctx, fx.h1, before[fx.h1]) {
		if s.Phase != string(swap.PhaseAbandoned) {
			t.Errorf("h1 swap in phase %s, want abandoned", s.Phase)
		}
	}
}

// TestScenarioMakerNeverFundsItsHop: the last maker F drops at FundHop (it
// holds every signature it needs and never funds its hop). The taker and
// the first maker H1 have funded: both refund by timelock (H1 recovers
// when it sees the taker's hop-0 contract on chain, or on its idle
// timeout).
func TestScenarioMakerNeverFundsItsHop(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f, swap.FaultMakerCloseAt+"=funding")
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	_, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err == nil || !strings.Contains(err.Error(), "recover") {
		t.Fatalf("swap: %v, want a failure after funding", err)
	}
	t.Logf("swap failed: %v", err)
	settleAndCheck(t, ctx, before, steps(mineEvery(t, ctx, timelockStep), recoverTaker(ctx, fx.tk)),
		party{fx.tk, true, "refunded/timelock"}, party{fx.h1, true, "refunded/timelock"}, party{fx.f, false, "untouched"})
}

// TestScenarioLastMakerSkipsFunding: the last maker F answers FundHop
// ("broadcast") but never broadcasts its funding
// (maker:skip-funding-broadcast). The taker gives up on hop 2 after
// taker.DefaultFundingTimeoutBlocks blocks; it and H1 refund by timelock.
// F's held funding is dropped: its balance is unchanged.
func TestScenarioLastMakerSkipsFunding(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f, swap.FaultMakerSkipFunding)
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	// The hop that never comes times out in blocks: mine while waiting.
	err := mineWhile(t, ctx, startSwap(ctx, fx.tk), 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Fatalf("swap: %v, want hop 2 timing out", err)
	}
	t.Logf("swap failed: %v", err)
	settleAndCheck(t, ctx, before, steps(mineEvery(t, ctx, timelockStep), recoverTaker(ctx, fx.tk)),
		party{fx.tk, true, "refunded/timelock"}, party{fx.h1, true, "refunded/timelock"}, party{fx.f, false, "untouched"})
}

// TestScenarioMakerDropsAtPreimage: the first maker F has funded its hop
// and drops when the preimage arrives (without taking it). The taker
// claims its incoming hop by hashlock; the second maker H1 reads the
// preimage from that claim and claims its incoming hop; F, recovering,
// reads it from H1's claim and claims hop 0: the hashlock cascade
// completes the swap for everyone.
func TestScenarioMakerDropsAtPreimage(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f, swap.FaultMakerCloseAt+"=preimage")
	fx.taker(t, ctx, []*cluster.Proc{fx.f, fx.h1})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	_, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err == nil || !strings.Contains(err.Error(), "recover") {
		t.Fatalf("swap: %v, want a failure after funding", err)
	}
	t.Logf("swap failed: %v", err)
	ls := settleAndCheck(t, ctx, before, recoverTaker(ctx, fx.tk),
		party{fx.tk, true, "complete/hashlock"}, party{fx.h1, true, "complete/hashlock"}, party{fx.f, true, "complete/hashlock"})
	checkComplete(t, ls[fx.tk], ls[fx.f], ls[fx.h1])
}

// TestScenarioMakerDropsAtKeyHandover: the last maker F hands its keys over
// for the preimage, then drops the taker's PrivKeyHandover. The taker
// sweeps its incoming hop with F's keys and completes; F, silent peer gone,
// recovers on its idle timeout and claims its incoming hop with the
// preimage it holds. Complete for everyone.
func TestScenarioMakerDropsAtKeyHandover(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f, swap.FaultMakerCloseAt+"=privkeys")
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	if _, err := fx.tk.Client().TakerSwap(ctx, swapReq()); err != nil {
		t.Fatal(err)
	}
	ls := settleAndCheck(t, ctx, before, nil,
		party{fx.tk, true, "complete/cooperative"}, party{fx.h1, true, "complete/cooperative"}, party{fx.f, true, "complete/hashlock"})
	checkComplete(t, ls[fx.tk], ls[fx.h1], ls[fx.f])
}

// TestScenarioMakerClosesAfterSweep: the last maker F sweeps its incoming
// hop and closes the connection (maker:close-after-sweep). Everything it
// needed was in hand, so nothing is left to recover: complete for
// everyone, with the happy path's figures.
func TestScenarioMakerClosesAfterSweep(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f, swap.FaultMakerCloseAfterSweep)
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	rep, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err != nil {
		t.Fatal(err)
	}
	ls := settleAndCheck(t, ctx, before, nil,
		party{fx.tk, true, "complete/cooperative"}, party{fx.h1, true, "complete/cooperative"}, party{fx.f, true, "complete/cooperative"})
	checkComplete(t, ls[fx.tk], ls[fx.h1], ls[fx.f])
	if ls[fx.tk].Mining != rep.MiningFees {
		t.Errorf("taker mining fees %d, report says %d", ls[fx.tk].Mining, rep.MiningFees)
	}
}

// TestScenarioMakerBroadcastsContractsAndVanishes: the last maker F funds
// its hop, then broadcasts all its contracts and vanishes
// (maker:broadcast-contracts-after-setup). The taker claims its incoming
// hop (F's funds) with the preimage and refunds hop 0 by timelock; the
// honest first maker H1 refunds its hop by timelock and is whole but for
// its mining fees. F, the cheater, loses its outgoing hop: restarted
// without the fault it finds both its outputs resolved by others.
func TestScenarioMakerBroadcastsContractsAndVanishes(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.maker(t, ctx, fx.f, swap.FaultMakerBroadcastContracts)
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	_, err := fx.tk.Client().TakerSwap(ctx, swapReq())
	if err == nil || !strings.Contains(err.Error(), "recover") {
		t.Fatalf("swap: %v, want a failure after funding", err)
	}
	t.Logf("swap failed: %v", err)
	// The honest parties first (F's record stays live while it vanished).
	waitUntil(t, ctx, "taker and h1 final", func() (bool, string) {
		mineEvery(t, ctx, timelockStep)()
		recoverTaker(ctx, fx.tk)()
		for _, p := range []*cluster.Proc{fx.tk, fx.h1} {
			if ok, why := allFinal(ctx, p, before[p]); !ok {
				return false, why
			}
		}
		return true, ""
	})
	fx.maker(t, ctx, fx.f) // back without the fault: it cleans up its record
	ls := settleAndCheck(t, ctx, before, mineEvery(t, ctx, 1),
		party{fx.tk, true, "refunded/timelock+claimed/hashlock"}, party{fx.h1, true, "refunded/timelock"}, party{fx.f, false, ""})
	tk, f := ls[fx.tk], ls[fx.f]
	if tk.Recv <= 0 || tk.Recv != f.Sent || f.Recv != 0 {
		t.Errorf("taker claimed %d; F sent %d and received %d", tk.Recv, f.Sent, f.Recv)
	}
	if d := tk.delta(); d <= 0 {
		t.Errorf("taker Δ %d: it should end above its start (it claimed F's hop and refunded its own)", d)
	}
}

// TestScenarioRequiredConfirmsKeepAlives: the last maker F requires 3
// confirmations of its incoming hop. Blocks come one every 2 s; the taker
// waits with keep-alives (every second) and F receives them while it
// waits; the swap completes.
func TestScenarioRequiredConfirmsKeepAlives(t *testing.T) {
	fx := getFx(t)
	ctx := tctx(t, scenarioTimeout)
	fx.configure(t, ctx, fx.f, nil, "required-confirms", "3")
	fx.taker(t, ctx, []*cluster.Proc{fx.h1, fx.f})
	before := quiet(t, ctx, fx.tk, fx.h1, fx.f)
	ka := msgIs("keep-alive received")
	kaBefore := logCount(fx.f, ka)
	done := make(chan error, 1)
	go func() {
		rep, err := fx.tk.Client().TakerSwap(ctx, swapReq())
		if err == nil && rep.Outcome != string(swap.TakerComplete) {
			err = errors.New("outcome " + rep.Outcome)
		}
		done <- err
	}()
	if err := mineWhile(t, ctx, done, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	n := logCount(fx.f, ka) - kaBefore
	t.Logf("maker f received %d keep-alives", n)
	if n < 3 {
		t.Errorf("maker f received %d keep-alives while waiting for 3 confirmations, want ≥ 3", n)
	}
	ls := settleAndCheck(t, ctx, before, nil,
		party{fx.tk, true, "complete/cooperative"}, party{fx.h1, true, "complete/cooperative"}, party{fx.f, true, "complete/cooperative"})
	checkComplete(t, ls[fx.tk], ls[fx.h1], ls[fx.f])
	fx.maker(t, ctx, fx.f) // back to 1 confirmation
}
