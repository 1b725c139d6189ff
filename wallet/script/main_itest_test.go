//go:build itest

package script

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/onionswap/onionswap/wallet/chain/regtest"
)

// node is the one btcd regtest node shared by this package's itests. Tests
// run sequentially: they mine blocks and reason about exact heights.
var node *regtest.Node

// startTimeout bounds btcd's start (a cold `go tool btcd` build included).
const startTimeout = 3 * time.Minute

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	n, err := regtest.Start(ctx, regtest.Options{})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start btcd regtest: %v\n", err)
		return 1
	}
	defer n.Stop() // also when a test fails; Stop is SIGTERM + wait
	node = n
	return m.Run()
}
