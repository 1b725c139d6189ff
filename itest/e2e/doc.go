// Package e2e holds onionswap's end-to-end CoinSwap tests and the swap
// benchmark: real onionswap processes (itest/cluster), each with its own
// managed tor on one private Tor network, over one btcd regtest chain.
// Everything is behind the itest build tag:
//
//	go test -tags itest ./itest/e2e/                                   # the tests
//	go test -tags itest -run '^$' -bench BenchmarkSwap ./itest/e2e/    # the benchmark
//
// Every test asserts exact balances computed from the actual transactions
// (fees read from the chain), never within a tolerance.
package e2e
