package pool

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

const (
	// DefaultSeedInterval: the least time between two Config.Seeds calls.
	// A call lists every directory over Tor (a dial, a ≤ 380 kB reply:
	// directory.DefaultFetchTimeout bounds it at 3 minutes) and verifies
	// every listed maker's bond on our own chain backend (~6 RPCs each);
	// 5 minutes is longer than one call may take, so calls never pile
	// up, and short enough that a node whose peers all vanished finds new
	// ones within minutes. Bitcoin Core asks its DNS seeds only when its
	// address manager has nothing to try, as we do.
	DefaultSeedInterval = 5 * time.Minute
	// seedTimeout bounds one call: the directory fetch bound plus a
	// minute of bond verification.
	seedTimeout = 4 * time.Minute
	// seedRetry: after a call that gave no address (the directories list
	// nobody yet: a node started with the makers it would find, whose
	// registrations take seconds over Tor; or every directory failed),
	// the next one comes this much later, doubling with each empty answer
	// up to SeedInterval (15, 30, 60, 120, 240 s, then 5 min), instead of
	// a whole SeedInterval with no peer at all.
	seedRetry = 15 * time.Second
)

// seeder asks Config.Seeds for addresses when the peer table has nothing
// left to try. It lives in the dial loop's goroutine; the call itself
// runs in its own, one at a time.
type seeder struct {
	next     time.Time
	inflight atomic.Bool
	// soon (unix ns, 0: none): an empty answer's earlier retry; empties
	// counts the empty answers in a row.
	soon    atomic.Int64
	empties atomic.Int32
}

// maybe starts a Seeds call if one is needed and allowed now.
func (s *seeder) maybe(p *Pool) {
	// Seed addresses fill unprotected slots only: a node whose every
	// outbound slot is protected (--pool-outbound 2 or less) dials only
	// what it was given or connected to before.
	if p.cfg.Seeds == nil || p.cfg.Outbound <= p.cfg.ProtectedOutbound || s.inflight.Load() {
		return
	}
	now := p.cfg.Now()
	if soon := s.soon.Load(); now.Before(s.next) && (soon == 0 || now.UnixNano() < soon) {
		return
	}
	p.mu.Lock()
	need := p.ctx.Err() == nil && p.needSeedsLocked(now)
	p.mu.Unlock()
	if !need {
		return
	}
	s.next = now.Add(p.cfg.SeedInterval)
	s.soon.Store(0)
	s.inflight.Store(true)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer s.inflight.Store(false)
		if p.seed() > 0 {
			s.empties.Store(0)
			return
		}
		e := min(s.empties.Add(1), 16) // no shift overflow
		s.soon.Store(now.Add(min(seedRetry<<(e-1), p.cfg.SeedInterval)).UnixNano())
	}()
}

// needSeedsLocked: no outbound peer is connected or being dialed, and no
// table entry is left to try (every one failed at least once since its
// last success, or is banned; an empty table included).
func (p *Pool) needSeedsLocked(now time.Time) bool {
	if len(p.dialing) > 0 {
		return false
	}
	for pr := range p.peers {
		if pr.outbound {
			return false
		}
	}
	for _, a := range p.table {
		if a.failures == 0 && !p.bannedLocked(a.addr, now) {
			return false
		}
	}
	return true
}

// seed calls Config.Seeds and learns what it returns as seed addresses;
// it returns how many.
func (p *Pool) seed() int {
	ctx, cancel := context.WithTimeout(p.ctx, seedTimeout)
	defer cancel()
	addrs, err := p.cfg.Seeds(ctx)
	if err != nil {
		p.log.Info("pool seeds failed", "err", err)
	}
	// A random sample, so that every node does not dial the same few.
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	addrs = addrs[:min(len(addrs), pexSample)]
	now := p.cfg.Now()
	n := 0
	p.mu.Lock()
	for _, a := range addrs {
		if a == "" || a == p.cfg.ListenAddr {
			continue
		}
		p.learnLocked(a, srcSeed, now)
		n++
	}
	p.mu.Unlock()
	p.log.Info("pool seeds answered", "addrs", n)
	if n > 0 {
		p.kickDial()
	}
	return n
}
