// Package coinjoin is the integration test of the CoinJoin (issue 14):
// six takers on the private Tor network and a btcd regtest chain announce
// on their pools and mix, with one of them a disruptor in turn (a
// non-signer, an output alterer, a peer killed in the middle), and a
// stranger floods the announcement topic. Run with -tags itest.
package coinjoin
