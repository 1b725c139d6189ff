//go:build itest

package pool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/pool"
)

// Test lifetimes, with their derivation.
const (
	// testTTL: the messages that must outlive the whole package run.
	testTTL = 20 * time.Minute
	// shortTTL: the message that must expire during the run: long
	// enough to reach every node first (spreadTimeout is the bound, a
	// few seconds the usual), short enough not to stretch the run.
	shortTTL = 20 * time.Second
	// missedWhileDown: messages published while a node is down.
	missedWhileDown = 5
	// poolBeforeJoin: messages the late joiner must sync.
	poolBeforeJoin = 10
	// testTimeout bounds the whole sequence.
	testTimeout = 10 * time.Minute
)

// TestPool runs the scenarios in order on the one network: each leaves
// the pool as the next expects it.
func TestPool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	n := getNetwork(t)
	nodes := append([]*cluster.Proc(nil), n.ring...)
	t.Run("sparse ring", func(t *testing.T) { testTopology(t, ctx, n) })
	var first pool.PublishReply
	t.Run("publish reaches all", func(t *testing.T) { first = testPublish(t, ctx, nodes) })
	t.Run("removal and expiry everywhere", func(t *testing.T) { testRemoveExpire(t, ctx, nodes, first) })
	t.Run("late joiner syncs via the directory", func(t *testing.T) {
		if p := testLateJoin(t, ctx, n, nodes); p != nil {
			nodes = append(nodes, p)
		}
	})
	t.Run("restarted node syncs what it missed", func(t *testing.T) { testRestart(t, ctx, nodes, n.ring[6]) })
	t.Run("flooder banned, honest message through", func(t *testing.T) { testFlood(t, ctx, n, nodes) })
	t.Run("hostile envelopes refused with a reason", func(t *testing.T) { testRefusals(t, ctx, n, nodes) })
	for _, p := range nodes {
		if s, err := stats(ctx, p); err == nil {
			t.Logf("%s: %d messages, %d tombstones, accepted %d, duplicates %d, fetch timeouts %d, flood dropped %d, peers banned %d, refused %v",
				p.Name, s.Messages, s.Tombstones, s.Accepted, s.Duplicates, s.FetchTimeouts, s.FloodDropped, s.PeersBanned, s.Refused)
		}
	}
}

// testTopology: the ring is what was configured: every node has exactly
// its two ring neighbours as pool peers.
func testTopology(t *testing.T, ctx context.Context, n *network) {
	name := map[string]string{}
	for _, p := range n.ring {
		name[p.Onion()] = p.Name
	}
	err := cluster.Poll(ctx, 200*time.Millisecond, "ring links", func() (bool, string) {
		var bad []string
		for _, p := range n.ring {
			r, err := peers(ctx, p)
			if err != nil || len(r.Peers) != 2 {
				bad = append(bad, fmt.Sprintf("%s:%d", p.Name, len(r.Peers)))
			}
		}
		return len(bad) == 0, "peer counts " + strings.Join(bad, " ")
	})
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, p := range n.ring {
		r, _ := peers(ctx, p)
		for _, pi := range r.Peers {
			if pi.Outbound {
				links = append(links, p.Name+"→"+name[pi.Addr])
			}
		}
	}
	t.Logf("pool links (%d of %d possible): %s", len(links), ringSize*(ringSize-1)/2, strings.Join(links, " "))
	if len(links) != ringSize {
		t.Fatalf("%d outbound links, want %d", len(links), ringSize)
	}
}

// testPublish: `onionswap pool publish` at ring[0] reaches every node;
// per-node arrival is logged.
func testPublish(t *testing.T, ctx context.Context, nodes []*cluster.Proc) pool.PublishReply {
	t0 := time.Now()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, clu.Binary(), "pool", "publish", "--datadir", nodes[0].DataDir, "--json",
		"--ttl", testTTL.String(), "first", "hello pool")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onionswap pool publish: %v: %s", err, stderr.String())
	}
	var rep pool.PublishReply
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("publish reply %q: %v", out, err)
	}
	lat := everywhere(t, ctx, nodes, t0, "the first message everywhere", has(rep.ID))
	delete(lat, nodes[0].Name) // the origin
	med, mx := spread(lat)
	t.Logf("propagation over Tor to the %d other nodes (from the CLI's start): median %v, max %v; per node %v",
		len(lat), med.Round(time.Millisecond), mx.Round(time.Millisecond), roundAll(lat))
	// A few more from other nodes, for the latency figures.
	all := map[string]time.Duration{}
	for k, v := range lat {
		all["0/"+k] = v
	}
	for i := 1; i < 4; i++ {
		src := nodes[i*2%len(nodes)]
		t0 := time.Now()
		r, err := publish(ctx, src, fmt.Sprintf("spread-%d", i), "from "+src.Name, testTTL)
		if err != nil {
			t.Fatal(err)
		}
		lat := everywhere(t, ctx, nodes, t0, "message from "+src.Name+" everywhere", has(r.ID))
		delete(lat, src.Name)
		med, mx := spread(lat)
		t.Logf("from %s: median %v, max %v", src.Name, med.Round(time.Millisecond), mx.Round(time.Millisecond))
		for k, v := range lat {
			all[fmt.Sprint(i)+"/"+k] = v
		}
	}
	med, mx = spread(all)
	t.Logf("propagation over Tor, 4 messages × %d other nodes: median %v, max %v", len(nodes)-1, med.Round(time.Millisecond), mx.Round(time.Millisecond))
	return rep
}

