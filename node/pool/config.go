package pool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/protocol"
)

// Dialer opens a stream to a pool peer (tor.Transport satisfies it).
type Dialer interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// Verdict is a validation outcome (gossipsub's Accept / Ignore / Reject).
type Verdict int

const (
	// Accept: store and relay.
	Accept Verdict = iota
	// Ignore: drop without relaying, and without blaming the sender
	// (a duplicate, a stale sequence, expired in flight, a bond not yet
	// confirmed).
	Ignore
	// Reject: drop and cost the sender score.
	Reject
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Ignore:
		return "ignore"
	}
	return "reject"
}

// Validator is a topic owner's own check, run last (after the signature
// and the sequence), so it only sees authentic, fresh envelopes: a bond
// proof, an integrity-fee proof, a blacklist. It must not block for long:
// it runs on the relay path of the connection that delivered e. It is
// called concurrently (the envelopes of one batch are checked a few at a
// time).
type Validator func(ctx context.Context, e *protocol.PoolEnvelope) (Verdict, error)

// Topic is what the pool knows of one topic. Envelopes of topics the node
// does not know are ignored and not relayed.
type Topic struct {
	// Name as on the wire ([a-z0-9./_-], ≤ 32 bytes).
	Name string
	// MaxBody caps the body (0: DefaultOfferMaxBody).
	MaxBody int
	// MaxTTL caps expiry − now (0: DefaultMaxTTL).
	MaxTTL time.Duration
	// Validate is the owner's check (nil: accept).
	Validate Validator
	// Why names a validator's refusal from a small fixed set, counted in
	// Stats.Refused as "<topic name>: <why>" besides validator-rejected or
	// -ignored, so an operator sees why offers were refused (nil: not
	// named). It must return few distinct names: each is a counter.
	Why func(error) string
	// Rate/Burst: the topic's token bucket for new envelopes arriving by
	// relay (0: DefaultTopicRate/Burst).
	Rate  float64
	Burst int

	// Caps on what the node holds in this topic (0: none), for a topic
	// whose envelopes must not crowd out the others' (a mailbox of 7-day
	// messages beside 20-minute offers): an envelope that would exceed
	// one is refused (ReasonTopicFull, ReasonRecipientFull), not stored,
	// not relayed, the node's own included; nothing held is evicted for
	// it (caps.go).
	//
	// MaxHeld / MaxHeldBytes: live envelopes, and bytes of all
	// encodings (tombstones included), held in the topic. A removal
	// frees its item's MaxHeld slot at once: its tombstone must outlive
	// the item, up to the topic's TTL, and would otherwise keep the slot
	// that long.
	MaxHeld      int
	MaxHeldBytes int
	// PerRecipient / PerRecipientBytes: envelopes, and bytes, held per
	// Recipient hash among the topic's recipient-addressed envelopes
	// that are not removals, so one recipient's mailbox cannot fill the
	// topic and the recipient's removals free its quota at once.
	PerRecipient      int
	PerRecipientBytes int
}

// TopicOffer is the marketplace's topic: offers, one per item, signed by
// the node's long-lived identity.
const TopicOffer = "offer/v1"

// TopicTest is a topic with no owner and no validator, for tests and
// operators: the only topic the control API publishes on. The daemon
// registers it on regtest only, so it never exists on a real network.
const TopicTest = "test/v1"

// Config configures a Pool.
type Config struct {
	Network protocol.Network
	// ListenAddr is our own pool address ("" if we accept no peers); it
	// is sent in PoolHello and never dialed.
	ListenAddr string
	// Dialer opens outbound connections (nil: no outbound).
	Dialer Dialer
	// Bootstrap peers, dialed first and eligible for protected slots.
	Bootstrap []string
	// Seeds, if set, returns a sample of pool peer addresses, as Bitcoin's
	// DNS seeds and Bisq's seed nodes do (the daemon asks its directories:
	// makers run their pool on their registered onion). It is asked only
	// when no outbound peer is connected and every peer-table entry has
	// failed (an empty table included), at most every SeedInterval (an
	// empty answer is asked again after 15 s, doubling up to it), and
	// never when every outbound slot is protected; what it returns may
	// fill protected slots only after a successful connection, as
	// peer-exchange addresses (seeds.go).
	Seeds func(ctx context.Context) ([]string, error)
	// SeedInterval: the least time between two Seeds calls (0:
	// DefaultSeedInterval).
	SeedInterval time.Duration
	// DBPath is pool.db; "" keeps everything in memory (simulation).
	DBPath string
	// Identity signs our own messages; nil: the key stored in the
	// database, created on first start (random when there is no DB).
	Identity *btcec.PrivateKey
	// Topics the node relays (nil: only TopicOffer with defaults).
	Topics []Topic

	Outbound          int
	MaxPeers          int
	ProtectedOutbound int
	TrickleOutbound   time.Duration
	TrickleInbound    time.Duration
	FetchTimeout      time.Duration
	SyncInterval      time.Duration
	DialInterval      time.Duration
	MaxClockSkew      time.Duration
	MaxMessages       int
	MaxBytes          int
	PeerRate          float64
	PeerBurst         int
	OriginRate        float64
	OriginBurst       int
	ServeRate         float64
	ServeBurst        int
	SyncRate          float64
	SyncBurst         int

	// Conn configures outbound connections (inbound ones are configured by
	// the node's server).
	Conn protocol.ConnConfig
	// UserAgent of our Hello.
	UserAgent string

	// Now is the pool's clock (nil: time.Now).
	Now func() time.Time
	// Observer, if set, is told about every envelope the pool receives
	// (simulation and tests; must not block).
	Observer Observer
	Logger   *slog.Logger
}

