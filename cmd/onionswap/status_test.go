package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/control"
)

// fakeNode serves a control API on dir's socket, as a daemon would: its
// status is st, and /v1/stop closes it after the reply.
type fakeNode struct {
	mu      sync.Mutex
	st      control.Status
	srv     *control.Server
	stopped chan struct{}
}

func startFakeNode(t *testing.T, dir string, st control.Status) *fakeNode {
	t.Helper()
	f := &fakeNode{st: st, stopped: make(chan struct{})}
	r := control.NewRouter(slog.New(slog.DiscardHandler))
	control.Get(r, "/v1/status", func(context.Context, control.Request) (*control.Status, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		s := f.st
		return &s, nil
	})
	control.Post(r, "/v1/stop", func(context.Context, control.Empty) (control.Empty, error) {
		go func() {
			time.Sleep(300 * time.Millisecond) // a daemon takes a moment to stop
			f.srv.Close()
			close(f.stopped)
		}()
		f.mu.Lock()
		f.st.State = control.StateStopping
		f.mu.Unlock()
		return control.Empty{}, nil
	})
	srv, err := control.NewServer(control.ServerConfig{DataDir: dir, Router: r, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	t.Cleanup(func() { srv.Close() })
	return f
}

// readyLine reports whether out's first line is "ready <want>".
func readyLine(out, want string) bool {
	first, _, _ := strings.Cut(out, "\n")
	return strings.HasPrefix(first, "ready ") && strings.TrimSpace(strings.TrimPrefix(first, "ready ")) == want
}

func (f *fakeNode) set(st control.Status) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
}

// TestStatusExitAndBlockers: status says what blocks readiness, one line
// per service, and exits 0 only when the node is ready.
func TestStatusExitAndBlockers(t *testing.T) {
	dir := t.TempDir()
	notReady := control.Status{Role: "maker", Network: "regtest", State: control.StateReady, Healthy: true,
		Blocker: "maker: waiting for 500000 sat to fund the fidelity bond",
		Services: map[string]control.Readiness{
			"maker":     {Blocker: "waiting for 500000 sat to fund the fidelity bond"},
			"offerpool": {Ready: true},
		}}
	f := startFakeNode(t, dir, notReady)

	code, out, errs := cli(t, "", "status", "--datadir", dir)
	if code != 1 || errs != "" {
		t.Fatalf("not ready: exit %d, stderr %q", code, errs)
	}
	if !readyLine(out, "no: maker: waiting for 500000 sat to fund the fidelity bond") ||
		!strings.Contains(out, "services:\n  maker: waiting for 500000 sat to fund the fidelity bond\n  offerpool ready\n") {
		t.Fatalf("status does not say what blocks:\n%s", out)
	}
	code, out, _ = cli(t, "", "status", "--datadir", dir, "--json")
	var s control.Status
	if code != 1 || json.Unmarshal([]byte(out), &s) != nil || s.Blocker != notReady.Blocker {
		t.Fatalf("--json not ready: exit %d:\n%s", code, out)
	}

	ready := notReady
	ready.Ready, ready.Blocker = true, ""
	ready.Services = map[string]control.Readiness{"maker": {Ready: true}}
	f.set(ready)
	code, out, _ = cli(t, "", "status", "--datadir", dir)
	if code != 0 || !readyLine(out, "yes") || !strings.Contains(out, "  maker ready\n") {
		t.Fatalf("ready: exit %d:\n%s", code, out)
	}

	// --wait: a node that becomes ready within the wait.
	f.set(notReady)
	go func() {
		time.Sleep(700 * time.Millisecond)
		f.set(ready)
	}()
	if code, out, _ = cli(t, "", "status", "--datadir", dir, "--wait", "30s"); code != 0 {
		t.Fatalf("--wait: exit %d:\n%s", code, out)
	}
	// --wait that ends first: the last state, exit 1.
	f.set(notReady)
	if code, out, _ = cli(t, "", "status", "--datadir", dir, "--wait", "600ms"); code != 1 || !readyLine(out, "no: maker: waiting for 500000 sat to fund the fidelity bond") {
		t.Fatalf("--wait timeout: exit %d:\n%s", code, out)
	}
}

// TestStop: `onionswap stop` asks the node to stop and returns once its
// socket is gone.
func TestStop(t *testing.T) {
	dir := t.TempDir()
	f := startFakeNode(t, dir, control.Status{})
	t0 := time.Now()
	code, out, errs := cli(t, "", "stop", "--datadir", dir)
	if took := time.Since(t0); took < 250*time.Millisecond {
		t.Fatalf("stop returned after %s, before the node stopped", took)
	}
	if code != 0 || errs != "" || !strings.HasSuffix(out, "stopped\n") {
		t.Fatalf("stop: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	select {
	case <-f.stopped: // (closed right after the socket is removed)
	case <-time.After(5 * time.Second):
		t.Fatal("the node never stopped")
	}
	if _, err := os.Stat(control.SocketPath(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket: %v", err)
	}
	code, _, errs = cli(t, "", "stop", "--datadir", dir)
	if code != 1 || errs != "onionswap stop: no daemon running on "+dir+"\n" {
		t.Fatalf("second stop: exit %d, %q", code, errs)
	}
}
