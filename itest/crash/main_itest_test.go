//go:build itest

package crash

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
)

// clu is the package's cluster: one private Tor network, one regtest
// chain, one directory and two healthy makers shared by every test.
var clu *cluster.Cluster

func TestMain(m *testing.M) {
	var dir string
	stopMiner := func() {}
	code := cluster.RunMain(m, cluster.Options{}, func(c *cluster.Cluster) {
		clu, dir = c, c.Dir()
		stopMiner = startMiner(c)
	})
	stopMiner()
	if left := leftovers(dir, 30*time.Second); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "processes of the package left after the cluster stopped:\n%s\n", strings.Join(left, "\n"))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// leftovers lists the processes whose command line names the cluster's
// directory (onionswap, their managed tors, the tor network, btcd),
// waiting up to wait for them to go (a managed tor exits by itself once
// its owning process is gone).
func leftovers(dir string, wait time.Duration) []string {
	if dir == "" {
		return nil
	}
	deadline := time.Now().Add(wait)
	for {
		var left []string
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if e.Name()[0] < '0' || e.Name()[0] > '9' {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || len(b) == 0 {
				continue
			}
			st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				continue // a zombie is already dead
			}
			cmd := strings.ReplaceAll(string(b), "\x00", " ")
			if strings.Contains(cmd, dir) {
				left = append(left, e.Name()+": "+cmd)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// The package's miner: blocks as soon as the mempool holds transactions,
// and, while some test waits for a timelock (timeWanted > 0), one block
// every timeBlockInterval.
//
// timeBlockInterval: the engine's reaction window is 20 blocks (locktime
// step 20, reaction time 20); parties run a recovery pass on every block
// their watcher sees (0.5 s chain poll here; the 10 s recovery timer is
// only the fallback). At 1.5 s per block the 20-block window lasts 30 s:
// a party on a loaded machine late by several seconds, or by a whole
// timer pass, still acts in time, as it would with 10-minute blocks.
const (
	timeBlockInterval = 1500 * time.Millisecond
	minerTick         = 300 * time.Millisecond
)

var timeWanted atomic.Int32

// minerHeld stops the package miner (a test that needs a transaction to
// stay unconfirmed for a moment); the harness can still mine by hand.
var minerHeld atomic.Bool

// wantTime marks the caller as waiting for blocks to pass; the returned
// func ends it.
func wantTime() func() {
	timeWanted.Add(1)
	var once sync.Once
	return func() { once.Do(func() { timeWanted.Add(-1) }) }
}

func startMiner(c *cluster.Cluster) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := time.Now()
		t := time.NewTicker(minerTick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if minerHeld.Load() {
				continue
			}
			ids, err := c.Backend().MempoolTxids(ctx)
			if err != nil {
				continue
			}
			if len(ids) == 0 && (timeWanted.Load() == 0 || time.Since(last) < timeBlockInterval) {
				continue
			}
			if _, err := c.Mine(ctx, 1); err == nil {
				last = time.Now()
			}
		}
	}()
	return func() { cancel(); <-done }
}
