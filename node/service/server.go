package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// Server defaults (each the default of a ServerConfig field; tests shorten
// them).
const (
	// DefaultPendingSlots: connections accepted but not yet handed to a
	// service (handshake and first message). A slot costs one goroutine
	// and one descriptor (~10 KiB), so 64 cost well under a MiB on a Pi.
	// Under a flood of reconnecting clients an honest newcomer competes
	// for these slots: BenchmarkFloodHonestOffers (node/maker, 200
	// flooders) gives honest clients 33–40 % success in 3 tries with 16
	// slots and 57–73 % with 64, the first try 0–7 % and 17–43 %.
	DefaultPendingSlots = 64
	// DefaultPendingGrace: a pending connection younger than this is never
	// dropped for a newcomer. 5 s is several honest Tor round trips; an
	// exhaustion attack must then open more than PendingSlots/5 s streams
	// a second (which tor's intro-point defences rate-limit) to keep
	// honest peers out, instead of parking 16 silent sockets for the 45 s
	// handshake timeout.
	DefaultPendingGrace = 5 * time.Second
	// DefaultBusySlots: connections beyond every cap that still get an
	// explicit Busy Error (a handshake and the Error). Beyond those the
	// socket is closed at accept time, before any goroutine or read: an
	// over-capacity flood costs a descriptor for microseconds.
	DefaultBusySlots = 8
	// DefaultFirstMessageTimeout: after the handshake, the first request
	// must come within a couple of Tor round trips; a peer that only
	// pings is parking a pending slot.
	DefaultFirstMessageTimeout = 30 * time.Second
	// busyReplyTimeout bounds the handshake of a Busy answer: one Tor
	// round trip, far below protocol.DefaultHandshakeTimeout.
	busyReplyTimeout = 15 * time.Second
	// defaultReapInterval: how often connection lifetimes are checked.
	// The shortest lifetime in use is minutes; 5 s keeps the overrun
	// small and costs a map walk.
	defaultReapInterval = 5 * time.Second
	// acceptRetry: pause after a failed Accept (the listener's tor
	// session is being replaced by the tor health loop).
	acceptRetry = 100 * time.Millisecond
)

// Limits bound the connections one Inbound service is handed.
type Limits struct {
	// MaxConns: connections of this service at once. When it is reached
	// a newcomer evicts the oldest connection without work (Activity);
	// if every one has work, the newcomer is told Busy.
	MaxConns int
	// Lifetime: a connection without work is closed this long after it
	// was accepted (0: never), so nobody can park a slot with pings.
	Lifetime time.Duration
	// IdleTimeout replaces the connection's idle timeout once it is handed
	// to the service (0: keep the server's).
	IdleTimeout time.Duration
}

// Limited is implemented by an Inbound service with its own Limits.
// Without it a service gets DefaultLimits.
type Limited interface {
	Limits() Limits
}

// DefaultLimits of a service that does not say otherwise: 32
// connections, each given 10 minutes.
var DefaultLimits = Limits{MaxConns: 32, Lifetime: 10 * time.Minute}

// ServerConfig configures a Server.
type ServerConfig struct {
	Network   protocol.Network
	UserAgent string
	// Conn configures every accepted connection.
	Conn                protocol.ConnConfig
	PendingSlots        int
	PendingGrace        time.Duration
	BusySlots           int
	FirstMessageTimeout time.Duration
	ReapInterval        time.Duration
	// Now is the clock of lifetimes and grace periods (tests).
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *ServerConfig) defaults() {
	if c.PendingSlots <= 0 {
		c.PendingSlots = DefaultPendingSlots
	}
	if c.PendingGrace <= 0 {
		c.PendingGrace = DefaultPendingGrace
	}
	if c.BusySlots < 0 {
		c.BusySlots = 0
	} else if c.BusySlots == 0 {
		c.BusySlots = DefaultBusySlots
	}
	if c.FirstMessageTimeout <= 0 {
		c.FirstMessageTimeout = DefaultFirstMessageTimeout
	}
	if c.ReapInterval <= 0 {
		c.ReapInterval = defaultReapInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.UserAgent = cmp.Or(c.UserAgent, "onionswap")
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "inbound")
	}
}

