package pool

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// clock is a shared test clock: real time plus an offset the test moves
// forward (expiry without waiting).
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }
func (c *clock) Unix() uint64            { return uint64(c.Now().Unix()) }

// eventually polls cond until it holds or the deadline passes: the tests
// never sleep for correctness.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, d, what, testutil.Holds(cond))
}

// node is one in-process pool node on the loopback transport, with the
// real inbound server in front of it.
type node struct {
	t      testing.TB
	lb     *tor.Loopback
	lis    net.Listener
	addr   string
	cfg    Config
	pool   *Pool
	srv    *service.Server
	closed bool
}

// testConfig: short trickles and intervals so tests run in well under a
// second per hop.
func testConfig(clk *clock) Config {
	return Config{
		Network: protocol.Regtest, Outbound: 2, MaxPeers: 8, ProtectedOutbound: 1,
		TrickleOutbound: 20 * time.Millisecond, TrickleInbound: 20 * time.Millisecond,
		DialInterval: 50 * time.Millisecond, FetchTimeout: 2 * time.Second,
		Conn: protocol.ConnConfig{PingInterval: -1},
		Now:  clk.Now,
	}
}

// newListening opens the node's listener (its address is needed before the
// pools of its peers are built).
func newListening(t testing.TB) *node {
	lb := tor.NewLoopback()
	lis, err := lb.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &node{t: t, lb: lb, lis: lis, addr: lis.Addr().String()}
}

// start builds the pool and serves it.
func (n *node) start(cfg Config) *node {
	n.t.Helper()
	cfg.ListenAddr = n.addr
	cfg.Dialer = n.lb
	n.cfg = cfg
	p, err := New(cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	srv, err := service.NewServer(service.ServerConfig{Network: protocol.Regtest, Conn: cfg.Conn}, p)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := srv.Serve(n.lis); err != nil {
		n.t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		n.t.Fatal(err)
	}
	n.pool, n.srv = p, srv
	return n
}

func (n *node) stop() {
	if n.closed {
		return
	}
	n.closed = true
	n.pool.Stop()
	n.srv.Stop()
	_ = n.lb.Close()
}

// restart stops the node and starts it again on a new listener with the
// same configuration (and database).
func (n *node) restart() {
	n.t.Helper()
	n.stop()
	fresh := newListening(n.t)
	n.lb, n.lis, n.closed = fresh.lb, fresh.lis, false
	// Keep the old address in peers' tables meaningful: a restarted node
	// has a new loopback port, as a taker has a new onion at each start.
	n.addr = fresh.addr
	n.start(n.cfg)
}

// cluster starts n nodes; node i bootstraps from the addresses links(i).
func cluster(t testing.TB, clk *clock, count int, links func(i int) []int, tweak func(i int, c *Config)) []*node {
	t.Helper()
	nodes := make([]*node, count)
	for i := range nodes {
		nodes[i] = newListening(t)
	}
	for i, n := range nodes {
		cfg := testConfig(clk)
		for _, j := range links(i) {
			cfg.Bootstrap = append(cfg.Bootstrap, nodes[j].addr)
		}
		if tweak != nil {
			tweak(i, &cfg)
		}
		n.start(cfg)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	return nodes
}

func testKey(n byte) *btcec.PrivateKey {
	var b [32]byte
	b[0], b[31] = 0x42, n
	k, _ := btcec.PrivKeyFromBytes(b[:])
	return k
}

// signed builds and signs an envelope for the tests.
func signed(t testing.TB, key *btcec.PrivateKey, mod func(e *protocol.PoolEnvelope)) []byte {
	t.Helper()
	now := uint64(time.Now().Unix())
	e := &protocol.PoolEnvelope{Network: protocol.Regtest, Topic: TopicOffer, Seq: 1,
		Created: now, Expiry: now + 600, Body: []byte("offer")}
	e.Item[0] = 1
	if mod != nil {
		mod(e)
	}
	if err := e.Sign(key); err != nil {
		t.Fatal(err)
	}
	raw, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
