package service

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// echoService answers every message of its range with a Nack carrying
// its name, so the client can tell which service answered; a SetupHop
// marks the connection as having work (a swap).
type echoService struct {
	name  string
	first protocol.MessageType
	last  protocol.MessageType
	feat  protocol.FeatureBit
	lim   Limits

	mu     sync.Mutex
	busy   map[*protocol.Conn]bool
	served atomic.Int64
}

func (e *echoService) Name() string                        { return e.name }
func (e *echoService) Start(context.Context) error         { return nil }
func (e *echoService) Stop()                               {}
func (e *echoService) Readiness(context.Context) Readiness { return ReadyNow }
func (e *echoService) Feature() protocol.FeatureBit        { return e.feat }
func (e *echoService) Limits() Limits                      { return e.lim }
func (e *echoService) Owns(t protocol.MessageType) bool {
	return t >= e.first && t <= e.last
}

func (e *echoService) Busy(c *protocol.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.busy[c]
}

func (e *echoService) ServeConn(ctx context.Context, c *protocol.Conn, first protocol.Message) {
	e.served.Add(1)
	msg := first
	for {
		if _, ok := msg.(*protocol.SetupHop); ok { // "starts a swap": work
			e.mu.Lock()
			e.busy[c] = true
			e.mu.Unlock()
		}
		if err := c.Send(ctx, &protocol.Nack{Code: protocol.CodeRefused, Text: e.name}); err != nil {
			return
		}
		var err error
		if msg, err = c.Receive(ctx); err != nil {
			e.mu.Lock()
			delete(e.busy, c)
			e.mu.Unlock()
			return
		}
	}
}

func newEcho(name string, first, last protocol.MessageType, feat protocol.FeatureBit, lim Limits) *echoService {
	return &echoService{name: name, first: first, last: last, feat: feat, lim: lim, busy: map[*protocol.Conn]bool{}}
}

// strayMsg is a message of a range no test service owns.
type strayMsg struct{}

const typeStray protocol.MessageType = 0x06F0

func (*strayMsg) Type() protocol.MessageType      { return typeStray }
func (*strayMsg) MaxPayload() uint32              { return 0 }
func (*strayMsg) Encode(w *protocol.Writer) error { return w.Err() }
func (*strayMsg) Decode(r *protocol.Reader) error { return nil }

func init() {
	protocol.RegisterType(typeStray, "TestStray", func() protocol.Message { return new(strayMsg) })
}

type harness struct {
	srv  *Server
	addr string
	swap *echoService
	dir  *echoService
}

func testServerConfig() ServerConfig {
	return ServerConfig{
		Network: protocol.Regtest,
		Conn: protocol.ConnConfig{HandshakeTimeout: 2 * time.Second, ReadTimeout: time.Second,
			WriteTimeout: time.Second, IdleTimeout: -1, PingInterval: -1, RejectLinger: 200 * time.Millisecond},
		FirstMessageTimeout: time.Second,
		ReapInterval:        50 * time.Millisecond,
	}
}

func startHarness(t *testing.T, cfg ServerConfig, swapLim, dirLim Limits) *harness {
	t.Helper()
	h := &harness{
		swap: newEcho("swap", protocol.RangeCoinSwapFirst, protocol.RangeCoinSwapLast, protocol.FeatureCoinSwapMaker, swapLim),
		dir:  newEcho("dir", protocol.RangeDirectoryFirst, protocol.RangeDirectoryLast, protocol.FeatureDirectory, dirLim),
	}
	srv, err := NewServer(cfg, h.swap, h.dir)
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
	t.Cleanup(srv.Stop)
	h.srv, h.addr = srv, lis.Addr().String()
	return h
}

// client opens a connection whose first message is first and returns it
// with the server's hello.
func (h *harness) client(t *testing.T, first protocol.Message) (*protocol.Conn, *protocol.Hello) {
	t.Helper()
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := protocol.NewConn(nc, protocol.ConnConfig{HandshakeTimeout: 3 * time.Second, IdleTimeout: -1, PingInterval: -1})
	t.Cleanup(func() { c.Close() })
	peer, err := c.HandshakeWith(context.Background(), protocol.NewHello(protocol.Regtest, "test"), first)
	if err != nil {
		t.Fatal(err)
	}
	return c, peer
}

