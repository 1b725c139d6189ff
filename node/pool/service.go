package pool

import (
	"context"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

var (
	_ service.Inbound    = (*Pool)(nil)
	_ service.Limited    = (*Pool)(nil)
	_ service.Controlled = (*Pool)(nil)
)

// Name implements service.Service.
func (p *Pool) Name() string { return "pool" }

// Feature implements service.Inbound.
func (p *Pool) Feature() protocol.FeatureBit { return protocol.FeaturePool }

// Owns implements service.Inbound: the pool range.
func (p *Pool) Owns(t protocol.MessageType) bool {
	return t >= protocol.RangePoolFirst && t <= protocol.RangePoolLast
}

// Limits implements service.Limited: the inbound share of MaxPeers, kept
// for as long as they last (pool connections are long-lived; idle ones are
// ended by the protocol's keep-alive).
func (p *Pool) Limits() service.Limits {
	return service.Limits{MaxConns: max(p.cfg.MaxPeers-p.cfg.Outbound, 1)}
}

// ServeConn implements service.Inbound: an inbound peer, opened by its
// PoolHello.
func (p *Pool) ServeConn(ctx context.Context, c *protocol.Conn, first protocol.Message) {
	h, ok := first.(*protocol.PoolHello)
	if !ok {
		_ = c.CloseWithError(protocol.CodeProtocolViolation, "a pool connection opens with PoolHello")
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	if h.ListenAddr != "" && p.bannedLocked(h.ListenAddr, now) {
		p.mu.Unlock()
		_ = c.CloseWithError(protocol.CodeRefused, "pool: banned")
		return
	}
	// The claim is learned as a peer-exchange address: it never fills a
	// protected slot before we connected to it ourselves.
	p.learnLocked(h.ListenAddr, srcPex, now)
	p.mu.Unlock()
	pr := p.newPeer(c, h.ListenAddr, false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()
	pr.run(ctx)
}

// Readiness implements service.Service: ready with at least one peer
// (or with no peer to wait for).
func (p *Pool) Readiness(context.Context) service.Readiness {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case len(p.peers) > 0:
		return service.ReadyNow
	case len(p.table) == 0 && len(p.cfg.Bootstrap) == 0:
		// Nothing configured and nobody has found us: there is nothing to
		// wait for, and the node's other services must not look blocked.
		return service.ReadyNow
	}
	return service.NotReady("no pool peer connected yet")
}

// PeersReply is GET /v1/pool/peers.
type PeersReply struct {
	Peers []PeerInfo `json:"peers"`
	Bans  []Ban      `json:"bans"`
}

// RegisterControl implements service.Controlled: `onionswap pool
// peers|stats|messages [--topic T]`, and `pool publish|remove` on the
// test topic (control.go).
func (p *Pool) RegisterControl(r *control.Router) {
	control.Get(r, "/v1/pool/peers", func(context.Context, control.Request) (PeersReply, error) {
		return PeersReply{Peers: p.Peers(), Bans: p.Bans()}, nil
	})
	control.Get(r, "/v1/pool/stats", func(context.Context, control.Request) (Stats, error) {
		return p.Stats(), nil
	})
	control.Get(r, "/v1/pool/messages", func(_ context.Context, q control.Request) ([]Message, error) {
		return p.Messages(q.Query.Get("topic")), nil
	})
	control.Post(r, "/v1/pool/publish", p.controlPublish)
	control.Post(r, "/v1/pool/remove", p.controlRemove)
}
