package tor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// Transport is how the node reaches and is reached by peers.
type Transport interface {
	// Listen publishes this node's service; Addr() of the listener is its
	// dialable address ("<56 chars>.onion:<port>" on tor).
	Listen(ctx context.Context) (net.Listener, error)
	// Dial opens a stream to addr, isolated from streams to other peers.
	Dial(ctx context.Context, addr string) (net.Conn, error)
	Close() error
}

var (
	_ Transport = (*TorTransport)(nil)
	_ Transport = (*Loopback)(nil)
)

// TorTransport is the Transport over Tor: one managed or attached tor,
// at most one onion service of this node's own (Listen), any number of
// short-lived ephemeral ones (ListenEphemeral) and of persistent ones
// restricted by client authorization (ListenAuthorized), and SOCKS
// dialing with per-peer stream isolation. A health loop replaces a dead
// tor or connection and re-publishes the node's service and the
// authorized ones under the same addresses.
type TorTransport struct {
	cfg  Config
	log  *slog.Logger
	iso  *isolator
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	sess     *session
	ready    chan struct{} // closed while sess != nil
	lis      *OnionListener
	eph      map[*OnionListener]struct{} // live ListenEphemeral services
	authz    map[*OnionListener]struct{} // live ListenAuthorized services
	key      *OnionKey                   // ephemeral key when cfg.KeyFile == ""
	restarts int
	// pow: the last ADD_ONION got the proof-of-work defence (atomic: set
	// while t.mu may be held by Listen).
	pow    atomic.Bool
	closed bool
}

// NewTorTransport gets a Tor as cfg says (starting or attaching to it)
// and returns once it is bootstrapped. ctx bounds only the start.
func NewTorTransport(ctx context.Context, cfg Config) (*TorTransport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	iso, err := newIsolator(cfg.IsolateEachStream)
	if err != nil {
		return nil, err
	}
	t := &TorTransport{cfg: cfg, log: cfg.Logger, iso: iso, ready: make(chan struct{}),
		eph: map[*OnionListener]struct{}{}, authz: map[*OnionListener]struct{}{}}
	t.life, t.stop = context.WithCancel(context.Background())
	s, err := t.connect(ctx)
	if err != nil {
		t.stop()
		return nil, err
	}
	t.setSession(s)
	t.wg.Add(1)
	go t.healthLoop()
	return t, nil
}

// connect starts or attaches to tor, per the mode.
func (t *TorTransport) connect(ctx context.Context) (*session, error) {
	if t.cfg.Mode == ModeManaged {
		return startManaged(ctx, &t.cfg)
	}
	return startAttached(ctx, &t.cfg)
}

func (t *TorTransport) setSession(s *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sess = s
	if s != nil {
		close(t.ready)
	} else {
		t.ready = make(chan struct{})
	}
}

// session returns the live session, waiting (bounded by ctx) while tor is
// being restarted or reconnected.
func (t *TorTransport) session(ctx context.Context) (*session, error) {
	for {
		t.mu.Lock()
		s, ready, closed := t.sess, t.ready, t.closed
		t.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if s != nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (being restarted): %w", ErrTorUnavailable, ctx.Err())
		case <-t.life.Done():
			return nil, ErrClosed
		case <-ready:
		}
	}
}

// Listen publishes the node's onion service and returns its listener
// once tor has accepted it (ADD_ONION). Publication to the HSDirs goes on
// in the background: see OnionListener.WaitPublished.
func (t *TorTransport) Listen(ctx context.Context) (net.Listener, error) {
	key, err := t.onionKey()
	if err != nil {
		return nil, err
	}
	l, err := t.listen(ctx, serviceSpec{key: key, port: t.cfg.OnionPort})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ListenEphemeral publishes a new onion service with a fresh random key
// (never stored) on its own local listener, with the node's virtual port
// (Config.OnionPort), the same stream cap and proof-of-work defence as
// the node's service: a CoinJoin round's contact point, unlinkable to
// the node's own address. Any number may exist at once, besides Listen's.
// It returns once tor has accepted the service; WaitPublished tells when
// peers can find it. Its address is logged at Debug level only.
//
// Close removes the service from tor; closing the transport closes every
// ephemeral listener. The service lives only as long as the tor session
// it was added on: after a tor restart or a lost control connection it is
// NOT re-added (a round's contact point must not move, nor outlive the
// round by much); Accept and WaitPublished then fail with an error
// wrapping ErrOnionLost, and the caller should abandon the round.
func (t *TorTransport) ListenEphemeral(ctx context.Context) (*OnionListener, error) {
	key, err := GenerateOnionKey()
	if err != nil {
		return nil, err
	}
	return t.listen(ctx, serviceSpec{key: key, port: t.cfg.OnionPort, ephemeral: true})
}

// serviceSpec is what listen adds: exactly one of the node's own
// service (neither flag), an ephemeral one, or an authorized one
// (clientAuth set).
type serviceSpec struct {
	key        *OnionKey
	port       int
	ephemeral  bool
	clientAuth []ClientAuthKey
}

// listen adds a service for spec on a new local listener: the node's own
// (at most one, kept in t.lis and re-added after tor restarts), an
// ephemeral one (kept in t.eph, lost with its session) or an authorized
// one (kept in t.authz, re-added after tor restarts like the node's).
func (t *TorTransport) listen(ctx context.Context, spec serviceSpec) (*OnionListener, error) {
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tor: local listener: %w", err)
	}
	l := newOnionListener(t, spec.key, spec.port, local)
	l.ephemeral = spec.ephemeral
	l.clientAuth = spec.clientAuth
	ephemeral := spec.ephemeral
	t.mu.Lock()
	switch {
	case t.closed:
		err = ErrClosed
	case ephemeral:
		t.eph[l] = struct{}{}
	case t.persistentInUse(l.addr.ServiceID):
		// tor would refuse it ("Onion address collision") only after
		// publish's retries; and one key must not serve two purposes.
		err = fmt.Errorf("%w: onion service %s is already published by this transport",
			ErrAlreadyListening, ShortAddr(l.addr.String()))
	case l.Authorized():
		t.authz[l] = struct{}{}
	case t.lis != nil:
		err = ErrAlreadyListening
	default:
		t.lis = l
	}
	t.mu.Unlock()
	if err != nil {
		local.Close()
		return nil, err
	}
	s, err := t.session(ctx)
	if err == nil {
		if ephemeral {
			// Set before ADD_ONION: if s dies after, recover finds l
			// (it runs once s is dead, when ADD_ONION on s fails).
			t.mu.Lock()
			l.sess = s
			t.mu.Unlock()
		}
		err = t.publish(ctx, s, l)
	}
	if err != nil {
		t.mu.Lock()
		if t.lis == l {
			t.lis = nil
		}
		delete(t.eph, l)
		delete(t.authz, l)
		t.mu.Unlock()
		local.Close()
		return nil, err
	}
	l.mu.Lock()
	closed := l.closed // by the transport's Close meanwhile
	l.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	t.logService(l, "onion service added")
	return l, nil
}

