package directory

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/onionswap/onionswap/internal/ratelimit"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
)

// Server limits and intervals. Each is the default of a ServerConfig
// field (tests shorten them).
const (
	// EntryTTL: an entry not refreshed for this long is expired. 30 min
	// is the reference directoryd's expiry (coinswap-reference §4); a
	// maker refreshes at TTL/2 (RefreshFraction), so one lost refresh
	// (a Tor hiccup, a directory restart) never drops it.
	EntryTTL = 30 * time.Minute

	// DefaultSweepInterval: expired entries are already invisible to List
	// (filtered on read); the sweep only reclaims rows, so EntryTTL/6
	// keeps at most ~1/6 TTL of dead rows around. The reference sweeps
	// every 15 min.
	DefaultSweepInterval = EntryTTL / 6

	// DefaultReverifyInterval: every listed bond is checked again on the
	// chain once per mean block interval (10 min), so a bond spent, or
	// whose lock or certificate expired, leaves the list about one block
	// after the fact. Cost: ~6 RPCs per entry, 1000 entries → ~10 RPC/s.
	DefaultReverifyInterval = 10 * time.Minute

	// DefaultMaxConns: concurrent sessions. Demand: 1000 makers refreshing
	// every 15 min ≈ 1.1 registrations/s, each session ~2 Tor round trips
	// (1–4 s) → ~5 concurrent, plus takers' lists of similar number.
	// 64 gives >10× headroom; a session costs 2 goroutines and ~tens of
	// KiB, so 64 are nothing even on a Raspberry Pi.
	DefaultMaxConns = 64

	// DefaultRegisterBurst / DefaultRegisterRate per connection: a maker
	// sends one Register per session (Register dials for each), a second
	// after fixing a refused proof; 4 covers that with margin, and 1 per
	// 30 s afterwards lets a long-lived session refresh far more often
	// than the TTL/2 it needs. Exceeding it is misbehaviour (Error +
	// disconnect).
	DefaultRegisterBurst = 4
	DefaultRegisterRate  = 1.0 / 30

	// DefaultListBurst / DefaultListRate per connection: a taker lists
	// once per swap attempt; a reply is up to ~380 kB, so repeated lists
	// on one session are what a bandwidth attack looks like.
	DefaultListBurst = 2
	DefaultListRate  = 1.0 / 60

	// DefaultGlobalRegisterRate / Burst across all connections: bounds the
	// chain RPC load a flood of sessions can cause (~6 RPCs per
	// verification → ≤ 60 RPC/s). 10/s is 9× the 1000-maker refresh rate
	// above; the burst absorbs every maker re-registering at once after
	// a directory restart for 10 s. Over it we answer Busy (not the
	// peer's fault), and keep the session.
	DefaultGlobalRegisterRate  = 10
	DefaultGlobalRegisterBurst = 100

	// DefaultConnLifetime: a session is one or two requests; 5 min covers
	// a slow Tor and a retry, and stops a peer from parking a slot with
	// pings (which reset the idle timer).
	DefaultConnLifetime = 5 * time.Minute
	// DefaultIdleTimeout for directory sessions (protocol default is
	// 15 min for swaps): a client with nothing to say within 2 min is
	// holding a slot.
	DefaultIdleTimeout = 2 * time.Minute

	// DefaultVerifyTimeout bounds one bond verification (~6 RPCs of at
	// most 10 s each on a healthy node; a hung node must not hold the
	// session for long).
	DefaultVerifyTimeout = 30 * time.Second
)

