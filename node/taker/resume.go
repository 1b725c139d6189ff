package taker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
)

// abortTimeout bounds the Abort sent to each maker of a swap that a
// restart ends before funding: one dial and one message over Tor.
const abortTimeout = 45 * time.Second

// Resume continues, with its makers, every swap that a previous process
// left in the middle of funding or settlement, picking the protocol up at
// the last committed step: the same round trips the swap had left, so the
// swap completes cooperatively instead of costing every party a contract
// and a refund on chain (and hours of locked coins). Maker handlers answer
// a repeated request with the same reply, so a step that was sent but not
// committed before the crash is simply sent again. Each maker is re-dialed
// for up to ReconnectWindow (a fresh tor may need a moment for descriptors
// and circuits).
//
// A swap that never broadcast anything is ended (nothing spent) and its
// makers are told with an Abort, so they release their reservations at
// once. A swap that cannot be resumed (a contract of it already on chain,
// a maker unreachable or refusing) commits phase recovering, and
// RecoverStep finishes it on chain. Swaps already recovering are left to
// RecoverStep. A cancelled ctx leaves a swap as it was (the next start
// resumes it). It returns how many swaps it completed. Resume is
// ClaimInterrupted then ResumeClaimed; a daemon calls the two apart, so
// that its recovery passes can start at once without touching the swaps
// being resumed.
func (t *Taker) Resume(ctx context.Context) (int, error) {
	ids, err := t.ClaimInterrupted(ctx)
	if err != nil {
		return 0, err
	}
	return t.ResumeClaimed(ctx, ids)
}

// ClaimInterrupted claims every swap a previous process left with its
// makers (from negotiating to sweeping; not the ones already recovering)
// for ResumeClaimed: until then, and while it runs, RecoverStep leaves
// them alone. Call it once at start, before the first RecoverStep.
func (t *Taker) ClaimInterrupted(ctx context.Context) ([]protocol.SwapID, error) {
	ids, err := t.st.Live(ctx, swap.RoleTaker)
	if err != nil {
		return nil, err
	}
	var claimed []protocol.SwapID
	for _, id := range ids {
		rec, err := t.st.LoadTaker(ctx, id)
		if err != nil {
			for _, c := range claimed {
				t.claims.release(c)
			}
			return nil, err
		}
		switch rec.Phase {
		case swap.TakerNegotiating, swap.TakerSetupDone, swap.TakerHop0Broadcast, swap.TakerFunded,
			swap.TakerSettling, swap.TakerPrivkeysSent, swap.TakerSweeping:
			if t.claims.claim(id) {
				claimed = append(claimed, id)
			}
		}
	}
	return claimed, nil
}

// ResumeClaimed resumes the swaps ClaimInterrupted claimed, releasing
// each once it is done with it (completed, ended, or handed to recovery),
// and every one left when ctx ends.
func (t *Taker) ResumeClaimed(ctx context.Context, ids []protocol.SwapID) (int, error) {
	defer func() {
		for _, id := range ids {
			t.claims.release(id)
		}
	}()
	resumed := 0
	for _, id := range ids {
		rec, err := t.st.LoadTaker(ctx, id)
		if err != nil {
			return resumed, err
		}
		completed, err := t.resumeOne(ctx, rec)
		t.claims.release(id)
		if err != nil {
			if ctx.Err() != nil {
				return resumed, ctx.Err()
			}
			t.log.Warn("resuming swap failed; recovery takes over", "swap", id, "err", err)
			continue
		}
		if completed {
			resumed++
		}
	}
	return resumed, nil
}

