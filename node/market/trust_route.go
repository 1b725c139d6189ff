package market

import (
	"context"
	"sync"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/wallet"
)

// Trust in the automatic maker choice (issue 12: `taker swap` chooses
// makers from the book weighted by bond value and trust). The book fills
// each candidate's Trust with RouteTrust of what this node knows of the
// maker; the taker scales the bond's weight by it within bounds
// (taker.RouteWeight).

// Trust memory.
const (
	// TrustMemory: how long the proofs `market trust` verified count for
	// the maker's choice. A proof's own weight decays with its swap's age
	// (Score); the memory bounds how long the maker's binding of its onion
	// to its origin, checked when we asked, is taken as still true: a day
	// covers a session of swaps, and asking again costs one Tor round trip.
	TrustMemory = 24 * time.Hour
	// MaxTrustedMakers: makers whose verified proofs are remembered (the
	// oldest asked is forgotten first). A book of 1,000 offers fits; each
	// entry is at most a maker's proof list (protocol.MaxTrustProofs).
	MaxTrustedMakers = 1000
)

// RouteTrust is a maker's trust in the automatic choice: Score's points
// for verified proofs and our completed swaps with it, less
// TrustFaultPenalty per failure by its fault. Unlike Score it may go
// below zero, so that a failure lowers the maker's weight below what its
// bond alone earns.
func RouteTrust(proofs []VerifiedProof, h History, now time.Time) float64 {
	return Score(proofs, History{Completed: h.Completed}, now) - float64(TrustFaultPenalty*h.Faults)
}

// Trusts is what the node knows of each maker's record: the proofs
// `market trust` verified (in memory, TrustMemory) and its own history
// (taker swap records and the blacklist, in the wallet). One is shared by
// the market service, which fills it, and the taker's book, which reads it.
type Trusts struct {
	w   *wallet.Wallet // nil: no history
	now func() time.Time

	mu     sync.Mutex
	proofs map[string]trustedProofs // by onion address
}

type trustedProofs struct {
	proofs []VerifiedProof
	at     time.Time
}

// NewTrusts returns the trust facts of the node whose wallet is w (nil:
// no history); now is nil for time.Now.
func NewTrusts(w *wallet.Wallet, now func() time.Time) *Trusts {
	if now == nil {
		now = time.Now
	}
	return &Trusts{w: w, now: now, proofs: map[string]trustedProofs{}}
}

// Remember keeps the proofs verified for the maker at addr (replacing
// what was remembered of it).
func (t *Trusts) Remember(addr string, proofs []VerifiedProof) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.proofs[addr]; !ok && len(t.proofs) >= MaxTrustedMakers {
		t.forgetOldestLocked(now)
	}
	t.proofs[addr] = trustedProofs{proofs: append([]VerifiedProof(nil), proofs...), at: now}
}

// forgetOldestLocked drops the entries past TrustMemory, or the oldest.
func (t *Trusts) forgetOldestLocked(now time.Time) {
	var oldest string
	for a, p := range t.proofs {
		if now.Sub(p.at) >= TrustMemory {
			delete(t.proofs, a)
		} else if oldest == "" || p.at.Before(t.proofs[oldest].at) {
			oldest = a
		}
	}
	if len(t.proofs) >= MaxTrustedMakers {
		delete(t.proofs, oldest)
	}
}

// proven is what is remembered of addr and still counts.
func (t *Trusts) proven(addr string, now time.Time) []VerifiedProof {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.proofs[addr]
	if !ok || now.Sub(p.at) >= TrustMemory {
		return nil
	}
	return p.proofs
}

// Histories is what our node saw of every maker it dealt with, by onion
// address: our taker swaps through it (completed, or ended otherwise)
// and the failures by its fault (an automatic entry of our blacklist:
// live, or added within TrustRecentAge).
func (t *Trusts) Histories(ctx context.Context) (map[string]History, error) {
	out := map[string]History{}
	if t.w == nil {
		return out, nil
	}
	recs, err := swap.NewStore(t.w).TakerSwaps(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if !r.Phase.Final() {
			continue
		}
		seen := map[string]bool{} // a maker twice in one route counts once
		for _, m := range r.Makers {
			if seen[m.Addr] {
				continue
			}
			seen[m.Addr] = true
			h := out[m.Addr]
			if r.Phase == swap.TakerComplete {
				h.Completed++
			} else {
				h.Unfinished++
			}
			out[m.Addr] = h
		}
	}
	now := t.now()
	// Every entry, expired ones too: a maker avoided for a while (it hung
	// up, it was unreachable) is back in the book, its failure recent.
	es, err := t.w.Blacklist(ctx, wallet.ListOnion, time.Time{})
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		live := e.Until.IsZero() || e.Until.After(now)
		if e.Source != wallet.ListSourceAuto || (!live && now.Sub(e.Added) >= TrustRecentAge) {
			continue
		}
		h := out[e.Value]
		h.Faults++
		out[e.Value] = h
	}
	return out, nil
}

// Of returns RouteTrust for each maker, by onion address, as the node
// knows them now (one pass over its history).
func (t *Trusts) Of(ctx context.Context) (func(addr string) float64, error) {
	hs, err := t.Histories(ctx)
	if err != nil {
		return nil, err
	}
	now := t.now()
	return func(addr string) float64 {
		return RouteTrust(t.proven(addr, now), hs[addr], now)
	}, nil
}
