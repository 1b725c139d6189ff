// Package coinjoin is onionswap's CoinJoin (seed 002, issue 14): T or more
// peers build one transaction with equal outputs and no change, with no
// coordinator.
//
// What exists so far are the building blocks of a round: its
// announcements on the pool (announce.go: fresh round keys, the contact
// onion, a hashcash stamp instead of any proof of coins, and the Board
// that lists them), its transaction (tx.go: the rules every participant
// applies before it signs), and the output shuffle (shuffle.go: the pass
// from peer to peer that registers the outputs without linking them to
// their owners, with the replay that finds who spoilt it); the round's
// messages are protocol's CJ* types. The round engine that runs them over
// the peers' ephemeral onions (tor.ListenEphemeral), the input pass, the
// signatures, the blame rounds and the service are not built yet.
//
// # What a peer learns
//
// In the shuffle, peer j receives j entries, each still wrapped for the
// peers after it: it learns nothing of them but their number. The last
// peer sees every output in clear, in an order each earlier peer
// shuffled. Peers that collude pool what they know: all but one
// participant together know which output is the remaining one's, so a
// round's anonymity set is its honest participants (CoinShuffle's bound).
// A pool observer sees the announcements only; the passes go between the
// round's ephemeral onions. Inputs are told to every participant (the
// input pass comes after the shuffle), so peers link each input to a
// participant, never to an output.
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
