package protocol

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func testClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testCfg: short timeouts, pings and idle timeout off unless a test
// turns them on.
func testCfg() ConnConfig {
	return ConnConfig{
		HandshakeTimeout: 2 * time.Second,
		ReadTimeout:      300 * time.Millisecond,
		WriteTimeout:     time.Second,
		IdleTimeout:      -1,
		PingInterval:     -1,
		RejectLinger:     300 * time.Millisecond,
	}
}

type transport struct {
	name string
	pair func(t *testing.T) (net.Conn, net.Conn)
}

var transports = []transport{
	{"pipe", func(t *testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	{"tcp", tcpPair},
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	return a, b
}

func hello(net Network) *Hello { return NewHello(net, "test") }

// connPair returns two handshaken Conns.
func connPair(t *testing.T, tr transport, ca, cb ConnConfig) (*Conn, *Conn) {
	t.Helper()
	x, y := tr.pair(t)
	a, b := NewConn(x, ca), NewConn(y, cb)
	errs := make(chan error, 1)
	go func() {
		_, err := b.Handshake(context.Background(), hello(Regtest))
		errs <- err
	}()
	if _, err := a.Handshake(context.Background(), hello(Regtest)); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// rawHandshake plays the peer by hand: sends h, reads one frame.
func rawHandshake(t *testing.T, nc net.Conn, h *Hello) Message {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := WriteMessage(nc, h)
		done <- err
	}()
	m, _, err := ReadMessage(nc)
	if err != nil {
		t.Fatalf("raw peer read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("raw peer write: %v", err)
	}
	return m
}

// expectError reads frames until an Error arrives and returns its code.
func expectError(t *testing.T, nc net.Conn) ErrorCode {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		m, _, err := ReadMessage(nc)
		if err != nil {
			t.Fatalf("no Error message before %v", err)
		}
		if e, ok := m.(*Error); ok {
			return e.Code
		}
	}
}

func TestConnHandshakeAndExchange(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			a, b := connPair(t, tr, testCfg(), testCfg())
			if a.Version() != ProtocolVersion || b.PeerHello().UserAgent != "test" {
				t.Fatalf("version %d, agent %q", a.Version(), b.PeerHello().UserAgent)
			}
			ctx := context.Background()
			pof := testSetupHop(3)
			if err := a.Send(ctx, pof); err != nil {
				t.Fatal(err)
			}
			m, err := b.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.(*SetupHop); !ok {
				t.Fatalf("got %T", m)
			}
			sa, sb := a.Stats(), b.Stats()
			if sa.MsgsSent != 2 || sb.MsgsReceived != 2 || sa.BytesSent != sb.BytesReceived {
				t.Fatalf("stats a=%+v b=%+v", sa, sb)
			}
		})
	}
}

