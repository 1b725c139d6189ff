// Package wallet is onionswap's Bitcoin wallet: keys from a BIP39 seed
// (package keys), state in one SQLite file, the chain through a
// chain.Backend, and a chain.Watcher for incoming payments, spends and reorgs.
//
// # Coins and categories
//
// Every coin has a category and coin selection never mixes categories, so
// swap coins cannot leak into an ordinary payment (which would link them on
// chain) and a fidelity bond is never spent by accident:
//
//	Regular       BIP84 receive/change coins
//	Swept         swap coins swept to our own key (separate BIP84 account)
//	SwapIncoming  2-of-2 outputs we hold a key in (watched only)
//	Contract      live HTLC contract outputs (watched only)
//	FidelityBond  our timelocked bonds (spent by RedeemBond only)
//	Integrity     the integrity-fee chain's output (spent by PayIntegrityFee only)
//
// Only Regular and Swept are spent by the generic builder (Send, SendMax,
// FundOutputs); the others are spent by code that knows their scripts or,
// for Integrity, by the one operation that may extend its chain: the
// integrity output is linkable by design and must never meet another coin
// except in the top-up that PayIntegrityFee documents.
//
// # Anonymity sets
//
// Every coin records its anonymity set (Coin.AnonSet): how many outputs of
// the transaction that created it have exactly its value, counted from
// that transaction when the coin is recorded (1 for a payment or change,
// n for one of n equal CoinJoin outputs; 0 = unknown, coins recorded before
// the count existed). Equal outputs of a transaction all of whose inputs are
// ours (a premix, Split) hide nothing: 1. A coin below DefaultAnonTarget is
// Traceable.
//
// # Persist, then act
//
// Every transaction the wallet signs is committed to the database — the
// raw transaction, its inputs marked spent by it, its change — in the same
// SQLite transaction (synchronous=FULL), before it is broadcast. A crash
// after the commit leaves a transaction in state "publish" that the next
// Sync rebroadcasts (Broadcast treats "already known" as success); a crash
// before it leaves nothing to undo but an expired reservation. FundOutputs
// stores a transaction in state "held" so the swap engine can persist its own
// state before BroadcastStored.
//
// # Concurrency
//
// Methods are safe for concurrent use. Coin selection reserves coins in an
// immediate (write-locked) SQLite transaction, so two concurrent sends
// never choose the same coin, even from two processes.
package wallet
