package control

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/onionswap/onionswap/internal/securefile"
)

// Sentinel errors. A Handler returns them (wrapped) to choose the HTTP
// status; the Client returns them (wrapped, with the daemon's text) so
// callers test with errors.Is.
var (
	// ErrNotAvailable: this role does not offer the endpoint (e.g. maker
	// status asked of a directory).
	ErrNotAvailable = errors.New("not available: this node does not run the service it belongs to")
	// ErrBadRequest: malformed or invalid request.
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound: no such swap.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the node cannot serve it now (starting, chain or tor
	// down: fail closed).
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrUnauthorized: missing or wrong cookie.
	ErrUnauthorized = errors.New("unauthorized (wrong or missing control cookie)")
	// ErrNotRunning: no daemon answers on the data directory's socket.
	ErrNotRunning = errors.New("no onionswap daemon is running on this data directory")
	// ErrAlreadyRunning: another daemon already serves the socket.
	ErrAlreadyRunning = errors.New("another onionswap daemon is running on this data directory")
	// ErrSocketPath: the socket path is too long for a unix socket.
	ErrSocketPath = errors.New("control socket path too long (unix sockets allow 107 bytes): use a shorter --datadir")
	// ErrInternal: the daemon failed the request.
	ErrInternal = errors.New("internal error")
)

var codes = []struct {
	code   string
	err    error
	status int
}{
	{"not_available", ErrNotAvailable, http.StatusNotImplemented},
	{"bad_request", ErrBadRequest, http.StatusBadRequest},
	{"not_found", ErrNotFound, http.StatusNotFound},
	{"unavailable", ErrUnavailable, http.StatusServiceUnavailable},
	{"unauthorized", ErrUnauthorized, http.StatusUnauthorized},
}

const (
	// maxSocketPath: sun_path is 108 bytes on Linux including the NUL.
	maxSocketPath = 107
	// maxBody bounds request bodies: every request is a few hundred bytes.
	maxBody = 64 << 10
	// readHeaderTimeout: a local client sends its headers at once; 10 s
	// only guards against a stuck client holding a goroutine.
	readHeaderTimeout = 10 * time.Second
	// shutdownGrace bounds waiting for requests in flight at Close; a
	// taker swap request waits for its swap, so Close cuts it (the swap
	// itself goes on in the engine and is persisted).
	shutdownGrace = 3 * time.Second
	// dialProbeTimeout: probing whether a socket is live.
	dialProbeTimeout = 2 * time.Second
)

// Cookie is the cookie of this start ("" before Start): the dashboard's
// login secret too.
func (s *Server) Cookie() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cookie
}

// SocketPath and CookiePath inside a data directory.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// CookiePath is DATADIR/control.cookie.
func CookiePath(dataDir string) string { return filepath.Join(dataDir, CookieName) }

// ServerConfig configures a Server.
type ServerConfig struct {
	// DataDir holds the socket and the cookie.
	DataDir string
	// Router serves the authorized requests.
	Router *Router
	// Logger; nil means slog.Default().With("subsystem", "control").
	Logger *slog.Logger
}

// Server serves the control API on DATADIR/control.sock.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	cookie string

	mu      sync.Mutex
	ln      net.Listener
	srv     *http.Server
	done    chan struct{}
	started bool
	closed  bool
}

// NewServer checks the config; Start opens the socket.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.DataDir == "" || cfg.Router == nil {
		return nil, errors.New("control: DataDir and Router are required")
	}
	if len(SocketPath(cfg.DataDir)) > maxSocketPath {
		return nil, fmt.Errorf("%w: %s", ErrSocketPath, SocketPath(cfg.DataDir))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("subsystem", "control")
	}
	return &Server{cfg: cfg, log: cfg.Logger}, nil
}

// Start writes a fresh cookie, opens the socket (mode 0600) and serves in the
// background. A stale socket left by a killed daemon is replaced; a live one
// is refused with ErrAlreadyRunning. Idempotent.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("control: server closed")
	}
	if s.started {
		return nil
	}
	sock := SocketPath(s.cfg.DataDir)
	if _, err := os.Lstat(sock); err == nil {
		c, err := net.DialTimeout("unix", sock, dialProbeTimeout)
		if err == nil {
			c.Close()
			return fmt.Errorf("%w (%s)", ErrAlreadyRunning, sock)
		}
		if err := os.Remove(sock); err != nil {
			return fmt.Errorf("control: removing stale socket: %w", err)
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("control: cookie: %w", err)
	}
	s.cookie = hex.EncodeToString(b[:])
	if err := securefile.WriteAtomic(CookiePath(s.cfg.DataDir), []byte(s.cookie+"\n"), 0o600); err != nil {
		return fmt.Errorf("control: writing cookie: %w", err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("control: listen on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control: chmod socket: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.done = make(chan struct{})
	s.started = true
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("control server stopped", "err", err)
		}
	}()
	s.log.Info("control API listening", "socket", sock)
	return nil
}

// Close stops serving, removes the socket and the cookie. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
	_ = os.Remove(SocketPath(s.cfg.DataDir))
	_ = os.Remove(CookiePath(s.cfg.DataDir))
	return nil
}

func (s *Server) routes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			writeError(w, fmt.Errorf("%w", ErrUnauthorized), s.log)
			return
		}
		s.cfg.Router.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cookie)) == 1
}

func writeError(w http.ResponseWriter, err error, log *slog.Logger) {
	code, status := "internal", http.StatusInternalServerError
	for _, c := range codes {
		if errors.Is(err, c.err) {
			code, status = c.code, c.status
			break
		}
	}
	if status == http.StatusInternalServerError && log != nil {
		log.Warn("control request error", "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error(), Code: code})
}
