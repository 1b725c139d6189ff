package pool

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onionswap/onionswap/internal/ratelimit"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

// peer is one pool connection, in either direction.
type peer struct {
	p         *Pool
	conn      *protocol.Conn
	addr      string // dialed address, or the inbound peer's claim ("")
	outbound  bool
	protected bool
	connected time.Time

	sendq chan protocol.Message
	// flushq asks the writer to send what sendq holds, then prove with a
	// ping round trip that the peer has it (Drain); the writer answers on
	// the channel it is given.
	flushq chan chan error
	// wake tells the writer a batch has ids: [trickleSlow] or
	// [trickleRelay].
	wake [2]chan struct{}

	// guarded by p.mu
	known *rollingSet
	// pending: the next announcement batches, by trickle; pendingSet
	// holds the ids of both, so an id is queued once.
	pending    [2][]protocol.ShortID
	pendingSet map[protocol.ShortID]struct{}
	// unfetched: our own envelopes announced to the peer, and when, that
	// it has not asked for yet; Drain sends them as bodies, so a removal
	// announced just before the node stops is not lost with the link.
	// Own envelopes are rare and entries expire after FetchTimeout.
	unfetched map[protocol.ShortID]time.Time
	inflight  int
	// delivered: when the peer last delivered an envelope we asked for.
	// A fetch times out only once the peer has delivered nothing for
	// FetchTimeout: a join sync asks a whole pool at once, and a peer
	// sending it as fast as we validate is not stalling (see tick).
	delivered time.Time
	score     float64
	scoreAt   time.Time
	closed    bool
	banned    bool
	gaveAddrs bool
	awaitSync bool
	// deferred: announced ids beyond the relay budget, fetched as it
	// refills (deferred.go).
	deferred []protocol.ShortID

	relay, serve, sync, addrs *ratelimit.Bucket
	closeOnce                 sync.Once
}

func (p *Pool) newPeer(c *protocol.Conn, addr string, outbound bool) *peer {
	now := p.cfg.Now()
	return &peer{
		p: p, conn: c, addr: addr, outbound: outbound, connected: now,
		sendq: make(chan protocol.Message, sendQueue), flushq: make(chan chan error, 1), wake: [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)},
		known: newRollingSet(knownPerPeer), pendingSet: map[protocol.ShortID]struct{}{},
		unfetched: map[protocol.ShortID]time.Time{},
		scoreAt:   now,
		relay:     ratelimit.New(p.cfg.PeerRate, float64(p.cfg.PeerBurst), p.cfg.Now),
		serve:     ratelimit.New(p.cfg.ServeRate, float64(p.cfg.ServeBurst), p.cfg.Now),
		sync:      ratelimit.New(p.cfg.SyncRate, float64(p.cfg.SyncBurst), p.cfg.Now),
		addrs:     ratelimit.New(DefaultAddrRate, float64(DefaultAddrBurst), p.cfg.Now),
	}
}

// The two announcement batches of a peer.
const (
	// trickleSlow: our own messages, after the full trickle
	// (TrickleOutbound or TrickleInbound).
	trickleSlow = iota
	// trickleRelay: messages we relay, after the peer's trickle ÷
	// relayTrickleDivisor.
	trickleRelay
)

// queueInvLocked adds short to the next announcement batch: our own
// (relayed false) after the full trickle, relayed ones after the short
// relay trickle.
func (pr *peer) queueInvLocked(short protocol.ShortID, relayed bool) {
	if _, ok := pr.pendingSet[short]; ok {
		return
	}
	k := trickleSlow
	if relayed {
		k = trickleRelay
	}
	pr.pendingSet[short] = struct{}{}
	pr.pending[k] = append(pr.pending[k], short)
	select {
	case pr.wake[k] <- struct{}{}:
	default:
	}
}

// send queues m for the writer; a peer whose queue is full is too slow
// to keep and is dropped.
func (pr *peer) send(m protocol.Message) bool {
	select {
	case pr.sendq <- m:
		return true
	default:
		pr.p.slowShed.Add(1)
		go pr.close(protocol.CodeBusy, "pool: peer too slow to read")
		return false
	}
}

