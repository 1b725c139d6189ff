package pool

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/protocol"
)

// ring: node i dials i+1 and i+3 (mod n): sparse (degree ≤ 4 of n−1),
// connected, diameter > 1.
func ring(n int) func(i int) []int {
	return func(i int) []int { return []int{(i + 1) % n, (i + 3) % n} }
}

func allHave(nodes []*node, id protocol.PoolID) func() bool {
	return func() bool {
		for _, n := range nodes {
			if !n.closed && !n.pool.Has(id) {
				return false
			}
		}
		return true
	}
}

func connected(nodes []*node, min int) func() bool {
	return func() bool {
		for _, n := range nodes {
			if n.pool.Stats().Outbound < min {
				return false
			}
		}
		return true
	}
}

// TestRelayPublishRemoveExpire: in a sparse topology a message published
// at one node reaches all; its signed removal replaces it everywhere;
// expiry drops it everywhere.
func TestRelayPublishRemoveExpire(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := context.Background()
	clk := &clock{}
	nodes := cluster(t, clk, 8, ring(8), nil)
	eventually(t, 10*time.Second, "outbound connections", connected(nodes, 2))

	item := NewItem()
	id, err := nodes[0].pool.Publish(ctx, TopicOffer, item, []byte("sell 0.01 BTC"), 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "publish reaches every node", allHave(nodes, id))
	for _, n := range nodes[1:] {
		if st := n.pool.Stats(); st.Duplicates != 0 {
			t.Errorf("inv/getdata fetched a body twice: %d duplicates", st.Duplicates)
		}
	}

	rid, err := nodes[0].pool.Remove(ctx, TopicOffer, item)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "removal reaches every node", allHave(nodes, rid))
	for i, n := range nodes {
		if n.pool.Has(id) {
			t.Fatalf("node %d still holds the removed message", i)
		}
	}

	id2, err := nodes[5].pool.Publish(ctx, TopicOffer, NewItem(), []byte("short-lived"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "second publish reaches every node", allHave(nodes, id2))
	clk.Advance(2 * time.Hour) // past the message and the tombstone
	eventually(t, 10*time.Second, "expiry everywhere", func() bool {
		for _, n := range nodes {
			if n.pool.Len() != 0 {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		n.stop()
	}
}

// TestJoinAndRestartSync: a late joiner and a node restarted after
// missing messages get the whole pool by reconciliation, fetching only
// the difference.
func TestJoinAndRestartSync(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := context.Background()
	clk := &clock{}
	dir := t.TempDir()
	nodes := cluster(t, clk, 5, ring(5), func(i int, c *Config) {
		c.DBPath = filepath.Join(dir, "n", string(rune('a'+i)), "pool.db")
		c.OriginBurst = 100 // each node publishes a dozen offers at once
	})
	eventually(t, 10*time.Second, "outbound connections", connected(nodes, 2))
	const N = 60
	var ids []protocol.PoolID
	for i := range N {
		id, err := nodes[i%len(nodes)].pool.Publish(ctx, TopicOffer, NewItem(), []byte("offer"), 20*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	eventually(t, 15*time.Second, "all messages everywhere", func() bool {
		for _, n := range nodes {
			if n.pool.Len() != N {
				return false
			}
		}
		return true
	})

	// Late joiner: one bootstrap peer.
	late := newListening(t)
	cfg := testConfig(clk)
	cfg.Bootstrap = []string{nodes[2].addr}
	late.start(cfg)
	t.Cleanup(late.stop)
	eventually(t, 10*time.Second, "late joiner has the pool", func() bool { return late.pool.Len() == N })
	if st := late.pool.Stats(); st.SyncIDsFetched != N || st.Duplicates != 0 {
		t.Fatalf("late joiner fetched %d by sync (want %d), %d duplicates", st.SyncIDsFetched, N, st.Duplicates)
	}

	// Restart: node 4 goes down, the others publish 7 and remove 1.
	// The item to remove is one published before, not one the victim misses.
	first := nodes[0].pool.Messages(TopicOffer)
	var mine protocol.PoolItem
	for _, m := range first {
		if m.Own && !m.Removal {
			b, err := hex.DecodeString(m.Item)
			if err != nil || copy(mine[:], b) != len(mine) {
				t.Fatalf("item %q: %v", m.Item, err)
			}
			break
		}
	}
	victim := nodes[4]
	victim.stop()
	var missed []protocol.PoolID
	for i := range 7 {
		id, err := nodes[i%4].pool.Publish(ctx, TopicOffer, NewItem(), []byte("while you were away"), 20*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		missed = append(missed, id)
	}
	rid, err := nodes[0].pool.Remove(ctx, TopicOffer, mine)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			for i, n := range nodes[:4] {
				t.Logf("node %d: len %d stats %+v", i, n.pool.Len(), n.pool.Stats())
			}
		}
	}()
	eventually(t, 10*time.Second, "the others have what the victim missed", allHave(nodes, rid))
	for _, id := range missed {
		eventually(t, 10*time.Second, "the others have what the victim missed", allHave(nodes, id))
	}
	victim.cfg.Bootstrap = []string{nodes[0].addr, nodes[1].addr}
	victim.restart()
	defer func() {
		if t.Failed() {
			t.Logf("victim: len %d stats %+v peers %+v", victim.pool.Len(), victim.pool.Stats(), victim.pool.Peers())
		}
	}()
	eventually(t, 10*time.Second, "restarted node catches up", func() bool {
		for _, id := range append(missed, rid) {
			if !victim.pool.Has(id) {
				return false
			}
		}
		return victim.pool.Len() == N+7
	})
	if got := victim.pool.Stats().SyncIDsFetched; got != 8 {
		t.Fatalf("restarted node fetched %d envelopes by sync, want the 8 it missed", got)
	}
	late.stop()
	for _, n := range nodes {
		n.stop()
	}
}

// TestFloodingPeerBanned: a peer pushing thousands of valid envelopes
// from fresh keys is throttled and banned (the ban persists with its
// reason), while an honest message published during the flood reaches
// every node.
func TestFloodingPeerBanned(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := context.Background()
	clk := &clock{}
	nodes := cluster(t, clk, 5, ring(5), nil)
	eventually(t, 10*time.Second, "outbound connections", connected(nodes, 2))

	// The attacker: a raw client that opens a pool connection to node 0
	// and floods it with valid, signed, unsolicited envelopes.
	// 400: the burst (50) plus the 100 points of a ban, with room; signing
	// them is most of the test's time under -race.
	const flood = 400
	envs := make([][]byte, flood)
	for i := range envs {
		envs[i] = signed(t, testKey(byte(i)), func(e *protocol.PoolEnvelope) {
			e.Item[0], e.Item[1] = byte(i), byte(i>>8)
			e.Seq = uint64(i)
		})
	}
	nc, err := nodes[0].lb.Dial(ctx, nodes[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	c := protocol.NewConn(nc, protocol.ConnConfig{PingInterval: -1})
	defer c.Close()
	h := protocol.NewHello(protocol.Regtest, "flooder")
	if _, err := c.HandshakeWith(ctx, h, &protocol.PoolHello{ListenAddr: "flooder.onion:1"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		for i := 0; i < flood; i += 100 {
			if c.Send(ctx, &protocol.PoolMsgs{Envelopes: envs[i : i+100]}) != nil {
				return
			}
		}
	}()
	honest, err := nodes[3].pool.Publish(ctx, TopicOffer, NewItem(), []byte("honest"), 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "flooder banned", func() bool {
		for _, b := range nodes[0].pool.Bans() {
			if b.Addr == "flooder.onion:1" {
				return true
			}
		}
		return false
	})
	flooding := time.Since(start)
	<-done
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("flooder's connection not closed")
	}
	var pe *protocol.PeerError
	if !errorsAs(c.Err(), &pe) || pe.Code != protocol.CodeRateLimited {
		t.Fatalf("flooder told %v, want RateLimited", c.Err())
	}
	eventually(t, 10*time.Second, "honest message reaches every node", allHave(nodes, honest))
	// The budget is the burst plus the rate for as long as the flood
	// lasted until the ban (seconds on a loaded machine under -race),
	// and 10 more: the honest message and what was in flight.
	if got, budget := nodes[0].pool.Len(), DefaultPeerBurst+int(DefaultPeerRate*flooding.Seconds())+10; got > budget {
		t.Fatalf("node 0 holds %d envelopes after %v of flood: the flood got through (budget %d)", got, flooding, budget)
	}
	for _, n := range nodes {
		n.stop()
	}
}
