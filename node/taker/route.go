package taker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// candidates returns verified-later candidates minus known bad makers.
func (t *Taker) candidates(ctx context.Context, src MakerSource) ([]Candidate, error) {
	if src == nil {
		return nil, ErrNoSource
	}
	all, err := src.Makers(ctx)
	if err != nil {
		return nil, err
	}
	bad, err := t.st.BadMakers(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	var out []Candidate
	for _, c := range all {
		if _, isBad := bad[c.Addr]; !isBad {
			out = append(out, c)
		}
	}
	return out, nil
}

// Trust in the automatic maker choice. The bond is what a Sybil pays
// for, so it stays the base of a candidate's weight; trust scales it
// within bounds:
//
//	weight = bond value × (1 + clamp(trust / TrustWeightScale, −TrustWeightMaxCut, TrustWeightMaxBoost))
const (
	// TrustWeightScale: trust points for the full boost. The book's trust
	// (market.RouteTrust) adds two halves that each saturate at 20 points
	// (verified swap proofs; our own completed swaps with the maker, two
	// points each): one saturated half earns the whole boost, so ten of
	// our own completed swaps with a maker count as much as anything it
	// can show us.
	TrustWeightScale = 20
	// TrustWeightMaxBoost: trust at most doubles a bond's weight. A bond's
	// value grows with the square of its amount, so the best record is
	// worth what √2 ≈ 1.41 times the locked coins are: a record built
	// from self-deals (two mining fees each) cannot outweigh a bond much
	// larger than its own.
	TrustWeightMaxBoost = 1.0
	// TrustWeightMaxCut: failures by the maker's fault cut its weight to
	// at most a tenth, never to nothing: its bond still counts, and a
	// maker whose failure was a Tor hiccup is still tried, rarely. One
	// failure (−10 points, market.TrustFaultPenalty) halves the weight of
	// a maker with no record.
	TrustWeightMaxCut = 0.9
)

// RouteWeight is a candidate's weight in the automatic choice: its bond
// value scaled by its trust (see TrustWeightScale).
func RouteWeight(bondValue, trust float64) float64 {
	if bondValue <= 0 {
		return 0
	}
	f := min(max(trust/TrustWeightScale, -TrustWeightMaxCut), TrustWeightMaxBoost)
	return bondValue * (1 + f)
}

// candidateWeight: RouteWeight of the bond value its listed proof claims
// (verified on our node when we connect) and its trust.
func candidateWeight(c Candidate) float64 {
	if c.Proof == nil {
		return 0
	}
	return RouteWeight(float64(c.Proof.BondValue), c.Trust)
}

// fillRoute fills every empty route position, picking candidates at
// random weighted by the bond value of their listed proof and by their
// trust (RouteWeight): a candidate whose offer is known (the book) and
// large enough without dialing it, any other by connecting and asking for
// its offer; either way its bond is verified on our node (adopt).
// Positions whose offer cannot take the amount or the locktime are
// skipped over, including a maker already in the route whose new offer
// (a setup answered with it) no longer fits.
func (r *run) fillRoute(ctx context.Context, cands *[]Candidate, req Request, locks []uint16) error {
	t := r.t
	if len(r.peers) == 0 {
		r.peers = make([]*peer, req.Makers)
	}
	// The exact incoming total of each position (as setup computes it) so
	// an offer that cannot take it is skipped here, not refused at setup.
	fr, err := t.eng.FeeRate(ctx)
	if err != nil {
		return err
	}
	reimb := swap.Reimbursement(req.TxCount, fr)
	in := req.Amount
	var skipped string
	for i := range r.peers {
		for {
			if p := r.peers[i]; p != nil {
				why := misfit(p.offer, in, locks[i])
				if why == "" {
					break
				}
				skipped = fmt.Sprintf("position %d: %s", i+1, why)
				t.log.Info("maker offer does not fit the route position", "position", i+1,
					"min_locktime", p.offer.MinLocktime, "incoming_locktime", locks[i], "amount", in,
					"min_size", p.offer.MinSize, "max_size", p.offer.MaxSize)
				p.close()
				r.peers[i] = nil
			}
			if len(*cands) == 0 {
				err := fmt.Errorf("%w: route of %d, no usable candidate for position %d", swap.ErrNotEnoughMakers, req.Makers, i+1)
				if skipped != "" {
					err = fmt.Errorf("%w (last offer skipped: %s)", err, skipped)
				}
				return err
			}
			k, err := r.pick(*cands, req, i)
			if err != nil {
				return err
			}
			c := (*cands)[k]
			*cands = append((*cands)[:k:k], (*cands)[k+1:]...)
			var p *peer
			if c.Offer != nil && in <= c.Offer.MaxSize {
				p, err = t.known(ctx, c)
			} else {
				// No offer, or a known one too small for us: its MaxSize
				// follows the maker's liquidity, which may have grown since
				// it was published (a maker republishes at most every
				// 30 s), so the maker is asked for its current one.
				p, err = t.connect(ctx, c, r.cnt)
			}
			if err != nil {
				t.log.Info("candidate maker unusable", "err", err)
				t.log.Debug("unusable maker", "addr", c.Addr)
				if !errors.Is(err, context.Canceled) {
					_ = t.st.MarkBadMaker(ctx, c.Addr, protocol.Clip(err.Error()), avoidUntil(err))
				}
				continue
			}
			r.peers[i] = p
		}
		in = swap.Forward(in, swap.MakerFee(swap.TermsOf(r.peers[i].offer), in, locks[i+1]), reimb)
	}
	return nil
}

// misfit says why an offer cannot take amount in at incoming locktime
// lock ("" when it can).
func misfit(o *protocol.Offer, in int64, lock uint16) string {
	if lock < o.MinLocktime || in < o.MinSize || in > o.MaxSize {
		return fmt.Sprintf("needs %d sat with locktime %d; offer takes [%d, %d] sat, locktime ≥ %d",
			in, lock, o.MinSize, o.MaxSize, o.MinLocktime)
	}
	return ""
}

// pick chooses the candidate for route position i (0-based): at random
// by RouteWeight (bondless makers within BondlessAllowance), or the fixed
// route of a fault plan.
func (r *run) pick(cands []Candidate, req Request, i int) (int, error) {
	t := r.t
	weights := make([]float64, len(cands))
	for k, c := range cands {
		weights[k] = candidateWeight(c)
		if ws, ok := t.source(req).(weightedSource); ok {
			weights[k] = ws.Weight(c)
		}
	}
	// Makers named by the request (from the book, in route order), or
	// by a fault plan: the first still among the candidates takes
	// position i, and the later names are the spares that replace a
	// maker failing at setup.
	named, what := req.Named, "named maker"
	if route := t.cfg.Faults.Route(); len(route) > 0 {
		named, what = route, "fault injection: maker"
	}
	if len(named) == 0 {
		return pickCandidate(cands, weights), nil
	}
	for _, a := range named {
		for j, c := range cands {
			if c.Addr == a {
				return j, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: %s for position %d not among the candidates", swap.ErrNotEnoughMakers, what, i+1)
}

// busyRetryDelay is the wait before retrying a route after a maker said it
// is busy (its liquidity reserved by another taker): 1–4 s, random. One
// setup is a Tor round trip per maker (~0.3–1 s on a loaded machine), so a
// competing taker's setup or Abort lands within it, and the randomness
// keeps two takers that refused each other from retrying in lockstep.
func busyRetryDelay() time.Duration {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return time.Second + time.Duration(int(b[0])<<8|int(b[1]))*3*time.Second/65536
}

// weightedSource lets a source supply its own (verified) weights.
type weightedSource interface {
	Weight(Candidate) float64
}

// UnreachableAvoidance: how long a maker we could not reach (or that hung
// up on us) is left out of routes. A restarted maker's onion service is
// often unreachable for about 90 s while tor refetches its descriptor and
// the introduction points change; ten minutes covers that several times
// over without dropping an honest maker for good. A maker that broke the
// protocol or cheated is avoided for good.
const UnreachableAvoidance = 10 * time.Minute

// avoidUntil says until when a maker that failed with err is avoided:
// for UnreachableAvoidance when it could not be reached or the connection
// broke, for good (zero time) when it refused or answered wrongly.
func avoidUntil(err error) time.Time {
	var pe *protocol.PeerError
	switch {
	case errors.As(err, &pe):
		return time.Time{} // an explicit refusal: its reason is kept
	case errors.Is(err, tor.ErrOnionUnreachable), errors.Is(err, tor.ErrDialTimeout),
		errors.Is(err, tor.ErrTorUnavailable), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return time.Now().Add(UnreachableAvoidance)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return time.Now().Add(UnreachableAvoidance)
	}
	return time.Time{}
}