// ServerConfig configures a Server. Zero values take the defaults above.
type ServerConfig struct {
	// DBPath is the directory's SQLite file (created if missing).
	DBPath string
	// Network is the Bitcoin network, checked in every handshake.
	Network protocol.Network

	// Backend and Policy check bonds (wallet.VerifyBondOnChain), unless
	// Verify is set (tests).
	Backend wallet.BondChain
	Policy  wallet.BondPolicy
	Verify  VerifyFunc

	EntryTTL         time.Duration
	SweepInterval    time.Duration
	ReverifyInterval time.Duration
	// MaxEntries is the capacity (≤ protocol.MaxDirEntries, the most a
	// ListReply holds without pagination).
	MaxEntries int

	MaxConns            int
	RegisterRate        float64
	RegisterBurst       int
	ListRate            float64
	ListBurst           int
	GlobalRegisterRate  float64
	GlobalRegisterBurst int
	ConnLifetime        time.Duration
	VerifyTimeout       time.Duration
	// IdleTimeout of a directory session (DefaultIdleTimeout when 0).
	IdleTimeout time.Duration

	// Now is the clock of entry times and rate limits; nil = time.Now.
	Now func() time.Time
	// Logger; nil = slog.Default().With("subsystem", "directory").
	Logger *slog.Logger
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	if c.DBPath == "" {
		return c, errors.New("directory: no DBPath")
	}
	if c.Network == 0 {
		return c, errors.New("directory: no Network")
	}
	if c.Verify == nil {
		if c.Backend == nil {
			return c, errors.New("directory: no Backend (or Verify)")
		}
		c.Verify = ChainVerifier(c.Backend, c.Policy)
	}
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&c.EntryTTL, EntryTTL)
	dur(&c.SweepInterval, DefaultSweepInterval)
	dur(&c.ReverifyInterval, DefaultReverifyInterval)
	dur(&c.ConnLifetime, DefaultConnLifetime)
	dur(&c.VerifyTimeout, DefaultVerifyTimeout)
	if c.MaxEntries <= 0 || c.MaxEntries > protocol.MaxDirEntries {
		c.MaxEntries = protocol.MaxDirEntries
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.RegisterRate <= 0 {
		c.RegisterRate = DefaultRegisterRate
	}
	if c.RegisterBurst <= 0 {
		c.RegisterBurst = DefaultRegisterBurst
	}
	if c.ListRate <= 0 {
		c.ListRate = DefaultListRate
	}
	if c.ListBurst <= 0 {
		c.ListBurst = DefaultListBurst
	}
	if c.GlobalRegisterRate <= 0 {
		c.GlobalRegisterRate = DefaultGlobalRegisterRate
	}
	if c.GlobalRegisterBurst <= 0 {
		c.GlobalRegisterBurst = DefaultGlobalRegisterBurst
	}
	dur(&c.IdleTimeout, DefaultIdleTimeout)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "directory")
	}
	return c, nil
}

// Server is a running directory: a node service (service.Inbound) that
// serves Register and ListRequest sessions handed over by the node's
// inbound server. Start and Stop are idempotent and safe for concurrent
// use.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	store   *store
	life    context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// working: sessions with a registration being verified (work the
	// inbound server must not evict).
	working map[*protocol.Conn]bool

	global *ratelimit.Bucket
	connID atomic.Uint64
	// reverifyNow asks the re-verification loop for a pass (tests).
	reverifyNow chan chan struct{}
}

// NewServer checks cfg; nothing runs until Start.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		working:     map[*protocol.Conn]bool{},
		global:      ratelimit.New(cfg.GlobalRegisterRate, float64(cfg.GlobalRegisterBurst), cfg.Now),
		reverifyNow: make(chan chan struct{}),
	}, nil
}

// ErrServerStopped: Start after Stop.
var ErrServerStopped = errors.New("directory server stopped")

// Start opens the database (dropping entries that expired while we were
// down) and starts the sweep and re-verification loops; sessions arrive
// through ServeConn. ctx bounds only the start.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrServerStopped
	}
	if s.started {
		return nil
	}
	st, err := openStore(ctx, s.cfg.DBPath)
	if err != nil {
		return err
	}
	n, err := st.sweep(ctx, s.cfg.Now().Add(-s.cfg.EntryTTL))
	if err != nil {
		st.close()
		return fmt.Errorf("directory: drop expired entries: %w", err)
	}
	left, err := st.count(ctx)
	if err != nil {
		st.close()
		return fmt.Errorf("directory: %w", err)
	}
	s.store, s.started = st, true
	s.life, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.sweepLoop()
	go s.reverifyLoop()
	s.log.Info("directory started", "entries", left, "expired_dropped", n, "ttl", s.cfg.EntryTTL,
		"max_entries", s.cfg.MaxEntries, "max_conns", s.cfg.MaxConns)
	return nil
}

