//go:build itest

package tor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/onionswap/onionswap/tor/tornet"
)

// The package's integration tests share ONE private Tor network, started
// here and stopped after m.Run(), also on failure and on SIGINT/SIGTERM.
var (
	testNet  *tornet.Network
	itestDir string // everything the tests start lives under it

	pidMu   sync.Mutex
	torPIDs = map[int]string{} // every tor pid the tests saw, for the leak check
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) (code int) {
	var err error
	itestDir, err = os.MkdirTemp("", "onionswap-tor-itest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	testNet, err = tornet.Start(ctx, tornet.Options{Dir: filepath.Join(itestDir, "net")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "private tor network:", err)
		return 1
	}
	for _, p := range testNet.PIDs() {
		recordPID(p, "network")
	}
	// A signal ends the process without running defers: stop tor first.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sig; ok {
			testNet.Stop()
			os.Exit(130)
		}
	}()
	defer func() {
		signal.Stop(sig)
		close(sig)
		if err := testNet.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping network:", err)
			code = 1
		}
		if leaks := leftoverTors(); len(leaks) > 0 {
			fmt.Fprintln(os.Stderr, "tor processes left behind:", leaks)
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "leak check: none of the %d tor processes seen is left\n", len(torPIDs))
		}
		if code == 0 {
			os.RemoveAll(itestDir)
		} else {
			fmt.Fprintln(os.Stderr, "kept for inspection:", itestDir)
		}
	}()
	tm := testNet.Timings()
	fmt.Fprintf(os.Stderr, "time-to-consensus: %v (keygen %v, phase wait %v, network ready after %v)\n",
		tm.Consensus.Round(time.Millisecond), tm.KeyGen.Round(time.Millisecond),
		tm.PhaseWait.Round(time.Millisecond), tm.Total.Round(time.Millisecond))
	return m.Run()
}

func recordPID(pid int, what string) {
	if pid == 0 {
		return
	}
	pidMu.Lock()
	defer pidMu.Unlock()
	torPIDs[pid] = what
}

// leftoverTors lists every live process that is one of the recorded tor
// pids or whose command line mentions our test directory.
func leftoverTors() []string {
	var left []string
	pidMu.Lock()
	defer pidMu.Unlock()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if st, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); strings.Contains(string(st), ") Z ") {
			continue // a zombie is gone, just not reaped by its parent
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if _, seen := torPIDs[pid]; seen || strings.Contains(cmd, itestDir) {
			left = append(left, fmt.Sprintf("%d: %s", pid, cmd))
		}
	}
	return left
}

// testLogger logs through t, at Info (Debug with ONIONSWAP_TOR_DEBUG=1).
func testLogger(t testing.TB, name string) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("ONIONSWAP_TOR_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level})).With("node", name)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
