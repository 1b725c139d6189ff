//go:build itest

package tornet

import (
	"bytes"
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNetworkStartStop starts a full network, checks the client settings
// and that Stop leaves no process behind. Running at the same time as the
// tor package's own network (go test runs packages in parallel) is the
// check that two networks do not collide.
func TestNetworkStartStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := Start(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	tm := n.Timings()
	t.Logf("time-to-consensus: %v (keygen %v, phase wait %v, total %v)",
		tm.Consensus.Round(time.Millisecond), tm.KeyGen.Round(time.Millisecond),
		tm.PhaseWait.Round(time.Millisecond), tm.Total.Round(time.Millisecond))
	if got := len(n.PIDs()); got != DefaultAuthorities+DefaultRelays {
		t.Fatalf("%d processes, want %d", got, DefaultAuthorities+DefaultRelays)
	}
	torrc, err := os.ReadFile(n.ClientTorrcPath())
	if err != nil {
		t.Fatal(err)
	}
	if c := bytes.Count(torrc, []byte("DirAuthority ")); c != DefaultAuthorities {
		t.Fatalf("client torrc has %d DirAuthority lines", c)
	}
	if args := strings.Join(n.ClientArgs(), " "); !strings.HasPrefix(args, "--TestingTorNetwork 1 --PathsNeededToBuildCircuits 0.95 --LearnCircuitBuildTimeout 0 --CircuitBuildTimeout 10 --DirAuthority a0 ") {
		t.Fatalf("client args: %s", args)
	}
	pids := n.PIDs()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("pid %d still exists after Stop", pid)
		}
	}
}

// TestRun checks the command entry: it prints the settings and stops
// everything when its context is cancelled.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, dir, &out) }()
	deadline := time.After(3 * time.Minute)
	for !strings.Contains(out.String(), "running until interrupted") {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v\n%s", err, out.String())
		case <-deadline:
			cancel()
			t.Fatalf("Run not ready:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--DirAuthority") {
		t.Fatalf("output lacks client args:\n%s", out.String())
	}
	t.Logf("Run output:\n%s", out.String())
}
