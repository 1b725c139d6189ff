package pool

import (
	"context"
	"sync"

	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

var _ service.Drainer = (*Pool)(nil)

// Drain implements service.Drainer: our own envelopes still waiting in a
// peer's announcement batch (a maker's offer removal, published as the
// node stops) go to that peer now, as bodies, instead of after a trickle
// that the stop would cut short; so do our own envelopes announced to a
// peer that has not fetched them yet (its fetch would find the link
// closed). Then Drain waits until every peer has confirmed, with a ping
// round trip, everything queued for it, or ctx ends. Peers take a few
// unsolicited bodies within their relay budget, as they would from any
// peer.
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
	// Each writer sends what it holds, then a ping: its pong proves the
	// peer has all of it. A frame the local socket took may still sit in
	// tor's buffers, and tor exits right after the drain (seen in
	// itest/market: a withdrawal written 43 ms before tor closed never
	// arrived).
	var wg sync.WaitGroup
	for _, pr := range peers {
		done := make(chan error, 1)
		select {
		case pr.flushq <- done:
		default:
			continue // a flush is already under way
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-done:
			case <-pr.conn.Done():
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
}
