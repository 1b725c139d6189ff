package daemon

import "time"

// PoolDBName is the message pool's database inside the data directory.
const PoolDBName = "pool.db"

// PoolConfig configures the message pool (node/pool) of a maker or taker
// node. Zero values take the pool's defaults (node/pool/params.go: 8
// outbound, 24 peers in all, 2 protected outbound slots, a 1 s / 2.5 s
// trickle). Command-line flags for it are a follow-up; until then it is
// set in code (tests) and Bootstrap is the only way in.
type PoolConfig struct {
	// Disabled: run no pool (a node that only swaps).
	Disabled bool
	// Bootstrap: pool peer addresses "host.onion:port" to dial first.
	// Directory-provided peer samples are a follow-up (they need a
	// directory protocol message).
	Bootstrap []string
	// Outbound connections and MaxPeers in all (0: defaults).
	Outbound int
	MaxPeers int
	// TrickleOutbound / TrickleInbound: mean announcement delays (0:
	// defaults); regtest tests shorten them.
	TrickleOutbound time.Duration
	TrickleInbound  time.Duration
}