// Stop ends every session (with an Error saying the directory shuts
// down), waits for all goroutines and closes the database. Idempotent; a stopped Server cannot be restarted (make a new
// one on the same DBPath).
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return
	}
	s.cancel()
	s.wg.Wait()
	if err := s.store.close(); err != nil {
		s.log.Warn("closing directory database", "err", err)
	}
	s.log.Info("directory stopped")
}

// ServeConn runs one session handed over by the node's inbound server:
// Register and ListRequest until the peer leaves, misbehaves, or the
// session lifetime ends (the inbound server enforces it too, see Limits).
func (s *Server) ServeConn(ctx context.Context, pc *protocol.Conn, first protocol.Message) {
	id := s.connID.Add(1)
	log := s.log.With("conn", id)
	s.mu.Lock()
	running := s.started && !s.stopped
	s.mu.Unlock()
	if !running {
		_ = pc.CloseWithError(protocol.CodeShutdown, "directory not running")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnLifetime)
	defer cancel()
	stop := context.AfterFunc(s.life, cancel)
	defer stop()
	reg := ratelimit.New(s.cfg.RegisterRate, float64(s.cfg.RegisterBurst), s.cfg.Now)
	lists := ratelimit.New(s.cfg.ListRate, float64(s.cfg.ListBurst), s.cfg.Now)
	next := first
	for {
		msg, err := next, error(nil)
		if msg == nil {
			msg, err = pc.Receive(ctx)
		}
		next = nil
		if err != nil {
			switch {
			case s.life.Err() != nil:
				_ = pc.CloseWithError(protocol.CodeShutdown, "directory shutting down")
			case ctx.Err() != nil:
				log.Debug("directory session lifetime reached")
				_ = pc.CloseWithError(protocol.CodeTimeout, "session lifetime exceeded")
			default:
				log.Debug("directory session ended", "err", err)
			}
			return
		}
		switch m := msg.(type) {
		case *protocol.Register:
			if !reg.Allow() {
				log.Debug("register rate exceeded; disconnecting")
				_ = pc.CloseWithError(protocol.CodeRateLimited, "too many registrations on this connection")
				return
			}
			var reply protocol.Message
			var fatal bool
			if !s.global.Allow() {
				reply = &protocol.Nack{Code: protocol.CodeBusy, Text: "directory busy verifying bonds; retry later"}
			} else {
				s.setWorking(pc, true)
				reply, fatal = s.register(ctx, pc, m, log)
				s.setWorking(pc, false)
			}
			if err := pc.Send(ctx, reply); err != nil {
				log.Debug("directory send failed", "err", err)
				return
			}
			if fatal {
				_ = pc.CloseWithError(protocol.CodeInvalidSignature, "forged bond certificate")
				return
			}
		case *protocol.ListRequest:
			if !lists.Allow() {
				log.Debug("list rate exceeded; disconnecting")
				_ = pc.CloseWithError(protocol.CodeRateLimited, "too many list requests on this connection")
				return
			}
			reply, err := s.listReply(ctx)
			if err != nil {
				log.Warn("directory list failed", "err", err)
				_ = pc.CloseWithError(protocol.CodeInternal, "directory cannot read its list; retry later")
				return
			}
			if err := pc.Send(ctx, reply); err != nil {
				log.Debug("directory send failed", "err", err)
				return
			}
			log.Debug("list served", "entries", len(reply.Entries))
		default:
			log.Debug("unexpected message; disconnecting", "type", msg.Type())
			_ = pc.CloseWithError(protocol.CodeProtocolViolation, "unexpected "+msg.Type().String()+" at a directory")
			return
		}
	}
}

// ChallengeTimeout bounds the answer to a registration challenge: one Tor
// round trip (0.5–2 s, up to ~10 s on a bad circuit) and one signature;
// 30 s leaves room for a slow circuit without letting a silent peer hold
// a registration slot.
const ChallengeTimeout = 30 * time.Second

