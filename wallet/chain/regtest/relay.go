package regtest

import (
	"errors"
	"io"
	"net"
	"sync"
)

// relay is a loopback TCP forwarder in front of btcd's RPC port. Pause makes
// the node look down (existing connections are dropped, new ones are
// accepted and closed at once, as a refused connection would be); Blackhole
// makes it look hung (new connections are accepted and never answered);
// Resume restores forwarding.
type relay struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	mode    relayMode
	conns   map[net.Conn]struct{} // forwarded client and upstream conns
	holding map[net.Conn]struct{} // blackholed client conns
	closed  bool

	wg sync.WaitGroup
}

type relayMode int

const (
	relayForward relayMode = iota
	relayRefuse
	relayBlackhole
)

func newRelay(target string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}, holding: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		r.mu.Lock()
		mode, closed := r.mode, r.closed
		switch {
		case closed || mode == relayRefuse:
			r.mu.Unlock()
			_ = c.Close()
			continue
		case mode == relayBlackhole:
			r.holding[c] = struct{}{}
			r.mu.Unlock()
			continue
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go r.forward(c)
	}
}

func (r *relay) forward(c net.Conn) {
	defer r.wg.Done()
	defer r.drop(c)
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	r.mu.Lock()
	if r.closed || r.mode != relayForward {
		r.mu.Unlock()
		_ = up.Close()
		return
	}
	r.conns[up] = struct{}{}
	r.mu.Unlock()
	defer r.drop(up)

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close so HTTP's request/response sequence completes, then
		// let the other direction finish.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

func (r *relay) drop(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	_ = c.Close()
}

// setMode switches the mode; leaving forward mode drops every connection,
// leaving blackhole mode closes the held ones.
func (r *relay) setMode(m relayMode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = m
	if m != relayForward {
		for c := range r.conns {
			_ = c.Close()
		}
	}
	if m != relayBlackhole {
		for c := range r.holding {
			_ = c.Close()
			delete(r.holding, c)
		}
	}
}

func (r *relay) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	_ = r.ln.Close()
	for c := range r.conns {
		_ = c.Close()
	}
	for c := range r.holding {
		_ = c.Close()
		delete(r.holding, c)
	}
	r.mu.Unlock()
	r.wg.Wait()
}
