// Package simnet is the pool simulation's network and bookkeeping: an
// in-memory transport with a fixed one-way latency per link, random
// topologies with bounded in-degree, and the metrics every relay protocol
// is measured by, so that the pool (node/pool/sim) and gossipsub
// (bench/gossipsub, its own module) run on the same topology, link
// latencies and message set and print side by side.
package simnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Net is an in-memory network: listeners by name, streams whose bytes
// arrive after the link's one-way latency. Writes never block (the
// simulation measures bytes and latency, not congestion).
type Net struct {
	mu        sync.Mutex
	listeners map[string]*listener
	latency   func(from, to string) time.Duration
}

// NewNet returns a network whose link from→to delays bytes by latency.
func NewNet(latency func(from, to string) time.Duration) *Net {
	return &Net{listeners: map[string]*listener{}, latency: latency}
}

// ErrRefused: nobody listens at the address.
var ErrRefused = errors.New("simnet: connection refused")

// Listen opens a listener named addr.
func (n *Net) Listen(addr string) (net.Listener, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.listeners[addr]; ok {
		return nil, errors.New("simnet: address in use")
	}
	l := &listener{n: n, addr: addr, ch: make(chan net.Conn, 64), done: make(chan struct{})}
	n.listeners[addr] = l
	return l, nil
}

// Dialer is a node's view of the network (node/pool.Dialer).
type Dialer struct {
	N    *Net
	From string
}

// Dial connects to addr after one link latency (the SYN), as TCP would.
func (d Dialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	d.N.mu.Lock()
	l := d.N.listeners[addr]
	d.N.mu.Unlock()
	if l == nil {
		return nil, ErrRefused
	}
	lat := d.N.latency(d.From, addr)
	a2b, b2a := newPipe(lat), newPipe(d.N.latency(addr, d.From))
	client := &conn{r: b2a, w: a2b, local: addrOf(d.From), remote: addrOf(addr)}
	server := &conn{r: a2b, w: b2a, local: addrOf(addr), remote: addrOf(d.From)}
	t := time.NewTimer(lat)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	select {
	case l.ch <- server:
		return client, nil
	case <-l.done:
		return nil, ErrRefused
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type listener struct {
	n         *Net
	addr      string
	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.n.mu.Lock()
		if l.n.listeners[l.addr] == l {
			delete(l.n.listeners, l.addr)
		}
		l.n.mu.Unlock()
	})
	return nil
}

func (l *listener) Addr() net.Addr { return addrOf(l.addr) }

type addrOf string

func (a addrOf) Network() string { return "sim" }
func (a addrOf) String() string  { return string(a) }

type chunk struct {
	b  []byte
	at time.Time
}

// pipe is one direction of a stream.
type pipe struct {
	lat    time.Duration
	mu     sync.Mutex
	q      []chunk
	closed bool
	notify chan struct{}
	rdl    atomic.Int64 // read deadline, unix nanos (0: none)
	dlKick chan struct{}
}

func newPipe(lat time.Duration) *pipe {
	return &pipe{lat: lat, notify: make(chan struct{}, 1), dlKick: make(chan struct{}, 1)}
}

func (p *pipe) write(b []byte) (int, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, net.ErrClosed
	}
	p.q = append(p.q, chunk{b: append([]byte(nil), b...), at: time.Now().Add(p.lat)})
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (p *pipe) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *pipe) read(b []byte) (int, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := time.Now()
		if d := p.rdl.Load(); d != 0 && now.UnixNano() >= d {
			return 0, os.ErrDeadlineExceeded
		}
		p.mu.Lock()
		if len(p.q) > 0 && !p.q[0].at.After(now) {
			n := copy(b, p.q[0].b)
			if n == len(p.q[0].b) {
				p.q[0] = chunk{}
				p.q = p.q[1:]
			} else {
				p.q[0].b = p.q[0].b[n:]
			}
			p.mu.Unlock()
			return n, nil
		}
		if len(p.q) == 0 && p.closed {
			p.mu.Unlock()
			return 0, io.EOF
		}
		wait := time.Hour
		if len(p.q) > 0 {
			wait = p.q[0].at.Sub(now)
		}
		p.mu.Unlock()
		if d := p.rdl.Load(); d != 0 {
			wait = min(wait, time.Duration(d-now.UnixNano()))
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-p.notify:
		case <-p.dlKick:
		case <-timer.C:
		}
	}
}

type conn struct {
	r, w          *pipe
	local, remote net.Addr
	closeOnce     sync.Once
}

func (c *conn) Read(b []byte) (int, error)  { return c.r.read(b) }
func (c *conn) Write(b []byte) (int, error) { return c.w.write(b) }
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.w.close()
		c.r.close()
	})
	return nil
}
func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }
func (c *conn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return nil
}
func (c *conn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		c.r.rdl.Store(0)
	} else {
		c.r.rdl.Store(max(t.UnixNano(), 1))
	}
	select {
	case c.r.dlKick <- struct{}{}:
	default:
	}
	return nil
}
func (c *conn) SetWriteDeadline(time.Time) error { return nil }