// challenge asks the registering peer to sign a fresh nonce with the bond
// key of p and checks the answer.
func (s *Server) challenge(ctx context.Context, pc *protocol.Conn, p *protocol.FidelityProof) error {
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ChallengeTimeout)
	defer cancel()
	if err := pc.Send(ctx, &protocol.RegisterChallenge{Nonce: nonce}); err != nil {
		return fmt.Errorf("sending the challenge: %w", err)
	}
	msg, err := pc.Receive(ctx)
	if err != nil {
		return fmt.Errorf("no answer to the challenge: %w", err)
	}
	resp, ok := msg.(*protocol.RegisterResponse)
	if !ok {
		return fmt.Errorf("%s instead of a RegisterResponse", msg.Type())
	}
	d := protocol.RegisterChallengeDigest(nonce, p.BondOutPoint, p.Addr)
	sig, err := ecdsa.ParseDERSignature(resp.Sig)
	if err != nil || !bytes.Equal(sig.Serialize(), resp.Sig) || !sig.Verify(d[:], p.BondPubKey) {
		return errors.New("the challenge is not signed by the bond key")
	}
	return nil
}

func (s *Server) setWorking(pc *protocol.Conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.working[pc] = true
	} else {
		delete(s.working, pc)
	}
}

// register verifies and stores one registration. fatal means the peer
// misbehaved (a forged certificate) and the session ends after the Nack.
func (s *Server) register(ctx context.Context, pc *protocol.Conn, m *protocol.Register, log *slog.Logger) (reply protocol.Message, fatal bool) {
	p := &m.Proof
	op := p.BondOutPoint
	nack := func(code protocol.ErrorCode, text string) *protocol.Nack {
		return &protocol.Nack{Code: code, Text: protocol.Clip(text)}
	}
	if m.Addr != p.Addr {
		log.Debug("registration refused", "bond", op, "reason", protocol.CodeBondOnionMismatch, "addr", m.Addr)
		return nack(protocol.CodeBondOnionMismatch, "certificate is for another address than the one registered"), false
	}
	cert, sig := CertFromProof(p)
	vctx, cancel := context.WithTimeout(ctx, s.cfg.VerifyTimeout)
	value, err := s.cfg.Verify(vctx, cert, sig, m.Addr)
	cancel()
	if err != nil {
		code, ok := ReasonCode(err)
		if !ok {
			log.Warn("cannot verify bond", "bond", op, "err", err)
			return nack(protocol.CodeInternal, "directory cannot check bonds right now; retry later"), false
		}
		log.Info("registration refused", "bond", op, "reason", code)
		log.Debug("registration refused", "bond", op, "addr", m.Addr, "err", err)
		return nack(code, err.Error()), code == protocol.CodeBondForged
	}
	// The proof is public (every ListReply carries it): only an answer
	// to a fresh challenge, signed by the bond key, shows that whoever
	// registers holds the key now.
	if err := s.challenge(ctx, pc, p); err != nil {
		log.Info("registration refused", "bond", op, "reason", protocol.CodeBondNotHeld)
		log.Debug("registration refused", "bond", op, "addr", m.Addr, "err", err)
		return nack(protocol.CodeBondNotHeld, err.Error()), true
	}
	now := s.cfg.Now()
	e := &Entry{Addr: m.Addr, Proof: *p, BondValue: value, FirstSeen: now, LastSeen: now, VerifiedAt: now}
	prev, evicted, err := s.store.upsert(ctx, e, s.cfg.MaxEntries)
	switch {
	case errors.Is(err, errFull):
		log.Info("registration refused", "bond", op, "reason", protocol.CodeDirectoryFull)
		return nack(protocol.CodeDirectoryFull, fmt.Sprintf("directory lists %d bonds, all worth more", s.cfg.MaxEntries)), false
	case err != nil:
		log.Warn("cannot store registration", "bond", op, "err", err)
		return nack(protocol.CodeInternal, "directory cannot store the entry; retry later"), false
	}
	if evicted != nil {
		log.Info("least valuable bond evicted", "bond", *evicted)
	}
	switch {
	case prev == "":
		log.Info("maker registered", "bond", op, "value", value)
	case prev != m.Addr:
		log.Info("maker address replaced", "bond", op, "value", value)
		log.Debug("maker address replaced", "bond", op, "old", prev, "new", m.Addr)
	default:
		log.Debug("maker refreshed", "bond", op, "value", value)
	}
	return &protocol.RegisterAck{TTLSeconds: ttlSeconds(s.cfg.EntryTTL)}, false
}