func TestConnConcurrentSend(t *testing.T) {
	a, b := connPair(t, transports[0], testCfg(), testCfg())
	const senders, each = 4, 10
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := a.Send(context.Background(), &WaitingFundingConfirmation{SwapID: testSwapID()}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < senders*each; i++ {
		if _, err := b.Receive(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

func TestConnHandshakeRefusals(t *testing.T) {
	tests := []struct {
		name     string
		peer     func() *Hello
		wantErr  error
		wantCode ErrorCode
	}{
		{"wrong network", func() *Hello { return hello(Mainnet) }, ErrNetwork, CodeWrongNetwork},
		{"unsupported version", func() *Hello { h := hello(Regtest); h.MinVersion, h.MaxVersion = 7, 9; return h }, ErrVersion, CodeUnsupportedVersion},
		{"unknown required feature", func() *Hello { h := hello(Regtest); h.Features = Features(nil).Set(2); return h }, ErrFeature, CodeUnsupportedFeature},
	}
	for _, tr := range transports {
		for _, tc := range tests {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				x, y := tr.pair(t)
				defer y.Close()
				c := NewConn(x, testCfg())
				defer c.Close()
				errs := make(chan error, 1)
				go func() {
					_, err := c.Handshake(context.Background(), hello(Regtest))
					errs <- err
				}()
				h := tc.peer()
				h.Nonce[0] = 1
				if m := rawHandshake(t, y, h); m.Type() != TypeHello {
					t.Fatalf("first frame %s", m.Type())
				}
				if code := expectError(t, y); code != tc.wantCode {
					t.Fatalf("peer got code %s, want %s", code, tc.wantCode)
				}
				err := <-errs
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrHandshake) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			})
		}
	}
}

// Both sides refusing each other at once still both learn why.
func TestConnSymmetricRefusal(t *testing.T) {
	x, y := net.Pipe()
	a, b := NewConn(x, testCfg()), NewConn(y, testCfg())
	defer a.Close()
	defer b.Close()
	errs := make(chan error, 1)
	go func() {
		_, err := b.Handshake(context.Background(), hello(Mainnet))
		errs <- err
	}()
	_, errA := a.Handshake(context.Background(), hello(Regtest))
	errB := <-errs
	if !errors.Is(errA, ErrNetwork) || !errors.Is(errB, ErrNetwork) {
		t.Fatalf("errA=%v errB=%v", errA, errB)
	}
}

func TestConnMessageBeforeHandshake(t *testing.T) {
	x, y := net.Pipe()
	defer y.Close()
	c := NewConn(x, testCfg())
	defer c.Close()
	errs := make(chan error, 1)
	go func() {
		_, err := c.Handshake(context.Background(), hello(Regtest))
		errs <- err
	}()
	go func() { _, _ = WriteMessage(y, &OfferRequest{}) }()
	m, _, err := ReadMessage(y) // our hello
	if err != nil || m.Type() != TypeHello {
		t.Fatalf("%v %v", m, err)
	}
	if code := expectError(t, y); code != CodeProtocolViolation {
		t.Fatalf("code %s", code)
	}
	if err := <-errs; !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Send(context.Background(), &OfferRequest{}); !errors.Is(err, ErrHandshake) {
		t.Fatalf("send before handshake: %v", err)
	}
}

func TestConnSelfConnection(t *testing.T) {
	x, y := net.Pipe()
	a, b := NewConn(x, testCfg()), NewConn(y, testCfg())
	defer a.Close()
	defer b.Close()
	h := hello(Regtest)
	h.Nonce = [32]byte{9}
	errs := make(chan error, 1)
	go func() { _, err := b.Handshake(context.Background(), h); errs <- err }()
	_, err := a.Handshake(context.Background(), h)
	if !errors.Is(err, ErrSelfConnection) || !errors.Is(<-errs, ErrSelfConnection) {
		t.Fatalf("err = %v", err)
	}
}

func TestConnHandshakeTimeout(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			x, y := tr.pair(t)
			defer y.Close()
			go func() { _, _ = io.Copy(io.Discard, y) }() // reads, never answers
			cfg := testCfg()
			cfg.HandshakeTimeout = 200 * time.Millisecond
			c := NewConn(x, cfg)
			defer c.Close()
			start := time.Now()
			_, err := c.Handshake(context.Background(), hello(Regtest))
			if !errors.Is(err, ErrHandshakeTimeout) {
				t.Fatalf("err = %v", err)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
}

func TestConnHandshakeContextCancel(t *testing.T) {
	x, y := net.Pipe()
	defer y.Close()
	go func() { _, _ = io.Copy(io.Discard, y) }()
	c := NewConn(x, testCfg())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Handshake(ctx, hello(Regtest)); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("err = %v", err)
	}
}

// TestConnHandshakeDeadlineNeverSilent: when the caller's context and the
// handshake deadline fire together (a server bounding the handshake with
// both), the stalled peer still reads an Error before the close; the
// context branch used to return first and close without a word.
func TestConnHandshakeDeadlineNeverSilent(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			x, y := tr.pair(t)
			defer y.Close()
			cfg := testCfg()
			cfg.HandshakeTimeout = 200 * time.Millisecond
			c := NewConn(x, cfg)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), cfg.HandshakeTimeout)
			defer cancel()
			done := make(chan error, 1)
			go func() { _, err := c.Handshake(ctx, hello(Regtest)); done <- err }()
			// The stalled peer: reads our hello, never sends its own.
			if _, _, err := ReadMessage(y); err != nil {
				t.Fatal(err)
			}
			_ = y.SetReadDeadline(time.Now().Add(5 * time.Second))
			m, _, err := ReadMessage(y)
			if err != nil {
				t.Fatalf("the refused peer got no Error: %v", err)
			}
			if e, ok := m.(*Error); !ok || e.Code != CodeTimeout {
				t.Fatalf("got %v, want a timeout Error", m)
			}
			if err := <-done; err == nil {
				t.Fatal("handshake succeeded")
			}
		})
	}
}