// Server accepts peer connections on the node's listener, handshakes with
// the feature bits of every service, and hands each connection to the
// service that owns its first message. It bounds what any peer can hold:
// connections in handshake (PendingSlots), per service (Limits), and the
// Busy answers beyond them (BusySlots); everything else is closed at
// accept time.
type Server struct {
	cfg      ServerConfig
	log      *slog.Logger
	svcs     []Inbound
	limits   map[Inbound]Limits
	features protocol.Features

	mu      sync.Mutex
	started bool
	stopped bool
	lis     net.Listener
	life    context.Context
	cancel  context.CancelFunc
	pending []*pendingConn
	conns   map[*protocol.Conn]*servedConn
	perSvc  map[Inbound]int
	busy    int
	stats   ServerStats
	wg      sync.WaitGroup
}

type pendingConn struct {
	nc       net.Conn
	accepted time.Time
}

type servedConn struct {
	svc      Inbound
	c        *protocol.Conn
	accepted time.Time
	// closing: the server already closed it (eviction, lifetime); it is
	// not counted as a victim again.
	closing bool
}

// ServerStats counts what the server did since it started.
type ServerStats struct {
	Accepted        uint64         `json:"accepted"`
	Served          map[string]int `json:"served"` // live connections per service
	ClosedAtAccept  uint64         `json:"closed_at_accept"`
	BusyReplies     uint64         `json:"busy_replies"`
	PendingDropped  uint64         `json:"pending_dropped"`
	Evicted         uint64         `json:"evicted"`
	LifetimeClosed  uint64         `json:"lifetime_closed"`
	HandshakeFailed uint64         `json:"handshake_failed"`
	NoService       uint64         `json:"no_service"`
}

// NewServer returns a server for svcs (at least one). Serve starts it.
//
// A server without services is valid: a taker's node publishes its onion
// service before any of its services accepts peers, and answers each
// request with an explicit "no service here".
func NewServer(cfg ServerConfig, svcs ...Inbound) (*Server, error) {
	cfg.defaults()
	s := &Server{cfg: cfg, log: cfg.Logger, svcs: svcs, limits: map[Inbound]Limits{},
		conns: map[*protocol.Conn]*servedConn{}, perSvc: map[Inbound]int{}}
	for _, svc := range svcs {
		l := DefaultLimits
		if ls, ok := svc.(Limited); ok {
			l = ls.Limits()
		}
		if l.MaxConns < 1 {
			return nil, fmt.Errorf("service: %s: MaxConns %d", svc.Name(), l.MaxConns)
		}
		s.limits[svc] = l
		s.features = s.features.Set(svc.Feature())
	}
	return s, nil
}

// Features is the feature vector of the hosted services.
func (s *Server) Features() protocol.Features { return s.features }

func (s *Server) hello() *protocol.Hello {
	h := protocol.NewHello(s.cfg.Network, s.cfg.UserAgent)
	h.Features = s.features
	return h
}

// Serve starts accepting on lis in the background. Idempotent; the
// listener is closed by Stop.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("service: server stopped")
	}
	if s.started {
		return nil
	}
	s.started, s.lis = true, lis
	s.life, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.acceptLoop()
	go s.reapLoop()
	names := make([]string, 0, len(s.svcs))
	for _, svc := range s.svcs {
		names = append(names, svc.Name())
	}
	s.log.Info("accepting peers", "services", names)
	return nil
}

// Stop closes the listener and every connection (telling peers the node
// shuts down) and waits for the services' ServeConn calls to return.
// Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	if !s.started {
		s.mu.Unlock()
		return
	}
	s.cancel()
	_ = s.lis.Close()
	for _, p := range s.pending {
		_ = p.nc.Close()
	}
	served := make([]*protocol.Conn, 0, len(s.conns))
	for c := range s.conns {
		served = append(served, c)
	}
	s.mu.Unlock()
	for _, c := range served {
		go func() { _ = c.CloseWithError(protocol.CodeShutdown, "node shutting down") }()
	}
	s.wg.Wait()
}

