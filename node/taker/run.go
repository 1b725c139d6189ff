package taker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
)

// Request describes a swap.
type Request struct {
	Amount  int64 // sat sent on hop 0
	TxCount int   // funding outputs per hop
	Makers  int   // route length
	// Source of makers for this swap only (other directories); nil:
	// Config.Source.
	Source MakerSource
	// Named: the makers' addresses in route order (a swap from the
	// book, `taker swap --offer`); the route keeps that order.
	Named []string
}

// source is the request's maker source, else the configured one.
func (t *Taker) source(req Request) MakerSource {
	if req.Source != nil {
		return req.Source
	}
	return t.cfg.Source
}

// errMaker is a failure attributable to one maker of the route.
type errMaker struct {
	idx int
	err error
}

func (e *errMaker) Error() string { return fmt.Sprintf("maker %d: %v", e.idx+1, e.err) }
func (e *errMaker) Unwrap() error { return e.err }

// errStaleOffer: a maker answered our SetupHop with its current offer,
// its terms having changed since the offer we priced the route with.
type errStaleOffer struct{ offer *protocol.Offer }

func (e *errStaleOffer) Error() string { return "maker's offer changed since we saw it" }

// maxOfferRefreshes: new offers one maker may answer with per attempt
// before it fails like any other. One covers an offer that changed since
// the book saw it (a maker republishes at most every 30 s); a second
// change within the same setup is a maker whose terms move faster than a
// taker can follow, and replacing it costs less than chasing it.
const maxOfferRefreshes = 1

// retryFree handles the setup failures that neither count as an attempt
// nor blame the maker, and reports whether it did: a maker answering with
// a new offer (adopted: the next fillRoute re-checks that it fits its
// position, and the setup runs again with it), and a maker from the book
// unreachable when its turn came (left out like a candidate that could
// not be dialed: avoided for UnreachableAvoidance, its position filled
// from the candidates).
func (r *run) retryFree(ctx context.Context, em *errMaker, refreshed map[string]int) bool {
	t, p := r.t, r.peers[em.idx]
	var stale *errStaleOffer
	switch {
	case errors.As(em.err, &stale) && refreshed[p.addr] < maxOfferRefreshes:
		refreshed[p.addr]++
		if err := t.adopt(ctx, p, stale.offer); err != nil {
			em.err = err // its new offer's bond fails: a failure like any other
			return false
		}
		t.log.Info("maker's offer changed since we saw it; setting the route up again with its current one",
			"position", em.idx+1, "base_fee", p.offer.BaseFee, "amount_fee_ppb", p.offer.AmountFeePPB,
			"time_fee_ppb", p.offer.TimeFeePPB, "min_locktime", p.offer.MinLocktime)
		return true
	case errors.Is(em.err, errUnreached):
		t.log.Info("maker from the book unreachable at setup; replacing it", "position", em.idx+1, "err", em.err)
		t.log.Debug("unreachable maker", "addr", p.addr)
		if err := t.st.MarkBadMaker(ctx, p.addr, protocol.Clip(em.err.Error()), avoidUntil(em.err)); err != nil {
			t.log.Warn("could not remember an unreachable maker", "err", err)
		}
		p.close()
		r.peers[em.idx] = nil
		return true
	}
	return false
}

// run holds one swap's live state.
type run struct {
	t      *Taker
	rec    *swap.TakerSwap
	peers  []*peer
	cnt    *counters
	rep    *Report
	phaseT time.Time
	waitT  time.Duration
	// claims: the records this run created (one per setup attempt),
	// released when Swap returns.
	claims []protocol.SwapID
	// proofs[h][k]: the funding proof of output k of hop h (ours for hop
	// 0, maker h's from its reply), passed on in the SetupHop of the hop's
	// receiver. Setups are not resumed after a restart, so memory will do.
	proofs [][]protocol.FundingProof
}

func (r *run) phase(name string) {
	now := time.Now()
	r.rep.Phases = append(r.rep.Phases, PhaseTiming{Phase: name, Wall: now.Sub(r.phaseT), BlockWait: r.waitT})
	r.rep.BlockWait += r.waitT
	r.phaseT, r.waitT = now, 0
}

