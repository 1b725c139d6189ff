// Package coinjoin is onionswap's CoinJoin (seed 002, issue 14): T or more
// peers build one transaction with equal outputs and no change, with no
// coordinator. Every participant is an onion service of its own, fresh for
// the round, and every participant is equal: the one that sends the
// invite only proposes who takes part and, after the inputs, confirms who
// goes on.
//
// The pieces: announcements on the pool (announce.go: fresh round keys,
// the contact onion, a hashcash stamp instead of any proof of coins, and
// the Board that lists them); the round's transaction (tx.go: the rules
// every participant applies before it signs); the output shuffle
// (shuffle.go); a round as one participant plays it (round.go); the
// service that mixes a coin, attempt after attempt (service.go); what a
// node remembers (store.go, coinjoin.db); the control API (control.go).
// The round's messages are protocol's CJ* types.
//
// # A round
//
// A wallet that wants to mix a coin opens a fresh ephemeral onion service
// (tor's ADD_ONION with a new key, never the node's own address) and
// announces fresh round keys on the pool's CoinJoin topic. Every wallet
// reads the same board; the one whose round key hashes lowest with the
// current 30-second window leads: when StartAt announcements agree (3T by
// default; T after Patience) it invites up to 2T of them, in a random
// order. An invitee takes the invite only if none of the invited peers is
// one it blamed, at least T of them are announcements it saw itself (a
// leader cannot make a round of peers it made up without paying their
// stamps), and its coin fits. Then, over one stream per pair
// of participants, every message to everyone:
//
//  1. inputs: each its coin, which each looks up on its own chain
//     backend; the leader relays every input it keeps, as its owner signed
//     it, and confirms the participants whose inputs it takes (a new
//     invite); the others follow unless it keeps an input they refused.
//     The relay gives everyone the same inputs, also one lost on the way
//     from a peer that died just after sending it, and shows an owner
//     that signed two different inputs;
//  2. outputs: the shuffle, position 0 first; each participant then says
//     it found its output in the last list (CJReady, with the list's hash);
//  3. signatures: each builds the transaction from the agreed lists,
//     checks that it pays it (CheckMine), records it, and only then signs
//     its input (SIGHASH_ALL) and sends the witness. Whoever has every
//     witness broadcasts; everyone does, idempotently.
//
// # What each party learns
//
//   - A relaying peer of the shuffle: peer j receives j entries, each still
//     wrapped for the peers after it, and learns only their number. The
//     last peer sees every output in clear, in an order each earlier peer
//     shuffled: it cannot tell whose is whose. Outputs and inputs are
//     registered in separate passes (inputs are told in clear, signed with
//     the round key; outputs only through the shuffle), so comparing what
//     a peer received with what it passed on links no input to an output.
//   - Every participant: the inputs and which participant (round key)
//     brought each, the outputs, and the final transaction, as the whole
//     chain will. It does not learn which output is whose, nor any
//     participant's pool identity or node onion.
//   - Colluding participants pool what they know: all but one together
//     know which output is the remaining one's. The anonymity set of a
//     round is its honest participants (CoinShuffle's bound), which is why
//     a round wants T of them and aims for 2T.
//   - A pool observer sees announcements (terms, round keys, fresh onions)
//     and their withdrawal, never the passes: those go between the round's
//     onions. It can count wallets that want to mix, and when.
//   - Tor hides every participant's network location from all others.
//
// Where it stops protecting: a participant can lie to one peer about a
// pass (equivocation); the replay then blames from that peer's view, and a
// mismatch of CJReady hashes can only be charged to the last peer and the
// one that reported it together. A Sybil that is most of a round learns
// the remaining outputs. Amounts hide nothing: all outputs are equal and
// each input pays its own fee from a band, so an input's value tells only
// how much fee it paid. Timing across rounds (a coin mixed again at once)
// is the wallet's to avoid.
//
// # Attacks, from the seed, in Bitcoin terms
//
//   - Publishing early is impossible: a signature exists only for the
//     final transaction, after every participant confirmed the outputs,
//     and a SIGHASH_ALL signature commits to all of it.
//   - A peer that drops messages or never signs is blamed by every other:
//     its round key and onion are avoided, and its input (if it showed
//     one) goes to prison for BanFor(value), Wasabi's rule, shorter for
//     larger coins. The next attempt starts without it: fresh keys, fresh
//     onions. A peer that leaves before the inputs are confirmed only
//     costs the leader a new confirmation.
//   - An altered or missing output: the participant that misses its own
//     reveals its round encryption key (CJBlame), all do, and anyone
//     replays the passes (Blame): the seed's attack complaint. The round
//     ends before anyone signs.
//   - A flood of announcements: each one costs a stamp of proof of work,
//     the topic has its caps and rate on every relay, and the pool bans a
//     peer that floods its connection.
//   - Each participant pays its own share of the fee: its input less the
//     denomination, at least its share at the round's rate, at most Band
//     more. No one pays for another.
//
// A disruptor can delay a round; it can never make an honest peer lose
// funds: our coin is held (on disk) until the round's deadline, a
// signature is given only for a transaction that pays us, and a round we
// signed that someone completes later pays us as agreed (the session sees
// the coin spent and ends).
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
// the same lists.
package coinjoin
