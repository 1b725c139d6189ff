// Package directory is onionswap's maker directory: an onion service
// where makers list their onion address together with a fidelity-bond
// proof, and where takers fetch that list to verify every bond
// themselves.
//
// # Server
//
// Server is a node service (node/service): the node's inbound server hands
// it every connection whose first message is in the directory range, and
// it speaks the protocol/ framing (handshake, deadlines, ping/pong, per-connection frame and byte
// buckets). A Register is checked on the directory's own node with
// wallet.VerifyBondOnChain (bond exists, unspent, confirmed, amount ≥
// policy, lock window, certificate signed by the bond key for exactly
// this address and not expired) and answered with RegisterAck{TTL} or a
// Nack carrying one precise reason code (protocol.CodeBond*). Entries are
// keyed by bond outpoint: one address per bond, and a new address for the
// same bond replaces the old one. Entries not refreshed within EntryTTL
// are invisible at once (List filters them) and deleted by a periodic
// sweep; a periodic re-verification drops bonds that were spent, whose
// lock or certificate expired since they registered. Everything lives in
// the directory's own SQLite file (WAL, synchronous=FULL, embedded
// migrations with user_version, the wallet store's patterns), so a
// restart keeps the list; entries that expired while the directory was
// down are dropped on load.
//
// Where the reference directoryd (coinswap-reference §4) is weak, this one
// is not: connections are served concurrently up to MaxConns (beyond it the
// oldest session without work in progress is evicted, and the node's
// server refuses sockets at accept time), registrations and lists are
// token-bucket limited per connection and registrations globally, every
// refusal is an explicit Nack or Error rather than a silent close, a
// forged certificate or protocol violation ends the connection, the list
// carries the proofs (not bare addresses) and the list is persisted.
// Directory capacity is MaxDirEntries bonds; when full, a new bond must
// be worth more than the least valuable listed one, which it evicts.
//
// # Clients
//
// Register and List are one-shot client calls (dial, handshake, one
// request, close). A maker runs a Registrar: it registers with every
// configured directory, refreshes at about TTL/2 (with jitter, as
// syncthing's discovery clients re-announce) and retries failures with
// jittered exponential back-off. A taker uses a Source: it lists every
// configured directory, merges entries by bond outpoint, verifies each
// bond on its own node with its own policy and returns the candidates
// that pass, one per address, most valuable first.
//
// Logging is log/slog with subsystem "directory"; onion addresses of
// other parties appear only at Debug.
package directory
