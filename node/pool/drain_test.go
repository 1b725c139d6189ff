package pool

import (
	"context"
	"testing"
	"time"

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