func (pr *peer) close(code protocol.ErrorCode, why string) {
	pr.closeOnce.Do(func() {
		_ = pr.conn.CloseWithError(code, why)
	})
}

// trickleDelay draws the Poisson delay before the next batch of kind k.
func (pr *peer) trickleDelay(k int) time.Duration {
	mean := pr.p.cfg.TrickleInbound
	if pr.outbound {
		mean = pr.p.cfg.TrickleOutbound
	}
	if k == trickleRelay {
		mean /= relayTrickleDivisor
	}
	return time.Duration(rand.ExpFloat64() * float64(mean))
}

// run serves the peer until its connection ends: the writer runs in its
// own goroutine, the reader in the caller's.
func (pr *peer) run(ctx context.Context) {
	p := pr.p
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		pr.close(protocol.CodeShutdown, "node shutting down")
		return
	}
	p.peers[pr] = struct{}{}
	// Our own messages go to every new peer: one published while this
	// connection was being set up was relayed to the peers we had, and
	// the join sync's snapshot may predate it, so nothing else would
	// announce it here before the next anti-entropy round. A node has few
	// of its own (a maker, one offer); a peer that holds one does not
	// fetch it.
	for _, e := range p.msgs {
		if e.own {
			if _, known := pr.known.has(e.short); !known {
				pr.queueInvLocked(e.short, false)
			}
		}
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pr.writeLoop(ctx)
	}()
	pr.readLoop(ctx)
	pr.close(protocol.CodeShutdown, "pool: connection ends")
	wg.Wait()
	p.detach(pr)
}

func (pr *peer) writeLoop(ctx context.Context) {
	// One timer per batch kind; fire[k] is nil while batch k waits for
	// no timer.
	var timers [2]*time.Timer
	var fire [2]<-chan time.Time
	defer func() {
		for _, t := range timers {
			if t != nil {
				t.Stop()
			}
		}
	}()
	arm := func(k int) {
		if fire[k] != nil {
			return
		}
		d := pr.trickleDelay(k)
		if timers[k] == nil {
			timers[k] = time.NewTimer(d)
		} else {
			timers[k].Reset(d)
		}
		fire[k] = timers[k].C
	}
	flush := func(k int) bool {
		fire[k] = nil
		for _, inv := range pr.takeInv(k) {
			if err := pr.conn.Send(ctx, inv); err != nil {
				return false
			}
		}
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-pr.conn.Done():
			return
		case m := <-pr.sendq:
			if err := pr.conn.Send(ctx, m); err != nil {
				return
			}
		case done := <-pr.flushq:
			// What was queued before the request goes first: the
			// pong then covers it.
			for queued := true; queued; {
				select {
				case m := <-pr.sendq:
					if err := pr.conn.Send(ctx, m); err != nil {
						done <- err
						return
					}
				default:
					queued = false
				}
			}
			// Bounded as Drain is: a peer that never answers must not
			// hold the writer.
			sctx, cancel := context.WithTimeout(ctx, service.DrainTimeout)
			done <- pr.conn.Sync(sctx)
			cancel()
		case <-pr.wake[trickleSlow]:
			arm(trickleSlow)
		case <-pr.wake[trickleRelay]:
			arm(trickleRelay)
		case <-fire[trickleSlow]:
			if !flush(trickleSlow) {
				return
			}
		case <-fire[trickleRelay]:
			if !flush(trickleRelay) {
				return
			}
		}
	}
}

