// Package coinjoin is onionswap's CoinJoin (seed 002, issue 14): T or more
// peers build one transaction with equal outputs and no change, with no
// coordinator.
//
// What exists so far is the round's transaction (tx.go): the rules every
// participant applies before it signs. The announcements, the passes that
// register outputs and inputs, the signatures and the blame rounds that
// use them are not built yet.
//
// # The transaction
//
// Every participant brings one P2WPKH coin and gets one P2WPKH output of
// the round's denomination; there is no change. Its fee is its input less
// the denomination: at least its share of the transaction's fee at the
// round's rate (its input, its output and 1/n of the overhead), at most
// Band more, which goes to the miners too (Joinstr's rule: inputs of
// denomination + 500 … + 5,000 sat). So every output looks alike and no
// output's amount tells which input paid for it. Inputs and outputs are
// in BIP69 order, so every participant builds the same transaction from
// the same lists, and a participant signs (SIGHASH_ALL) only after
// CheckMine found its own input and output in it, every output at the
// denomination, nothing else, and the fee within bounds: a signature
// exists only for the final transaction, so nobody can publish early.
package coinjoin