// Stats returns the counters and live connections per service.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Served = map[string]int{}
	for svc, n := range s.perSvc {
		st.Served[svc.Name()] = n
	}
	return st
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.lis.Accept()
		if err != nil {
			if s.life.Err() != nil {
				return
			}
			s.log.Debug("accept failed; retrying", "err", err)
			select {
			case <-s.life.Done():
				return
			case <-time.After(acceptRetry):
			}
			continue
		}
		s.admit(nc)
	}
}

// admit decides at accept time: a pending slot (dropping the oldest
// pending connection past its grace if all are taken), else a Busy
// answer, else an immediate close.
func (s *Server) admit(nc net.Conn) {
	now := s.cfg.Now()
	s.mu.Lock()
	s.stats.Accepted++
	if len(s.pending) >= s.cfg.PendingSlots && now.Sub(s.pending[0].accepted) >= s.cfg.PendingGrace {
		old := s.pending[0]
		s.pending = s.pending[1:]
		s.stats.PendingDropped++
		_ = old.nc.Close() // its handshake fails and its goroutine ends
	}
	if len(s.pending) < s.cfg.PendingSlots {
		p := &pendingConn{nc: nc, accepted: now}
		s.pending = append(s.pending, p)
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(p)
		return
	}
	if s.busy < s.cfg.BusySlots {
		s.busy++
		s.stats.BusyReplies++
		s.wg.Add(1)
		s.mu.Unlock()
		go s.refuseBusy(nc, "node at connection capacity; retry later")
		return
	}
	s.stats.ClosedAtAccept++
	s.mu.Unlock()
	_ = nc.Close()
}

// refuseBusy handshakes (briefly) so that the peer reads why, then says
// Busy and closes.
func (s *Server) refuseBusy(nc net.Conn, why string) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.busy--
		s.mu.Unlock()
	}()
	cc := s.cfg.Conn
	cc.HandshakeTimeout = busyReplyTimeout
	c := protocol.NewConn(nc, cc)
	if _, err := c.Handshake(s.life, s.hello()); err != nil {
		return
	}
	_ = c.CloseWithError(protocol.CodeBusy, why)
}

func (s *Server) unpend(p *pendingConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.pending {
		if q == p {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return true
		}
	}
	return false // dropped for a newcomer, or the server stopped
}

func (s *Server) owner(t protocol.MessageType) Inbound {
	for _, svc := range s.svcs {
		if svc.Owns(t) {
			return svc
		}
	}
	return nil
}

// handle runs one connection: handshake, first message, dispatch, serve.
func (s *Server) handle(p *pendingConn) {
	defer s.wg.Done()
	c := protocol.NewConn(p.nc, s.cfg.Conn)
	if _, err := c.Handshake(s.life, s.hello()); err != nil {
		s.unpend(p)
		s.count(func(st *ServerStats) { st.HandshakeFailed++ })
		s.log.Debug("inbound handshake failed", "err", err)
		return
	}
	fctx, cancel := context.WithTimeout(s.life, s.cfg.FirstMessageTimeout)
	first, err := c.Receive(fctx)
	cancel()
	if err != nil {
		s.unpend(p)
		switch {
		case s.life.Err() != nil:
			_ = c.CloseWithError(protocol.CodeShutdown, "node shutting down")
		case errors.Is(err, context.DeadlineExceeded):
			_ = c.CloseWithError(protocol.CodeTimeout, "no request after the handshake")
		default:
			_ = c.Close()
		}
		return
	}
	svc := s.owner(first.Type())
	if svc == nil {
		s.unpend(p)
		s.count(func(st *ServerStats) { st.NoService++ })
		_ = c.CloseWithError(protocol.CodeProtocolViolation, "no service here for "+first.Type().String())
		return
	}
	if !s.unpend(p) {
		_ = c.Close()
		return
	}
	victim, ok := s.place(svc, c, p.accepted)
	if victim != nil {
		s.log.Debug("evicting a connection without work for a newcomer", "service", svc.Name())
		go func() {
			_ = victim.CloseWithError(protocol.CodeBusy, svc.Name()+" at capacity: connection without work evicted")
		}()
	}
	if !ok {
		s.count(func(st *ServerStats) { st.BusyReplies++ })
		_ = c.CloseWithError(protocol.CodeBusy, svc.Name()+" at connection capacity; retry later")
		return
	}
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.perSvc[svc]--
		s.mu.Unlock()
	}()
	defer func() {
		// One peer's input must not take the node down; handlers are
		// tested and decoders fuzzed, so this should never fire.
		if r := recover(); r != nil {
			s.log.Error("panic while serving a peer", "service", svc.Name(), "panic", fmt.Sprint(r))
			_ = c.CloseWithError(protocol.CodeInternal, "internal error")
		}
	}()
	if l := s.limits[svc]; l.IdleTimeout > 0 {
		c.SetIdleTimeout(l.IdleTimeout)
	}
	svc.ServeConn(s.life, c, first)
}

