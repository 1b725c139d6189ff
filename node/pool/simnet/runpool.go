package simnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

// Config of one simulation run. The same Topology and message set drive
// every protocol compared.
type Config struct {
	Topo *Topology
	// Messages published one after the other, Gap apart, with bodies of
	// BodySize bytes.
	Messages int
	BodySize int
	Gap      time.Duration
	// Settle: how long after the last publish deliveries are awaited.
	Settle time.Duration
	// Trickle means (0: the pool's defaults).
	TrickleOutbound, TrickleInbound time.Duration
	// Churn: share of nodes stopped when publishing starts; Silent: share
	// that never announce (they fetch and serve); Flood: share that
	// publish FloodRate envelopes a second from fresh keys.
	Churn, Silent, Flood float64
	FloodRate            float64
	// Join: size of the pool a joining node reconciles with, Holders the
	// nodes it connects to (0: no join measurement).
	Join, Holders int
	JoinLatency   time.Duration
	Seed          uint64
	Log           io.Writer
}

type observer struct {
	s   *poolSim
	idx int
}

func (o observer) Received(_ protocol.PoolID, dup bool) {
	if dup {
		o.s.mu.Lock()
		o.s.dups++
		o.s.mu.Unlock()
	}
}

func (o observer) Accepted(id protocol.PoolID) {
	now := time.Now()
	o.s.mu.Lock()
	if m := o.s.track[id]; m != nil {
		if _, ok := m[o.idx]; !ok {
			m[o.idx] = now
		}
	}
	o.s.mu.Unlock()
}

type poolSim struct {
	mu    sync.Mutex
	track map[protocol.PoolID]map[int]time.Time
	dups  int
}

type simNode struct {
	name string
	pool *pool.Pool
	srv  *service.Server
	dead bool
}

