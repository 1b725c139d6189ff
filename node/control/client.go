package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Client talks to a daemon's control socket. The cookie is read from the
// data directory at every request, so a restarted daemon (new cookie) is
// picked up. Safe for concurrent use.
//
// A Client can also talk to a Router in the same process (NewLocalClient):
// a command that finds no daemon runs the node's services itself and uses
// the very same calls, so every command has one code path.
type Client struct {
	dataDir string
	hc      *http.Client
	// local: requests go to this handler in-process (no socket, no
	// cookie).
	local http.Handler
}

// NewLocalClient returns a client whose requests are served by h in this
// process.
func NewLocalClient(h http.Handler) *Client {
	return &Client{local: h, hc: &http.Client{Transport: localTransport{h}}}
}

// localTransport serves a request with an in-process handler.
type localTransport struct{ h http.Handler }

func (t localTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// What a server hands its handlers: never a nil body (a POST without
	// one, TakerRecover, would make the handler read from nil).
	if req.Body == nil {
		req.Body = http.NoBody
	}
	rec := newRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.response(req), nil
}

// NewClient returns a client for the daemon running on dataDir. It does not
// connect: the first request tells whether a daemon runs (ErrNotRunning).
func NewClient(dataDir string) *Client {
	sock := SocketPath(dataDir)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{dataDir: dataDir, hc: &http.Client{Transport: tr}}
}

// DataDir is the daemon's data directory.
func (c *Client) DataDir() string { return c.dataDir }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Running reports whether a daemon answers on the socket (a status request
// succeeds or fails with an API error, not a connection error).
func (c *Client) Running(ctx context.Context) bool {
	_, err := c.Status(ctx)
	return err == nil || !errors.Is(err, ErrNotRunning)
}

// Call runs one request against the API and decodes the reply into Out:
// what a service's own client helpers are built on.
func Call[Out any](ctx context.Context, c *Client, method, path string, in any) (Out, error) {
	var out Out
	err := c.do(ctx, method, path, in, &out)
	return out, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var cookie []byte
	if c.local == nil {
		var err error
		cookie, err = os.ReadFile(CookiePath(c.dataDir))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%w (%s)", ErrNotRunning, c.dataDir)
			}
			return fmt.Errorf("control: reading cookie: %w", err)
		}
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://onionswap"+path, body)
	if err != nil {
		return err
	}
	if c.local == nil {
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(cookie)))
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && isNotRunning(err) {
			return fmt.Errorf("%w (%s): %v", ErrNotRunning, c.dataDir, err)
		}
		return fmt.Errorf("control: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		_ = json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&eb)
		sentinel := ErrInternal
		for _, cd := range codes {
			if cd.code == eb.Code {
				sentinel = cd.err
			}
		}
		msg := eb.Error
		if msg == "" {
			msg = resp.Status
		}
		return &APIError{Status: resp.StatusCode, Msg: msg, sentinel: sentinel}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("control: decoding %s reply: %w", path, err)
	}
	return nil
}

// APIError is an error the daemon returned. errors.Is matches the
// sentinel for its code (ErrNotFound, ErrUnavailable, ...).
type APIError struct {
	Status   int
	Msg      string
	sentinel error
}

func (e *APIError) Error() string { return e.Msg }

// Unwrap gives the sentinel.
func (e *APIError) Unwrap() error { return e.sentinel }

func isNotRunning(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, os.ErrNotExist)
}

// Status returns the node's state.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// WaitReady polls Status every poll until the node reports Ready or ctx
// ends (the error then carries the last state seen).
func (c *Client) WaitReady(ctx context.Context, poll time.Duration) (*Status, error) {
	t := time.NewTicker(poll)
	defer t.Stop()
	var last error
	for {
		s, err := c.Status(ctx)
		if err == nil && s.Ready {
			return s, nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("state %s", s.State)
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("control: waiting for readiness: %w (last: %v)", ctx.Err(), last)
		case <-t.C:
		}
	}
}

// Stop asks the daemon to shut down gracefully; it returns once the
// request is accepted (the socket goes away when the daemon is done).
func (c *Client) Stop(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/stop", Empty{}, nil)
}

// Balances by category.
func (c *Client) Balances(ctx context.Context) (*Balances, error) {
	var b Balances
	return &b, c.do(ctx, http.MethodGet, "/v1/wallet/balances", nil, &b)
}

// Coins of category ("" = all); unspent only unless all.
func (c *Client) Coins(ctx context.Context, category string, all bool) ([]Coin, error) {
	q := url.Values{}
	if category != "" {
		q.Set("category", category)
	}
	if all {
		q.Set("all", "1")
	}
	var out []Coin
	p := "/v1/wallet/coins"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// NewAddress hands out a fresh address of kind (AddressReceive when "").
func (c *Client) NewAddress(ctx context.Context, kind string) (string, error) {
	var r AddressReply
	err := c.do(ctx, http.MethodPost, "/v1/wallet/address", AddressRequest{Kind: kind}, &r)
	return r.Address, err
}

// Send pays from the wallet.
func (c *Client) Send(ctx context.Context, req SendRequest) (*SendReply, error) {
	var r SendReply
	return &r, c.do(ctx, http.MethodPost, "/v1/wallet/send", req, &r)
}

// Swaps lists persisted swaps.
func (c *Client) Swaps(ctx context.Context) ([]SwapInfo, error) {
	var out []SwapInfo
	return out, c.do(ctx, http.MethodGet, "/v1/swaps", nil, &out)
}

// Swap returns one swap.
func (c *Client) Swap(ctx context.Context, id string) (*SwapInfo, error) {
	var s SwapInfo
	return &s, c.do(ctx, http.MethodGet, "/v1/swaps/"+url.PathEscape(id), nil, &s)
}

// TakerSwap runs a swap and waits for its report (bound it with ctx; the
// swap goes on in the daemon if ctx ends first).
func (c *Client) TakerSwap(ctx context.Context, req TakerSwapRequest) (*SwapReport, error) {
	var r SwapReport
	return &r, c.do(ctx, http.MethodPost, "/v1/taker/swap", req, &r)
}

// TakerRecover drives every unfinished taker swap to an end (idempotent).
func (c *Client) TakerRecover(ctx context.Context) (*RecoverReply, error) {
	var r RecoverReply
	return &r, c.do(ctx, http.MethodPost, "/v1/taker/recover", nil, &r)
}

// MakerStatus returns the maker role's state.
func (c *Client) MakerStatus(ctx context.Context) (*MakerStatus, error) {
	var m MakerStatus
	return &m, c.do(ctx, http.MethodGet, "/v1/maker/status", nil, &m)
}

// DirectoryEntries returns the directory role's list.
func (c *Client) DirectoryEntries(ctx context.Context) ([]DirectoryEntry, error) {
	var out []DirectoryEntry
	return out, c.do(ctx, http.MethodGet, "/v1/directory/entries", nil, &out)
}

// recorder is a minimal in-memory http.ResponseWriter for localTransport.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) response(req *http.Request) *http.Response {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return &http.Response{
		StatusCode: r.status, Status: fmt.Sprintf("%d %s", r.status, http.StatusText(r.status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: r.header,
		Body: io.NopCloser(bytes.NewReader(r.body.Bytes())), ContentLength: int64(r.body.Len()), Request: req,
	}
}
