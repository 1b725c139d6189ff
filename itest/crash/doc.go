// Package crash holds onionswap's crash-and-restart and chain-outage
// scenario tests (issue 6): real onionswap processes (itest/cluster), each
// with its own managed tor on one private Tor network, over one btcd
// regtest chain. Everything is behind the itest build tag:
//
//	go test -tags itest ./itest/crash/
//
// TestScenarioCrashRestart kills (SIGKILL, the crash-after=<phase> fault)
// the taker, and separately the maker at route position 1 and at position
// 2, right after each phase its role commits, restarts it from its data
// directory without the fault, and checks the swap completes or refunds
// for everyone with exact balances. TestScenarioTakerRecoverIdempotent
// crashes the taker in the middle of its recovery and runs `onionswap
// taker recover` twice. The TestScenarioChainOutage* tests make the chain
// unreachable during the funding wait and during recovery.
//
// Balances are exact: for each party and swap, the wallet's change is
// derived from the actual transactions (funding fees read from the chain,
// the values of the sweeps, claims and refunds) and must match the wallet
// to the satoshi; a completed swap must move exactly the agreed fees, a
// refunded one must cost exactly the party's own mining fees.
package crash
