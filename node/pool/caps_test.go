package pool

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/protocol"
)

// mailTopic: a mailbox-like topic (recipient-addressed, one-use keys).
const mailTopic = "mail/v1"

// rcpt is a recipient hash named by one byte.
func rcpt(b byte) *protocol.PoolID { return &protocol.PoolID{b} }

// mail is a test envelope on mailTopic.
type mail struct {
	key     byte // origin: testKey(key)
	item    byte
	seq     uint64
	to      byte // recipient (0: none)
	body    int  // bytes of body
	removal bool
}

func (m mail) raw(t testing.TB, now uint64) []byte {
	return signed(t, testKey(m.key), func(e *protocol.PoolEnvelope) {
		e.Topic, e.Item[0], e.Seq = mailTopic, m.item, max(m.seq, 1)
		e.Created, e.Expiry = now, now+600
		e.Body = make([]byte, m.body)
		if m.to != 0 {
			e.Flags |= protocol.PoolFlagRecipient
			e.Recipient = *rcpt(m.to)
		}
		if m.removal {
			e.Flags, e.Recipient, e.Body = protocol.PoolFlagRemoval, protocol.PoolID{}, nil
		}
	})
}

// arrive delivers raw as a peer's envelope: check, then insert under the
// lock, as onMsgs does.
func arrive(p *Pool, raw []byte) Reason {
	c, r := p.check(context.Background(), raw, true)
	if r != ReasonNone {
		return r
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, r = p.insertLocked(c, false)
	return r
}

// checkCounts: the incremental counts are what a recount of the held
// envelopes gives, with no zero entries left behind.
func checkCounts(t testing.TB, p *Pool) {
	t.Helper()
	held, recipients := map[string]usage{}, map[recipientKey]usage{}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.msgs {
		u := held[e.key.topic]
		n := 1
		if e.removal {
			n = 0 // tombstones count in bytes only
		}
		held[e.key.topic] = usage{u.count + n, u.bytes + e.size}
		if e.addressed {
			k := recipientKey{e.key.topic, e.recipient}
			u := recipients[k]
			recipients[k] = usage{u.count + 1, u.bytes + e.size}
		}
	}
	if !maps.Equal(held, p.held) || !maps.Equal(recipients, p.recipients) {
		t.Fatalf("counts drifted:\n topics %v, recount %v\n recipients %v, recount %v", p.held, held, p.recipients, recipients)
	}
}

func mailPool(t testing.TB, topic Topic, mod func(c *Config)) *Pool {
	t.Helper()
	topic.Name = mailTopic
	cfg := Config{Network: protocol.Regtest, Topics: []Topic{{Name: TopicOffer}, topic}}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// TestTopicCaps: each cap refuses what would exceed it, first come first
// held; a replacement counts as freeing the envelope it replaces; a
// removal frees the recipient's quota and the topic slot (its tombstone
// counts in the topic's bytes only).
func TestTopicCaps(t *testing.T) {
	now := uint64(time.Now().Unix())
	size := func(m mail) int { return len(m.raw(t, now)) }
	s100 := size(mail{key: 1, body: 100})
	s100to := size(mail{key: 1, body: 100, to: 1})
	tests := []struct {
		name  string
		topic Topic
		steps []mail
		want  []Reason
	}{
		{"no caps: as before", Topic{},
			[]mail{{key: 1, to: 1}, {key: 2, to: 1}, {key: 3, to: 1}, {key: 4}, {key: 1, seq: 2, to: 2}},
			[]Reason{ReasonNone, ReasonNone, ReasonNone, ReasonNone, ReasonNone}},
		{"held", Topic{MaxHeld: 2},
			[]mail{{key: 1}, {key: 2, to: 1}, {key: 3}, {key: 1, seq: 2, body: 50}, {key: 1, seq: 3, removal: true}, {key: 4}, {key: 5}},
			[]Reason{ReasonNone, ReasonNone, ReasonTopicFull, ReasonNone, ReasonNone, ReasonNone, ReasonTopicFull}},
		{"held bytes", Topic{MaxHeldBytes: 2*s100 + 50},
			[]mail{{key: 1, body: 100}, {key: 2, body: 100}, {key: 3}, {key: 1, seq: 2, body: 140}, {key: 1, seq: 3, body: 160}, {key: 1, seq: 4, removal: true}, {key: 3}},
			[]Reason{ReasonNone, ReasonNone, ReasonTopicFull, ReasonNone, ReasonTopicFull, ReasonNone, ReasonNone}},
		{"per recipient", Topic{PerRecipient: 2},
			[]mail{
				{key: 1, to: 1}, {key: 2, to: 1}, {key: 3, to: 1}, // A full
				{key: 3, to: 2}, {key: 4}, // B and no recipient unaffected
				{key: 1, seq: 2, to: 1}, // replacement: no double count
				{key: 1, seq: 3, to: 2}, // moved to B: A has room, B full
				{key: 5, to: 1}, {key: 6, to: 1}, {key: 6, to: 2},
				{key: 2, seq: 2, removal: true}, {key: 6, to: 1}, // the removal frees A at once
			},
			[]Reason{ReasonNone, ReasonNone, ReasonRecipientFull, ReasonNone, ReasonNone, ReasonNone, ReasonNone,
				ReasonNone, ReasonRecipientFull, ReasonRecipientFull, ReasonNone, ReasonNone}},
		{"per recipient bytes", Topic{PerRecipientBytes: 2*s100to + 50},
			[]mail{{key: 1, to: 1, body: 100}, {key: 2, to: 1, body: 100}, {key: 3, to: 1}, {key: 3, to: 2},
				{key: 1, seq: 2, to: 1, body: 140}, {key: 1, seq: 3, to: 1, body: 160}},
			[]Reason{ReasonNone, ReasonNone, ReasonRecipientFull, ReasonNone, ReasonNone, ReasonRecipientFull}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mailPool(t, tc.topic, func(c *Config) { c.OriginBurst = 100 })
			for i, m := range tc.steps {
				if r := arrive(p, m.raw(t, now)); r != tc.want[i] {
					t.Fatalf("step %d %+v: %s, want %s", i, m, r, tc.want[i])
				}
				checkCounts(t, p)
			}
			var held, bytes int
			for _, m := range p.Messages(mailTopic) {
				if !m.Removal { // tombstones count in bytes only
					held++
				}
				bytes += m.Size
			}
			if got := p.Stats().Topics[mailTopic]; got != (TopicStats{Held: held, Bytes: bytes}) {
				t.Fatalf("Stats().Topics: %+v, held %d bytes %d", got, held, bytes)
			}
			if got := p.Stats().Topics[TopicOffer]; got != (TopicStats{}) {
				t.Fatalf("empty offer topic: %+v", got)
			}
		})
	}
}

// TestCapReasons: the cap refusals cost the sender nothing, and the
// early check comes before the signature (a forged envelope to a full
// topic costs no signature check).
func TestCapReasons(t *testing.T) {
	for _, r := range []Reason{ReasonTopicFull, ReasonRecipientFull} {
		if v, pts := r.verdict(); v != Ignore || pts != 0 {
			t.Errorf("%s: %s, %v points", r, v, pts)
		}
	}
	if ReasonTopicFull.String() != "topic-full" || ReasonRecipientFull.String() != "recipient-full" {
		t.Fatalf("names %q, %q", ReasonTopicFull, ReasonRecipientFull)
	}
	now := uint64(time.Now().Unix())
	p := mailPool(t, Topic{MaxHeld: 1, PerRecipient: 1}, nil)
	if r := arrive(p, mail{key: 1, to: 1}.raw(t, now)); r != ReasonNone {
		t.Fatal(r)
	}
	forged := func(m mail) []byte {
		raw := m.raw(t, now)
		raw[len(raw)-1] ^= 1
		return raw
	}
	if _, r := p.check(context.Background(), forged(mail{key: 2, to: 2}), true); r != ReasonTopicFull {
		t.Fatalf("forged to a full topic: %s, want topic-full", r)
	}
	p2 := mailPool(t, Topic{PerRecipient: 1}, nil)
	if r := arrive(p2, mail{key: 1, to: 1}.raw(t, now)); r != ReasonNone {
		t.Fatal(r)
	}
	for _, tc := range []struct {
		m    mail
		want Reason
	}{{mail{key: 2, to: 1}, ReasonRecipientFull}, {mail{key: 2, to: 2}, ReasonBadSignature}} {
		if _, r := p2.check(context.Background(), forged(tc.m), true); r != tc.want {
			t.Fatalf("forged %+v: %s, want %s", tc.m, r, tc.want)
		}
	}
}

// TestCapUnderInsertLock: two envelopes that each passed check() while
// the recipient had room: insertLocked, under the lock of the insert,
// holds the first and refuses the second.
func TestCapUnderInsertLock(t *testing.T) {
	now := uint64(time.Now().Unix())
	p := mailPool(t, Topic{PerRecipient: 1}, nil)
	var cs []*checked
	for _, m := range []mail{{key: 1, to: 1}, {key: 2, to: 1}} {
		c, r := p.check(context.Background(), m.raw(t, now), true)
		if r != ReasonNone {
			t.Fatal(r)
		}
		cs = append(cs, c)
	}
	p.mu.Lock()
	held1, _ := p.insertLocked(cs[0], false)
	held2, r := p.insertLocked(cs[1], false)
	p.mu.Unlock()
	if !held1 || held2 || r != ReasonRecipientFull {
		t.Fatalf("held %v %v, %s", held1, held2, r)
	}
	checkCounts(t, p)
}

// TestRemoveWithFreesRecipient: the recipient tombstones a mail with the
// mail's origin key; the tombstone carries no recipient, the recipient's
// quota is free again, and its own publishes meet the cap with an error
// naming it.
func TestRemoveWithFreesRecipient(t *testing.T) {
	ctx := context.Background()
	p := mailPool(t, Topic{PerRecipient: 1, MaxTTL: 7 * 24 * time.Hour}, nil)
	k1, k2 := testKey(1), testKey(2)
	item := NewItem()
	id, err := p.PublishWith(ctx, k1, mailTopic, item, []byte("hello"), 7*24*time.Hour, rcpt(1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.PublishWith(ctx, k2, mailTopic, NewItem(), []byte("more"), time.Hour, rcpt(1))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "recipient-full") {
		t.Fatalf("own publish to a full recipient: %v", err)
	}
	if _, err := p.PublishWith(ctx, k2, mailTopic, NewItem(), []byte("other"), time.Hour, rcpt(2)); err != nil {
		t.Fatalf("another recipient: %v", err)
	}
	rid, err := p.RemoveWith(ctx, k1, mailTopic, item)
	if err != nil {
		t.Fatal(err)
	}
	if p.Has(id) || !p.Has(rid) {
		t.Fatal("the removal did not replace the mail")
	}
	raw, err := p.Envelope(ctx, rid)
	if err != nil {
		t.Fatal(err)
	}
	e, err := protocol.DecodePoolEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsRemoval() || e.Flags&protocol.PoolFlagRecipient != 0 || e.Expiry < uint64(time.Now().Add(7*24*time.Hour).Unix()) {
		t.Fatalf("tombstone flags %#x, expiry in %v", e.Flags, time.Until(time.Unix(int64(e.Expiry), 0)))
	}
	if _, err := p.PublishWith(ctx, k2, mailTopic, NewItem(), []byte("more"), time.Hour, rcpt(1)); err != nil {
		t.Fatalf("after the removal: %v", err)
	}
	checkCounts(t, p)
	// Remove is RemoveWith the identity.
	oid, err := p.Publish(ctx, mailTopic, item, []byte("mine"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Remove(ctx, mailTopic, item); err != nil || p.Has(oid) {
		t.Fatalf("Remove: %v, still held %v", err, p.Has(oid))
	}
	checkCounts(t, p)
}

// TestCapExpiry: expiry frees the slot and forgets the recipient.
func TestCapExpiry(t *testing.T) {
	clk := &clock{}
	p := mailPool(t, Topic{MaxHeld: 1, PerRecipient: 1}, func(c *Config) { c.Now = clk.Now })
	if r := arrive(p, mail{key: 1, to: 1}.raw(t, clk.Unix())); r != ReasonNone {
		t.Fatal(r)
	}
	if r := arrive(p, mail{key: 2, to: 1}.raw(t, clk.Unix())); r != ReasonTopicFull {
		t.Fatal(r)
	}
	clk.Advance(11 * time.Minute)
	p.mu.Lock()
	p.expireLocked(clk.Now())
	n, nr := len(p.held), len(p.recipients)
	p.mu.Unlock()
	if n != 0 || nr != 0 {
		t.Fatalf("after expiry: %d topics, %d recipients counted", n, nr)
	}
	if r := arrive(p, mail{key: 2, to: 1}.raw(t, clk.Unix())); r != ReasonNone {
		t.Fatal(r)
	}
	checkCounts(t, p)
}

// TestCapEviction: the global caps' evictions are counted too.
func TestCapEviction(t *testing.T) {
	now := uint64(time.Now().Unix())
	p := mailPool(t, Topic{PerRecipient: 5}, func(c *Config) { c.MaxMessages = 2 })
	for i := range 4 {
		if r := arrive(p, mail{key: byte(i + 1), to: 1}.raw(t, now+uint64(i))); r != ReasonNone {
			t.Fatal(r)
		}
		checkCounts(t, p)
	}
	if got := p.Stats().Topics[mailTopic].Held; got != 2 || p.Stats().Evicted != 2 {
		t.Fatalf("held %d, evicted %d", got, p.Stats().Evicted)
	}
}

// TestCapReload: a pool reloaded from pool.db counts what it held; one
// reloaded with lower caps refuses (and forgets) what exceeds them.
func TestCapReload(t *testing.T) {
	now := uint64(time.Now().Unix())
	db := filepath.Join(t.TempDir(), "pool.db")
	open := func(topic Topic) *Pool {
		topic.Name = mailTopic
		p, err := New(Config{Network: protocol.Regtest, DBPath: db, OriginBurst: 100,
			Topics: []Topic{{Name: TopicOffer}, topic}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := open(Topic{MaxHeld: 10, PerRecipient: 2})
	for _, m := range []mail{{key: 1, to: 1}, {key: 2, to: 1}, {key: 3, to: 2}, {key: 4}, {key: 1, seq: 2, removal: true}, {key: 5, to: 1}} {
		if r := arrive(p, m.raw(t, now)); r != ReasonNone {
			t.Fatalf("%+v: %s", m, r)
		}
	}
	if _, err := p.Publish(context.Background(), TopicOffer, NewItem(), []byte("offer"), time.Minute); err != nil {
		t.Fatal(err)
	}
	before := p.Stats().Topics
	p.mu.Lock()
	recipients := maps.Clone(p.recipients)
	p.mu.Unlock()
	p.Stop()

	p = open(Topic{MaxHeld: 10, PerRecipient: 2})
	checkCounts(t, p)
	p.mu.Lock()
	same := maps.Equal(recipients, p.recipients)
	p.mu.Unlock()
	if got := p.Stats().Topics; !maps.Equal(got, before) || !same || before[mailTopic].Held != 4 {
		t.Fatalf("reloaded %v (recipients equal %v), before %v", got, same, before)
	}
	p.Stop()

	p = open(Topic{MaxHeld: 2})
	checkCounts(t, p)
	if got := p.Stats().Topics[mailTopic].Held; got != 2 {
		t.Fatalf("reloaded with MaxHeld 2: %d held", got)
	}
	p.Stop()
	p = open(Topic{})
	defer p.Stop()
	if got := p.Stats().Topics; got[mailTopic].Held != 2 || got[TopicOffer].Held != 1 {
		t.Fatalf("what exceeded the lowered cap was not forgotten: %v", got)
	}
}

// TestTopicCapRelay: a relay whose topic is full refuses the next
// envelope and relays nothing of it; the other topics flow as before.
func TestTopicCapRelay(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := context.Background()
	clk := &clock{}
	// 0 → 1 ← 2: node 1 relays between the others and caps the topic.
	links := func(i int) []int {
		if i == 1 {
			return nil
		}
		return []int{1}
	}
	nodes := cluster(t, clk, 3, links, func(i int, c *Config) {
		c.Outbound, c.ProtectedOutbound = 1, 1
		mt := Topic{Name: mailTopic}
		if i == 1 {
			mt.MaxHeld = 2
		}
		c.Topics = []Topic{{Name: TopicOffer}, mt}
	})
	eventually(t, 10*time.Second, "outbound connections", func() bool {
		return nodes[0].pool.Stats().Outbound == 1 && nodes[2].pool.Stats().Outbound == 1
	})
	for i := range 3 {
		key, _ := btcec.NewPrivateKey()
		if _, err := nodes[0].pool.PublishWith(ctx, key, mailTopic, NewItem(), []byte("mail"), time.Hour, rcpt(byte(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the relay refuses the third", func() bool {
		return nodes[1].pool.Stats().Refused["topic-full"] == 1
	})
	marker, err := nodes[0].pool.Publish(ctx, TopicOffer, NewItem(), []byte("offer"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the offer crosses the relay", func() bool { return nodes[2].pool.Has(marker) })
	for i, want := range []int{3, 2, 2} {
		if got := nodes[i].pool.Stats().Topics[mailTopic].Held; got != want {
			t.Errorf("node %d holds %d mails, want %d", i, got, want)
		}
	}
	held := func(n *node) []string {
		var ids []string
		for _, m := range n.pool.Messages(mailTopic) {
			ids = append(ids, m.ID)
		}
		return ids
	}
	if a, b := held(nodes[1]), held(nodes[2]); strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatalf("node 2 holds %v, the relay %v", b, a)
	}
}