// answer reads the service's reply to the first message: the service's
// name, or the Error the server sent.
func answer(t *testing.T, c *protocol.Conn) (string, *protocol.PeerError) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := c.Receive(ctx)
	var pe *protocol.PeerError
	if errors.As(err, &pe) {
		return "", pe
	}
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	e, ok := m.(*protocol.Nack)
	if !ok || e.Code != protocol.CodeRefused {
		t.Fatalf("unexpected %v", m)
	}
	return e.Text, nil
}

func TestServerDispatchesByFirstMessage(t *testing.T) {
	h := startHarness(t, testServerConfig(), Limits{MaxConns: 4}, Limits{MaxConns: 4})
	c, hello := h.client(t, &protocol.OfferRequest{})
	for _, b := range []protocol.FeatureBit{protocol.FeatureCoinSwapMaker, protocol.FeatureDirectory} {
		if !hello.Features.IsSet(b) {
			t.Errorf("hello lacks feature %d", b)
		}
	}
	if hello.Features.IsSet(protocol.FeaturePool) {
		t.Error("hello advertises a service the server does not run")
	}
	if got, _ := answer(t, c); got != "swap" {
		t.Fatalf("offer request served by %q", got)
	}
	d, _ := h.client(t, &protocol.ListRequest{})
	if got, _ := answer(t, d); got != "dir" {
		t.Fatalf("list request served by %q", got)
	}
	// A message of a range nobody here serves gets an explicit refusal.
	x, _ := h.client(t, &strayMsg{})
	if _, pe := answer(t, x); pe == nil || pe.Code != protocol.CodeProtocolViolation {
		t.Fatalf("unowned first message: %v", pe)
	}
}