// Observer sees the pool's traffic (simulation metrics).
type Observer interface {
	// Received: an envelope body arrived from a peer; dup is true when
	// we already had it.
	Received(id protocol.PoolID, dup bool)
	// Accepted: an envelope was stored (published locally or received).
	Accepted(id protocol.PoolID)
}

// ErrConfig: the configuration is invalid.
var ErrConfig = errors.New("pool: invalid config")

func (c Config) withDefaults() Config {
	c.Outbound = cmp.Or(c.Outbound, DefaultOutbound)
	c.MaxPeers = cmp.Or(c.MaxPeers, DefaultMaxPeers)
	if c.ProtectedOutbound == 0 {
		// The default never asks for more protected slots than there are
		// outbound ones (a node told to keep 1 outbound peer).
		c.ProtectedOutbound = min(DefaultProtectedOutbound, c.Outbound)
	}
	c.TrickleOutbound = cmp.Or(c.TrickleOutbound, DefaultTrickleOutbound)
	c.TrickleInbound = cmp.Or(c.TrickleInbound, DefaultTrickleInbound)
	c.FetchTimeout = cmp.Or(c.FetchTimeout, DefaultFetchTimeout)
	c.SyncInterval = cmp.Or(c.SyncInterval, DefaultSyncInterval)
	c.DialInterval = cmp.Or(c.DialInterval, DefaultDialInterval)
	c.SeedInterval = cmp.Or(c.SeedInterval, DefaultSeedInterval)
	c.MaxClockSkew = cmp.Or(c.MaxClockSkew, DefaultMaxClockSkew)
	c.MaxMessages = cmp.Or(c.MaxMessages, DefaultMaxMessages)
	c.MaxBytes = cmp.Or(c.MaxBytes, DefaultMaxBytes)
	c.PeerRate = cmp.Or(c.PeerRate, DefaultPeerRate)
	c.PeerBurst = cmp.Or(c.PeerBurst, DefaultPeerBurst)
	c.OriginRate = cmp.Or(c.OriginRate, DefaultOriginRate)
	c.OriginBurst = cmp.Or(c.OriginBurst, DefaultOriginBurst)
	c.ServeRate = cmp.Or(c.ServeRate, DefaultServeRate)
	c.ServeBurst = cmp.Or(c.ServeBurst, DefaultServeBurst)
	c.SyncRate = cmp.Or(c.SyncRate, DefaultSyncRate)
	c.SyncBurst = cmp.Or(c.SyncBurst, DefaultSyncBurst)
	c.UserAgent = cmp.Or(c.UserAgent, "onionswap")
	if c.Topics == nil {
		c.Topics = []Topic{{Name: TopicOffer}}
	}
	for i := range c.Topics {
		t := &c.Topics[i]
		t.MaxBody = cmp.Or(t.MaxBody, DefaultOfferMaxBody)
		t.MaxTTL = cmp.Or(t.MaxTTL, DefaultMaxTTL)
		t.Rate = cmp.Or(t.Rate, DefaultTopicRate)
		t.Burst = cmp.Or(t.Burst, DefaultTopicBurst)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "pool")
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Outbound < 0 || c.MaxPeers < c.Outbound:
		return fmt.Errorf("%w: outbound %d, max peers %d", ErrConfig, c.Outbound, c.MaxPeers)
	case c.ProtectedOutbound > c.Outbound:
		return fmt.Errorf("%w: %d protected of %d outbound", ErrConfig, c.ProtectedOutbound, c.Outbound)
	case c.MaxMessages < 1 || c.MaxBytes < protocol.MaxPoolEnvelopeSize:
		return fmt.Errorf("%w: caps too small", ErrConfig)
	}
	seen := map[string]bool{}
	for _, t := range c.Topics {
		if t.MaxBody > protocol.MaxPoolBodyLen || seen[t.Name] ||
			t.MaxHeld < 0 || t.MaxHeldBytes < 0 || t.PerRecipient < 0 || t.PerRecipientBytes < 0 {
			return fmt.Errorf("%w: topic %q", ErrConfig, t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}
