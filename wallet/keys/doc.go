// Package keys holds the wallet's key material: BIP39 mnemonics, the BIP32
// tree with its BIP84 accounts and the node's own branches, and encryption of
// the seed at rest.
//
// # Derivation layout
//
// Ordinary coins follow BIP84 so that the words alone restore them in any
// BIP84 wallet (coin type 0' on mainnet, 1' on every test network):
//
//	m/84'/coin'/0'/0/i   external (receive) addresses
//	m/84'/coin'/0'/1/i   internal (change) addresses
//	m/84'/coin'/1'/0/i   swept swap coins: a separate BIP84 account, so a
//	                     standard wallet still finds them (as account 1) while
//	                     this wallet never mixes them with regular coins
//
// The swap node's extra keys live under purpose 175' (the number the
// citadel-tech/coinswap reference uses for its tweakable point), every level
// hardened, because several of these private keys are handed to a
// counterparty during a swap and a non-hardened sibling plus a leaked
// extended public key would expose the parent:
//
//	m/175'/coin'/0'           the maker's tweakable point P (swap keys are P + n·G)
//	m/175'/coin'/1'/i'        fidelity bond key number i
//	m/175'/coin'/2'/s'/k'     taker key k of swap number s (multisig, hashlock,
//	                          timelock keys, one per funding output); deterministic so
//	                          that a restore from the words can find the coins
//	m/175'/coin'/3'           onion-service identity: the 32-byte private scalar
//	                          seeds the ed25519 key, so the words restore the address
//	m/175'/coin'/4'           the key that signs the node's exported blacklists
//	m/175'/coin'/5'/i'        integrity key number i (BranchIntegrity): the P2WPKH
//	                          integrity output of integrity-fee payment i, spent by
//	                          payment i+1; a chain apart from every other coin,
//	                          watched with the gap limit so a restore finds it
//
// # Secrets
//
// Mnemonic and Seed redact themselves in fmt and log/slog output; the
// phrase is only reachable through Mnemonic.Words. Errors never quote the
// phrase, only word positions.
package keys
