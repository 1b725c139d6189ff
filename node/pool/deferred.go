package pool

import (
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// maxDeferredPerPeer bounds the announcements kept per peer beyond its
// relay budget. An honest relay announces only what it holds, so never
// more than a pool (DefaultMaxMessages); a peer announcing more beyond
// its budget is flooding and is charged for every id past this cap.
const maxDeferredPerPeer = DefaultMaxMessages

// Announcements beyond a peer's relay budget (DefaultPeerRate/Burst) are
// deferred, not dropped: an honest relay forwards whatever passed its own
// checks, up to the topic rates, which may exceed what we allow one peer.
// A flooder that gets its burst accepted at a node (up to
// DefaultPeerBurst per connection, with as many connections as it likes)
// would otherwise make that node's neighbours drop its next
// announcements for good (its own messages too: nobody announces them
// again before anti-entropy) and, charged for them, ban it.

// deferLocked keeps s for a later fetch; false when the peer has a full
// list of them already.
func (pr *peer) deferLocked(s protocol.ShortID) bool {
	if len(pr.deferred) >= maxDeferredPerPeer {
		return false
	}
	pr.deferred = append(pr.deferred, s)
	return true
}

// fetchDeferredLocked requests each peer's deferred announcements as far
// as its relay budget has refilled, newest first: a flood arrives as one
// burst, so what is announced after it (an honest message) is not
// queued behind it. Ids held, refused or requested from someone else
// meanwhile leave the list.
func (p *Pool) fetchDeferredLocked(now time.Time, re map[*peer][]protocol.ShortID) {
	for pr := range p.peers {
		for len(pr.deferred) > 0 && !pr.closed {
			last := len(pr.deferred) - 1
			s := pr.deferred[last]
			_, held := p.msgs[s]
			_, bad := p.rejected.has(s)
			if r := p.requested[s]; r != nil {
				if r.peer != pr && len(r.alts) < maxAlts {
					r.alts = append(r.alts, pr)
				}
				held = true
			}
			if !held && !bad {
				if pr.inflight >= maxInFlightPerPeer || !pr.relay.Allow() {
					break
				}
				p.requested[s] = &request{peer: pr, at: now}
				pr.inflight++
				re[pr] = append(re[pr], s)
			}
			pr.deferred = pr.deferred[:last]
		}
		if len(pr.deferred) == 0 {
			pr.deferred = nil // let a flood's backing array go
		}
	}
}