// place registers c with svc, choosing a victim to evict when svc is at
// its limit. ok is false when every connection of svc has work.
//
// Lock order: Server.mu, then whatever Activity.Busy takes; a service
// never calls the Server, and Busy must not block.
func (s *Server) place(svc Inbound, c *protocol.Conn, accepted time.Time) (victim *protocol.Conn, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, false
	}
	if s.perSvc[svc] >= s.limits[svc].MaxConns {
		v := s.victimLocked(svc)
		if v == nil {
			return nil, false
		}
		v.closing = true
		s.stats.Evicted++
		victim = v.c
	}
	s.conns[c] = &servedConn{svc: svc, c: c, accepted: accepted}
	s.perSvc[svc]++
	return victim, true
}

// victimLocked is the oldest connection of svc without work, or nil.
func (s *Server) victimLocked(svc Inbound) *servedConn {
	act, _ := svc.(Activity)
	var best *servedConn
	for _, sc := range s.conns {
		if sc.svc != svc || sc.closing {
			continue
		}
		if act != nil && act.Busy(sc.c) {
			continue
		}
		if best == nil || sc.accepted.Before(best.accepted) {
			best = sc
		}
	}
	return best
}

// reapLoop closes connections without work past their service's
// lifetime.
func (s *Server) reapLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
			s.reap()
		}
	}
}

func (s *Server) reap() {
	now := s.cfg.Now()
	s.mu.Lock()
	var expired []*servedConn
	for _, sc := range s.conns {
		l := s.limits[sc.svc]
		if sc.closing || l.Lifetime <= 0 || now.Sub(sc.accepted) < l.Lifetime {
			continue
		}
		if act, ok := sc.svc.(Activity); ok && act.Busy(sc.c) {
			continue
		}
		sc.closing = true
		s.stats.LifetimeClosed++
		expired = append(expired, sc)
	}
	s.mu.Unlock()
	for _, sc := range expired {
		go func() { _ = sc.c.CloseWithError(protocol.CodeTimeout, "connection lifetime reached") }()
	}
}

func (s *Server) count(f func(*ServerStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// Listener is what can publish the node's service (tor.Transport).
type Listener interface {
	Listen(ctx context.Context) (net.Listener, error)
}

// Host publishes a listener on tr and serves svcs behind it: for tests
// and tools that run services without a daemon. It returns the running
// server and the listener's dialable address; Stop the server when done.
func Host(ctx context.Context, tr Listener, cfg ServerConfig, svcs ...Inbound) (*Server, string, error) {
	srv, err := NewServer(cfg, svcs...)
	if err != nil {
		return nil, "", err
	}
	lis, err := tr.Listen(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := srv.Serve(lis); err != nil {
		_ = lis.Close()
		return nil, "", err
	}
	return srv, lis.Addr().String(), nil
}
