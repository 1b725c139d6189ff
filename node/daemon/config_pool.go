package daemon

import (
	"time"

	"github.com/onionswap/onionswap/node/pool"
)

// PoolDBName is the message pool's database inside the data directory.
const PoolDBName = "pool.db"

// PoolConfig configures the message pool (node/pool) of a maker or taker
// node. Zero values take the pool's defaults (node/pool/params.go: 8
// outbound, 24 peers in all, 2 protected outbound slots, a 1 s / 2.5 s
// trickle). The pool's peers come from Bootstrap (--pool-peer), then its
// persisted peer table, then the node's directories (pool.Config.Seeds).
type PoolConfig struct {
	// Disabled: run no pool (a node that only swaps).
	Disabled bool
	// Bootstrap: pool peer addresses "host.onion:port" to dial first.
	Bootstrap []string
	// Outbound connections (--pool-outbound) and MaxPeers in all (0:
	// defaults).
	Outbound int
	MaxPeers int
	// TrickleOutbound / TrickleInbound: mean announcement delays (0:
	// defaults); regtest tests shorten them.
	TrickleOutbound time.Duration
	TrickleInbound  time.Duration
}

func (pc *PoolConfig) validate() error {
	if pc.Outbound < 0 || pc.Outbound > pool.DefaultMaxPeers {
		return cfgErr("--pool-outbound %d: want 0 (default %d) to %d", pc.Outbound, pool.DefaultOutbound, pool.DefaultMaxPeers)
	}
	return nil
}
