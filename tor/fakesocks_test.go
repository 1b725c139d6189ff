package tor

import (
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// fakeSOCKS is a scripted SOCKS5 server: it records the credentials and
// target of each request and answers with reply (0 = success, then echo),
// or stays silent if silent is set.
type fakeSOCKS struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	reply  byte
	silent bool
	reqs   []socksReq
	conns  []net.Conn
}

type socksReq struct{ user, pass, target string }

func newFakeSOCKS(t *testing.T) *fakeSOCKS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSOCKS{ln: ln}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func (s *fakeSOCKS) addr() string { return s.ln.Addr().String() }

func (s *fakeSOCKS) requests() []socksReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]socksReq(nil), s.reqs...)
}

func (s *fakeSOCKS) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeSOCKS) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.serve(c)
		}()
	}
}

func (s *fakeSOCKS) serve(c net.Conn) {
	var h [2]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return
	}
	methods := make([]byte, h[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	var req socksReq
	if containsByte(methods, 2) {
		c.Write([]byte{5, 2})
		var v [2]byte
		io.ReadFull(c, v[:])
		u := make([]byte, v[1])
		io.ReadFull(c, u)
		var pl [1]byte
		io.ReadFull(c, pl[:])
		p := make([]byte, pl[0])
		io.ReadFull(c, p)
		req.user, req.pass = string(u), string(p)
		c.Write([]byte{1, 0})
	} else {
		c.Write([]byte{5, 0})
	}
	var r [4]byte
	if _, err := io.ReadFull(c, r[:]); err != nil || r[3] != 3 {
		return
	}
	var l [1]byte
	io.ReadFull(c, l[:])
	host := make([]byte, l[0])
	io.ReadFull(c, host)
	var port [2]byte
	io.ReadFull(c, port[:])
	req.target = net.JoinHostPort(string(host), strconv.Itoa(int(binary.BigEndian.Uint16(port[:]))))
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	reply, silent := s.reply, s.silent
	s.mu.Unlock()
	if silent {
		io.Copy(io.Discard, c) // until the client gives up
		return
	}
	c.Write([]byte{5, reply, 0, 1, 0, 0, 0, 0, 0, 0})
	if reply == 0 {
		io.Copy(c, c)
	}
}

func containsByte(b []byte, x byte) bool {
	for _, y := range b {
		if y == x {
			return true
		}
	}
	return false
}
