package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onionswap/onionswap/node/control"
)

const (
	// readHeaderTimeout bounds a slow client's headers (slow-loris): a
	// local browser sends them in milliseconds, one over Tor in a second
	// or two.
	readHeaderTimeout = 10 * time.Second
	// writeTimeout bounds a page's response; the event stream clears it
	// for itself (ResponseController).
	writeTimeout = 30 * time.Second
	// maxBody: the largest request body, a blacklist file being imported
	// (its entries are bounded by the market's import at a few hundred
	// kB) plus form overhead.
	maxBody = 1 << 20
	// stopTimeout bounds the wait for requests in flight at Stop.
	stopTimeout = 5 * time.Second
)

// Config is the dashboard's configuration.
type Config struct {
	// Listen is the local address, host:port on a loopback address
	// (port 0: any free port).
	Listen string
	// API serves the control API in process (the daemon's router).
	API http.Handler
	// Cookie returns the control cookie, the login secret ("" : none yet).
	Cookie func() string
	// PasswordFile holds the dashboard password's hash ("" or missing:
	// cookie login only).
	PasswordFile string
	Logger       *slog.Logger
	Now          func() time.Time
	// LiveInterval: how often a page with a live stream is re-rendered
	// (0: DefaultLiveInterval).
	LiveInterval time.Duration
}

// Server serves the dashboard. Start it, then Stop it; both idempotent.
type Server struct {
	cfg   Config
	log   *slog.Logger
	api   *control.Client
	auth  *auth
	pages map[string]*page
	nav   []*page // the pages in menu order
	login *template.Template
	h     http.Handler
	// streams counts the live streams open.
	streams atomic.Int32

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // swaps started from the dashboard, streams

	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	hosts   map[string]bool // Host header values accepted
	started bool
	stopped bool
	jobs    []*job
}

// New checks cfg and builds the server; Start listens.
func New(cfg Config) (*Server, error) {
	if cfg.API == nil || cfg.Cookie == nil {
		return nil, errors.New("dashboard: API and Cookie are required")
	}
	if err := CheckListen(cfg.Listen); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LiveInterval <= 0 {
		cfg.LiveInterval = DefaultLiveInterval
	}
	s := &Server{cfg: cfg, log: cfg.Logger, api: control.NewLocalClient(cfg.API), hosts: map[string]bool{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.auth = newAuth(cfg)
	s.pages = s.buildPages()
	s.h = s.routes()
	return s, nil
}

// CheckListen accepts only a loopback host:port: the dashboard is for
// the machine's own user (or a tunnel to it, or its onion service).
func CheckListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dashboard: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("dashboard: listen address %q is not a loopback address (127.0.0.1:PORT); reach it from elsewhere through an SSH tunnel or its onion service", addr)
	}
	return nil
}

// Start listens on cfg.Listen and serves.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("dashboard: stopped")
	}
	if s.started {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.allowHostLocked(ln.Addr().String())
	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		s.allowHostLocked("localhost:" + port)
	}
	s.srv = &http.Server{
		Handler:           s.h,
		ReadHeaderTimeout: readHeaderTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.started = true
	s.serveLocked(ln)
	s.log.Info("dashboard listening", "url", s.urlLocked())
	return nil
}

func (s *Server) serveLocked(ln net.Listener) {
	srv := s.srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("dashboard server", "err", err)
		}
	}()
}

// ServeOnion serves the dashboard on an onion service's listener as
// well; host is its address ("<id>.onion", with or without the port).
func (s *Server) ServeOnion(ln net.Listener, host string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopped {
		return errors.New("dashboard: not running")
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = host, "80"
	}
	s.allowHostLocked(h + ":" + port)
	if port == "80" {
		s.allowHostLocked(h)
	}
	s.serveLocked(ln)
	return nil
}

func (s *Server) allowHostLocked(h string) { s.hosts[strings.ToLower(h)] = true }

func (s *Server) hostAllowed(h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hosts[strings.ToLower(h)]
}

// URL is the local address to open ("" before Start).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urlLocked()
}

func (s *Server) urlLocked() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String() + "/"
}

// Stop closes the listeners, ends the live streams and the requests of
// swaps started from the dashboard (the swaps themselves go on in the
// taker service: a request that ends does not end its swap).
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	srv := s.srv
	s.mu.Unlock()
	s.cancel()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		cancel()
	}
	s.wg.Wait()
}

// Handler is the dashboard's HTTP handler (tests serve it themselves).
func (s *Server) Handler() http.Handler { return s.h }

// AllowHost accepts requests addressed to h (tests on httptest servers).
func (s *Server) AllowHost(h string) {
	s.mu.Lock()
	s.allowHostLocked(h)
	s.mu.Unlock()
}
