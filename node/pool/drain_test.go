package pool

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onionswap/onionswap/protocol"

	"github.com/onionswap/onionswap/internal/testutil"
)

// TestDrainSendsOwnAtOnce: with a trickle far longer than the test, a
// removal published as the node stops reaches its peer only because Drain
// sends it at once; the node then stops.
func TestDrainSendsOwnAtOnce(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := context.Background()
	clk := &clock{}
	nodes := cluster(t, clk, 2, func(i int) []int {
		if i == 1 {
			return []int{0}
		}
		return nil
	}, func(_ int, c *Config) { c.TrickleOutbound, c.TrickleInbound = time.Hour, time.Hour })
	a, b := nodes[0], nodes[1]
	eventually(t, 10*time.Second, "connected", func() bool { return a.pool.Stats().Peers == 1 && b.pool.Stats().Peers == 1 })
	// Let the join sync of the connection finish first: it would carry
	// the message at once.
	time.Sleep(500 * time.Millisecond)
	item := NewItem()
	id, err := a.pool.Publish(ctx, TopicOffer, item, []byte("an offer"), 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if b.pool.Has(id) {
		t.Fatal("announced before the hour-long trickle: the test proves nothing")
	}
	rid, err := a.pool.Remove(ctx, TopicOffer, item)
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	a.pool.Drain(dctx)
	a.stop()
	eventually(t, 5*time.Second, "the removal at the peer", func() bool { return b.pool.Has(rid) })
	b.stop()
}

// TestDrainSendsAnnouncedUnfetched: a removal already announced to a peer
// that has not fetched it yet (its fetch would find the link closed once
// the node stops) goes to that peer as a body when the node drains.
func TestDrainSendsAnnouncedUnfetched(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := context.Background()
	clk := &clock{}
	a := cluster(t, clk, 1, func(int) []int { return nil }, nil)[0]
	nc, err := a.lb.Dial(ctx, a.addr)
	if err != nil {
		t.Fatal(err)
	}
	// A peer that reads announcements and never asks for a body.
	c := protocol.NewConn(nc, protocol.ConnConfig{PingInterval: -1})
	defer c.Close()
	h := protocol.NewHello(protocol.Regtest, "slow peer")
	if _, err := c.HandshakeWith(ctx, h, &protocol.PoolHello{ListenAddr: "slow.onion:1"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan protocol.Message, 64)
	go func() {
		defer close(got)
		for {
			m, err := c.Receive(ctx)
			if err != nil {
				return
			}
			got <- m
		}
	}()
	eventually(t, 10*time.Second, "connected", func() bool { return a.pool.Stats().Peers == 1 })
	item := NewItem()
	if _, err := a.pool.Publish(ctx, TopicOffer, item, []byte("an offer"), 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	rid, err := a.pool.Remove(ctx, TopicOffer, item)
	if err != nil {
		t.Fatal(err)
	}
	wait := func(what string, match func(protocol.Message) bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case m, ok := <-got:
				if !ok {
					t.Fatalf("connection closed before %s", what)
				}
				if match(m) {
					return
				}
			case <-timeout:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	wait("the removal's announcement", func(m protocol.Message) bool {
		inv, ok := m.(*protocol.PoolInv)
		return ok && slices.Contains(inv.IDs, rid.Short())
	})
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	a.pool.Drain(dctx)
	wait("the removal's body", func(m protocol.Message) bool {
		ms, ok := m.(*protocol.PoolMsgs)
		return ok && slices.ContainsFunc(ms.Envelopes, func(raw []byte) bool { return protocol.PoolIDOf(raw) == rid })
	})
	a.stop()
}

// heldConn hands what it reads to its reader only after delay, once armed:
// data the sender's socket took but that has not reached the other side
// yet, as in tor's buffers.
type heldConn struct {
	net.Conn
	delay atomic.Int64
}

func (h *heldConn) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	if d := time.Duration(h.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	return n, err
}

// TestDrainWaitsForThePeer: Drain returns only once the peer's reader has
// the removal. Without the ping round trip it returned as soon as the
// local socket took the frame, and tor, closed right after, could drop it.
func TestDrainWaitsForThePeer(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := context.Background()
	clk := &clock{}
	a := cluster(t, clk, 1, func(int) []int { return nil },
		func(_ int, c *Config) { c.TrickleOutbound, c.TrickleInbound = time.Hour, time.Hour })[0]
	nc, err := a.lb.Dial(ctx, a.addr)
	if err != nil {
		t.Fatal(err)
	}
	hc := &heldConn{Conn: nc}
	c := protocol.NewConn(hc, protocol.ConnConfig{PingInterval: -1})
	defer c.Close()
	if _, err := c.HandshakeWith(ctx, protocol.NewHello(protocol.Regtest, "far peer"), &protocol.PoolHello{ListenAddr: "far.onion:1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "connected", func() bool { return a.pool.Stats().Peers == 1 })
	time.Sleep(300 * time.Millisecond) // the join sync's messages
	item := NewItem()
	if _, err := a.pool.Publish(ctx, TopicOffer, item, []byte("an offer"), 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	rid, err := a.pool.Remove(ctx, TopicOffer, item)
	if err != nil {
		t.Fatal(err)
	}
	hc.delay.Store(int64(300 * time.Millisecond))
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	t0 := time.Now()
	a.pool.Drain(dctx)
	took := time.Since(t0)
	// What the peer's reader has queued by now, without waiting.
	done, stop := context.WithCancel(ctx)
	stop()
	found := false
	for {
		m, err := c.Receive(done)
		if err != nil {
			break
		}
		if ms, ok := m.(*protocol.PoolMsgs); ok &&
			slices.ContainsFunc(ms.Envelopes, func(raw []byte) bool { return protocol.PoolIDOf(raw) == rid }) {
			found = true
		}
	}
	if !found {
		t.Fatalf("Drain returned after %v, before the peer had the removal", took)
	}
	hc.delay.Store(0)
	a.stop()
}