// resumeOne reports whether the swap completed.
func (t *Taker) resumeOne(ctx context.Context, rec *swap.TakerSwap) (bool, error) {
	switch rec.Phase {
	case swap.TakerNegotiating, swap.TakerSetupDone:
		return false, t.endUnfunded(ctx, rec)
	case swap.TakerHop0Broadcast:
		out, err := t.anyBroadcast(ctx, rec)
		if err != nil {
			return false, err
		}
		if !out {
			return false, t.endUnfunded(ctx, rec)
		}
	case swap.TakerFunded, swap.TakerSettling, swap.TakerPrivkeysSent, swap.TakerSweeping:
	default:
		return false, nil // recovering (RecoverStep), or final
	}
	// Signals alone would miss a contract that appeared while we were
	// down (events of the start's first sync reach no swap handler).
	_, seen, err := t.eng.Signals(ctx, rec.ID)
	if err == nil && !seen {
		seen, err = t.eng.ContractOnChain(ctx, rec.Outputs())
	}
	if err != nil {
		return false, err
	} else if seen {
		cause := errors.New("a contract of the swap is on chain")
		if err := t.commitRecovering(ctx, rec, cause); err != nil {
			return false, err
		}
		return false, cause
	}
	t.log.Info("resuming interrupted swap with its makers", "swap", rec.ID, "phase", rec.Phase,
		"funded_hops", rec.FundedHops, "settled_makers", rec.SettledMakers)
	if rec.Phase == swap.TakerSweeping {
		return true, t.sweep(ctx, rec)
	}
	r := &run{t: t, rec: rec, cnt: &counters{}, rep: &Report{SwapID: rec.ID}, phaseT: time.Now()}
	r.peers = make([]*peer, len(rec.Makers))
	for i := range rec.Makers {
		r.peers[i] = &peer{addr: rec.Makers[i].Addr}
	}
	defer func() {
		for _, p := range r.peers {
			p.close()
		}
	}()
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err() // stopping: the next start resumes
		}
		if serr := t.commitRecovering(ctx, rec, err); serr != nil {
			return serr
		}
		return err
	}
	for i, p := range r.peers {
		if err := t.reconnect(ctx, p, r.cnt, true); err != nil {
			return false, fail(fmt.Errorf("maker %d unreachable: %w", i+1, err))
		}
	}
	if rec.Phase == swap.TakerHop0Broadcast || rec.Phase == swap.TakerFunded {
		if err := r.fund(ctx); err != nil {
			return false, fail(err)
		}
	}
	if err := r.settle(ctx); err != nil {
		return false, fail(err)
	}
	if err := t.sweep(ctx, rec); err != nil {
		return false, err // recovery sweeps again (phase sweeping)
	}
	r.cnt.mu.Lock()
	rts, conns := r.cnt.roundTrips, r.cnt.connections
	r.cnt.mu.Unlock()
	t.log.Info("resumed swap complete", "swap", rec.ID, "round_trips", rts, "connections", conns)
	return true, nil
}

// anyBroadcast: one of our hop-0 funding txs reached our node (mempool or
// chain); it may have left just before a crash.
func (t *Taker) anyBroadcast(ctx context.Context, rec *swap.TakerSwap) (bool, error) {
	for _, o := range rec.Out {
		c, err := t.eng.TxConfs(ctx, o.FundingOutPoint.Hash)
		if err != nil {
			return false, err
		}
		if c >= 0 {
			return true, nil
		}
	}
	return false, nil
}

// endUnfunded fails a swap that broadcast nothing and tells its makers
// (best effort, in parallel) so they release their reservations now
// rather than after their disconnect grace.
func (t *Taker) endUnfunded(ctx context.Context, rec *swap.TakerSwap) error {
	var wg sync.WaitGroup
	for _, leg := range rec.Makers {
		if leg.Addr == "" || leg.SwapID == (protocol.SwapID{}) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx, cancel := context.WithTimeout(ctx, abortTimeout)
			defer cancel()
			p := &peer{addr: leg.Addr}
			defer p.close()
			if err := t.dial(actx, p, &counters{}, &protocol.Abort{SwapID: leg.SwapID, Reason: "taker restarted before funding"}); err != nil {
				t.log.Debug("abort not delivered; the maker releases on its own", "err", err)
			}
		}()
	}
	wg.Wait()
	return t.fail(ctx, rec, "interrupted before funding")
}
