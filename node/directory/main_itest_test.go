//go:build itest

package directory

import (
	"context"
	"fmt"
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
	"github.com/onionswap/onionswap/wallet/chain/regtest"
)

// The package's integration tests share ONE btcd regtest node and ONE
// private Tor network, started here and stopped after m.Run() (also on
// failure and on SIGINT/SIGTERM), then checked for leftover processes.
var (
	node     *regtest.Node
	testTor  *tornet.Network
	itestDir string

	pidMu   sync.Mutex
	seenPID = map[int]string{}
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) (code int) {
	t0 := time.Now()
	var err error
	itestDir, err = os.MkdirTemp("", "onionswap-directory-itest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var stopMu sync.Mutex
	stopAll := func() {
		stopMu.Lock()
		defer stopMu.Unlock()
		if testTor != nil {
			if err := testTor.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "stopping tor network:", err)
			}
		}
		if node != nil {
			node.Stop()
		}
	}
	go func() {
		if _, ok := <-sig; ok {
			stopAll()
			os.Exit(130)
		}
	}()
	defer func() {
		signal.Stop(sig)
		close(sig)
		stopAll()
		if left := leftovers(); len(left) > 0 {
			fmt.Fprintln(os.Stderr, "processes left behind:", left)
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "leak check: none of the %d tor/btcd processes seen is left\n", len(seenPID))
		}
		if code == 0 {
			os.RemoveAll(itestDir)
		} else {
			fmt.Fprintln(os.Stderr, "kept for inspection:", itestDir)
		}
		fmt.Fprintf(os.Stderr, "directory itest wall time: %v\n", time.Since(t0).Round(time.Millisecond))
	}()

	// btcd and the Tor network start in parallel.
	var wg sync.WaitGroup
	var nodeErr, torErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		node, nodeErr = regtest.Start(ctx, regtest.Options{Dir: filepath.Join(itestDir, "btcd")})
		if nodeErr == nil {
			recordPID(node.PID(), "btcd")
		}
	}()
	go func() {
		defer wg.Done()
		testTor, torErr = tornet.Start(ctx, tornet.Options{Dir: filepath.Join(itestDir, "tornet")})
		if torErr == nil {
			for _, p := range testTor.PIDs() {
				recordPID(p, "tornet")
			}
		}
	}()
	wg.Wait()
	if nodeErr != nil || torErr != nil {
		fmt.Fprintln(os.Stderr, "setup: btcd:", nodeErr, "tor network:", torErr)
		return 1
	}
	fmt.Fprintf(os.Stderr, "btcd regtest and private tor network ready in %v (tor consensus %v)\n",
		time.Since(t0).Round(time.Millisecond), testTor.Timings().Consensus.Round(time.Millisecond))
	return m.Run()
}

func recordPID(pid int, what string) {
	if pid == 0 {
		return
	}
	pidMu.Lock()
	defer pidMu.Unlock()
	seenPID[pid] = what
}

// leftovers lists live processes that are one of the recorded pids or
// whose command line mentions our test directory (zombies excluded).
func leftovers() []string {
	pidMu.Lock()
	defer pidMu.Unlock()
	var left []string
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
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if _, seen := seenPID[pid]; seen || strings.Contains(cmd, itestDir) {
			left = append(left, fmt.Sprintf("%d: %s", pid, cmd))
		}
	}
	return left
}