func TestServerEvictsConnectionWithoutWork(t *testing.T) {
	h := startHarness(t, testServerConfig(), Limits{MaxConns: 2}, Limits{MaxConns: 1})
	idle, _ := h.client(t, &protocol.OfferRequest{})
	answer(t, idle)
	working, _ := h.client(t, &protocol.SetupHop{})
	answer(t, working)
	// Full: the newcomer evicts the idle one, never the one with a swap.
	fresh, _ := h.client(t, &protocol.OfferRequest{})
	if got, _ := answer(t, fresh); got != "swap" {
		t.Fatalf("newcomer not served: %q", got)
	}
	if _, pe := answer(t, idle); pe == nil || pe.Code != protocol.CodeBusy {
		t.Fatalf("idle connection: want a Busy eviction, got %v", pe)
	}
	// Now both have work... make the fresh one busy too: a newcomer is
	// told Busy and nobody is evicted.
	if err := fresh.Send(context.Background(), &protocol.SetupHop{}); err != nil {
		t.Fatal(err)
	}
	answer(t, fresh)
	late, _ := h.client(t, &protocol.OfferRequest{})
	if _, pe := answer(t, late); pe == nil || pe.Code != protocol.CodeBusy {
		t.Fatalf("newcomer at a full server of busy connections: %v", pe)
	}
	if err := working.Send(context.Background(), &protocol.OfferRequest{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := answer(t, working); got != "swap" {
		t.Fatal("a connection with a swap was disturbed")
	}
	if st := h.srv.Stats(); st.Evicted != 1 {
		t.Fatalf("evicted %d", st.Evicted)
	}
}

func TestServerLifetimeSparesWork(t *testing.T) {
	h := startHarness(t, testServerConfig(), Limits{MaxConns: 4, Lifetime: 300 * time.Millisecond}, Limits{MaxConns: 1})
	idle, _ := h.client(t, &protocol.OfferRequest{})
	answer(t, idle)
	working, _ := h.client(t, &protocol.SetupHop{})
	answer(t, working)
	if _, pe := answer(t, idle); pe == nil || pe.Code != protocol.CodeTimeout {
		t.Fatalf("idle connection past its lifetime: %v", pe)
	}
	time.Sleep(200 * time.Millisecond)
	if err := working.Send(context.Background(), &protocol.OfferRequest{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := answer(t, working); got != "swap" {
		t.Fatal("a connection with work was closed by its lifetime")
	}
}

func TestServerFirstMessageTimeout(t *testing.T) {
	h := startHarness(t, testServerConfig(), Limits{MaxConns: 2}, Limits{MaxConns: 2})
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := protocol.NewConn(nc, protocol.ConnConfig{IdleTimeout: -1, PingInterval: -1})
	defer c.Close()
	if _, err := c.Handshake(context.Background(), protocol.NewHello(protocol.Regtest, "mute")); err != nil {
		t.Fatal(err)
	}
	if _, pe := answer(t, c); pe == nil || pe.Code != protocol.CodeTimeout {
		t.Fatalf("mute peer: %v", pe)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc")
	}
	return len(ents)
}

// TestServerSocketFlood is the exhaustion attack: hundreds of sockets that
// never handshake. The server holds at most PendingSlots + BusySlots of
// them; the rest are closed at accept time.
func TestServerSocketFlood(t *testing.T) {
	cfg := testServerConfig()
	cfg.PendingSlots, cfg.BusySlots = 8, 4
	cfg.PendingGrace = time.Hour // a flood within the grace cannot push anyone out
	h := startHarness(t, cfg, Limits{MaxConns: 4}, Limits{MaxConns: 4})
	before := openFDs(t)
	const flood = 400
	socks := make([]net.Conn, 0, flood)
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	for range flood {
		s, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
	}
	// Let the accept loop catch up, then count: our flood sockets are
	// `flood` descriptors; the server's side must stay near its caps.
	deadline := time.Now().Add(5 * time.Second)
	var st ServerStats
	for time.Now().Before(deadline) {
		if st = h.srv.Stats(); st.Accepted == flood {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Accepted != flood {
		t.Fatalf("accepted %d of %d", st.Accepted, flood)
	}
	time.Sleep(100 * time.Millisecond)
	serverSide := openFDs(t) - before - flood
	if limit := cfg.PendingSlots + cfg.BusySlots + 4; serverSide > limit {
		t.Fatalf("server holds %d descriptors under a flood of %d sockets (limit %d)", serverSide, flood, limit)
	}
	if st.ClosedAtAccept < flood-uint64(cfg.PendingSlots+cfg.BusySlots) {
		t.Fatalf("closed at accept %d, want ≥ %d (stats %+v)", st.ClosedAtAccept, flood-cfg.PendingSlots-cfg.BusySlots, st)
	}
}

// TestServerPendingGrace: once a pending slot is older than the grace, a
// newcomer takes it, so silent sockets cannot keep honest peers out.
func TestServerPendingGrace(t *testing.T) {
	cfg := testServerConfig()
	cfg.PendingSlots, cfg.BusySlots = 4, 1
	cfg.PendingGrace = 200 * time.Millisecond
	h := startHarness(t, cfg, Limits{MaxConns: 4}, Limits{MaxConns: 4})
	var silent []net.Conn
	for range cfg.PendingSlots {
		s, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, s)
	}
	defer func() {
		for _, s := range silent {
			s.Close()
		}
	}()
	time.Sleep(2 * cfg.PendingGrace)
	c, _ := h.client(t, &protocol.OfferRequest{})
	if got, _ := answer(t, c); got != "swap" {
		t.Fatalf("honest peer behind silent sockets: %q", got)
	}
	if st := h.srv.Stats(); st.PendingDropped == 0 {
		t.Fatal("no silent socket was dropped")
	}
}

func TestServerStopNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		h := startHarness(t, testServerConfig(), Limits{MaxConns: 4}, Limits{MaxConns: 4})
		for range 3 {
			c, _ := h.client(t, &protocol.OfferRequest{})
			answer(t, c)
		}
		s, err := net.Dial("tcp", h.addr) // pending at Stop
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h.srv.Stop()
		h.srv.Stop() // idempotent
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base+4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+4 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Stop (base %d)\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
