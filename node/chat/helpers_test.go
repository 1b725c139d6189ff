package chat

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

// A fast in-process test bed: chat services behind real node/service
// servers on 127.0.0.1, a "network" that maps fake onion addresses to
// them (a node goes offline by leaving it), and one in-memory pool that
// stands for the relays of the mailbox. The proof over Tor is
// itest/chat.

type testNet struct {
	mu    sync.Mutex
	addrs map[string]string
}

func (n *testNet) Dial(ctx context.Context, addr string) (net.Conn, error) {
	n.mu.Lock()
	real, ok := n.addrs[addr]
	n.mu.Unlock()
	if !ok {
		return nil, errors.New("test net: unreachable")
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", real)
}

type testNode struct {
	t    *testing.T
	name string
	dir  string
	addr string
	svc  *Service
	srv  *service.Server
	net  *testNet
	pool *pool.Pool
	// ident: the chat identity (hex), kept while the node is offline.
	ident string
	// mod, if set, changes the node's config at every start.
	mod func(*Config)
}

func newTestPool(t *testing.T) *pool.Pool {
	t.Helper()
	p, err := pool.New(pool.Config{Network: protocol.Regtest, Topics: []pool.Topic{MailTopic(protocol.Regtest)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

func newTestNode(t *testing.T, n *testNet, p *pool.Pool, name string) *testNode {
	t.Helper()
	tn := &testNode{t: t, name: name, dir: t.TempDir(), addr: name + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion:80", net: n, pool: p}
	tn.start()
	t.Cleanup(tn.stop)
	return tn
}

// start (re)starts the node on its chat.db and puts it online.
func (tn *testNode) start() {
	t := tn.t
	t.Helper()
	cfg := Config{DBPath: filepath.Join(tn.dir, "chat.db"), Network: protocol.Regtest,
		Addr: tn.addr, Dialer: tn.net, Pool: tn.pool, Conn: protocol.ConnConfig{PingInterval: -1},
		RetryMin: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		OutboxInterval: 50 * time.Millisecond, ScanInterval: 100 * time.Millisecond}
	if tn.mod != nil {
		tn.mod(&cfg)
	}
	svc, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.NewServer(service.ServerConfig{Network: protocol.Regtest, Conn: protocol.ConnConfig{PingInterval: -1}}, svc)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(lis); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tn.svc, tn.srv = svc, srv
	id := svc.Identity()
	tn.ident = hexOf(id[:])
	tn.net.mu.Lock()
	tn.net.addrs[tn.addr] = lis.Addr().String()
	tn.net.mu.Unlock()
}

// stop takes the node offline (idempotent).
func (tn *testNode) stop() {
	tn.net.mu.Lock()
	delete(tn.net.addrs, tn.addr)
	tn.net.mu.Unlock()
	if tn.srv != nil {
		tn.srv.Stop()
		tn.svc.Stop()
		tn.srv, tn.svc = nil, nil
	}
}

func (tn *testNode) id() string { return tn.ident }
