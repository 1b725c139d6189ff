// Package pool is onionswap's message pool: signed messages on topics,
// flooded peer to peer over the node's onion links, that wallets publish
// and listen to (seed 002; issue 11). The swap marketplace's offers and
// CoinJoin announcements ride on it.
//
// # Envelope
//
// protocol.PoolEnvelope: topic, origin (BIP340 x-only key: the node's
// long-lived identity, or a fresh one-use key), item, a sequence strictly
// increasing per (topic, origin, item), creation and expiry, an optional
// recipient hash, a body, and a signature over the id, which is the
// tagged SHA-256 of everything but the signature. A removal is an
// envelope of the same item with a higher sequence and no body: a signed
// tombstone that outlives the item, so stale copies never come back.
//
// # Validation, cheapest check first
//
// size → decode → network and topic (and the topic's body cap) → clock
// (nothing created in the future, no expiry beyond the topic's TTL;
// expired in flight is ignored, not blamed) → already held → sequence
// newer than the held one → the topic's caps → signature → per-origin
// and per-topic buckets (for envelopes arriving by relay) → the topic's
// own Validator. The lookups come before the signature so that a flood
// of stale envelopes or of a full topic costs no signature checks (a
// forged envelope to a full topic is refused as topic-full). The
// outcome is Accept, Ignore or Reject (validate.go); a Reject costs the
// sending peer score, and a peer at BanScore is banned with a reason and
// an expiry. The envelopes of one batch are checked a few at a time
// (checkWorkers: a validator may wait on the chain backend), then stored
// and relayed in their order.
//
// # Relay
//
// Bitcoin's inv/getdata: a node announces short ids (the id's first 8
// bytes) and peers fetch the bodies they lack, from one peer at a time
// (another announcer is asked once that peer has delivered nothing we
// asked for during FetchTimeout). Announcements to each
// peer are batched after a random (exponential) trickle delay: the full
// one for the node's own messages (hiding the origin), a twentieth of it
// for relayed ones (so it is paid about once, not at every hop). They are
// never sent to a peer that sent or announced the id, and a newer
// sequence replaces an older one still queued. Bodies are fetched once
// per node, so a message costs each node about its size plus 8 bytes per
// link.
//
// # Join sync
//
// The dialer pipelines PoolHello and a PoolSync behind its protocol Hello:
// its whole set as 2^bits buckets of (count, digest). The peer replies
// with its short ids in the buckets that differ; the joiner fetches what
// it lacks and announces at once what the peer lacks. A node that joins
// or returns has every live message two round trips after its first
// connection, fetching each missing envelope once. Reconciliation runs
// with one peer at a time; the later peers' digests then mostly match.
// Every SyncInterval the node also reconciles with a random outbound peer
// (anti-entropy).
//
// # Peers and limits
//
// 8 outbound connections (2 of them protected: only filled from
// configured addresses or peers connected before, never from peer
// exchange), inbound up to MaxPeers in all (node/service enforces the
// inbound cap). Addresses come from Config.Bootstrap, the persisted peer
// table, peer exchange, and, when no outbound peer is connected and every
// table entry has failed, from Config.Seeds (the daemon's directories) at
// most every SeedInterval (seeds.go). Token buckets per connection (announcements, unsolicited
// bodies, served fetches, sync requests, addresses), per origin and per
// topic; global caps on envelopes and bytes held evict the envelope
// expiring first, never the node's own. Every limit is a named constant
// with its derivation (params.go).
//
// # Topic caps
//
// A topic may also cap what the node holds of it (Topic.MaxHeld,
// MaxHeldBytes) and, of its recipient-addressed envelopes, per recipient
// hash (PerRecipient, PerRecipientBytes): a mailbox of 7-day messages
// must not evict the offers, and nobody may fill one recipient's
// mailbox. First come, first held: an envelope beyond a cap is refused
// (topic-full, recipient-full: ignored, unblamed, not relayed), the
// node's own included, and nothing held is evicted for it, so a flood
// can delay new mail but never erase mail already held. A replacement
// frees the slot of what it replaces; a removal carries no recipient, so
// the recipient's tombstones free its quota and the topic slot at once
// (RemoveWith signs them with the mail's origin key; a tombstone counts
// in the topic's bytes only), and a refusal by a cap is not remembered
// as bad: the envelope is fetched again once there is room. The counts are kept per topic and per
// recipient on every insert and drop (caps.go); Stats.Topics reports
// them.
//
// # Persistence
//
// pool.db (SQLite, internal/sqlitedb): envelopes, the peer table, bans and
// the identity key, written in batches every second (sooner once 1 MiB
// waits); a restart re-checks what it loads and resyncs only the
// difference. A written envelope's encoding leaves memory: pool.db
// serves it to peers (and Envelope), and memory keeps ~200 bytes of
// metadata per envelope (a node holding 5,000 offers idles at ~20 MiB
// RSS; go run ./node/pool/sim -footprint).
package pool