// takeInv empties batch k into PoolInv messages: ids still held (a
// newer sequence replaced an older one still queued: only the newer is
// announced) and not known to the peer meanwhile.
func (pr *peer) takeInv(k int) []protocol.Message {
	p := pr.p
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	for s, at := range pr.unfetched {
		if now.Sub(at) > p.cfg.FetchTimeout {
			delete(pr.unfetched, s)
		}
	}
	ids := make([]protocol.ShortID, 0, len(pr.pending[k]))
	for _, s := range pr.pending[k] {
		delete(pr.pendingSet, s)
		e, held := p.msgs[s]
		if !held {
			continue
		}
		if _, ok := pr.known.has(s); ok {
			continue
		}
		pr.known.add(s)
		if e.own {
			pr.unfetched[s] = now
		}
		ids = append(ids, s)
	}
	pr.pending[k] = pr.pending[k][:0]
	var out []protocol.Message
	for len(ids) > 0 {
		n := min(len(ids), protocol.MaxPoolIDs)
		out = append(out, &protocol.PoolInv{IDs: ids[:n:n]})
		ids = ids[n:]
	}
	return out
}

func (pr *peer) readLoop(ctx context.Context) {
	for {
		m, err := pr.conn.Receive(ctx)
		if err != nil {
			return
		}
		if !pr.handle(ctx, m) {
			return
		}
	}
}

// handle processes one message; false ends the connection.
func (pr *peer) handle(ctx context.Context, m protocol.Message) bool {
	switch m := m.(type) {
	case *protocol.PoolInv:
		pr.onInv(m.IDs)
	case *protocol.PoolGetData:
		pr.onGetData(ctx, m.IDs)
	case *protocol.PoolMsgs:
		pr.onMsgs(ctx, m.Envelopes)
	case *protocol.PoolSync:
		pr.onSync(m)
	case *protocol.PoolSyncReply:
		pr.onSyncReply(m)
	case *protocol.PoolGetAddrs:
		pr.onGetAddrs()
	case *protocol.PoolAddrs:
		pr.onAddrs(m.Addrs)
	case *protocol.PoolHello:
		pr.penalize(penaltyFatal, "second PoolHello")
	default:
		pr.close(protocol.CodeProtocolViolation, "not a pool message: "+m.Type().String())
		return false
	}
	pr.p.mu.Lock()
	banned := pr.banned
	pr.p.mu.Unlock()
	return !banned
}

// penalize adds pts to the peer's decaying score and bans it at BanScore.
func (pr *peer) penalize(pts float64, why string) {
	p := pr.p
	now := p.cfg.Now()
	p.mu.Lock()
	el := now.Sub(pr.scoreAt)
	if el > 0 {
		pr.score *= math.Exp2(-el.Seconds() / scoreHalfLife.Seconds())
		pr.scoreAt = now
	}
	pr.score += pts
	ban := pr.score >= BanScore && !pr.banned
	if ban {
		pr.banned = true
		p.stats.PeersBanned++
		if pr.addr != "" {
			p.banLocked(pr.addr, why, now)
		}
	}
	p.mu.Unlock()
	if ban {
		p.log.Info("pool peer banned", "reason", why, "outbound", pr.outbound)
		code := protocol.CodeProtocolViolation
		if pts <= penaltyFlood {
			code = protocol.CodeRateLimited
		}
		pr.close(code, "pool: banned: "+why)
	}
}

func (pr *peer) onInv(ids []protocol.ShortID) {
	p := pr.p
	now := p.cfg.Now()
	var want []protocol.ShortID
	flood := 0
	p.mu.Lock()
	for _, s := range ids {
		pr.known.add(s)
		if _, held := p.msgs[s]; held {
			continue
		}
		if _, bad := p.rejected.has(s); bad {
			continue
		}
		if r := p.requested[s]; r != nil {
			if r.peer != pr && len(r.alts) < maxAlts && !slices.Contains(r.alts, pr) {
				r.alts = append(r.alts, pr)
			}
			continue
		}
		if pr.inflight >= maxInFlightPerPeer {
			continue
		}
		if !pr.relay.Allow() {
			if !pr.deferLocked(s) {
				flood++
			}
			continue
		}
		p.requested[s] = &request{peer: pr, at: now}
		pr.inflight++
		want = append(want, s)
	}
	p.stats.FloodDropped += uint64(flood)
	p.mu.Unlock()
	if flood > 0 {
		pr.penalize(float64(flood)*penaltyFlood, "announcements beyond the per-connection budget")
	}
	if len(want) > 0 {
		pr.send(&protocol.PoolGetData{IDs: want})
	}
}

