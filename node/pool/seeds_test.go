package pool

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
)

// seedFunc counts its calls and returns addrs (or err).
type seedFunc struct {
	calls atomic.Int32
	addrs func() []string
	err   error
}

func (s *seedFunc) seeds(context.Context) ([]string, error) {
	s.calls.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	return s.addrs(), nil
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	n := newListening(t)
	n.lis.Close()
	_ = n.lb.Close()
	return n.addr
}

func (n *node) entry(addr string) (addrInfo, bool) {
	n.pool.mu.Lock()
	defer n.pool.mu.Unlock()
	a := n.pool.table[addr]
	if a == nil {
		return addrInfo{}, false
	}
	return *a, true
}

func (n *node) outboundTo(addr string) (PeerInfo, bool) {
	for _, pi := range n.pool.Peers() {
		if pi.Outbound && pi.Addr == addr {
			return pi, true
		}
	}
	return PeerInfo{}, false
}

// TestSeedsBootstrap: a node with nothing configured and an empty table
// asks its seeds, dials what they return (never its own address), fills
// an unprotected slot with it, and trusts it once connected; restarted,
// it reconnects from its persisted table without asking the seeds.
func TestSeedsBootstrap(t *testing.T) {
	testutil.LeakCheck(t)
	clk := &clock{}
	a := newListening(t).start(testConfig(clk))
	defer a.stop()
	dead := deadAddr(t)
	b := newListening(t)
	sf := &seedFunc{addrs: func() []string { return []string{b.addr, dead, a.addr} }}
	cfg := testConfig(clk)
	cfg.Seeds = sf.seeds
	cfg.DBPath = filepath.Join(t.TempDir(), "pool.db")
	b.start(cfg)
	defer b.stop()

	eventually(t, 10*time.Second, "connected to the seeded peer", func() bool {
		_, ok := b.outboundTo(a.addr)
		return ok
	})
	if pi, _ := b.outboundTo(a.addr); pi.Protected {
		t.Fatal("a seed address filled a protected slot before any connection to it")
	}
	if _, ok := b.entry(b.addr); ok {
		t.Fatal("the node learned its own address from the seeds")
	}
	e, _ := b.entry(a.addr)
	if e.source != srcSeed || !e.trusted() {
		t.Fatalf("seeded entry %+v: want source %d, trusted after the connection", e, srcSeed)
	}
	if n := sf.calls.Load(); n != 1 {
		t.Fatalf("seeds asked %d times, want 1", n)
	}

	// Restarted with the same database: the persisted table suffices.
	sf.err = errors.New("directories unreachable")
	sf.calls.Store(0)
	b.restart()
	eventually(t, 10*time.Second, "reconnected from the persisted table", func() bool {
		pi, ok := b.outboundTo(a.addr)
		return ok && pi.Protected // trusted now: a protected slot
	})
	if n := sf.calls.Load(); n != 0 {
		t.Fatalf("seeds asked %d times with a working persisted table", n)
	}
}

// TestSeedsOnlyWhenNeeded: a node whose configured peer works never asks
// its seeds; one whose every address failed asks again only after
// SeedInterval.
func TestSeedsOnlyWhenNeeded(t *testing.T) {
	testutil.LeakCheck(t)
	clk := &clock{}
	a := newListening(t).start(testConfig(clk))
	defer a.stop()

	working := &seedFunc{addrs: func() []string { return nil }}
	cfg := testConfig(clk)
	cfg.Bootstrap = []string{a.addr}
	cfg.Seeds = working.seeds
	c := newListening(t).start(cfg)
	defer c.stop()
	eventually(t, 10*time.Second, "connected to the configured peer", func() bool {
		_, ok := c.outboundTo(a.addr)
		return ok
	})

	dead := deadAddr(t)
	failing := &seedFunc{addrs: func() []string { return []string{dead} }}
	cfg = testConfig(clk)
	cfg.Seeds = failing.seeds
	cfg.SeedInterval = time.Hour
	d := newListening(t).start(cfg)
	defer d.stop()
	eventually(t, 10*time.Second, "the seeded address failed", func() bool {
		e, ok := d.entry(dead)
		return ok && e.failures > 0
	})
	// Many dial rounds (DialInterval 50 ms) with nothing left to try.
	time.Sleep(20 * testConfig(clk).DialInterval)
	if n := failing.calls.Load(); n != 1 {
		t.Fatalf("seeds asked %d times within SeedInterval, want 1", n)
	}
	clk.Advance(time.Hour)
	eventually(t, 10*time.Second, "asked again after SeedInterval", func() bool { return failing.calls.Load() == 2 })
	if n := working.calls.Load(); n != 0 {
		t.Fatalf("seeds asked %d times by a node with a working configured peer", n)
	}

	// Every outbound slot protected: seed addresses could never be
	// dialed, so the seeds are not asked.
	useless := &seedFunc{addrs: func() []string { return []string{a.addr} }}
	cfg = testConfig(clk)
	cfg.Outbound, cfg.ProtectedOutbound = 1, 0 // the default clamps to 1
	cfg.Seeds = useless.seeds
	e := newListening(t).start(cfg)
	defer e.stop()
	time.Sleep(20 * testConfig(clk).DialInterval)
	if n := useless.calls.Load(); n != 0 || e.pool.cfg.ProtectedOutbound != 1 {
		t.Fatalf("seeds asked %d times with %d of %d outbound slots protected", n, e.pool.cfg.ProtectedOutbound, e.pool.cfg.Outbound)
	}
}

// TestSeedsEmptyAnswerRetriedSoon: a node that asked while the
// directories listed nobody asks again seedRetry later, not a whole
// SeedInterval, and doubles the wait while the answers stay empty.
func TestSeedsEmptyAnswerRetriedSoon(t *testing.T) {
	testutil.LeakCheck(t)
	clk := &clock{}
	a := newListening(t).start(testConfig(clk))
	defer a.stop()
	var listed atomic.Bool
	sf := &seedFunc{addrs: func() []string {
		if listed.Load() {
			return []string{a.addr}
		}
		return nil
	}}
	cfg := testConfig(clk)
	cfg.Seeds = sf.seeds
	cfg.SeedInterval = time.Hour
	b := newListening(t).start(cfg)
	defer b.stop()
	eventually(t, 10*time.Second, "the first (empty) answer", func() bool { return sf.calls.Load() == 1 })
	time.Sleep(20 * cfg.DialInterval)
	if n := sf.calls.Load(); n != 1 {
		t.Fatalf("asked %d times before seedRetry", n)
	}
	clk.Advance(seedRetry)
	eventually(t, 10*time.Second, "asked again seedRetry later", func() bool { return sf.calls.Load() == 2 })
	clk.Advance(seedRetry) // the second empty answer doubles the wait
	time.Sleep(20 * cfg.DialInterval)
	if n := sf.calls.Load(); n != 2 {
		t.Fatalf("asked %d times: the wait did not double", n)
	}
	listed.Store(true)
	clk.Advance(seedRetry)
	eventually(t, 10*time.Second, "connected once the directories list a peer", func() bool {
		_, ok := b.outboundTo(a.addr)
		return ok
	})
}
