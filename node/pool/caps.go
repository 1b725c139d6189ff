package pool

import "github.com/onionswap/onionswap/protocol"

// Topic caps (Topic.MaxHeld, MaxHeldBytes, PerRecipient,
// PerRecipientBytes): first come, first held. An envelope that would
// exceed a cap is refused, not stored and not relayed; nothing held is
// evicted for it. A flood can therefore delay new mail to a recipient
// (until what it sent expires) but never erase mail already held, and
// it cannot push other topics out of the pool: the global caps evict
// whatever expires first in any topic, which for a 7-day mailbox beside
// 20-minute offers would be the offers. The recipient's tombstones free
// its quota at once (a removal is not recipient-addressed), and its slot
// in the topic's MaxHeld: a tombstone must outlive the mail it removes
// (up to 7 days), and counted there it would keep read mail's slots for
// a week. Tombstones count in MaxHeldBytes (~200 bytes each, one per
// envelope the caps admitted). Honest relays may forward an envelope
// before their own cap filled, so the refusal costs no score, and it is
// not remembered as bad (capFull): announced again once the quota is
// free, the envelope is fetched again.
//
// The counts are kept incrementally, on every insert and every drop
// (replacement, removal, expiry, eviction), so the check is two map
// lookups: check() runs it before the signature (a flood of a full topic
// costs no signature checks), insertLocked again under the lock of the
// insert (authoritative: other envelopes may have been stored between).

// usage is what the node holds in one topic, or for one recipient in a
// topic: envelopes and bytes of their encodings.
type usage struct{ count, bytes int }

// recipientKey names one recipient's quota.
type recipientKey struct {
	topic     string
	recipient [protocol.PoolIDSize]byte
}

// addressed: e counts against its recipient's quota (removals carry no
// mail and free it).
func addressed(e *protocol.PoolEnvelope) bool {
	return e.Flags&protocol.PoolFlagRecipient != 0 && !e.IsRemoval()
}

func (t *Topic) capped() bool {
	return t.MaxHeld > 0 || t.MaxHeldBytes > 0 || t.PerRecipient > 0 || t.PerRecipientBytes > 0
}

// capLocked returns the cap c would exceed if stored now, counting the
// older envelope of its item that it would replace as gone.
func (p *Pool) capLocked(c *checked) Reason {
	t := c.topic
	if !t.capped() {
		return ReasonNone
	}
	size := len(c.raw)
	var old *entry
	if cur := p.items[c.key]; cur != nil && c.env.Seq > cur.seq && p.msgs[cur.short] == cur {
		old = cur
	}
	u := p.held[t.Name]
	if !c.env.IsRemoval() {
		u.count++
	}
	u.bytes += size
	if old != nil {
		if !old.removal {
			u.count--
		}
		u.bytes -= old.size
	}
	if t.MaxHeld > 0 && u.count > t.MaxHeld || t.MaxHeldBytes > 0 && u.bytes > t.MaxHeldBytes {
		return ReasonTopicFull
	}
	if (t.PerRecipient > 0 || t.PerRecipientBytes > 0) && addressed(c.env) {
		r := p.recipients[recipientKey{t.Name, c.env.Recipient}]
		r.count++
		r.bytes += size
		if old != nil && old.addressed && old.recipient == c.env.Recipient {
			r.count--
			r.bytes -= old.size
		}
		if t.PerRecipient > 0 && r.count > t.PerRecipient || t.PerRecipientBytes > 0 && r.bytes > t.PerRecipientBytes {
			return ReasonRecipientFull
		}
	}
	return ReasonNone
}

// countLocked adds (d = 1) or subtracts (d = −1) e to its topic's and
// recipient's usage, forgetting a key at zero so memory follows what is
// held (one-use recipients come and go).
func (p *Pool) countLocked(e *entry, d int) {
	add := func(u usage, count bool) (usage, bool) {
		if count {
			u.count += d
		}
		u.bytes += d * e.size
		return u, u.count > 0 || u.bytes > 0
	}
	if u, keep := add(p.held[e.key.topic], !e.removal); keep {
		p.held[e.key.topic] = u
	} else {
		delete(p.held, e.key.topic)
	}
	if e.addressed {
		k := recipientKey{e.key.topic, e.recipient}
		if u, keep := add(p.recipients[k], true); keep {
			p.recipients[k] = u
		} else {
			delete(p.recipients, k)
		}
	}
}

// capFull: a refusal by a cap, which the same envelope may pass later.
func capFull(r Reason) bool { return r == ReasonTopicFull || r == ReasonRecipientFull }