// handshakenRaw returns a Conn handshaken with a raw peer socket.
func handshakenRaw(t *testing.T, tr transport, cfg ConnConfig) (*Conn, net.Conn) {
	t.Helper()
	x, y := tr.pair(t)
	c := NewConn(x, cfg)
	errs := make(chan error, 1)
	go func() { _, err := c.Handshake(context.Background(), hello(Regtest)); errs <- err }()
	h := hello(Regtest)
	h.Nonce[0] = 0xee
	rawHandshake(t, y, h)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); y.Close() })
	return c, y
}

func TestConnSlowLoris(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c, y := handshakenRaw(t, tr, testCfg())
			frame := mustFrame(t, &WaitingFundingConfirmation{SwapID: testSwapID()})
			go func() {
				for _, b := range frame[:HeaderSize] {
					if _, err := y.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
			go func() { _, _ = io.Copy(io.Discard, y) }()
			start := time.Now()
			_, err := c.Receive(context.Background())
			if !errors.Is(err, ErrReadTimeout) {
				t.Fatalf("err = %v", err)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("cut off after %v", el)
			}
		})
	}
}

func TestConnFlood(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cfg := testCfg()
			cfg.MsgRate, cfg.MsgBurst = 10, 5
			c, y := handshakenRaw(t, tr, cfg)
			frame := mustFrame(t, &WaitingFundingConfirmation{SwapID: testSwapID()})
			go func() {
				for i := 0; i < 1000; i++ {
					if _, err := y.Write(frame); err != nil {
						return
					}
				}
			}()
			if code := expectError(t, y); code != CodeRateLimited {
				t.Fatalf("code %s", code)
			}
			// Delivered messages first, then the reason.
			var err error
			for err == nil {
				_, err = c.Receive(context.Background())
			}
			if !errors.Is(err, ErrRateLimited) {
				t.Fatalf("err = %v", err)
			}
			// Disconnected: the raw peer reads EOF (or a reset).
			_ = y.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := io.Copy(io.Discard, y); isTimeout(err) {
				t.Fatal("still connected")
			}
		})
	}
}

func TestConnByteRateLimit(t *testing.T) {
	clk := testClock()
	cfg := testCfg()
	cfg.Now = clk.Now
	cfg.ByteRate, cfg.ByteBurst = 1000, MaxFrameSize
	c, y := handshakenRaw(t, transports[1], cfg)
	big := &Pong{Padding: make([]byte, MaxPongPadding)}
	go func() {
		for i := 0; i < 300; i++ {
			if _, err := WriteMessage(y, big); err != nil {
				return
			}
		}
	}()
	if code := expectError(t, y); code != CodeRateLimited {
		t.Fatalf("code %s", code)
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrRateLimited) {
		t.Fatalf("err = %v", c.Err())
	}
}