// persistentInUse: the node's own or an authorized service has id (t.mu
// held).
func (t *TorTransport) persistentInUse(id string) bool {
	if t.lis != nil && t.lis.addr.ServiceID == id {
		return true
	}
	for l := range t.authz {
		if l.addr.ServiceID == id {
			return true
		}
	}
	return false
}

// persistent lists the services re-added after a tor restart: the node's
// own and the authorized ones (t.mu held).
func (t *TorTransport) persistent() []*OnionListener {
	ls := make([]*OnionListener, 0, len(t.authz)+1)
	if t.lis != nil {
		ls = append(ls, t.lis)
	}
	for l := range t.authz {
		ls = append(ls, l)
	}
	return ls
}

func (t *TorTransport) onionKey() (*OnionKey, error) {
	if t.cfg.KeyFile != "" {
		key, created, err := LoadOrCreateOnionKey(t.cfg.KeyFile)
		if err == nil && created {
			t.log.Info("new onion key created", "file", t.cfg.KeyFile)
		}
		return key, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.key == nil {
		k, err := GenerateOnionKey()
		if err != nil {
			return nil, err
		}
		t.key = k
	}
	return t.key, nil
}

// Dial opens a stream to the onion address addr ("<id>.onion:port").
// Streams to the same peer share a circuit; different peers never do
// (unless IsolateEachStream, then no two streams do).
func (t *TorTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	oa, err := ParseOnionAddr(addr)
	if err != nil {
		return nil, err
	}
	target := oa.String()
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	s, err := t.session(ctx)
	if err != nil {
		return nil, err
	}
	auth, err := t.iso.auth(target)
	if err != nil {
		return nil, err
	}
	t.log.Debug("dialing onion", "addr", target)
	c, err := dialSOCKS(ctx, s.socks, target, auth)
	if err != nil {
		// x/net's SOCKS client turns ctx's deadline into a conn deadline,
		// which may fire a moment before ctx itself reports it.
		var ne net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, fmt.Errorf("%w: %s after %v: %w", ErrDialTimeout, target, t.cfg.DialTimeout, err)
		}
		return nil, mapDialError(target, err)
	}
	return &onionConn{Conn: c, remote: oa}, nil
}

// Status is a snapshot for monitoring and tests.
type Status struct {
	Mode      Mode
	Connected bool   // a live session with a bootstrapped tor
	SocksAddr string // tor's SOCKS listener
	TorPID    int    // managed mode: our tor's process id
	Restarts  int    // sessions replaced by the health loop
	// PoWDefense: tor accepted the proof-of-work defence for our onion
	// service (false before it is published, or with a tor too old).
	PoWDefense bool
}

func (t *TorTransport) setPoW(on, wanted bool) {
	if t.pow.Swap(on) != on && !on && wanted {
		t.log.Warn("this tor does not offer the proof-of-work defence for onion services (tor 0.4.9 or later does); running without it")
	}
}

func (t *TorTransport) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := Status{Mode: t.cfg.Mode, Restarts: t.restarts, PoWDefense: t.pow.Load()}
	if s := t.sess; s != nil && !s.isDead() {
		st.Connected, st.SocksAddr = true, s.socks
		if s.proc != nil {
			st.TorPID = s.proc.pid()
		}
	}
	return st
}

// Close removes the onion services, stops a managed tor (or leaves an
// attached one running), and waits for every goroutine. Idempotent.
func (t *TorTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	ls := t.persistent()
	for l := range t.eph {
		ls = append(ls, l)
	}
	s := t.sess
	t.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	t.stop()
	t.wg.Wait()
	if s != nil {
		s.close()
	}
	t.log.Info("tor transport closed")
	return nil
}
