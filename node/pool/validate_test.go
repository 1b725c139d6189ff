package pool

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// TestValidation: every refusal reason, in the order of issue 11, and the
// verdict and penalty each costs the sender.
func TestValidation(t *testing.T) {
	key := testKey(1)
	p, err := New(Config{Network: protocol.Regtest, Topics: []Topic{
		{Name: TopicOffer},
		{Name: "guarded/v1", Validate: func(_ context.Context, e *protocol.PoolEnvelope) (Verdict, error) {
			if bytes.Equal(e.Body, []byte("bad")) {
				return Reject, errors.New("no bond")
			}
			if bytes.Equal(e.Body, []byte("later")) {
				return Ignore, nil
			}
			return Accept, nil
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	now := uint64(time.Now().Unix())
	held := signed(t, key, func(e *protocol.PoolEnvelope) { e.Seq = 5 })
	if _, err := p.PublishRaw(context.Background(), held); err != nil {
		t.Fatal(err)
	}
	forged := signed(t, key, func(e *protocol.PoolEnvelope) { e.Seq = 6; e.Item[0] = 9 })
	forged[len(forged)-1] ^= 1
	tests := []struct {
		name    string
		raw     []byte
		relayed bool
		want    Reason
		verdict Verdict
	}{
		{"malformed", []byte("definitely not an envelope, but long enough to be decoded..........................................................................................................................."), true, ReasonMalformed, Reject},
		{"oversized for the wire", make([]byte, protocol.MaxPoolEnvelopeSize+1), true, ReasonOversized, Reject},
		{"oversized for the topic", signed(t, key, func(e *protocol.PoolEnvelope) { e.Body = make([]byte, DefaultOfferMaxBody+1) }), true, ReasonOversized, Reject},
		{"wrong network", signed(t, key, func(e *protocol.PoolEnvelope) { e.Network = protocol.Mainnet }), true, ReasonWrongNetwork, Reject},
		{"unknown topic", signed(t, key, func(e *protocol.PoolEnvelope) { e.Topic = "nobody/v1" }), true, ReasonUnknownTopic, Ignore},
		{"future-dated", signed(t, key, func(e *protocol.PoolEnvelope) { e.Created = now + 3600; e.Expiry = now + 3700 }), true, ReasonFuture, Reject},
		{"expiry beyond the topic's TTL", signed(t, key, func(e *protocol.PoolEnvelope) { e.Expiry = now + 24*3600 }), true, ReasonExpiryTooFar, Reject},
		{"expired (in flight)", signed(t, key, func(e *protocol.PoolEnvelope) { e.Created = now - 900; e.Expiry = now - 1 }), true, ReasonExpired, Ignore},
		{"replayed", held, true, ReasonDuplicate, Ignore},
		{"forged signature", forged, true, ReasonBadSignature, Reject},
		{"stale sequence", signed(t, key, func(e *protocol.PoolEnvelope) { e.Seq = 4; e.Body = []byte("older") }), true, ReasonStale, Ignore},
		{"same sequence, other body", signed(t, key, func(e *protocol.PoolEnvelope) { e.Seq = 5; e.Body = []byte("equivocation") }), true, ReasonStale, Ignore},
		{"validator rejects", signed(t, key, func(e *protocol.PoolEnvelope) { e.Topic = "guarded/v1"; e.Body = []byte("bad") }), true, ReasonValidator, Reject},
		{"validator ignores", signed(t, key, func(e *protocol.PoolEnvelope) { e.Topic = "guarded/v1"; e.Body = []byte("later") }), true, ReasonValidatorIgnore, Ignore},
		{"newer sequence accepted", signed(t, key, func(e *protocol.PoolEnvelope) { e.Seq = 6 }), true, ReasonNone, Accept},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, r := p.check(context.Background(), tc.raw, tc.relayed)
			if r != tc.want {
				t.Fatalf("reason %s, want %s", r, tc.want)
			}
			if v, _ := r.verdict(); v != tc.verdict {
				t.Fatalf("verdict %s, want %s", v, tc.verdict)
			}
		})
	}
}

// TestOriginLimit: one origin publishing faster than its bucket is
// ignored (not penalised) beyond the burst, for relayed envelopes only.
func TestOriginLimit(t *testing.T) {
	p, err := New(Config{Network: protocol.Regtest, OriginBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	key := testKey(2)
	var got []Reason
	for i := range 5 {
		raw := signed(t, key, func(e *protocol.PoolEnvelope) { e.Item[0] = byte(i) })
		_, r := p.check(context.Background(), raw, true)
		got = append(got, r)
	}
	want := []Reason{ReasonNone, ReasonNone, ReasonNone, ReasonOriginLimit, ReasonOriginLimit}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reasons %v, want %v", got, want)
		}
	}
}

// TestReplaceRemoveEvict: a newer sequence replaces the older one, a
// removal leaves a tombstone that refuses stale copies, and the global
// cap evicts the envelope expiring first but never our own.
func TestReplaceRemoveEvict(t *testing.T) {
	ctx := context.Background()
	p, err := New(Config{Network: protocol.Regtest, MaxMessages: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	item := NewItem()
	id1, err := p.Publish(ctx, TopicOffer, item, []byte("v1"), 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	old, err := p.Envelope(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := p.Publish(ctx, TopicOffer, item, []byte("v2"), 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p.Has(id1) || !p.Has(id2) || p.Len() != 1 {
		t.Fatalf("replacement: has v1 %v, v2 %v, len %d", p.Has(id1), p.Has(id2), p.Len())
	}
	if _, err := p.Remove(ctx, TopicOffer, item); err != nil {
		t.Fatal(err)
	}
	if ms := p.Messages(TopicOffer); len(ms) != 1 || !ms[0].Removal {
		t.Fatalf("after removal: %+v", ms)
	}
	if _, r := p.check(ctx, old, true); r != ReasonStale {
		t.Fatalf("stale copy after removal: %s", r)
	}
	// Beyond the cap the envelope expiring first goes, never our own.
	p2, err := New(Config{Network: protocol.Regtest, MaxMessages: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Stop()
	mine, err := p2.Publish(ctx, TopicOffer, NewItem(), []byte("mine"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		raw := signed(t, testKey(byte(20+i)), func(e *protocol.PoolEnvelope) { e.Expiry = e.Created + uint64(600*(i+1)) })
		c, r := p2.check(ctx, raw, false)
		if r != ReasonNone {
			t.Fatal(r)
		}
		p2.mu.Lock()
		p2.insertLocked(c, false)
		p2.mu.Unlock()
	}
	if p2.Len() != 3 || !p2.Has(mine) || p2.Stats().Evicted != 2 {
		t.Fatalf("eviction: len %d, own kept %v, evicted %d", p2.Len(), p2.Has(mine), p2.Stats().Evicted)
	}
}
