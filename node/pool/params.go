package pool

import (
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// Every limit and interval of the pool, with its derivation. Config
// fields default to these; tests and the simulation shorten the times.
// Sources: market-reference §6 (Bitcoin inv/getdata and trickle, BOLT 7,
// gossipsub v1.1, Bisq, Erlay) and style-reference §5.2 (btcd, Core).
const (
	// DefaultOutbound: Bitcoin's and btcd's 8 outbound connections; with
	// ~as many inbound per node the pool graph has degree ~16 and a
	// diameter of ~4 at 1,000 nodes.
	DefaultOutbound = 8
	// DefaultMaxPeers: the Raspberry Pi default of issue 11, 24 in all,
	// so at most 16 inbound (Bisq keeps 12, min 8).
	DefaultMaxPeers = 24
	// DefaultProtectedOutbound: outbound slots filled only from addresses
	// we did not learn from peers (configured bootstrap, directories, or
	// peers we connected to before). Peer exchange cannot fill them, so
	// an attacker flooding us with its own addresses cannot take every
	// outbound slot (gossipsub v1.1's D_out = 2).
	DefaultProtectedOutbound = 2

	// DefaultTrickleOutbound / DefaultTrickleInbound: mean of the random
	// (exponential) delay before a batch of announcements goes to a peer.
	// Bitcoin Core uses 2 s to outbound and 5 s to inbound peers: the
	// delay merges announcements into one frame and hides which node
	// announced first. Pool messages are rarer than transactions and an
	// offer book tolerates seconds, so we keep Core's ratio at half its
	// values: a message crosses the ~4 hops of a 1,000-node pool in
	// ~4 × (1 s + 3 link delays).
	DefaultTrickleOutbound = 1 * time.Second
	DefaultTrickleInbound  = 2500 * time.Millisecond
	// relayTrickleDivisor: a message we relay (not our own) waits a
	// twentieth of the trickle: 50 ms to outbound, 125 ms to inbound
	// peers, still batched, randomised and in Core's ratio. The full
	// trickle hides who announced first; that matters at the origin,
	// where it stays (our own messages wait it to every peer, so an
	// inbound spy mostly hears a new message first from one of the
	// origin's neighbours). Paid at every hop it cost ~4 × 1 s across a
	// 1,000-node pool, where issue 11 budgets it once: 1.2 × (diameter ×
	// link latency) + the trickle. In a model of the sim's topology
	// (1,000 nodes, 50 ms links, no CPU time) full coverage takes 2.6 s
	// with the full trickle at every hop, 1.08 s with a tenth, 0.94 s
	// with a twentieth, 0.74 s with none, against a target of 1.24 s: a
	// twentieth leaves the margin a loaded machine eats. Over Tor (0.5 s
	// links) it is a thirtieth of what a hop's announcement, request and
	// body cost anyway.
	relayTrickleDivisor = 20

	// DefaultFetchTimeout: how long a fetch may stay unanswered, while the
	// peer delivers nothing else we asked for, before the id is asked from
	// another peer that announced it. Core waits 60 s
	// (GETDATA_TX_INTERVAL); a Tor round trip is 0.5–2 s, so 10 s is
	// several round trips and a stalling peer delays a message by at most
	// that much.
	DefaultFetchTimeout = 10 * time.Second
	// maxInFlightPerPeer: fetches outstanding at one peer. Core's
	// MAX_PEER_TX_REQUEST_IN_FLIGHT is 100; a join sync asks for a whole
	// pool at once, so ours is the pool's size.
	maxInFlightPerPeer = DefaultMaxMessages

	// checkWorkers: envelopes of one PoolMsgs checked at a time. A join
	// sync delivers a whole pool on one connection, and the offer topic's
	// validator asks the chain backend four round trips per offer (~10 ms
	// on a local node: 1,000 offers took 10 s one after the other). Four
	// keep bitcoind's default 4 RPC threads busy and use half of the chain
	// client's 8 concurrent calls, leaving the rest to the wallet and the
	// swaps; a Raspberry Pi has 4 cores for the signatures.
	checkWorkers = 4

	// DefaultMaxMessages / DefaultMaxBytes: global caps on what the node
	// holds (market-reference §6: ≤ 5,000 offers on a Pi). Twice that
	// leaves room for tombstones and other topics; 16 MiB of envelopes is
	// ~8,000 typical 2 KB offers. The bytes live in pool.db, not in
	// memory (persistBatchBytes): a node with 5,000 offers idles at ~20
	// MiB RSS, under the 30 MB target. Beyond either cap the envelope
	// expiring first is evicted, never one of the node's own.
	DefaultMaxMessages = 10_000
	DefaultMaxBytes    = 16 << 20

	// DefaultOfferMaxBody: an offer ≤ 4 KB (issue 11; Bisq offers ≈ 2 KB).
	DefaultOfferMaxBody = 4096
	// DefaultMaxTTL: the longest lifetime a topic accepts unless it says
	// otherwise. market-reference §6 proposes a 20 min offer TTL with a
	// hard maximum of 60 min: the owner refreshes at TTL/2.
	DefaultMaxTTL = 60 * time.Minute
	// DefaultTombstoneGrace: a removal outlives the item it removes by
	// this much (Bisq keeps its sequence map for days; we need only
	// outlive every stale copy, which expires with the item, plus clock
	// skew).
	DefaultTombstoneGrace = 10 * time.Minute
	// DefaultMaxClockSkew: market-reference §6 refuses created_at more
	// than 5 min in the future; the same bound applies to expiry beyond
	// the topic's TTL.
	DefaultMaxClockSkew = 5 * time.Minute

	// Per-connection budgets (token buckets), in envelopes: a peer may
	// announce or push us DefaultPeerRate new envelopes per second, with
	// bursts of DefaultPeerBurst. market-reference §6 proposes 10 msg/s,
	// burst 50 per connection; a join sync legitimately hands us a whole
	// pool, but those are envelopes we asked for, which are not charged.
	DefaultPeerRate  = 10
	DefaultPeerBurst = 50
	// Per-origin budget: ≤ 1 new or updated message per 15 s on average
	// over 10 (MWC, market-reference §6), so rate 1/15 s, burst 10.
	DefaultOriginRate  = 1.0 / 15
	DefaultOriginBurst = 10
	// Per-topic budget: the whole pool's rate of new messages in a topic.
	// 5,000 offers refreshed every 10 min are ~8/s; 50/s with a burst of
	// a full pool leaves 6× headroom while one flooding peer, itself held
	// to DefaultPeerRate and banned within a second, cannot use it up.
	DefaultTopicRate  = 50
	DefaultTopicBurst = DefaultMaxMessages

	// DefaultServeRate / DefaultServeBurst: envelopes we send one peer on
	// its request, so a peer cannot drain our upload by asking for the
	// pool again and again: one full pool at once, then 100 a second.
	DefaultServeRate  = 100
	DefaultServeBurst = DefaultMaxMessages

	// DefaultSyncRate: PoolSync requests served per connection: an
	// expensive request, at most 1 per 30 s per peer (joinmarket-ng,
	// market-reference §6), burst 2 (join plus one retry).
	DefaultSyncRate  = 1.0 / 30
	DefaultSyncBurst = 2
	// DefaultSyncInterval: anti-entropy. Every so often (with jitter) the
	// node reconciles with one random outbound peer, so a message whose
	// announcements were all lost (a peer died mid-relay) still arrives.
	// 10 minutes is half the default offer TTL.
	DefaultSyncInterval = 10 * time.Minute
	// syncBucketTarget: a PoolSync has about this many envelopes per
	// bucket. Each bucket costs 10 bytes; a bucket that differs costs its
	// envelopes' short ids (8 bytes each) in the reply: 8 per bucket is
	// ~1 byte of digest per envelope and ≤ 64 bytes per missing item.
	syncBucketTarget = 8

	// DefaultAddrRate / DefaultAddrBurst: addresses accepted per peer,
	// Core's MAX_ADDR_RATE_PER_SECOND 0.1 with a bucket of one full
	// PoolAddrs.
	DefaultAddrRate  = 0.1
	DefaultAddrBurst = protocol.MaxPoolAddrs
	// pexSample: addresses we hand out per PoolGetAddrs: enough to fill
	// 8 outbound slots several times over.
	pexSample = 64
	// DefaultMaxAddrs: peer table size (Bisq keeps ≤ 1,000 known peers).
	DefaultMaxAddrs = 1000
	// addrMaxFailures / addrMaxAge: an address that failed this many
	// times in a row and was not seen working for this long ages out
	// (Bisq drops peers unseen for 14 days).
	addrMaxFailures = 5
	addrMaxAge      = 14 * 24 * time.Hour
	// dialBackoffMin/Max: per-address redial back-off (internal/backoff).
	dialBackoffMin = 5 * time.Second
	dialBackoffMax = 30 * time.Minute
	// DefaultDialInterval: how often the outbound slots are checked;
	// btcd retries every 5 s.
	DefaultDialInterval = 5 * time.Second
	// dialTimeout: a Tor stream to an onion service takes seconds; lnd's
	// 120 s default covers a cold circuit, a pool peer that slow is not
	// worth a slot.
	dialTimeout = 60 * time.Second

	// Scoring: a peer accumulates penalties that decay with a half-life of
	// one minute (btcd's dynamic ban score); at BanScore it is banned for
	// BanDuration (btcd: 100, 24 h). Offences honest relays cannot commit
	// (a forged signature, a malformed envelope: every relay checks
	// before relaying) cost the whole threshold at once, as Core has done
	// since #29575.
	BanScore        = 100
	scoreHalfLife   = time.Minute
	BanDuration     = 24 * time.Hour
	penaltyFatal    = BanScore
	penaltyMinor    = 10 // clock skew, TTL beyond ours: honest config drift
	penaltyValidate = 20 // the topic's validator refused it
	penaltyFlood    = 1  // per envelope beyond a budget

	// sendQueue: frames waiting for one peer's writer. A peer that cannot
	// take 64 frames (each up to a batch of envelopes) is too slow to
	// keep and is dropped, so memory per peer stays bounded.
	sendQueue = 64
	// batchBytes: envelopes per PoolMsgs frame, by bytes: 256 KiB is 64
	// full offers, a quarter of a frame, and over Tor at the protocol's
	// 16 KiB/s floor still well inside one write deadline.
	batchBytes = 256 << 10
	// knownPerPeer: short ids remembered per peer (what it has or was
	// sent) so we never announce them to it again. Core's rolling filter
	// holds 50,000; we hold 2× the pool, in two generations.
	knownPerPeer = 2 * DefaultMaxMessages
	// rejectCache: ids refused recently, so a refused envelope is not
	// fetched again from every peer that announces it.
	rejectCache = 2 * DefaultMaxMessages
	// housekeepingInterval: expiry sweep, fetch timeouts, score decay.
	housekeepingInterval = time.Second
	// persistInterval: the pool writes its changes to SQLite in batches
	// at most this often, off the relay path. A crash loses at most this
	// much, which the next join sync restores from peers.
	persistInterval = time.Second
	// persistBatchBytes: the persister also runs as soon as this many
	// bytes of envelopes wait to be written. Once written, an envelope's
	// encoding leaves memory (pool.db serves it), so a join sync of a
	// whole pool (~10 MB at 5,000 offers, in about a second over a fast
	// link) holds ~1 MiB of encodings at a time instead of all of them,
	// and the heap, which the Go runtime returns to the OS only slowly,
	// never grows to twice the pool. 1 MiB is ~600 offers: one SQLite
	// transaction of a few milliseconds.
	persistBatchBytes = 1 << 20
	// subscriberQueue: deliveries buffered per subscriber; a subscriber
	// that falls behind loses deliveries (it can re-read Messages).
	subscriberQueue = 256
)
