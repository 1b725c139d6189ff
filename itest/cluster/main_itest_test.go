//go:build itest

package cluster

import (
	"os"
	"testing"
)

// clu is the package's cluster: one private Tor network and one regtest
// chain for every test here (started once, stopped after m.Run).
var clu *Cluster

func TestMain(m *testing.M) {
	os.Exit(RunMain(m, Options{}, func(c *Cluster) { clu = c }))
}
