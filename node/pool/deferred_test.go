package pool

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/protocol"
)

// TestFloodTargetStaysHeard: a flooder that opens connection after
// connection to one node gets a burst of valid envelopes accepted by each
// before its ban; the node relays them, beyond what its neighbours allow
// one peer. The neighbours must neither ban the node for it nor lose
// what it announces next: its own message published right after the
// floods reaches every node, and the rest is deferred, not dropped.
func TestFloodTargetStaysHeard(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := context.Background()
	clk := &clock{}
	nodes := cluster(t, clk, 5, ring(5), nil)
	eventually(t, 10*time.Second, "outbound connections", connected(nodes, 2))
	const runs = 6 // 6 × DefaultPeerBurst accepted: enough to have the target banned before
	for run := range runs {
		// The burst, accepted, then 150 more charged 1 each: banned. What
		// is beyond the budget is dropped unchecked, so copies do.
		envs := make([][]byte, 4*DefaultPeerBurst)
		for i := range envs {
			if i >= DefaultPeerBurst {
				envs[i] = envs[0]
				continue
			}
			k, err := btcec.NewPrivateKey()
			if err != nil {
				t.Fatal(err)
			}
			envs[i] = signed(t, k, nil)
		}
		nc, err := nodes[0].lb.Dial(ctx, nodes[0].addr)
		if err != nil {
			t.Fatal(err)
		}
		c := protocol.NewConn(nc, protocol.ConnConfig{PingInterval: -1})
		if _, err := c.HandshakeWith(ctx, protocol.NewHello(protocol.Regtest, "flooder"),
			&protocol.PoolHello{ListenAddr: fmt.Sprintf("flooder%d.onion:1", run)}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(envs); i += 25 {
			if c.Send(ctx, &protocol.PoolMsgs{Envelopes: envs[i : i+25]}) != nil {
				break
			}
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("flooder %d not disconnected", run)
		}
		c.Close()
	}
	honest, err := nodes[0].pool.Publish(ctx, TopicOffer, NewItem(), []byte("honest"), 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the flood target's own message reaches every node", allHave(nodes, honest))
	for i, n := range nodes[1:] {
		if bans := n.pool.Bans(); len(bans) > 0 {
			t.Fatalf("node %d banned an honest relay: %+v", i+1, bans)
		}
	}
	if held := nodes[0].pool.Len(); held < runs*DefaultPeerBurst/2 {
		t.Fatalf("the target holds %d envelopes: the floods' bursts were not accepted, the test proves nothing", held)
	}
	for i, n := range nodes[1:] {
		if d := n.pool.Stats().FloodDropped; d > 0 {
			t.Fatalf("node %d dropped %d announcements of honest relays", i+1, d)
		}
	}
}
