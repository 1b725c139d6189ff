//go:build itest

package taker_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/onionswap/onionswap/wallet/chain/regtest"
)

// node is the package's btcd regtest node, started once in TestMain and
// stopped (by PID, through Node.Stop) after the tests, also on failure.
var node *regtest.Node

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var err error
	node, err = regtest.Start(ctx, regtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "regtest:", err)
		return 1
	}
	defer node.Stop()
	return m.Run()
}