// testRemoveExpire: the origin's removal replaces the first message
// everywhere (a tombstone, never the message again); a message with a
// short TTL expires everywhere.
func testRemoveExpire(t *testing.T, ctx context.Context, nodes []*cluster.Proc, first pool.PublishReply) {
	if first.ID == "" {
		t.Skip("no first message")
	}
	short, err := publish(ctx, nodes[3], "short-lived", "gone soon", shortTTL)
	if err != nil {
		t.Fatal(err)
	}
	shortAt := time.Now()
	t0 := time.Now()
	rm, err := control.Call[pool.PublishReply](ctx, nodes[0].Client(), http.MethodPost, "/v1/pool/remove",
		pool.RemoveRequest{Topic: pool.TopicTest, Item: first.Item})
	if err != nil {
		t.Fatal(err)
	}
	lat := everywhere(t, ctx, nodes, t0, "the removal everywhere", func(ms map[string]pool.Message) bool {
		_, old := ms[first.ID]
		tomb, ok := ms[rm.ID]
		return !old && ok && tomb.Removal
	})
	med, mx := spread(lat)
	t.Logf("removal everywhere: median %v, max %v", med.Round(time.Millisecond), mx.Round(time.Millisecond))

	everywhere(t, ctx, nodes, shortAt, "the short-lived message everywhere", has(short.ID))
	ectx, cancel := context.WithTimeout(ctx, shortTTL+spreadTimeout)
	defer cancel()
	lat, err = arrivals(ectx, nodes, shortAt, "the short-lived message expired everywhere", func(ms map[string]pool.Message) bool {
		_, ok := ms[short.ID]
		return !ok
	})
	if err != nil {
		t.Fatal(err)
	}
	med, mx = spread(lat)
	t.Logf("%v message gone everywhere: median %v, max %v after publishing", shortTTL, med.Round(time.Millisecond), mx.Round(time.Millisecond))
	if med < shortTTL-2*time.Second {
		t.Fatalf("the message disappeared before its expiry (median %v)", med)
	}
}

// live is p's set of messages that will still be live in a minute.
func live(ctx context.Context, p *cluster.Proc) ([]string, error) {
	ms, err := messages(ctx, p)
	if err != nil {
		return nil, err
	}
	var ids []string
	for id, m := range ms {
		if time.Until(m.Expires) > time.Minute {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// testLateJoin: with messages in the pool, a taker with no --pool-peer
// and an empty peer table asks its directory for pool peers (the maker's
// registered onion), connects and gets the whole pool by sync.
func testLateJoin(t *testing.T, ctx context.Context, n *network, nodes []*cluster.Proc) *cluster.Proc {
	for i := range poolBeforeJoin {
		if _, err := publish(ctx, nodes[i%len(nodes)], fmt.Sprintf("before-join-%d", i), "for the late joiner", testTTL); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	err := cluster.Poll(ctx, pollInterval, "the pool settled", func() (bool, string) {
		ids, err := live(ctx, nodes[0])
		if err != nil {
			return false, err.Error()
		}
		want = ids
		ok, _ := arrivalsNow(ctx, nodes, hasAll(ids))
		return ok, fmt.Sprintf("%d messages at %s, not yet everywhere", len(ids), nodes[0].Name)
	})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	p, err := clu.Spawn(ctx, cluster.Spec{Name: "p8", Role: cluster.RoleTaker, Directories: []string{n.dir.Onion()}})
	if err != nil {
		t.Fatal(err)
	}
	ready := time.Since(t0)
	lat := everywhere(t, ctx, []*cluster.Proc{p}, t0, "the late joiner has the whole pool", hasAll(want))
	t.Logf("late joiner: %d messages; ready %v after its start, whole pool %v after its start (%v after ready)",
		len(want), ready.Round(time.Millisecond), lat[p.Name].Round(time.Millisecond), (lat[p.Name] - ready).Round(time.Millisecond))
	r, err := peers(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pi := range r.Peers {
		found = found || pi.Addr == n.ring[0].Onion() && pi.Outbound
	}
	if !found {
		t.Fatalf("the late joiner is not connected to the maker the directory lists: %+v", r.Peers)
	}
	return p
}

// arrivalsNow reports whether cond holds at every node now.
func arrivalsNow(ctx context.Context, nodes []*cluster.Proc, cond func(map[string]pool.Message) bool) (bool, string) {
	for _, p := range nodes {
		ms, err := messages(ctx, p)
		if err != nil || !cond(ms) {
			return false, p.Name
		}
	}
	return true, ""
}

// testRestart: a node killed (SIGKILL), messages published meanwhile, the
// node restarted from its data directory: it has them all by sync.
func testRestart(t *testing.T, ctx context.Context, nodes []*cluster.Proc, victim *cluster.Proc) {
	var others []*cluster.Proc
	for _, p := range nodes {
		if p != victim {
			others = append(others, p)
		}
	}
	victim.Kill()
	var ids []string
	for i := range missedWhileDown {
		r, err := publish(ctx, others[i%len(others)], fmt.Sprintf("missed-%d", i), "published while "+victim.Name+" was down", testTTL)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	everywhere(t, ctx, others, time.Now(), "the missed messages at the live nodes", hasAll(ids))
	t0 := time.Now()
	if err := victim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ready := time.Since(t0)
	lat := everywhere(t, ctx, []*cluster.Proc{victim}, t0, "the restarted node has what it missed", hasAll(ids))
	t.Logf("restart after SIGKILL: ready %v after its start, %d missed messages %v after its start (%v after ready)",
		ready.Round(time.Millisecond), len(ids), lat[victim.Name].Round(time.Millisecond), (lat[victim.Name] - ready).Round(time.Millisecond))
}
