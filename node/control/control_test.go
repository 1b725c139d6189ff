package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type fakeHandler struct {
	sends atomic.Int32
}

// router registers the fake's endpoints the way a daemon and its services
// do; directory entries are not registered (a maker node has none).
func (f *fakeHandler) router() *Router {
	r := NewRouter(nil)
	Get(r, "/v1/status", func(context.Context, Request) (*Status, error) {
		return &Status{Role: "maker", Network: "regtest", State: StateReady, Ready: true, Healthy: true, TipHeight: 500}, nil
	})
	Get(r, "/v1/wallet/balances", func(context.Context, Request) (*Balances, error) {
		return &Balances{Categories: map[string]Balance{"regular": {Confirmed: 1000, Unconfirmed: 5}}, Height: 500}, nil
	})
	Get(r, "/v1/wallet/coins", func(_ context.Context, q Request) ([]Coin, error) {
		if cat := q.Query.Get("category"); cat == "bogus" {
			return nil, fmt.Errorf("%w: unknown category %q", ErrBadRequest, cat)
		}
		return []Coin{{OutPoint: "aa:0", Value: 1000, Category: "regular", Reserved: q.Query.Get("all") == "1"}}, nil
	})
	Post(r, "/v1/wallet/send", func(_ context.Context, req SendRequest) (*SendReply, error) {
		f.sends.Add(1)
		if req.Amount <= 0 {
			return nil, fmt.Errorf("%w: amount must be positive", ErrBadRequest)
		}
		return &SendReply{Txid: "ff", Fee: 141}, nil
	})
	Get(r, "/v1/swaps/{id}", func(_ context.Context, q Request) (*SwapInfo, error) {
		if id := q.PathValue("id"); id != "abc" {
			return nil, fmt.Errorf("swap %s: %w", id, ErrNotFound)
		} else {
			return &SwapInfo{ID: id, Phase: "complete", Final: true}, nil
		}
	})
	Post(r, "/v1/taker/recover", func(context.Context, Empty) (*RecoverReply, error) {
		return nil, errors.New("boom")
	})
	Get(r, "/v1/maker/status", func(context.Context, Request) (*MakerStatus, error) {
		return nil, fmt.Errorf("%w: chain backend down", ErrUnavailable)
	})
	return r
}

func startServer(t *testing.T) (*Server, *Client, *fakeHandler) {
	t.Helper()
	dir := t.TempDir()
	h := &fakeHandler{}
	s, err := NewServer(ServerConfig{DataDir: dir, Router: h.router()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := NewClient(dir)
	t.Cleanup(c.Close)
	return s, c, h
}

func TestControlAPI(t *testing.T) {
	_, c, h := startServer(t)
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil || !st.Ready || st.Role != "maker" || st.TipHeight != 500 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if !c.Running(ctx) {
		t.Fatal("Running = false")
	}
	b, err := c.Balances(ctx)
	if err != nil || b.Categories["regular"].Total() != 1005 {
		t.Fatalf("balances = %+v, %v", b, err)
	}
	coins, err := c.Coins(ctx, "regular", true)
	if err != nil || len(coins) != 1 || !coins[0].Reserved {
		t.Fatalf("coins = %+v, %v", coins, err)
	}

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"bad category", func() error { _, err := c.Coins(ctx, "bogus", false); return err }, ErrBadRequest},
		{"bad amount", func() error { _, err := c.Send(ctx, SendRequest{Address: "x"}); return err }, ErrBadRequest},
		{"unknown swap", func() error { _, err := c.Swap(ctx, "nope"); return err }, ErrNotFound},
		{"no such endpoint", func() error { _, err := c.DirectoryEntries(ctx); return err }, ErrNotAvailable},
		{"unavailable", func() error { _, err := c.MakerStatus(ctx); return err }, ErrUnavailable},
		{"internal", func() error { _, err := c.TakerRecover(ctx); return err }, ErrInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if s, err := c.Swap(ctx, "abc"); err != nil || s.Phase != "complete" {
		t.Fatalf("swap = %+v, %v", s, err)
	}
	if r, err := c.Send(ctx, SendRequest{Address: "x", Amount: 5}); err != nil || r.Fee != 141 {
		t.Fatalf("send = %+v, %v", r, err)
	}
	if h.sends.Load() != 2 {
		t.Fatalf("sends = %d", h.sends.Load())
	}
}

func TestControlFileModes(t *testing.T) {
	s, _, _ := startServer(t)
	for _, p := range []string{SocketPath(s.cfg.DataDir), CookiePath(s.cfg.DataDir)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode %#o, want 0600", filepath.Base(p), perm)
		}
	}
}

func TestControlAuth(t *testing.T) {
	s, _, _ := startServer(t)
	sock := SocketPath(s.cfg.DataDir)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	tests := []struct {
		name, auth string
		want       int
	}{
		{"no cookie", "", http.StatusUnauthorized},
		{"wrong cookie", "Bearer " + strings.Repeat("0", 64), http.StatusUnauthorized},
		{"basic", "Basic " + s.cookie, http.StatusUnauthorized},
		{"right cookie", "Bearer " + s.cookie, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://x/v1/status", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	// Unknown fields are refused (typos in requests must not be ignored).
	req, _ := http.NewRequest(http.MethodPost, "http://x/v1/wallet/send", strings.NewReader(`{"adress":"x","amount":1}`))
	req.Header.Set("Authorization", "Bearer "+s.cookie)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown field: status %d", resp.StatusCode)
	}
}

func TestControlLifecycle(t *testing.T) {
	dir := t.TempDir()
	c := NewClient(dir)
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Status(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no daemon: err = %v", err)
	}
	s1, _ := NewServer(ServerConfig{DataDir: dir, Router: (&fakeHandler{}).router()})
	if err := s1.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Start(); err != nil { // idempotent
		t.Fatal(err)
	}
	s2, _ := NewServer(ServerConfig{DataDir: dir, Router: (&fakeHandler{}).router()})
	if err := s2.Start(); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second server: err = %v", err)
	}
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	s1.Close()
	if _, err := c.Status(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after close: err = %v", err)
	}

	// A stale socket (a SIGKILLed daemon) is replaced at the next start.
	ln, err := net.Listen("unix", SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if err := os.WriteFile(CookiePath(dir), []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stale socket: err = %v", err)
	}
	s3, _ := NewServer(ServerConfig{DataDir: dir, Router: (&fakeHandler{}).router()})
	if err := s3.Start(); err != nil {
		t.Fatalf("start over stale socket: %v", err)
	}
	defer s3.Close()
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.WaitReady(ctx2, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestSocketPathTooLong(t *testing.T) {
	_, err := NewServer(ServerConfig{DataDir: "/tmp/" + strings.Repeat("d", 120), Router: (&fakeHandler{}).router()})
	if !errors.Is(err, ErrSocketPath) {
		t.Fatalf("err = %v", err)
	}
}

// TestLocalClientEmptyPost: a POST without a body through the in-process
// client reaches its handler as it would through the socket (one-shot
// `taker recover` posts none).
func TestLocalClientEmptyPost(t *testing.T) {
	r := NewRouter(nil)
	called := false
	Post(r, "/v1/x", func(context.Context, Empty) (Empty, error) {
		called = true
		return Empty{}, nil
	})
	c := NewLocalClient(r)
	defer c.Close()
	if _, err := Call[Empty](context.Background(), c, http.MethodPost, "/v1/x", nil); err != nil || !called {
		t.Fatalf("err %v, called %t", err, called)
	}
}