func (pr *peer) onGetData(ctx context.Context, ids []protocol.ShortID) {
	p := pr.p
	type want struct {
		id  protocol.PoolID
		raw []byte // nil: read from pool.db
	}
	var ws []want
	flood := 0
	p.mu.Lock()
	for _, s := range ids {
		e := p.msgs[s]
		if e == nil {
			continue
		}
		if !pr.serve.Allow() {
			flood++
			continue
		}
		pr.known.add(s)
		delete(pr.unfetched, s)
		ws = append(ws, want{e.id, e.raw})
	}
	p.mu.Unlock()
	// Batches go out as they fill, so a large request holds one batch
	// of encodings read from pool.db at a time (the send queue aside).
	var cur [][]byte
	size := 0
	for _, w := range ws {
		raw, err := p.rawOf(ctx, w.id, w.raw)
		if err != nil {
			continue // dropped meanwhile, or the database failed (logged)
		}
		if len(cur) > 0 && (size+len(raw) > batchBytes || len(cur) == protocol.MaxPoolBatch) {
			if !pr.send(&protocol.PoolMsgs{Envelopes: cur}) {
				return
			}
			cur, size = nil, 0
		}
		cur = append(cur, raw)
		size += len(raw) + protocol.PoolMsgsPerEnvelope
	}
	if len(cur) > 0 && !pr.send(&protocol.PoolMsgs{Envelopes: cur}) {
		return
	}
	if flood > 0 {
		pr.penalize(float64(flood)*penaltyFlood, "fetches beyond the per-connection budget")
	}
}

// arrival is one envelope of a PoolMsgs on its way in.
type arrival struct {
	raw       []byte
	short     protocol.ShortID
	r         *request
	solicited bool
	sync      bool
	c         *checked
	reason    Reason
}

// onMsgs takes a batch of envelopes: the cheap bookkeeping and budgets in
// order, the checks (signature, the topic's validator) checkWorkers at a
// time, then storing and relaying in order.
func (pr *peer) onMsgs(ctx context.Context, envs [][]byte) {
	p := pr.p
	as := make([]arrival, 0, len(envs))
	for _, raw := range envs {
		if len(raw) < protocol.MinPoolEnvelopeSize {
			pr.refuse(nil, ReasonMalformed)
			continue
		}
		a := arrival{raw: raw, short: protocol.PoolIDOf(raw).Short()}
		p.mu.Lock()
		a.r = p.requested[a.short]
		a.solicited = a.r != nil && a.r.peer == pr
		a.sync = a.solicited && a.r.sync
		if a.solicited {
			pr.delivered = p.cfg.Now()
		} else {
			p.stats.UnsolicitedIn++
		}
		pr.known.add(a.short)
		p.mu.Unlock()
		if !a.solicited && !pr.relay.Allow() {
			p.mu.Lock()
			p.stats.FloodDropped++
			p.mu.Unlock()
			pr.penalize(penaltyFlood, "unsolicited envelopes beyond the per-connection budget")
			continue
		}
		as = append(as, a)
	}
	pr.checkAll(ctx, as)
	for i := range as {
		a := &as[i]
		if obs := p.cfg.Observer; obs != nil && a.c != nil {
			obs.Received(a.c.id, a.reason == ReasonDuplicate)
		}
		if a.reason != ReasonNone {
			pr.refuse(a.c, a.reason)
		}
		// The fetch stays outstanding until the envelope is held or
		// refused, so no other peer's announcement fetches it meanwhile.
		p.mu.Lock()
		if a.reason == ReasonNone {
			switch held, r := p.insertLocked(a.c, false); {
			case held:
				p.relayLocked(a.c.short, pr)
			case r == ReasonTopicFull || r == ReasonRecipientFull:
				// A cap filled since check(): refused as there, unblamed,
				// and fetched again when announced again (capFull).
				p.refusedLocked(r)
			}
		}
		if a.solicited && p.requested[a.short] == a.r {
			delete(p.requested, a.short)
			pr.inflight--
			if a.sync {
				p.syncFetchedLocked()
			}
		}
		p.mu.Unlock()
	}
}