// Swap runs one swap end to end. It refuses to start when the chain
// watcher is unhealthy, fails before funding with nothing spent when not
// enough makers work, and, when something breaks after funding, commits
// phase recovering and returns an error wrapping swap.ErrFundedRecovering
// (Recover finishes it).
func (t *Taker) Swap(ctx context.Context, req Request) (*Report, error) {
	if err := t.eng.Healthy(); err != nil {
		return nil, err
	}
	if req.TxCount < 1 || req.TxCount > protocol.MaxFundingTxs {
		return nil, fmt.Errorf("%w: tx_count %d", swap.ErrTxCount, req.TxCount)
	}
	if err := swap.CheckSchedule(req.Makers, t.cfg.LastHopLocktime, t.cfg.LocktimeStep); err != nil {
		return nil, err
	}
	start := time.Now()
	r := &run{t: t, cnt: &counters{}, rep: &Report{}, phaseT: start}
	defer func() {
		for _, p := range r.peers {
			if p != nil {
				p.close()
			}
		}
		// Whatever state the swap ended in is committed: recovery passes
		// take over what is left.
		for _, id := range r.claims {
			t.claims.release(id)
		}
	}()
	cands, err := t.candidates(ctx, t.source(req))
	if err != nil {
		return nil, err
	}
	if len(cands) < req.Makers { // before any contact: nothing can fill the route
		return nil, fmt.Errorf("%w: route of %d, %d candidate makers", swap.ErrNotEnoughMakers, req.Makers, len(cands))
	}
	r.phase("discover")
	locks := swap.Locktimes(req.Makers, t.cfg.LastHopLocktime, t.cfg.LocktimeStep)
	var lastErr error
	// refreshed: makers that answered this attempt's setup with a new
	// offer (maxOfferRefreshes each, then they fail like any other).
	refreshed := map[string]int{}
	for attempt := 1; ; {
		r.rep.Attempts = attempt
		if err := r.fillRoute(ctx, &cands, req, locks); err != nil {
			if lastErr != nil {
				err = fmt.Errorf("%w (last failure: %v)", err, lastErr)
			}
			return nil, err
		}
		err := r.setup(ctx, req, locks, attempt)
		if err == nil {
			break
		}
		var em *errMaker
		if !errors.As(err, &em) {
			return nil, err
		}
		lastErr = err
		r.rec = nil
		if r.retryFree(ctx, em, refreshed) {
			continue
		}
		bad := r.peers[em.idx]
		t.log.Info("maker failed before funding; replacing it", "position", em.idx+1, "err", em.err)
		t.log.Debug("bad maker", "addr", bad.addr)
		var pe *protocol.PeerError
		var stale *errStaleOffer
		honest := errors.As(em.err, &pe) && (pe.Code == protocol.CodeInsufficientLiquidity || pe.Code == protocol.CodeBusy)
		if honest && len(cands) == 0 && attempt < t.cfg.MaxAttempts {
			// A maker busy with another taker's swap, and no spare: keep
			// the route and retry after a random delay (two takers that
			// each reserved the other's next maker both aborted: the
			// random delays let one of them take both).
			t.log.Info("maker busy, no spare; retrying the same route", "position", em.idx+1, "err", em.err)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(busyRetryDelay()):
			}
			attempt++
			clear(refreshed)
			continue
		}
		// A refusal for lack of liquidity is not misbehaviour, nor is an
		// offer that keeps changing.
		if !honest && !errors.As(em.err, &stale) {
			if merr := t.st.MarkBadMaker(ctx, bad.addr, protocol.Clip(em.err.Error()), avoidUntil(em.err)); merr != nil {
				return nil, merr
			}
		}
		bad.close()
		r.peers[em.idx] = nil
		r.rep.ReplacedMakers++
		if attempt == t.cfg.MaxAttempts {
			return nil, fmt.Errorf("%w: %d setup attempts failed: %v", swap.ErrNotEnoughMakers, attempt, err)
		}
		attempt++
		clear(refreshed)
	}
	r.phase("setup")
	if err := r.fund(ctx); err != nil {
		return r.rep, r.failFunded(ctx, err)
	}
	if err := r.settle(ctx); err != nil {
		return r.rep, r.failFunded(ctx, err)
	}
	if err := t.sweep(ctx, r.rec); err != nil {
		return r.rep, err
	}
	r.phase("sweep")
	r.report(start)
	t.log.Info("swap complete", "swap", r.rec.ID, "sent", r.rep.AmountSent, "received", r.rep.AmountReceived,
		"maker_fees", r.rep.MakerFees, "reimbursements", r.rep.Reimbursements, "funding_fees", r.rep.FundingFees,
		"sweep_fees", r.rep.SweepFees, "round_trips", r.rep.RoundTrips, "connections", r.rep.Connections,
		"bytes_sent", r.rep.BytesSent, "bytes_received", r.rep.BytesReceived, "wall", r.rep.Total.Round(time.Millisecond),
		"block_wait", r.rep.BlockWait.Round(time.Millisecond))
	return r.rep, nil
}
