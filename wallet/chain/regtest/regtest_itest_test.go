//go:build itest

package regtest

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/onionswap/onionswap/wallet/chain"
)

// One node for the whole package; the test covers the harness API end to
// end and checks that Stop leaves no process and no goroutine behind.
func TestHarness(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	n, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start (incl. %d-block bootstrap): %v", BootstrapBlocks, time.Since(t0))
	stopped := false
	defer func() {
		if !stopped {
			n.Stop()
		}
	}()
	b := n.Backend()
	tip, _, err := b.Tip(ctx)
	if err != nil || tip != BootstrapBlocks {
		t.Fatalf("tip %d, %v", tip, err)
	}

	// Fund a few addresses, including one amount larger than a coinbase.
	for _, amt := range []btcutil.Amount{10_000, 1e8, 120e8} {
		tx, err := n.Fund(ctx, n.Faucet(), amt)
		if err != nil {
			t.Fatalf("fund %v: %v", amt, err)
		}
		if tx.TxOut[0].Value != int64(amt) {
			t.Fatalf("first output %d, want %d", tx.TxOut[0].Value, amt)
		}
		if _, st, err := b.Tx(ctx, tx.TxHash()); err != nil || !st.InMempool {
			t.Fatalf("funding tx not in the mempool: %+v %v", st, err)
		}
	}
	if hs, err := n.Mine(ctx, 2); err != nil || len(hs) != 2 {
		t.Fatalf("mine: %v %v", hs, err)
	}

	// Pause: the relay refuses, the direct connection still works.
	n.Pause()
	c, err := net.DialTimeout("tcp", n.RPCConfig().Host, time.Second)
	if err == nil {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, rerr := c.Read(make([]byte, 1)); rerr == nil {
			t.Fatal("paused relay answered")
		}
		c.Close()
	}
	if _, err := n.Mine(ctx, 1); err != nil {
		t.Fatalf("mine while paused: %v", err)
	}
	n.Resume()
	if _, _, err := b.Tip(ctx); err != nil {
		t.Fatalf("after resume: %v", err)
	}

	// Reorg helpers.
	tipH, tipHash, _ := b.Tip(ctx)
	if err := n.InvalidateBlock(ctx, tipHash); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := b.Tip(ctx); h != tipH-1 {
		t.Fatalf("tip after invalidate %d, want %d", h, tipH-1)
	}
	if err := n.ReconsiderBlock(ctx, tipHash); err != nil {
		t.Fatal(err)
	}
	if _, h, _ := b.Tip(ctx); h != tipHash {
		t.Fatalf("tip after reconsider %v, want %v", h, tipHash)
	}

	pid, dir := n.PID(), n.Dir()
	n.Stop()
	n.Stop()
	stopped = true
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(st), ") Z") {
		t.Fatalf("btcd %d still running", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp dir %s not removed: %v", dir, err)
	}
	if _, _, err := b.Tip(ctx); !errors.Is(err, chain.ErrClosed) {
		t.Fatalf("backend after Stop: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines %d > %d:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBtcdPathCached(t *testing.T) {
	ctx := context.Background()
	p1, err := BtcdPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	p2, err := BtcdPath(ctx)
	if err != nil || p1 != p2 || time.Since(t0) > 10*time.Millisecond {
		t.Fatalf("%q %q %v %v", p1, p2, err, time.Since(t0))
	}
}
