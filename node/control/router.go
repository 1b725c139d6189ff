package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
)

// Router holds a node's control endpoints: the daemon's own (status,
// wallet, stop) and those each service registers (node/service.Controlled).
// Endpoints are typed functions; the Router does the JSON, the error
// codes and the body limit. Safe for concurrent use; registering the same
// route twice panics (a programming error found at start-up).
type Router struct {
	mux *http.ServeMux
	log *slog.Logger

	mu     sync.Mutex
	routes []string
}

// NewRouter returns an empty router. log receives failed requests at
// debug and internal errors at warn (nil: slog.Default()).
func NewRouter(log *slog.Logger) *Router {
	if log == nil {
		log = slog.Default().With("subsystem", "control")
	}
	r := &Router{mux: http.NewServeMux(), log: log}
	// An endpoint nobody registered: the node does not run the service
	// it belongs to (maker status asked of a directory).
	r.mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, fmt.Errorf("%w: %s %s", ErrNotAvailable, req.Method, req.URL.Path), nil)
	})
	return r
}

// Routes lists the registered "METHOD /path" patterns, sorted.
func (r *Router) Routes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.routes...)
	sort.Strings(out)
	return out
}

func (r *Router) handle(method, path string, h http.HandlerFunc) {
	pattern := method + " " + path
	r.mu.Lock()
	r.routes = append(r.routes, pattern)
	r.mu.Unlock()
	r.mux.HandleFunc(pattern, h)
}

// ServeHTTP serves an already authorized request.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	req.Body = http.MaxBytesReader(w, req.Body, maxBody)
	r.mux.ServeHTTP(w, req)
}

// Request is what a GET endpoint sees of its request: the query and the
// path values ({id}).
type Request struct {
	Query url.Values
	path  func(string) string
}

// PathValue returns the {name} segment of the route.
func (q Request) PathValue(name string) string { return q.path(name) }

// Get registers a GET endpoint.
func Get[Out any](r *Router, path string, fn func(ctx context.Context, q Request) (Out, error)) {
	r.handle(http.MethodGet, path, func(w http.ResponseWriter, req *http.Request) {
		out, err := fn(req.Context(), Request{Query: req.URL.Query(), path: req.PathValue})
		r.reply(w, req, out, err)
	})
}

// Post registers a POST endpoint whose JSON body decodes into In (an
// empty body is In's zero value; unknown fields are refused).
func Post[In, Out any](r *Router, path string, fn func(ctx context.Context, in In) (Out, error)) {
	r.handle(http.MethodPost, path, func(w http.ResponseWriter, req *http.Request) {
		var in In
		dec := json.NewDecoder(req.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, fmt.Errorf("%w: %v", ErrBadRequest, err), nil)
			return
		}
		out, err := fn(req.Context(), in)
		r.reply(w, req, out, err)
	})
}

// Empty is the request or reply of an endpoint that carries none.
type Empty struct{}

func (r *Router) reply(w http.ResponseWriter, req *http.Request, v any, err error) {
	if err != nil {
		r.log.Debug("control request failed", "method", req.Method, "path", req.URL.Path, "err", err)
		writeError(w, err, r.log)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		r.log.Debug("control reply", "err", err)
	}
}
