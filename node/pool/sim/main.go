// Command sim runs the message pool on an in-process network: many nodes
// running the real pool code (node/pool, node/service, protocol.Conn) over
// an in-memory transport with a per-link latency, and prints what relaying
// costs. bench/gossipsub runs go-libp2p-pubsub on the same topology and
// prints both side by side.
//
//	go run ./node/pool/sim -nodes 1000 -degree 8 -latency 50ms
//
// With -footprint it measures instead the resident memory of a node (a
// child process running only the pool, with its pool.db) that synced
// 5,000 offers from a peer over loopback TCP and sits idle:
//
//	go run ./node/pool/sim -footprint
//
// The defaults are small so that a plain run is quick on a shared
// 2-core machine.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/pool/simnet"
)

func main() {
	var (
		nodes   = flag.Int("nodes", 200, "nodes")
		degree  = flag.Int("degree", 8, "outbound connections per node")
		maxIn   = flag.Int("maxin", 16, "inbound cap per node")
		latency = flag.Duration("latency", 50*time.Millisecond, "mean one-way link latency")
		jitter  = flag.Float64("jitter", 0.5, "link latency spread: uniform in latency·[1−j, 1+j]")
		msgs    = flag.Int("msgs", 20, "messages published")
		size    = flag.Int("size", 1500, "message body bytes")
		gap     = flag.Duration("gap", 500*time.Millisecond, "time between publishes")
		settle  = flag.Duration("settle", 60*time.Second, "max wait for full coverage after the last publish")
		tout    = flag.Duration("trickle-out", 0, "mean trickle to outbound peers (0: pool default 1s)")
		tin     = flag.Duration("trickle-in", 0, "mean trickle to inbound peers (0: pool default 2.5s)")
		churn   = flag.Float64("churn", 0, "share of nodes that leave when publishing starts")
		silent  = flag.Float64("silent", 0, "share of nodes that never announce")
		flood   = flag.Float64("flood", 0, "share of flooding nodes")
		rate    = flag.Float64("flood-rate", 200, "envelopes per second per flooding node")
		join    = flag.Int("join", 1000, "pool size for the join measurement (0: skip)")
		holders = flag.Int("holders", 4, "peers the joining node connects to")
		joinLat = flag.Duration("join-latency", 0, "link latency of the join measurement (0: -latency); at Tor's ~0.5 s the CPU time of checking every envelope no longer counts as round trips")
		seed    = flag.Uint64("seed", 1, "topology and workload seed")
		verbose = flag.Bool("v", false, "progress on stderr")

		footprint = flag.Bool("footprint", false, "measure instead the idle memory of a node holding -footprint-n offers")
		fpN       = flag.Int("footprint-n", 5000, "offers the measured node holds")
		fpIdle    = flag.Duration("footprint-idle", 20*time.Second, "idle time before measuring (a GC halfway)")
		fpHeap    = flag.String("footprint-heap", "", "write the measured node's heap profile here")
		fpChild   = flag.Bool("footprint-child", false, "internal: be the measured node")
		fpPeer    = flag.String("footprint-peer", "", "internal: the holder to join")
		fpDB      = flag.String("footprint-db", "", "internal: the measured node's pool.db")
	)
	flag.Parse()
	switch {
	case *fpChild:
		if err := footprintChild(*fpPeer, *fpDB, *fpN, *fpIdle, *fpHeap); err != nil {
			fmt.Fprintln(os.Stderr, "footprint child:", err)
			os.Exit(1)
		}
		return
	case *footprint:
		if err := runFootprint(*fpN, *fpIdle, *fpHeap, *seed); err != nil {
			fmt.Fprintln(os.Stderr, "footprint:", err)
			os.Exit(1)
		}
		return
	}
	topo := simnet.Random(simnet.Params{N: *nodes, Degree: *degree, MaxIn: *maxIn, Latency: *latency, Jitter: *jitter, Seed: *seed})
	cfg := simnet.Config{Topo: topo, Messages: *msgs, BodySize: *size, Gap: *gap, Settle: *settle,
		TrickleOutbound: *tout, TrickleInbound: *tin, Churn: *churn, Silent: *silent, Flood: *flood, FloodRate: *rate,
		Join: *join, Holders: *holders, JoinLatency: cmp.Or(*joinLat, *latency), Seed: *seed}
	if *verbose {
		cfg.Log = os.Stderr
	}
	diam := topo.Diameter()
	fmt.Printf("topology: %d nodes, %d links (%d outbound each, inbound ≤ %d), diameter %d hops, link latency %v ±%.0f%%\n",
		topo.N, len(topo.Edges()), *degree, *maxIn, diam, *latency, 100**jitter)
	start := time.Now()
	res, err := simnet.RunPool(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
	simnet.PrintTable(os.Stdout, res)
	target := simnet.Target{Hops: diam, Latency: *latency, Trickle: cmp.Or(*tout, pool.DefaultTrickleOutbound),
		Weighted: topo.LatencyDiameter()}
	target.Explain(os.Stdout)
	target.Print(os.Stdout, res.Name, res.Lat100)
	fmt.Printf("load average at the end: %s on %d cores\n", simnet.LoadAvg(), runtime.NumCPU())
	fmt.Printf("run took %v\n", time.Since(start).Round(time.Second))
}
