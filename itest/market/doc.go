// Package market holds the marketplace's integration tests (issue 12):
// real onionswap processes on a private Tor network and a btcd regtest
// chain (itest/cluster), makers publishing their offers on the message
// pool and a taker swapping from its book, with no directory to ask.
package market
