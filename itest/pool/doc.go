// Package pool tests the message pool between real onionswap processes
// (itest/cluster) on a private Tor network and a btcd regtest chain, all
// on 127.0.0.1: eight pool nodes (a maker and seven takers) in a sparse
// ring, each dialing two peers (--pool-outbound 2), plus a late joiner
// that finds the pool through the directory, and the test process itself
// as a hostile pool peer through its own tor client. Behind the itest
// build tag:
//
//	go test -tags itest -count=1 -v ./itest/pool/
//
// What it checks: a message published at one node reaches all (arrival
// latency per node logged); removal and expiry take effect everywhere; a
// late joiner and a node restarted after missing messages get the whole
// pool by sync; a peer flooding ≥ 10,000 envelopes per second is banned
// within seconds while an honest message published during the flood
// still reaches every node; malformed, forged, oversized, future-dated,
// replayed and stale envelopes are refused with their reason, and the
// honest nodes keep relaying.
package pool
