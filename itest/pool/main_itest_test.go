//go:build itest

package pool

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/tor"
)

// clu is the package's one cluster (private Tor network + regtest chain).
var clu *cluster.Cluster

// runner stops the package's miner after the tests, before the cluster.
type runner struct {
	m    *testing.M
	stop func()
}

func (r *runner) Run() int {
	defer func() {
		if r.stop != nil {
			r.stop()
		}
		if net0 != nil && net0.outside != nil {
			net0.outside.Close()
		}
	}()
	return r.m.Run()
}

// autoMineInterval: the maker's bond confirms as soon as it is broadcast
// (the children poll the chain every 500 ms: a shorter interval would not
// make it visible sooner).
const autoMineInterval = 250 * time.Millisecond

func TestMain(m *testing.M) {
	r := &runner{m: m}
	os.Exit(cluster.RunMain(r, cluster.Options{}, func(c *cluster.Cluster) {
		clu = c
		r.stop = c.AutoMine(context.Background(), cluster.AutoMineOptions{Interval: autoMineInterval})
	}))
}

// Sizes and bounds of the fixture, with their derivation.
const (
	// ringSize: the requirement's "at least 8 nodes".
	ringSize = 8
	// ringOutbound: each node dials 2 peers; with 2 protected slots
	// (the pool's default) both are filled from --pool-peer only, so the
	// topology is exactly the ring below, not everyone with everyone.
	ringOutbound = "2"
	// makerFund pays the maker's fidelity bond (daemon default 500 000
	// sat) and its fee, as in itest/cluster's maker test.
	makerFund = 5_000_000
	// spawnTimeout bounds spawning the whole network (each process is
	// bounded by cluster.DefaultReadyTimeout; a wave starts in parallel).
	spawnTimeout = 6 * time.Minute
	// spreadTimeout bounds a message reaching every node: ≤ 4 hops of
	// the ring, each a trickle (mean 1 s out, 2.5 s in) and 1.5 Tor
	// round trips (inv → getdata → msgs), on a loaded 2-core machine.
	spreadTimeout = 60 * time.Second
	// pollInterval: how often the tests read the nodes' pools (control
	// socket, cheap); it is the resolution of the latencies measured.
	pollInterval = 100 * time.Millisecond
)

// network is the package's pool network: ring[0] is a maker (it registers
// with dir, so the directory hands out its address as a pool peer), the
// others takers; ring[4+i] dials ring[i] and ring[(i+1)%4], which makes
// the ring 0-4-1-5-2-6-3-7-0 (every node has 2 links of 7 possible).
type network struct {
	dir  *cluster.Proc
	ring []*cluster.Proc
	// outside is the test's own tor client on the private network.
	outside *tor.TorTransport
}

var (
	netOnce sync.Once
	net0    *network
	netErr  error
)

func getNetwork(t *testing.T) *network {
	t.Helper()
	netOnce.Do(func() {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), spawnTimeout)
		defer cancel()
		net0, netErr = spawnNetwork(ctx)
		if netErr == nil {
			t.Logf("network of %d pool nodes ready in %v", len(net0.ring), time.Since(t0).Round(time.Millisecond))
		}
	})
	if netErr != nil {
		t.Fatalf("pool network: %v", netErr)
	}
	return net0
}

func spawnNetwork(ctx context.Context) (_ *network, err error) {
	n := &network{}
	// The test's own tor bootstraps meanwhile.
	var trErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.outside, trErr = clu.OutsideTransport(ctx, "outside-tor")
	}()
	defer func() {
		wg.Wait()
		if err != nil && n.outside != nil {
			n.outside.Close()
		}
	}()

	if n.dir, err = clu.Spawn(ctx, cluster.Spec{Name: "pdir", Role: cluster.RoleDirectory}); err != nil {
		return nil, err
	}
	dirs := []string{n.dir.Onion()}
	first := []cluster.Spec{{Name: "p0", Role: cluster.RoleMaker, Directories: dirs, Fund: makerFund,
		Args: []string{"--pool-outbound", ringOutbound}}}
	for i := 1; i < ringSize/2; i++ {
		first = append(first, cluster.Spec{Name: fmt.Sprintf("p%d", i), Role: cluster.RoleTaker, Directories: dirs,
			Args: []string{"--pool-outbound", ringOutbound}})
	}
	ps, err := clu.SpawnAll(ctx, first)
	if err != nil {
		return nil, err
	}
	var second []cluster.Spec
	half := ringSize / 2
	for i := range half {
		second = append(second, cluster.Spec{Name: fmt.Sprintf("p%d", half+i), Role: cluster.RoleTaker, Directories: dirs,
			Args: []string{"--pool-outbound", ringOutbound, "--pool-peer", ps[i].Onion(), "--pool-peer", ps[(i+1)%half].Onion()}})
	}
	qs, err := clu.SpawnAll(ctx, second)
	if err != nil {
		return nil, err
	}
	n.ring = append(ps, qs...)
	wg.Wait()
	if trErr != nil {
		return nil, fmt.Errorf("outside tor: %w", trErr)
	}
	return n, nil
}