// ttlSeconds rounds up, so a sub-second test TTL is never announced as 0.
func ttlSeconds(d time.Duration) uint32 {
	return uint32(min(math.Ceil(d.Seconds()), math.MaxUint32))
}

func (s *Server) listReply(ctx context.Context) (*protocol.ListReply, error) {
	es, err := s.store.list(ctx, s.cfg.Now().Add(-s.cfg.EntryTTL), protocol.MaxDirEntries)
	if err != nil {
		return nil, err
	}
	r := &protocol.ListReply{Entries: make([]protocol.DirEntry, len(es))}
	for i := range es {
		r.Entries[i] = es[i].DirEntry()
	}
	return r, nil
}

// Entries returns the live (unexpired) entries, most valuable first.
func (s *Server) Entries(ctx context.Context) ([]Entry, error) {
	s.mu.Lock()
	st := s.store
	running := s.started && !s.stopped
	s.mu.Unlock()
	if !running {
		return nil, ErrServerStopped
	}
	return st.list(ctx, s.cfg.Now().Add(-s.cfg.EntryTTL), protocol.MaxDirEntries)
}

func (s *Server) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *Server) sweep() {
	n, err := s.store.sweep(s.life, s.cfg.Now().Add(-s.cfg.EntryTTL))
	switch {
	case err != nil && s.life.Err() == nil:
		s.log.Warn("directory sweep failed", "err", err)
	case n > 0:
		s.log.Info("expired entries removed", "count", n)
	}
}

func (s *Server) reverifyLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ReverifyInterval)
	defer t.Stop()
	s.reverify() // entries loaded from disk are checked at once
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
			s.reverify()
		case done := <-s.reverifyNow:
			s.reverify()
			close(done)
		}
	}
}

// Reverify runs one re-verification pass now and returns when it is done
// (operators and tests; the server also runs one every ReverifyInterval).
func (s *Server) Reverify(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case s.reverifyNow <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reverify checks every stored entry on the chain again: bonds refused
// now (spent, lock or certificate expired, reorged away) are deleted;
// if the node cannot be asked the pass stops and the entries stay.
func (s *Server) reverify() {
	es, err := s.store.all(s.life)
	if err != nil {
		if s.life.Err() == nil {
			s.log.Warn("re-verification: cannot read entries", "err", err)
		}
		return
	}
	var dropped int
	for i := range es {
		e := &es[i]
		cert, sig := CertFromProof(&e.Proof)
		ctx, cancel := context.WithTimeout(s.life, s.cfg.VerifyTimeout)
		value, err := s.cfg.Verify(ctx, cert, sig, e.Addr)
		cancel()
		if s.life.Err() != nil {
			return
		}
		if err != nil {
			code, ok := ReasonCode(err)
			if !ok {
				s.log.Warn("re-verification stopped: cannot check bonds", "err", err)
				return
			}
			gone, derr := s.store.deleteIfUnchanged(s.life, e)
			if derr != nil {
				s.log.Warn("re-verification: cannot delete entry", "bond", e.Proof.BondOutPoint, "err", derr)
				continue
			}
			if gone {
				dropped++
				s.log.Info("bond dropped on re-verification", "bond", e.Proof.BondOutPoint, "reason", code)
				s.log.Debug("bond dropped on re-verification", "bond", e.Proof.BondOutPoint, "addr", e.Addr, "err", err)
			}
			continue
		}
		if err := s.store.markVerified(s.life, e, value, s.cfg.Now()); err != nil && s.life.Err() == nil {
			s.log.Warn("re-verification: cannot update entry", "bond", e.Proof.BondOutPoint, "err", err)
		}
	}
	s.log.Debug("re-verification pass done", "checked", len(es), "dropped", dropped)
}
