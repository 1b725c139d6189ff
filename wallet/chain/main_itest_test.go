//go:build itest

package chain_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/onionswap/onionswap/wallet/chain/regtest"
)

// node is the package's btcd regtest node, started once in TestMain.
var node *regtest.Node

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	var err error
	node, err = regtest.Start(ctx, regtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "regtest:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "regtest node ready in %v (pid %d)\n", time.Since(t0), node.PID())
	func() {
		defer node.Stop() // also when a test panics
		code = m.Run()
	}()
	// Leak check: every watcher, RPC call and relay goroutine is gone.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutine leak: %d before, %d after:\n%s\n", before, runtime.NumGoroutine(),
				buf[:runtime.Stack(buf, true)])
			return 1
		}
		time.Sleep(10 * time.Millisecond)
	}
	return code
}
