package tor

import (
	"context"
	"net"
	"sync"
	"time"
)

// loopbackDialTimeout bounds a Loopback dial; loopback connects are instant.
const loopbackDialTimeout = 5 * time.Second

// Loopback is a Transport over plain TCP on 127.0.0.1, where addresses are
// "127.0.0.1:port". It exists for fast unit tests of logic above the
// transport only: it has no anonymity, no isolation and none of tor's
// timing. Integration tests and the demo use TorTransport on the private
// Tor network (tor/tornet).
type Loopback struct {
	mu     sync.Mutex
	ls     []net.Listener
	closed bool
}

// NewLoopback returns a loopback transport.
func NewLoopback() *Loopback { return &Loopback{} }

// Listen opens a listener on a free loopback port; each call a new one.
func (lb *Loopback) Listen(ctx context.Context) (net.Listener, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.closed {
		return nil, ErrClosed
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lb.ls = append(lb.ls, l)
	return l, nil
}

// Dial connects to addr ("127.0.0.1:port").
func (lb *Loopback) Dial(ctx context.Context, addr string) (net.Conn, error) {
	lb.mu.Lock()
	closed := lb.closed
	lb.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	d := net.Dialer{Timeout: loopbackDialTimeout}
	return d.DialContext(ctx, "tcp", addr)
}

// Close closes every listener it opened. Idempotent.
func (lb *Loopback) Close() error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.closed {
		return nil
	}
	lb.closed = true
	for _, l := range lb.ls {
		l.Close()
	}
	lb.ls = nil
	return nil
}