func TestConnUnknownTypes(t *testing.T) {
	c, y := handshakenRaw(t, transports[0], testCfg())
	go func() {
		_, _ = y.Write(frameOf(0x0601, []byte("future optional message")))
		_, _ = WriteMessage(y, &RegisterAck{TTLSeconds: 7})
		_, _ = y.Write(frameOf(0x0600, nil)) // unassigned range: unknown and required
		_, _ = io.Copy(io.Discard, y)
	}()
	m, err := c.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := m.(*RegisterAck); !ok || a.TTLSeconds != 7 {
		t.Fatalf("got %#v", m)
	}
	if _, err := c.Receive(context.Background()); !errors.Is(err, ErrUnknownRequired) {
		t.Fatalf("err = %v", err)
	}
}

func TestConnPeerError(t *testing.T) {
	a, b := connPair(t, transports[0], testCfg(), testCfg())
	go a.CloseWithError(CodeInsufficientLiquidity, "no coins")
	_, err := b.Receive(context.Background())
	var pe *PeerError
	if !errors.As(err, &pe) || pe.Code != CodeInsufficientLiquidity || pe.Text != "no coins" {
		t.Fatalf("err = %v", err)
	}
}

func TestConnIdleTimeout(t *testing.T) {
	cfg := testCfg()
	cfg.IdleTimeout = 200 * time.Millisecond
	c, y := handshakenRaw(t, transports[0], cfg)
	go func() { _, _ = io.Copy(io.Discard, y) }()
	start := time.Now()
	if _, err := c.Receive(context.Background()); !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > 2*time.Second {
		t.Fatalf("idle after %v", el)
	}
}

func TestConnPingKeepsAlive(t *testing.T) {
	cfg := testCfg()
	cfg.IdleTimeout = 150 * time.Millisecond
	cfg.PingInterval = 50 * time.Millisecond
	cfg.PongTimeout = 40 * time.Millisecond
	a, b := connPair(t, transports[0], cfg, cfg)
	time.Sleep(600 * time.Millisecond)
	if a.Err() != nil || b.Err() != nil {
		t.Fatalf("closed: a=%v b=%v", a.Err(), b.Err())
	}
	if s := a.Stats(); s.PingsSent < 2 || s.PongsReceived < 2 {
		t.Fatalf("stats %+v", s)
	}
	if err := a.Send(context.Background(), &ListRequest{}); err != nil {
		t.Fatal(err)
	}
	if m, err := b.Receive(context.Background()); err != nil || m.Type() != TypeListRequest {
		t.Fatalf("%v %v", m, err)
	}
}

// TestConnSync: Sync returns once the peer's reader has passed everything
// sent before it (the message is already waiting in b's queue), while
// the keep-alive pings go on; a peer that never answers leaves Sync to
// its context.
func TestConnSync(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cfg := testCfg()
			cfg.PingInterval = 30 * time.Millisecond
			cfg.PongTimeout = 25 * time.Millisecond
			a, b := connPair(t, tr, cfg, cfg)
			ctx := context.Background()
			for range 3 {
				if err := a.Send(ctx, &ListRequest{}); err != nil {
					t.Fatal(err)
				}
				if err := a.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				if got := b.Stats().MsgsReceived; got == 0 {
					t.Fatal("Sync returned before the peer read the message")
				}
				select {
				case m := <-b.in:
					if m.Type() != TypeListRequest {
						t.Fatalf("got %v", m.Type())
					}
				default:
					t.Fatal("Sync returned before the message reached the peer's queue")
				}
			}
			time.Sleep(100 * time.Millisecond) // keep-alive pongs still match
			if a.Err() != nil || b.Err() != nil {
				t.Fatalf("closed: a=%v b=%v", a.Err(), b.Err())
			}
		})
	}
	c, y := handshakenRaw(t, transports[1], testCfg())
	go func() { _, _ = io.Copy(io.Discard, y) }() // reads the ping, never answers
	sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Sync(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync with a silent peer: %v", err)
	}
}

