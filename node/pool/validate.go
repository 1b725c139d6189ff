package pool

import (
	"context"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// Reason says why an envelope was not accepted. Each maps to a verdict
// and a penalty for the peer that sent it.
type Reason int

const (
	ReasonNone            Reason = iota
	ReasonOversized              // larger than the wire or the topic's cap
	ReasonMalformed              // does not decode
	ReasonWrongNetwork           // another Bitcoin network
	ReasonUnknownTopic           // a topic this node does not relay
	ReasonFuture                 // created in the future (beyond the clock skew)
	ReasonExpiryTooFar           // expiry beyond the topic's TTL
	ReasonExpired                // expired (possibly in flight: not the relay's fault)
	ReasonDuplicate              // already held (a replay of the same bytes)
	ReasonKnownBad               // refused before
	ReasonBadSignature           // forged or corrupted
	ReasonStale                  // sequence not newer than the one held (or tombstoned)
	ReasonOriginLimit            // the origin's token bucket is empty
	ReasonTopicLimit             // the topic's token bucket is empty
	ReasonValidator              // the topic's validator refused it
	ReasonValidatorIgnore        // the topic's validator ignored it
	ReasonTopicFull              // the topic holds its MaxHeld or MaxHeldBytes
	ReasonRecipientFull          // the recipient holds its PerRecipient or PerRecipientBytes
)

var reasonNames = [...]string{
	ReasonNone: "accepted", ReasonOversized: "oversized", ReasonMalformed: "malformed",
	ReasonWrongNetwork: "wrong-network", ReasonUnknownTopic: "unknown-topic", ReasonFuture: "future-dated",
	ReasonExpiryTooFar: "expiry-too-far", ReasonExpired: "expired", ReasonDuplicate: "duplicate",
	ReasonKnownBad: "known-bad", ReasonBadSignature: "bad-signature", ReasonStale: "stale-sequence",
	ReasonOriginLimit: "origin-rate-limited", ReasonTopicLimit: "topic-rate-limited",
	ReasonValidator: "validator-rejected", ReasonValidatorIgnore: "validator-ignored",
	ReasonTopicFull: "topic-full", ReasonRecipientFull: "recipient-full",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Verdict of a reason and the penalty it costs the sender.
func (r Reason) verdict() (Verdict, float64) {
	switch r {
	case ReasonNone:
		return Accept, 0
	case ReasonOversized, ReasonMalformed, ReasonWrongNetwork, ReasonBadSignature:
		// Every relay checks these before relaying: no honest peer sends
		// them.
		return Reject, penaltyFatal
	case ReasonFuture, ReasonExpiryTooFar:
		return Reject, penaltyMinor
	case ReasonValidator:
		return Reject, penaltyValidate
	}
	return Ignore, 0
}

// checked is an envelope that passed the syntactic and clock checks.
type checked struct {
	raw   []byte
	env   *protocol.PoolEnvelope
	id    protocol.PoolID
	short protocol.ShortID
	topic *Topic
	key   itemKey
}

type itemKey struct {
	topic  string
	origin [protocol.XOnlyKeySize]byte
	item   protocol.PoolItem
}

// precheck runs the cheap, stateless checks in the order of issue 11:
// size → decode → network and topic → clock skew.
func (p *Pool) precheck(raw []byte, now time.Time) (*checked, Reason) {
	if len(raw) > protocol.MaxPoolEnvelopeSize || len(raw) < protocol.MinPoolEnvelopeSize {
		if len(raw) > protocol.MaxPoolEnvelopeSize {
			return nil, ReasonOversized
		}
		return nil, ReasonMalformed
	}
	env, err := protocol.DecodePoolEnvelope(raw)
	if err != nil {
		return nil, ReasonMalformed
	}
	if env.Network != p.cfg.Network {
		return nil, ReasonWrongNetwork
	}
	t := p.topics[env.Topic]
	if t == nil {
		return nil, ReasonUnknownTopic
	}
	if len(env.Body) > t.MaxBody {
		return nil, ReasonOversized
	}
	unix := uint64(max(now.Unix(), 0))
	skew := uint64(p.cfg.MaxClockSkew / time.Second)
	maxLife := uint64(t.MaxTTL / time.Second)
	if env.IsRemoval() {
		maxLife += uint64(DefaultTombstoneGrace / time.Second)
	}
	switch {
	case env.Created > unix+skew:
		return nil, ReasonFuture
	case env.Expiry > unix+maxLife+skew:
		return nil, ReasonExpiryTooFar
	case env.Expiry <= unix:
		return nil, ReasonExpired
	}
	id := protocol.PoolIDOf(raw)
	return &checked{raw: raw, env: env, id: id, short: id.Short(), topic: t,
		key: itemKey{topic: env.Topic, origin: env.Origin, item: env.Item}}, ReasonNone
}

// check runs every check on one envelope: precheck, then already seen →
// known bad → sequence → the topic's caps → signature → rate limits
// (only for envelopes arriving by relay) → the topic's validator. The
// caps come before the signature, so a flood of a full topic costs map
// lookups, not signature checks (a forged envelope to a full topic is
// refused as topic-full, unblamed: the relay cannot tell it from an
// honest one it may not store either). It takes p.mu briefly for the
// lookups; the signature and the validator run without it. insertLocked
// checks the caps again under the lock of the insert.
func (p *Pool) check(ctx context.Context, raw []byte, relayed bool) (*checked, Reason) {
	now := p.cfg.Now()
	c, r := p.precheck(raw, now)
	if r != ReasonNone {
		return nil, r
	}
	p.mu.Lock()
	if e := p.msgs[c.short]; e != nil && e.id == c.id {
		p.mu.Unlock()
		return c, ReasonDuplicate
	}
	if _, bad := p.rejected.has(c.short); bad {
		p.mu.Unlock()
		return c, ReasonKnownBad
	}
	if cur := p.items[c.key]; cur != nil && c.env.Seq <= cur.seq {
		p.mu.Unlock()
		return c, ReasonStale
	}
	if r := p.capLocked(c); r != ReasonNone {
		p.mu.Unlock()
		return c, r
	}
	p.mu.Unlock()

	if err := protocol.VerifyPoolSig(c.id, c.env.Origin, c.env.Sig); err != nil {
		return c, ReasonBadSignature
	}
	if relayed {
		if !p.originBucket(c.env.Origin).Allow() {
			return c, ReasonOriginLimit
		}
		if !p.topicBuckets[c.env.Topic].Allow() {
			return c, ReasonTopicLimit
		}
	}
	if v := c.topic.Validate; v != nil {
		verdict, err := v(ctx, c.env)
		if err != nil && c.topic.Why != nil {
			p.mu.Lock()
			p.stats.Refused[c.topic.Name+": "+c.topic.Why(err)]++
			p.mu.Unlock()
		}
		switch {
		case verdict == Reject:
			p.log.Debug("topic validator rejected an envelope", "topic", c.env.Topic, "err", err)
			return c, ReasonValidator
		case verdict == Ignore || err != nil:
			return c, ReasonValidatorIgnore
		}
	}
	return c, ReasonNone
}