// checkAll checks every arrival, checkWorkers at a time (each solicited
// one counts as a delivery when its check ends: the peer is not stalling
// while we validate what it sent).
func (pr *peer) checkAll(ctx context.Context, as []arrival) {
	p := pr.p
	one := func(a *arrival) {
		a.c, a.reason = p.check(ctx, a.raw, !a.sync)
		if a.solicited {
			p.mu.Lock()
			pr.delivered = p.cfg.Now()
			p.mu.Unlock()
		}
	}
	workers := min(checkWorkers, len(as))
	if workers <= 1 {
		for i := range as {
			one(&as[i])
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(as); i = int(next.Add(1)) - 1 {
				one(&as[i])
			}
		}()
	}
	wg.Wait()
}

// refuse records a refused envelope and charges its sender.
func (pr *peer) refuse(c *checked, r Reason) {
	p := pr.p
	v, pts := r.verdict()
	p.mu.Lock()
	p.refusedLocked(r)
	if r == ReasonDuplicate {
		p.stats.Duplicates++
	} else if c != nil && r != ReasonKnownBad && !capFull(r) {
		p.rejected.add(c.short)
	}
	p.mu.Unlock()
	if v == Reject {
		pr.penalize(pts, r.String())
	}
}

// onSync answers a PoolSync with our ids in every bucket that differs.
func (pr *peer) onSync(m *protocol.PoolSync) {
	if !pr.sync.Allow() {
		pr.penalize(penaltyMinor, "sync requests beyond the per-connection budget")
		return
	}
	p := pr.p
	p.mu.Lock()
	buckets := p.bucketsLocked(m.Bits)
	p.stats.Syncs++
	p.mu.Unlock()
	reply := &protocol.PoolSyncReply{Bits: m.Bits}
	for i, ids := range buckets {
		if int(m.Buckets[i].Count) == len(ids) && m.Buckets[i].Digest == protocol.SyncDigest(ids) {
			continue
		}
		reply.Buckets = append(reply.Buckets, uint16(i))
		reply.IDs = append(reply.IDs, ids...)
	}
	if len(reply.IDs) > protocol.MaxSyncIDs {
		reply.IDs = reply.IDs[:protocol.MaxSyncIDs]
	}
	pr.send(reply)
}