func (n *simNode) stop() {
	if n.dead {
		return
	}
	n.dead = true
	n.pool.Stop()
	n.srv.Stop()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startNode(nw *Net, name string, cfg pool.Config) (*simNode, error) {
	lis, err := nw.Listen(name)
	if err != nil {
		return nil, err
	}
	cfg.Network = protocol.Regtest
	cfg.ListenAddr = name
	cfg.Dialer = Dialer{N: nw, From: name}
	cfg.Conn = protocol.ConnConfig{PingInterval: -1, IdleTimeout: -1}
	cfg.Logger = quiet
	p, err := pool.New(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := service.NewServer(service.ServerConfig{Network: protocol.Regtest,
		Conn: protocol.ConnConfig{PingInterval: -1, IdleTimeout: -1}, Logger: quiet}, p)
	if err != nil {
		return nil, err
	}
	if err := srv.Serve(lis); err != nil {
		return nil, err
	}
	if err := p.Start(context.Background()); err != nil {
		return nil, err
	}
	return &simNode{name: name, pool: p, srv: srv}, nil
}

func nodeName(i int) string { return fmt.Sprintf("n%05d.sim:1", i) }

func logf(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", a...)
	}
}

// RunPool runs the pool on cfg.Topo and measures it.
func RunPool(cfg Config) (Result, error) {
	t := cfg.Topo
	r := rand.New(rand.NewPCG(cfg.Seed, 7))
	res := Result{Name: "onionswap pool", Nodes: t.N, Messages: cfg.Messages}
	s := &poolSim{track: map[protocol.PoolID]map[int]time.Time{}}
	nw := NewNet(func(from, to string) time.Duration {
		var i, j int
		fmt.Sscanf(from, "n%05d", &i)
		fmt.Sscanf(to, "n%05d", &j)
		return t.Latency(i, j)
	})
	role := make([]string, t.N)
	for i := range role {
		switch x := r.Float64(); {
		case x < cfg.Silent:
			role[i] = "silent"
		case x < cfg.Silent+cfg.Flood:
			role[i] = "flood"
		}
	}
	nodes := make([]*simNode, t.N)
	start := time.Now()
	for i := range t.N {
		pc := pool.Config{
			Outbound: len(t.Out[i]), MaxPeers: len(t.Out[i]) + t.N, ProtectedOutbound: min(len(t.Out[i]), pool.DefaultProtectedOutbound),
			TrickleOutbound: cfg.TrickleOutbound, TrickleInbound: cfg.TrickleInbound,
			DialInterval: 500 * time.Millisecond, Observer: observer{s, i},
			OriginBurst: 1000,
		}
		if pc.Outbound == 0 {
			pc.Outbound, pc.ProtectedOutbound = 0, 0
		}
		if role[i] == "silent" {
			pc.TrickleOutbound, pc.TrickleInbound = 24*time.Hour, 24*time.Hour
		}
		for _, j := range t.Out[i] {
			pc.Bootstrap = append(pc.Bootstrap, nodeName(j))
		}
		n, err := startNode(nw, nodeName(i), pc)
		if err != nil {
			return res, err
		}
		nodes[i] = n
	}
	stopAll := func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() { defer wg.Done(); n.stop() }()
		}
		wg.Wait()
	}
	defer stopAll()
	want := len(t.Edges())
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := 0
		for _, n := range nodes {
			got += n.pool.Stats().Outbound
		}
		if got >= want || time.Now().After(deadline) {
			logf(cfg.Log, "pool: %d/%d links up after %v", got, want, time.Since(start).Round(time.Millisecond))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Let peer exchange and the first syncs finish before measuring.
	time.Sleep(2 * time.Second)

	// Churn: nodes that leave as publishing starts.
	for i, n := range nodes {
		if role[i] == "" && r.Float64() < cfg.Churn {
			role[i] = "gone"
			n.stop()
		}
	}
	var honest, live []int
	for i := range nodes {
		if role[i] != "gone" {
			live = append(live, i)
		}
		if role[i] == "" {
			honest = append(honest, i)
		}
	}
	floodCtx, stopFlood := context.WithCancel(context.Background())
	defer stopFlood()
	var fwg sync.WaitGroup
	for i, n := range nodes {
		if role[i] != "flood" || cfg.FloodRate <= 0 {
			continue
		}
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			tk := time.NewTicker(time.Duration(float64(time.Second) / cfg.FloodRate))
			defer tk.Stop()
			for {
				select {
				case <-floodCtx.Done():
					return
				case <-tk.C:
				}
				k, _ := btcec.NewPrivateKey()
				_, _ = n.pool.PublishWith(floodCtx, k, pool.TopicOffer, pool.NewItem(), make([]byte, cfg.BodySize), 20*time.Minute, nil)
			}
		}()
	}

	var before uint64
	for _, n := range nodes {
		sent, _ := n.pool.Traffic()
		before += sent
	}
	type pub struct {
		id protocol.PoolID
		at time.Time
	}
	var pubs []pub
	var sizes int
	body := make([]byte, cfg.BodySize)
	for m := range cfg.Messages {
		origin := nodes[honest[r.IntN(len(honest))]]
		for k := range body {
			body[k] = byte(r.Uint32())
		}
		at := time.Now()
		id, err := origin.pool.Publish(context.Background(), pool.TopicOffer, pool.NewItem(), body, 20*time.Minute)
		if err != nil {
			return res, err
		}
		// The origin accepted it before it was tracked: count it now
		// (relays need ≥ 3 link delays, inv → getdata → body).
		s.mu.Lock()
		if s.track[id] == nil {
			s.track[id] = map[int]time.Time{}
		}
		for i, n := range nodes {
			if n == origin {
				s.track[id][i] = at
			}
		}
		s.mu.Unlock()
		pubs = append(pubs, pub{id, at})
		for _, msg := range origin.pool.Messages(pool.TopicOffer) {
			if msg.ID == id.String() {
				sizes += msg.Size
			}
		}
		logf(cfg.Log, "pool: published message %d/%d", m+1, cfg.Messages)
		time.Sleep(cfg.Gap)
	}
	res.MsgSize = float64(sizes) / float64(max(cfg.Messages, 1))
	// Wait for coverage of live honest-reachable nodes or the settle time.
	deadline = time.Now().Add(cfg.Settle)
	for time.Now().Before(deadline) {
		done := true
		s.mu.Lock()
		for _, p := range pubs {
			if len(s.track[p.id]) < len(live) {
				done = false
				break
			}
		}
		s.mu.Unlock()
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Quiesce: in-flight relay of the last messages finishes (trickle).
	time.Sleep(2 * max(cfg.TrickleInbound, pool.DefaultTrickleInbound))
	stopFlood()
	fwg.Wait()
	var after uint64
	for i, n := range nodes {
		if role[i] == "gone" {
			continue
		}
		sent, _ := n.pool.Traffic()
		after += sent
	}
	s.mu.Lock()
	var l50, l99, l100 time.Duration
	var cov float64
	for _, p := range pubs {
		var ds []time.Duration
		for i, at := range s.track[p.id] {
			if role[i] != "gone" {
				ds = append(ds, at.Sub(p.at))
			}
		}
		a, b, c, share := CoverageTimes(ds, len(live))
		l50, l99, l100, cov = l50+a, l99+b, l100+c, cov+share
	}
	k := time.Duration(max(len(pubs), 1))
	res.Lat50, res.Lat99, res.Lat100 = l50/k, l99/k, l100/k
	res.Coverage = cov / float64(max(len(pubs), 1))
	res.Duplicates = float64(s.dups) / float64(len(live)*max(len(pubs), 1))
	s.mu.Unlock()
	res.BytesRatio = float64(after-before) / float64(len(live)) / float64(max(len(pubs), 1)) / res.MsgSize
	if cfg.Churn > 0 || cfg.Flood > 0 {
		res.Notes = "bytes of connections closed during the run (churned or banned peers) are not counted"
	}
	banned := 0
	for _, n := range nodes {
		banned += int(n.pool.Stats().PeersBanned)
	}
	if cfg.Flood > 0 {
		res.Notes += fmt.Sprintf("; %d flooding-peer bans", banned)
	}
	if cfg.Join > 0 {
		// The relay nodes are done: their CPU time would count as the
		// joiner's round trips.
		stopAll()
		if err := runJoin(cfg, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// joinTimeout: how long the holders and the joiner may take to hold the
// whole pool: seconds when all is well; a sync whose fetches timed out
// would otherwise wait for anti-entropy (10 min).
const joinTimeout = 2 * time.Minute

// runJoin: Holders nodes hold cfg.Join live messages; a new node dials
// all of them and reconciles. Its bytes (both directions) are compared to
// the messages' total size; round trips are elapsed ÷ link RTT.
func runJoin(cfg Config, res *Result) error {
	lat := cfg.JoinLatency
	nw := NewNet(func(string, string) time.Duration { return lat })
	holders := make([]*simNode, cfg.Holders)
	defer func() {
		for _, h := range holders {
			if h != nil {
				h.stop()
			}
		}
	}()
	base := pool.Config{MaxMessages: 2 * cfg.Join, MaxBytes: 4 * cfg.Join * (cfg.BodySize + 512), DialInterval: 100 * time.Millisecond}
	first := base
	var err error
	if holders[0], err = startNode(nw, "h0.sim:1", first); err != nil {
		return err
	}
	keys := make([]*btcec.PrivateKey, 50)
	for i := range keys {
		keys[i], _ = btcec.NewPrivateKey()
	}
	body := make([]byte, cfg.BodySize)
	total := 0
	for i := range cfg.Join {
		body[0], body[1] = byte(i), byte(i>>8)
		if _, err := holders[0].pool.PublishWith(context.Background(), keys[i%len(keys)], pool.TopicOffer, pool.NewItem(), body, 30*time.Minute, nil); err != nil {
			return err
		}
	}
	for _, m := range holders[0].pool.Messages("") {
		total += m.Size
	}
	for i := 1; i < cfg.Holders; i++ {
		hc := base
		hc.Bootstrap, hc.Outbound, hc.ProtectedOutbound = []string{"h0.sim:1"}, 1, 1
		if holders[i], err = startNode(nw, fmt.Sprintf("h%d.sim:1", i), hc); err != nil {
			return err
		}
	}
	t0 := time.Now()
	for i, h := range holders {
		for h.pool.Len() < cfg.Join {
			if time.Since(t0) > joinTimeout {
				return fmt.Errorf("join: holder %d has %d of %d after %v", i, h.pool.Len(), cfg.Join, joinTimeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	jc := base
	for i := range holders {
		jc.Bootstrap = append(jc.Bootstrap, fmt.Sprintf("h%d.sim:1", i))
	}
	jc.Outbound, jc.ProtectedOutbound = len(holders), min(len(holders), pool.DefaultProtectedOutbound)
	t0 = time.Now()
	j, err := startNode(nw, "joiner.sim:1", jc)
	if err != nil {
		return err
	}
	defer j.stop()
	for j.pool.Len() < cfg.Join {
		if time.Since(t0) > joinTimeout {
			return fmt.Errorf("join: %d of %d after %v", j.pool.Len(), cfg.Join, joinTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Since(t0)
	// Later peers' reconciliations (digests only) are part of the cost.
	time.Sleep(10 * lat)
	sent, recv := j.pool.Traffic()
	res.JoinMessages = cfg.Join
	res.JoinRatio = float64(sent+recv) / float64(total)
	res.JoinTime = el
	res.JoinRTs = float64(el) / float64(2*lat)
	logf(cfg.Log, "join: %d messages (%d bytes) in %v, %d bytes on the wire, %d ids fetched by sync",
		cfg.Join, total, el.Round(time.Millisecond), sent+recv, j.pool.Stats().SyncIDsFetched)
	return nil
}
