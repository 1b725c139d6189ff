package pool

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/onionswap/onionswap/internal/backoff"
	"github.com/onionswap/onionswap/protocol"
)

// Where an address came from.
const (
	srcConfig = 1 // configured bootstrap
	srcPex    = 2 // peer exchange or an inbound peer's claim
	// srcSeed: a directory's sample (Config.Seeds). Trusted like a pex
	// address, only once we connected to it: a directory vouches for a
	// bond, not for the address being a pool peer of good will.
	srcSeed = 3
)

// srcRank orders sources by how much they tell us: configured, then a
// directory's sample, then peer exchange. An address keeps its best.
func srcRank(src int) int {
	switch src {
	case srcConfig:
		return 0
	case srcSeed:
		return 1
	}
	return 2
}

// addrInfo is one entry of the peer table.
type addrInfo struct {
	addr        string
	source      int
	lastSeen    time.Time // last heard of (pex) or connected
	lastSuccess time.Time // last successful handshake (zero: never)
	failures    int
	nextTry     time.Time
}

// trusted addresses may fill protected outbound slots: configured ones and
// ones we connected to before. Addresses only heard of from peers may not.
func (a *addrInfo) trusted() bool { return a.source == srcConfig || !a.lastSuccess.IsZero() }

// Ban is a persisted ban of a peer address.
type Ban struct {
	Addr   string    `json:"addr"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
}

// learnLocked adds addr to the table (bounded: beyond DefaultMaxAddrs a
// peer-exchange address is dropped rather than evicting a known one).
func (p *Pool) learnLocked(addr string, src int, now time.Time) {
	if addr == "" || addr == p.cfg.ListenAddr {
		return
	}
	a := p.table[addr]
	if a == nil {
		if len(p.table) >= DefaultMaxAddrs && src == srcPex {
			return
		}
		a = &addrInfo{addr: addr, source: src}
		p.table[addr] = a
	}
	if srcRank(src) < srcRank(a.source) {
		a.source = src
	}
	a.lastSeen = now
	p.dirtyAddrs[addr] = true
}

func (p *Pool) banLocked(addr, reason string, now time.Time) {
	p.bans[addr] = Ban{Addr: addr, Reason: reason, Until: now.Add(BanDuration)}
	p.dirtyBans[addr] = true
}

func (p *Pool) bannedLocked(addr string, now time.Time) bool {
	b, ok := p.bans[addr]
	return ok && now.Before(b.Until)
}

// Bans lists the active bans.
func (p *Pool) Bans() []Ban {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Ban, 0, len(p.bans))
	for _, b := range p.bans {
		out = append(out, b)
	}
	return out
}

// addrSampleLocked: up to n addresses that worked recently (or are
// configured), at random, never the asker's own.
func (p *Pool) addrSampleLocked(n int, except string) []protocol.PoolAddr {
	var out []protocol.PoolAddr
	for _, a := range p.table {
		if a.addr == except || a.failures >= addrMaxFailures {
			continue
		}
		out = append(out, protocol.PoolAddr{Addr: a.addr, LastSeen: uint64(max(a.lastSeen.Unix(), 0))})
	}
	if p.cfg.ListenAddr != "" {
		out = append(out, protocol.PoolAddr{Addr: p.cfg.ListenAddr, LastSeen: uint64(max(p.cfg.Now().Unix(), 0))})
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))]
}

// PeerInfo describes one connected peer (control API).
type PeerInfo struct {
	Addr      string    `json:"addr,omitempty"`
	Outbound  bool      `json:"outbound"`
	Protected bool      `json:"protected,omitempty"`
	Connected time.Time `json:"connected"`
	Score     float64   `json:"score"`
	BytesSent uint64    `json:"bytes_sent"`
	BytesRecv uint64    `json:"bytes_received"`
}

// Peers lists the connected peers.
func (p *Pool) Peers() []PeerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PeerInfo, 0, len(p.peers))
	for pr := range p.peers {
		st := pr.conn.Stats()
		out = append(out, PeerInfo{Addr: pr.addr, Outbound: pr.outbound, Protected: pr.protected,
			Connected: pr.connected, Score: pr.score, BytesSent: st.BytesSent, BytesRecv: st.BytesReceived})
	}
	return out
}

// Traffic sums the bytes of every live pool connection (simulation).
func (p *Pool) Traffic() (sent, received uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.peers {
		st := pr.conn.Stats()
		sent += st.BytesSent
		received += st.BytesReceived
	}
	return sent, received
}

func (p *Pool) dialLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.DialInterval)
	defer t.Stop()
	var seeds seeder
	for {
		p.fillOutbound()
		seeds.maybe(p)
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
	}
}

func (p *Pool) kickDial() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// fillOutbound dials candidates for the free outbound slots: protected
// slots only from trusted addresses, the others from any.
func (p *Pool) fillOutbound() {
	if p.cfg.Dialer == nil || p.cfg.Outbound == 0 {
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	out, prot := 0, 0
	connected := map[string]bool{}
	for pr := range p.peers {
		if pr.outbound {
			out++
			connected[pr.addr] = true
			if pr.protected {
				prot++
			}
		}
	}
	for _, protected := range p.dialing {
		out++
		if protected {
			prot++
		}
	}
	var trusted, any []*addrInfo
	for _, a := range p.table {
		if connected[a.addr] || p.dialing[a.addr] || now.Before(a.nextTry) || p.bannedLocked(a.addr, now) {
			continue
		}
		any = append(any, a)
		if a.trusted() {
			trusted = append(trusted, a)
		}
	}
	rand.Shuffle(len(trusted), func(i, j int) { trusted[i], trusted[j] = trusted[j], trusted[i] })
	rand.Shuffle(len(any), func(i, j int) { any[i], any[j] = any[j], any[i] })
	taken := map[string]bool{}
	pick := func(from []*addrInfo) *addrInfo {
		for _, a := range from {
			if !taken[a.addr] {
				taken[a.addr] = true
				return a
			}
		}
		return nil
	}
	for ; out < p.cfg.Outbound; out++ {
		protected := prot < p.cfg.ProtectedOutbound
		var a *addrInfo
		if protected {
			a = pick(trusted)
			if a != nil {
				prot++
			}
		}
		if a == nil {
			if p.cfg.Outbound-out <= p.cfg.ProtectedOutbound-prot {
				break // the rest are protected slots: no trusted candidate
			}
			protected = false
			a = pick(any)
		}
		if a == nil {
			break
		}
		p.dialing[a.addr] = protected
		a.nextTry = now.Add(dialBackoffMin)
		p.wg.Add(1)
		go p.connect(a.addr, protected)
	}
}

// connect dials addr, handshakes with PoolHello (and PoolSync, if no
// other reconciliation runs) pipelined behind the Hello, and serves the
// peer until the connection ends.
func (p *Pool) connect(addr string, protected bool) {
	defer p.wg.Done()
	ctx := p.ctx
	fail := func() {
		now := p.cfg.Now()
		p.mu.Lock()
		delete(p.dialing, addr)
		if a := p.table[addr]; a != nil {
			a.failures++
			a.nextTry = now.Add(backoff.Delay(a.failures, dialBackoffMin, dialBackoffMax, true))
			p.dirtyAddrs[addr] = true
		}
		p.mu.Unlock()
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	nc, err := p.cfg.Dialer.Dial(dctx, addr)
	if err != nil {
		p.log.Debug("pool dial failed", "err", err)
		fail()
		return
	}
	c := protocol.NewConn(nc, p.connConfig())
	pr := p.newPeer(c, addr, true)
	pr.protected = protected
	pipelined := []protocol.Message{&protocol.PoolHello{ListenAddr: p.cfg.ListenAddr}}
	p.mu.Lock()
	if p.syncing == nil {
		p.syncing, p.syncSince, p.syncLeft = pr, p.cfg.Now(), 0
		pr.awaitSync = true
		pipelined = append(pipelined, p.syncRequestLocked())
	} else {
		p.syncQueue = append(p.syncQueue, pr)
	}
	p.mu.Unlock()
	hello := protocol.NewHello(p.cfg.Network, p.cfg.UserAgent)
	hello.Features = protocol.Features(nil).Set(protocol.FeaturePool)
	if _, err := c.HandshakeWith(dctx, hello, pipelined...); err != nil {
		p.log.Debug("pool handshake failed", "err", err)
		p.mu.Lock()
		pr.closed = true
		if p.syncing == pr {
			p.syncDoneLocked()
		}
		p.mu.Unlock()
		fail()
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	delete(p.dialing, addr)
	if a := p.table[addr]; a != nil {
		a.failures, a.lastSuccess, a.lastSeen = 0, now, now
		p.dirtyAddrs[addr] = true
	}
	p.mu.Unlock()
	pr.send(&protocol.PoolGetAddrs{})
	pr.run(ctx)
}

// connConfig is the configuration of outbound connections: the byte
// bucket must hold a whole pool, which a join sync delivers at once.
func (p *Pool) connConfig() protocol.ConnConfig {
	cc := p.cfg.Conn
	if cc.ByteBurst == 0 {
		cc.ByteBurst = p.cfg.MaxBytes + 2*protocol.MaxFrameSize
	}
	if cc.ByteRate == 0 {
		// A pool's worth every 4 s: far above a Tor circuit, so it only
		// stops a peer sending junk as fast as it can.
		cc.ByteRate = float64(p.cfg.MaxBytes) / 4
	}
	return cc
}

// detach forgets a peer whose connection ended: its outstanding fetches
// go to peers that announced the same ids, or are dropped.
func (p *Pool) detach(pr *peer) {
	p.mu.Lock()
	delete(p.peers, pr)
	pr.closed = true
	re := p.reassignLocked(func(r *request) bool { return r.peer == pr })
	if p.syncing == pr {
		p.syncDoneLocked()
	}
	p.mu.Unlock()
	sendRequests(re)
	if pr.outbound {
		p.kickDial()
	}
}

// reassignLocked moves the fetches matching f to an alternative peer
// (or drops them) and returns what to send.
func (p *Pool) reassignLocked(f func(*request) bool) map[*peer][]protocol.ShortID {
	re := map[*peer][]protocol.ShortID{}
	now := p.cfg.Now()
	for s, r := range p.requested {
		if !f(r) {
			continue
		}
		r.peer.inflight--
		var next *peer
		for len(r.alts) > 0 && next == nil {
			if a := r.alts[0]; !a.closed {
				next = a
			}
			r.alts = r.alts[1:]
		}
		if next == nil {
			delete(p.requested, s)
			if r.sync {
				p.syncFetchedLocked()
			}
			continue
		}
		r.peer, r.at = next, now
		next.inflight++
		re[next] = append(re[next], s)
	}
	return re
}

func sendRequests(re map[*peer][]protocol.ShortID) {
	for pr, ids := range re {
		for len(ids) > 0 {
			n := min(len(ids), protocol.MaxPoolIDs)
			pr.send(&protocol.PoolGetData{IDs: ids[:n:n]})
			ids = ids[n:]
		}
	}
}

// housekeeping: expiry, fetch timeouts, a stuck sync, anti-entropy,
// ban expiry, aging of dead addresses.
func (p *Pool) housekeeping() {
	defer p.wg.Done()
	t := time.NewTicker(housekeepingInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.tick(p.cfg.Now())
	}
}

func (p *Pool) tick(now time.Time) {
	p.mu.Lock()
	p.expireLocked(now)
	timeout := p.cfg.FetchTimeout
	n := 0
	// A fetch waits FetchTimeout from its request or from the peer's last
	// delivery of one we asked for, whichever is later: the envelopes of
	// a join sync arrive as fast as we validate them (a bond lookup each,
	// ~10 ms on a local chain backend, 1,000 offers in ~10 s), and timing
	// out the ones still queued behind the others would turn them into
	// unsolicited envelopes, charged to the peer that is serving us until
	// we ban it.
	re := p.reassignLocked(func(r *request) bool {
		if now.Sub(later(r.at, r.peer.delivered)) >= timeout {
			n++
			return true
		}
		return false
	})
	p.stats.FetchTimeouts += uint64(n)
	p.fetchDeferredLocked(now, re)
	if p.syncing != nil && now.Sub(later(p.syncSince, p.syncing.delivered)) > 2*timeout {
		p.syncDoneLocked()
	}
	if p.nextSync.IsZero() {
		p.nextSync = now.Add(p.cfg.SyncInterval)
	}
	if now.After(p.nextSync) {
		p.nextSync = now.Add(p.cfg.SyncInterval/2 + rand.N(p.cfg.SyncInterval))
		var outs []*peer
		for pr := range p.peers {
			if pr.outbound && !pr.closed && !pr.awaitSync {
				outs = append(outs, pr)
			}
		}
		if len(outs) > 0 {
			pr := outs[rand.N(len(outs))]
			if p.syncing == nil {
				p.startSyncLocked(pr)
			} else {
				p.syncQueue = append(p.syncQueue, pr)
			}
		}
	}
	for a, b := range p.bans {
		if !now.Before(b.Until) {
			delete(p.bans, a)
			p.dirtyBans[a] = true
		}
	}
	for addr, a := range p.table {
		// Dead addresses age out: failed addrMaxFailures times in a row
		// and never (or not for addrMaxAge) seen working.
		dead := a.failures >= addrMaxFailures && (a.lastSuccess.IsZero() || now.Sub(a.lastSuccess) > addrMaxAge)
		if a.source != srcConfig && dead {
			delete(p.table, addr)
			p.dirtyAddrs[addr] = true
		}
	}
	p.mu.Unlock()
	sendRequests(re)
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
