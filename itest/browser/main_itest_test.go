//go:build itest

package browser

import (
	"os"
	"testing"

	"github.com/onionswap/onionswap/itest/cluster"
)

// clu: one private Tor network and one regtest chain for the package.
var clu *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(cluster.RunMain(m, cluster.Options{}, func(c *cluster.Cluster) { clu = c }))
}
