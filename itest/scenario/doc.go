// Package scenario holds onionswap's failure-scenario tests (issue 6,
// item 6): real onionswap processes (itest/cluster) over the private Tor
// network and one btcd regtest chain, each scenario a TestScenario*
// function driving a swap into a failure (fault injection through the
// regtest-only --fault flag, or killing a process) and asserting exact
// balances computed from the actual transactions: every contract balance
// zero, every honest party at its starting balance minus its own mining
// fees and the fees it agreed to pay, and the swap either completed for
// everyone or refunded for everyone honest. Everything is behind the
// itest build tag:
//
//	go test -tags itest ./itest/scenario/
//
// Crash/restart at each persisted phase and the chain-outage scenario are
// in itest/crash.
package scenario