// bucketsLocked groups our short ids by their top bits, each bucket
// sorted.
func (p *Pool) bucketsLocked(bits uint8) [][]protocol.ShortID {
	out := make([][]protocol.ShortID, 1<<bits)
	for s := range p.msgs {
		b := protocol.SyncBucket(s, bits)
		out[b] = append(out[b], s)
	}
	for _, ids := range out {
		slices.SortFunc(ids, func(a, b protocol.ShortID) int {
			return cmpU64(a.Uint64(), b.Uint64())
		})
	}
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// syncRequestLocked builds our PoolSync: about syncBucketTarget envelopes
// per bucket.
func (p *Pool) syncRequestLocked() *protocol.PoolSync {
	bits := uint8(0)
	for bits < protocol.MaxSyncBits && len(p.msgs)>>bits > syncBucketTarget {
		bits++
	}
	buckets := p.bucketsLocked(bits)
	m := &protocol.PoolSync{Bits: bits, Buckets: make([]protocol.PoolBucket, len(buckets))}
	for i, ids := range buckets {
		m.Buckets[i] = protocol.PoolBucket{Count: uint16(min(len(ids), math.MaxUint16)), Digest: protocol.SyncDigest(ids)}
	}
	return m
}

// onSyncReply fetches what the peer has and we lack, and announces at
// once what we have and it lacks in the buckets that differed.
func (pr *peer) onSyncReply(m *protocol.PoolSyncReply) {
	p := pr.p
	now := p.cfg.Now()
	p.mu.Lock()
	if !pr.awaitSync {
		p.mu.Unlock()
		pr.penalize(penaltyMinor, "unrequested sync reply")
		return
	}
	pr.awaitSync = false
	theirs := make(map[protocol.ShortID]struct{}, len(m.IDs))
	var want []protocol.ShortID
	for _, s := range m.IDs {
		theirs[s] = struct{}{}
		pr.known.add(s)
		if _, held := p.msgs[s]; held {
			continue
		}
		if _, bad := p.rejected.has(s); bad {
			continue
		}
		if r := p.requested[s]; r != nil {
			if r.peer != pr && len(r.alts) < maxAlts {
				r.alts = append(r.alts, pr)
			}
			continue
		}
		if len(p.requested) >= 2*p.cfg.MaxMessages {
			break // more than we could hold anyway
		}
		p.requested[s] = &request{peer: pr, at: now, sync: true}
		pr.inflight++
		want = append(want, s)
	}
	differs := make(map[int]bool, len(m.Buckets))
	for _, b := range m.Buckets {
		differs[int(b)] = true
	}
	var offer []protocol.ShortID
	for s := range p.msgs {
		if !differs[protocol.SyncBucket(s, m.Bits)] {
			continue
		}
		if _, ok := theirs[s]; ok {
			continue
		}
		if _, ok := pr.known.has(s); ok {
			continue
		}
		pr.known.add(s)
		offer = append(offer, s)
	}
	if p.syncing == pr {
		p.syncLeft += len(want)
		p.stats.SyncIDsFetched += uint64(len(want))
		if p.syncLeft == 0 {
			p.syncDoneLocked()
		}
	}
	p.mu.Unlock()
	for len(want) > 0 {
		n := min(len(want), protocol.MaxPoolIDs)
		pr.send(&protocol.PoolGetData{IDs: want[:n:n]})
		want = want[n:]
	}
	for len(offer) > 0 {
		n := min(len(offer), protocol.MaxPoolIDs)
		pr.send(&protocol.PoolInv{IDs: offer[:n:n]})
		offer = offer[n:]
	}
}

// syncFetchedLocked counts one envelope of the running sync arrived.
func (p *Pool) syncFetchedLocked() {
	if p.syncing == nil {
		return
	}
	p.syncLeft--
	if p.syncLeft <= 0 {
		p.syncDoneLocked()
	}
}

// syncDoneLocked ends the running sync and starts the next queued one:
// reconciling with one peer at a time means a joining node fetches each
// missing envelope once, and the later syncs only fix what the first
// peer lacked (their digests mostly match).
func (p *Pool) syncDoneLocked() {
	p.syncing, p.syncLeft = nil, 0
	for len(p.syncQueue) > 0 {
		next := p.syncQueue[0]
		p.syncQueue = p.syncQueue[1:]
		if next.closed {
			continue
		}
		p.startSyncLocked(next)
		return
	}
}

// startSyncLocked sends a PoolSync to pr (queued, not pipelined).
func (p *Pool) startSyncLocked(pr *peer) {
	p.syncing, p.syncSince, p.syncLeft = pr, p.cfg.Now(), 0
	pr.awaitSync = true
	pr.send(p.syncRequestLocked())
}

func (pr *peer) onGetAddrs() {
	p := pr.p
	p.mu.Lock()
	if pr.gaveAddrs {
		p.mu.Unlock()
		return // once per connection (Core answers getaddr once)
	}
	pr.gaveAddrs = true
	sample := p.addrSampleLocked(pexSample, pr.addr)
	p.mu.Unlock()
	if len(sample) > 0 {
		pr.send(&protocol.PoolAddrs{Addrs: sample})
	}
}

func (pr *peer) onAddrs(as []protocol.PoolAddr) {
	p := pr.p
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range as {
		if !pr.addrs.Allow() {
			return // Core drops addresses beyond the bucket silently
		}
		if a.Addr == p.cfg.ListenAddr {
			continue
		}
		p.learnLocked(a.Addr, srcPex, now)
	}
}
