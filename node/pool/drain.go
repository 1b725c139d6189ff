package pool

import (
	"context"
	"time"

	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

var _ service.Drainer = (*Pool)(nil)

// drainPoll: how often Drain looks at the peers' send queues; the queue
// of a live Tor stream empties in milliseconds.
const drainPoll = 20 * time.Millisecond

// Drain implements service.Drainer: our own envelopes still waiting in a
// peer's announcement batch (a maker's offer removal, published as the
// node stops) go to that peer now, as bodies, instead of after a trickle
// that the stop would cut short; so do our own envelopes announced to a
// peer that has not fetched them yet (its fetch would find the link
// closed). Then Drain waits until every peer's send queue is empty or
// ctx ends. Peers take a few unsolicited bodies within their relay
// budget, as they would from any peer.
func (p *Pool) Drain(ctx context.Context) {
	type push struct {
		pr  *peer
		ids []protocol.PoolID
	}
	var pushes []push
	p.mu.Lock()
	peers := make([]*peer, 0, len(p.peers))
	for pr := range p.peers {
		peers = append(peers, pr)
		var ids []protocol.PoolID
		for k := range pr.pending {
			keep := pr.pending[k][:0]
			for _, s := range pr.pending[k] {
				e := p.msgs[s]
				if e == nil || !e.own {
					keep = append(keep, s)
					continue
				}
				delete(pr.pendingSet, s)
				if _, ok := pr.known.has(s); !ok {
					pr.known.add(s)
					ids = append(ids, e.id)
				}
			}
			pr.pending[k] = keep
		}
		for s := range pr.unfetched {
			if e := p.msgs[s]; e != nil {
				ids = append(ids, e.id)
			}
		}
		clear(pr.unfetched)
		if len(ids) > 0 {
			pushes = append(pushes, push{pr, ids})
		}
	}
	p.mu.Unlock()
	for _, ps := range pushes {
		var envs [][]byte
		for _, id := range ps.ids {
			if raw, err := p.Envelope(ctx, id); err == nil {
				envs = append(envs, raw)
			}
		}
		if len(envs) > 0 {
			ps.pr.send(&protocol.PoolMsgs{Envelopes: envs})
		}
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for _, pr := range peers {
		for len(pr.sendq) > 0 {
			select {
			case <-ctx.Done():
				return
			case <-pr.conn.Done():
			case <-t.C:
				continue
			}
			break
		}
	}
	// The writer took the last message off the queue; let it reach the
	// socket.
	select {
	case <-ctx.Done():
	case <-time.After(drainPoll):
	}
}