func TestConnPongTimeout(t *testing.T) {
	cfg := testCfg()
	cfg.PingInterval = 50 * time.Millisecond
	cfg.PongTimeout = 40 * time.Millisecond
	c, y := handshakenRaw(t, transports[1], cfg)
	go func() { _, _ = io.Copy(io.Discard, y) }() // reads pings, never answers
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("still open")
	}
	if !errors.Is(c.Err(), ErrPongTimeout) {
		t.Fatalf("err = %v", c.Err())
	}
}

func TestConnCloseIdempotentNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, tr := range transports {
		cfg := testCfg()
		cfg.PingInterval = 20 * time.Millisecond
		cfg.PongTimeout = 10 * time.Millisecond
		x, y := tr.pair(t)
		a, b := NewConn(x, cfg), NewConn(y, cfg)
		errs := make(chan error, 1)
		go func() { _, err := b.Handshake(context.Background(), hello(Regtest)); errs <- err }()
		if _, err := a.Handshake(context.Background(), hello(Regtest)); err != nil {
			t.Fatal(err)
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		for i := 0; i < 3; i++ {
			a.Close()
			b.Close()
		}
		if !errors.Is(a.Err(), ErrClosed) {
			t.Fatalf("err = %v", a.Err())
		}
		if _, err := a.Receive(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("receive after close: %v", err)
		}
		if err := a.Send(context.Background(), &ListRequest{}); err == nil {
			t.Fatal("send after close succeeded")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: before %d, after %d\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  ConnConfig
		ok   bool
	}{
		{"defaults", ConnConfig{}, true},
		{"burst below frame", ConnConfig{ByteBurst: MaxFrameSize - 1}, false},
		{"pong ≥ ping", ConnConfig{PingInterval: time.Second, PongTimeout: time.Second}, false},
		{"pings off", ConnConfig{PingInterval: -1, PongTimeout: time.Hour}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

// TestConnPipelinedHandshake: a request pipelined behind our Hello reaches
// the peer as its first message after the handshake (no extra round trip),
// and is discarded unread when the peer refuses the handshake.
func TestConnPipelinedHandshake(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			x, y := tr.pair(t)
			a, b := NewConn(x, testCfg()), NewConn(y, testCfg())
			t.Cleanup(func() { a.Close(); b.Close() })
			errs := make(chan error, 1)
			go func() {
				_, err := b.Handshake(context.Background(), hello(Regtest))
				errs <- err
			}()
			if _, err := a.HandshakeWith(context.Background(), hello(Regtest), &OfferRequest{}); err != nil {
				t.Fatal(err)
			}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			m, err := b.Receive(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.(*OfferRequest); !ok {
				t.Fatalf("first message after the handshake: %T, want OfferRequest", m)
			}
			if sa, sb := a.Stats(), b.Stats(); sa.MsgsSent != 2 || sb.MsgsReceived != 2 || sa.BytesSent != sb.BytesReceived {
				t.Fatalf("stats a=%+v b=%+v", sa, sb)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		x, y := tcpPair(t)
		a, b := NewConn(x, testCfg()), NewConn(y, testCfg())
		t.Cleanup(func() { a.Close(); b.Close() })
		errs := make(chan error, 1)
		go func() {
			_, err := b.Handshake(context.Background(), hello(Testnet))
			errs <- err
		}()
		_, err := a.HandshakeWith(context.Background(), hello(Regtest), &OfferRequest{})
		if !errors.Is(err, ErrNetwork) && !errors.As(err, new(*PeerError)) {
			t.Fatalf("pipelined handshake with a testnet peer: %v", err)
		}
		if err := <-errs; !errors.Is(err, ErrNetwork) {
			t.Fatalf("refusing side: %v", err)
		}
	})
	t.Run("hello cannot be pipelined", func(t *testing.T) {
		x, _ := net.Pipe()
		a := NewConn(x, testCfg())
		defer a.Close()
		if _, err := a.HandshakeWith(context.Background(), hello(Regtest), hello(Regtest)); !errors.Is(err, ErrHandshake) {
			t.Fatalf("got %v, want ErrHandshake", err)
		}
	})
}
