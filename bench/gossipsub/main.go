// Command gossipsub runs go-libp2p-pubsub's gossipsub (default
// parameters) on the same topology, link latencies and message set as the
// onionswap pool simulation, and prints both side by side. It is its own
// module so that libp2p never enters the product's go.mod.
//
//	cd bench/gossipsub && go run . -nodes 200 -degree 8
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"google.golang.org/protobuf/proto"

	onionpool "github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/pool/simnet"
)

// tracer counts what one node's gossipsub sends and what it delivers.
type tracer struct {
	s    *sim
	idx  int
	sent atomic.Uint64
}

func (t *tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *tracer) OnClosedOutboundStream(peer.ID)                       {}
func (t *tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (t *tracer) Join(string)                                          {}
func (t *tracer) Leave(string)                                         {}
func (t *tracer) Graft(peer.ID, string)                                {}
func (t *tracer) Prune(peer.ID, string)                                {}
func (t *tracer) ValidateMessage(*pubsub.Message)                      {}
func (t *tracer) RejectMessage(*pubsub.Message, string)                {}
func (t *tracer) ThrottlePeer(peer.ID)                                 {}
func (t *tracer) RecvRPC(*pubsub.RPC)                                  {}
func (t *tracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (t *tracer) UndeliverableMessage(*pubsub.Message)                 {}
func (t *tracer) SendRPC(rpc *pubsub.RPC, _ peer.ID)                   { t.sent.Add(uint64(proto.Size(&rpc.RPC)) + 2) } // + varint length
func (t *tracer) DuplicateMessage(*pubsub.Message)                     { t.s.dups.Add(1) }
func (t *tracer) DeliverMessage(m *pubsub.Message) {
	now := time.Now()
	t.s.mu.Lock()
	if d := t.s.track[string(m.Data[:16])]; d != nil {
		if _, ok := d[t.idx]; !ok {
			d[t.idx] = now
		}
	}
	t.s.mu.Unlock()
}

var _ pubsub.RawTracer = (*tracer)(nil)

type sim struct {
	mu    sync.Mutex
	track map[string]map[int]time.Time
	dups  atomic.Uint64
}

func runGossipsub(cfg simnet.Config) (simnet.Result, error) {
	t := cfg.Topo
	res := simnet.Result{Name: "gossipsub v0.19.0", Nodes: t.N, Messages: cfg.Messages,
		Notes: "bytes are RPC sizes (+2 per RPC); no join sync exists: a joiner only gets messages published after it joins (or the ~3 s of gossip history)"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mn := mocknet.New()
	defer mn.Close()
	s := &sim{track: map[string]map[int]time.Time{}}
	hosts := make([]host.Host, t.N)
	tracers := make([]*tracer, t.N)
	for i := range hosts {
		h, err := mn.GenPeer()
		if err != nil {
			return res, err
		}
		hosts[i] = h
	}
	for _, e := range t.Edges() {
		l, err := mn.LinkPeers(hosts[e[0]].ID(), hosts[e[1]].ID())
		if err != nil {
			return res, err
		}
		l.SetOptions(mocknet.LinkOptions{Latency: t.Latency(e[0], e[1])})
	}
	topics := make([]*pubsub.Topic, t.N)
	for i, h := range hosts {
		tracers[i] = &tracer{s: s, idx: i}
		ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithRawTracer(tracers[i]))
		if err != nil {
			return res, err
		}
		tp, err := ps.Join("offer/v1")
		if err != nil {
			return res, err
		}
		sub, err := tp.Subscribe()
		if err != nil {
			return res, err
		}
		go func() {
			for {
				if _, err := sub.Next(ctx); err != nil {
					return
				}
			}
		}()
		topics[i] = tp
	}
	for _, e := range t.Edges() {
		if _, err := mn.ConnectPeers(hosts[e[0]].ID(), hosts[e[1]].ID()); err != nil {
			return res, err
		}
	}
	// Meshes form over a few heartbeats (1 s each).
	time.Sleep(5 * time.Second)
	var before uint64
	for _, tr := range tracers {
		before += tr.sent.Load()
	}
	type pub struct {
		key string
		at  time.Time
		i   int
	}
	var pubs []pub
	for range cfg.Messages {
		body := make([]byte, cfg.BodySize)
		_, _ = rand.Read(body)
		key := string(body[:16])
		i := int(time.Now().UnixNano() % int64(t.N))
		s.mu.Lock()
		s.track[key] = map[int]time.Time{}
		s.mu.Unlock()
		at := time.Now()
		if err := topics[i].Publish(ctx, body); err != nil {
			return res, err
		}
		pubs = append(pubs, pub{key, at, i})
		time.Sleep(cfg.Gap)
	}
	deadline := time.Now().Add(cfg.Settle)
	for time.Now().Before(deadline) {
		done := true
		s.mu.Lock()
		for _, p := range pubs {
			if len(s.track[p.key]) < t.N-1 {
				done = false
			}
		}
		s.mu.Unlock()
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // gossip (IHAVE) of the last messages
	var after uint64
	for _, tr := range tracers {
		after += tr.sent.Load()
	}
	s.mu.Lock()
	var l50, l99, l100 time.Duration
	var cov float64
	for _, p := range pubs {
		ds := []time.Duration{0} // the publisher
		for i, at := range s.track[p.key] {
			if i != p.i {
				ds = append(ds, at.Sub(p.at))
			}
		}
		a, b, c, share := simnet.CoverageTimes(ds, t.N)
		l50, l99, l100, cov = l50+a, l99+b, l100+c, cov+share
	}
	s.mu.Unlock()
	k := time.Duration(max(len(pubs), 1))
	res.Lat50, res.Lat99, res.Lat100 = l50/k, l99/k, l100/k
	res.Coverage = cov / float64(len(pubs))
	res.MsgSize = float64(cfg.BodySize)
	res.BytesRatio = float64(after-before) / float64(t.N) / float64(len(pubs)) / res.MsgSize
	res.Duplicates = float64(s.dups.Load()) / float64(t.N*len(pubs))
	return res, nil
}

func main() {
	var (
		nodes   = flag.Int("nodes", 200, "nodes")
		degree  = flag.Int("degree", 8, "outbound connections per node")
		maxIn   = flag.Int("maxin", 16, "inbound cap per node")
		latency = flag.Duration("latency", 50*time.Millisecond, "mean one-way link latency")
		jitter  = flag.Float64("jitter", 0.5, "link latency spread")
		msgs    = flag.Int("msgs", 20, "messages")
		size    = flag.Int("size", 1500, "message body bytes")
		gap     = flag.Duration("gap", 500*time.Millisecond, "time between publishes")
		join    = flag.Int("join", 1000, "pool size for the pool's join measurement")
		seed    = flag.Uint64("seed", 1, "seed")
	)
	flag.Parse()
	topo := simnet.Random(simnet.Params{N: *nodes, Degree: *degree, MaxIn: *maxIn, Latency: *latency, Jitter: *jitter, Seed: *seed})
	cfg := simnet.Config{Topo: topo, Messages: *msgs, BodySize: *size, Gap: *gap, Settle: 60 * time.Second,
		Join: *join, Holders: 4, JoinLatency: *latency, Seed: *seed}
	fmt.Printf("topology: %d nodes, %d links, diameter %d hops, link latency %v ±%.0f%%\n",
		topo.N, len(topo.Edges()), topo.Diameter(), *latency, 100**jitter)
	ours, err := simnet.RunPool(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pool:", err)
		os.Exit(1)
	}
	theirs, err := runGossipsub(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gossipsub:", err)
		os.Exit(1)
	}
	simnet.PrintTable(os.Stdout, ours, theirs)
	target := simnet.Target{Hops: topo.Diameter(), Latency: *latency, Trickle: onionpool.DefaultTrickleOutbound,
		Weighted: topo.LatencyDiameter()}
	target.Explain(os.Stdout)
	target.Print(os.Stdout, ours.Name, ours.Lat100)
	target.Print(os.Stdout, theirs.Name+", same limit", theirs.Lat100)
	fmt.Printf("load average at the end: %s on %d cores\n", simnet.LoadAvg(), runtime.NumCPU())
	fmt.Printf("bytes sent per node per message: gossipsub ÷ pool = %.1f×\n",
		theirs.BytesRatio*theirs.MsgSize/(ours.BytesRatio*ours.MsgSize))
}