// messages is p's pool on the test topic, by id.
func messages(ctx context.Context, p *cluster.Proc) (map[string]pool.Message, error) {
	ms, err := control.Call[[]pool.Message](ctx, p.Client(), http.MethodGet, "/v1/pool/messages?topic="+pool.TopicTest, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]pool.Message, len(ms))
	for _, m := range ms {
		out[m.ID] = m
	}
	return out, nil
}

func stats(ctx context.Context, p *cluster.Proc) (pool.Stats, error) {
	return control.Call[pool.Stats](ctx, p.Client(), http.MethodGet, "/v1/pool/stats", nil)
}

func peers(ctx context.Context, p *cluster.Proc) (pool.PeersReply, error) {
	return control.Call[pool.PeersReply](ctx, p.Client(), http.MethodGet, "/v1/pool/peers", nil)
}

// publish publishes body as item on p's pool through the control API.
func publish(ctx context.Context, p *cluster.Proc, item, body string, ttl time.Duration) (pool.PublishReply, error) {
	return control.Call[pool.PublishReply](ctx, p.Client(), http.MethodPost, "/v1/pool/publish",
		pool.PublishRequest{Topic: pool.TopicTest, Item: item, Body: body, TTL: ttl.String()})
}

// arrivals polls every node until cond holds at each, and returns when it
// first held at each, since t0.
func arrivals(ctx context.Context, nodes []*cluster.Proc, t0 time.Time, what string, cond func(map[string]pool.Message) bool) (map[string]time.Duration, error) {
	got := map[string]time.Duration{}
	err := cluster.Poll(ctx, pollInterval, what, func() (bool, string) {
		var missing []string
		for _, p := range nodes {
			if _, ok := got[p.Name]; ok {
				continue
			}
			ms, err := messages(ctx, p)
			if err == nil && cond(ms) {
				got[p.Name] = time.Since(t0)
				continue
			}
			missing = append(missing, p.Name)
		}
		return len(missing) == 0, "missing at " + strings.Join(missing, ",")
	})
	return got, err
}

// everywhere waits until cond holds at every node and returns when it
// first held at each, since t0.
func everywhere(t *testing.T, ctx context.Context, nodes []*cluster.Proc, t0 time.Time, what string, cond func(map[string]pool.Message) bool) map[string]time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, spreadTimeout)
	defer cancel()
	got, err := arrivals(ctx, nodes, t0, what, cond)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func has(id string) func(map[string]pool.Message) bool {
	return func(ms map[string]pool.Message) bool { _, ok := ms[id]; return ok }
}

func hasAll(ids []string) func(map[string]pool.Message) bool {
	return func(ms map[string]pool.Message) bool {
		for _, id := range ids {
			if _, ok := ms[id]; !ok {
				return false
			}
		}
		return true
	}
}

// spread summarises latencies: median and max.
func spread(d map[string]time.Duration) (median, maximum time.Duration) {
	var ds []time.Duration
	for _, v := range d {
		ds = append(ds, v)
	}
	if len(ds) == 0 {
		return 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[len(ds)-1]
}

// roundAll rounds latencies to milliseconds for the log.
func roundAll(d map[string]time.Duration) map[string]time.Duration {
	out := make(map[string]time.Duration, len(d))
	for k, v := range d {
		out[k] = v.Round(time.Millisecond)
	}
	return out
}
