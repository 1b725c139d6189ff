package coinjoin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"golang.org/x/crypto/curve25519"

	"github.com/onionswap/onionswap/internal/hashcash"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
)

const testContact = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcd.onion:9735"

var testTerms = Terms{Denomination: 1_000_000, T: 5, FeeRate: 10}

func xonly(k *btcec.PrivateKey) (x [protocol.XOnlyKeySize]byte) {
	copy(x[:], schnorr.SerializePubKey(k.PubKey()))
	return x
}

func newKey(t testing.TB) *btcec.PrivateKey {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testBody: an announcement body of round key sign with terms (its
// EncKey arbitrary: only the announcer ever uses it).
func testBody(sign *btcec.PrivateKey, terms Terms) *protocol.CoinJoinAnnounce {
	return &protocol.CoinJoinAnnounce{Denomination: terms.Denomination, T: uint8(terms.T), FeeRate: uint32(terms.FeeRate),
		SignKey: xonly(sign), EncKey: [32]byte{9}, Contact: testContact}
}

func decodeEnv(t *testing.T, raw []byte) *protocol.PoolEnvelope {
	t.Helper()
	e, err := protocol.DecodePoolEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// envOf: the signed envelope of body a, stamped (bits ≥ 0) for key's
// origin, signed by key.
func envOf(t *testing.T, a *protocol.CoinJoinAnnounce, key *btcec.PrivateKey, bits int) *protocol.PoolEnvelope {
	t.Helper()
	raw, err := announceEnvelope(protocol.Regtest, a, key, bits, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return decodeEnv(t, raw)
}

// unstamped: a nonce that does not carry bits of work for a under origin.
func unstamped(t *testing.T, origin [protocol.XOnlyKeySize]byte, a *protocol.CoinJoinAnnounce, bits int) uint64 {
	t.Helper()
	p, err := stampPrefix(origin, a)
	if err != nil {
		t.Fatal(err)
	}
	for n := uint64(0); ; n++ {
		if !hashcash.Check(p, n, bits) {
			return n
		}
	}
}

func TestAnnounceValidator(t *testing.T) {
	topic := AnnounceTopic(protocol.Regtest)
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) *protocol.PoolEnvelope
		why  string // "": accepted
	}{
		{"fresh announcement", func(t *testing.T) *protocol.PoolEnvelope {
			raw, _, err := NewAnnouncement(protocol.Regtest, testTerms, testContact, 0)
			if err != nil {
				t.Fatal(err)
			}
			return decodeEnv(t, raw)
		}, ""},
		{"removal", func(t *testing.T) *protocol.PoolEnvelope {
			e := envOf(t, testBody(newKey(t), testTerms), newKey(t), 0)
			e.Flags, e.Body = protocol.PoolFlagRemoval, nil
			return e
		}, ""},
		{"forged origin: another key publishes a round key's body", func(t *testing.T) *protocol.PoolEnvelope {
			// Stamped properly for the forger's own origin: only the
			// origin is wrong.
			return envOf(t, testBody(newKey(t), testTerms), newKey(t), RegtestStampBits)
		}, "origin-mismatch"},
		{"item not the round key's", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			e := envOf(t, testBody(k, testTerms), k, RegtestStampBits)
			e.Item[0] ^= 1
			return e
		}, "origin-mismatch"},
		{"bad stamp", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			a := testBody(k, testTerms)
			a.Stamp = unstamped(t, xonly(k), a, RegtestStampBits)
			return envOf(t, a, k, -1)
		}, "bad-stamp"},
		{"stamp minted for another body", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			a := testBody(k, testTerms)
			envOf(t, a, k, RegtestStampBits) // mints a.Stamp for these terms
			b := *a
			// Terms the stamp does not happen to fit (one in 1,024 does).
			for b.FeeRate = a.FeeRate + 1; hashcash.Check(mustPrefix(t, xonly(k), &b), b.Stamp, RegtestStampBits); b.FeeRate++ {
			}
			return envOf(t, &b, k, -1)
		}, "bad-stamp"},
		{"stamp minted for another origin", func(t *testing.T) *protocol.PoolEnvelope {
			k, other := newKey(t), newKey(t)
			a := testBody(k, testTerms)
			p, _ := stampPrefix(xonly(other), a)
			for a.Stamp = hashcash.Mint(p, RegtestStampBits); hashcash.Check(mustPrefix(t, xonly(k), a), a.Stamp, RegtestStampBits); {
				a.Stamp = hashcash.Mint(p, RegtestStampBits)
			}
			return envOf(t, a, k, -1)
		}, "bad-stamp"},
		{"dust denomination", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			return envOf(t, testBody(k, Terms{Denomination: MinDenomination - 1, T: 5, FeeRate: 10}), k, RegtestStampBits)
		}, "terms"},
		{"fee rate too high", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			return envOf(t, testBody(k, Terms{Denomination: 1_000_000, T: 5, FeeRate: MaxFeeRate + 1}), k, RegtestStampBits)
		}, "terms"},
		{"T below MinParticipants", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			e := envOf(t, testBody(k, testTerms), k, RegtestStampBits)
			e.Body[1+8] = MinParticipants - 1
			return e
		}, "malformed"},
		{"T above MaxParticipants", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			e := envOf(t, testBody(k, testTerms), k, RegtestStampBits)
			e.Body[1+8] = MaxParticipants + 1
			return e
		}, "malformed"},
		{"body does not decode", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			e := envOf(t, testBody(k, testTerms), k, RegtestStampBits)
			e.Body = e.Body[:len(e.Body)-1]
			return e
		}, "malformed"},
		{"addressed to a recipient", func(t *testing.T) *protocol.PoolEnvelope {
			k := newKey(t)
			e := envOf(t, testBody(k, testTerms), k, RegtestStampBits)
			e.Flags |= protocol.PoolFlagRecipient
			e.Recipient[0] = 1
			if err := e.Sign(k); err != nil {
				t.Fatal(err)
			}
			return e
		}, "recipient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := topic.Validate(context.Background(), tc.env(t))
			if tc.why == "" {
				if v != pool.Accept || err != nil {
					t.Fatalf("%v, %v; want accepted", v, err)
				}
				return
			}
			if v != pool.Reject || err == nil {
				t.Fatalf("%v, %v; want rejected", v, err)
			}
			if got := topic.Why(err); got != tc.why {
				t.Fatalf("why %q (%v), want %q", got, err, tc.why)
			}
		})
	}
}

func mustPrefix(t *testing.T, origin [protocol.XOnlyKeySize]byte, a *protocol.CoinJoinAnnounce) [32]byte {
	t.Helper()
	p, err := stampPrefix(origin, a)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The network's difficulty: a regtest stamp is not a mainnet one (at 10
// bits, a 20-bit check fails but for one chance in 1,024, so the test
// mints until it does).
func TestAnnounceStampBits(t *testing.T) {
	main := AnnounceTopic(protocol.Mainnet)
	for {
		raw, _, err := NewAnnouncement(protocol.Mainnet, testTerms, testContact, RegtestStampBits)
		if err != nil {
			t.Fatal(err)
		}
		_, err = main.Validate(context.Background(), decodeEnv(t, raw))
		if errors.Is(err, ErrBadStamp) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewAnnouncementFreshKeys(t *testing.T) {
	raw1, k1, err := NewAnnouncement(protocol.Regtest, testTerms, testContact, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw2, k2, err := NewAnnouncement(protocol.Regtest, testTerms, testContact, 0)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Peer.Sign == k2.Peer.Sign || k1.Peer.Enc == k2.Peer.Enc || k1.Item == k2.Item ||
		k1.Sign.Key.Equals(&k2.Sign.Key) || k1.Enc.Priv == k2.Enc.Priv {
		t.Fatal("two announcements share a key")
	}
	for _, c := range []struct {
		raw  []byte
		keys RoundKeys
	}{{raw1, k1}, {raw2, k2}} {
		e := decodeEnv(t, c.raw)
		a, err := protocol.DecodeCoinJoinAnnounce(e.Body)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := curve25519.X25519(c.keys.Enc.Priv[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Origin != xonly(c.keys.Sign) || a.SignKey != c.keys.Peer.Sign || e.Item != c.keys.Item:
			t.Fatal("the envelope's origin, the body's sign key and the keys differ")
		case a.EncKey != c.keys.Peer.Enc || [32]byte(pub) != c.keys.Enc.Pub:
			t.Fatal("the body's enc key is not the keys'")
		case a.Denomination != testTerms.Denomination || int(a.T) != testTerms.T || int64(a.FeeRate) != testTerms.FeeRate || a.Contact != testContact:
			t.Fatalf("terms %+v", a)
		case e.Flags != 0 || e.Topic != TopicAnnounce || time.Duration(e.Expiry-e.Created)*time.Second != AnnounceTTL:
			t.Fatalf("envelope %+v", e)
		}
	}
	for name, terms := range map[string]Terms{
		"dust":          {Denomination: MinDenomination - 1, T: 5, FeeRate: 1},
		"T 1":           {Denomination: 1_000_000, T: 1, FeeRate: 1},
		"T 101":         {Denomination: 1_000_000, T: 101, FeeRate: 1},
		"T 300":         {Denomination: 1_000_000, T: 300, FeeRate: 1},
		"fee rate 0":    {Denomination: 1_000_000, T: 5, FeeRate: 0},
		"fee rate 1001": {Denomination: 1_000_000, T: 5, FeeRate: MaxFeeRate + 1},
	} {
		if _, _, err := NewAnnouncement(protocol.Regtest, terms, testContact, 0); !errors.Is(err, ErrParams) {
			t.Errorf("%s: %v, want ErrParams", name, err)
		}
	}
	if _, _, err := NewAnnouncement(protocol.Regtest, testTerms, "", 0); err == nil {
		t.Error("announced without a contact")
	}
}

func newTestPool(t *testing.T, topic pool.Topic) *pool.Pool {
	t.Helper()
	p, err := pool.New(pool.Config{Network: protocol.Regtest, Topics: []pool.Topic{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

func TestBoardListsPublished(t *testing.T) {
	ctx := context.Background()
	p := newTestPool(t, AnnounceTopic(protocol.Regtest))
	b := NewBoard(p)
	keys := map[[32]byte]RoundKeys{}
	for _, d := range []int64{2_000_000, 1_000_000, 1_000_000} {
		raw, k, err := NewAnnouncement(protocol.Regtest, Terms{Denomination: d, T: 3, FeeRate: 2}, testContact, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PublishRaw(ctx, raw); err != nil {
			t.Fatal(err)
		}
		keys[k.Peer.Sign] = k
	}
	all, err := b.Announcements(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Denomination != 1_000_000 || all[1].Denomination != 1_000_000 || all[2].Denomination != 2_000_000 {
		t.Fatalf("board %+v", all)
	}
	for _, a := range all {
		k, ok := keys[a.Peer.Sign]
		if !ok || a.Peer != k.Peer || a.Contact != testContact || a.T != 3 || a.FeeRate != 2 ||
			time.Until(a.Expires) > AnnounceTTL || time.Until(a.Expires) < AnnounceTTL-time.Minute {
			t.Fatalf("announcement %+v", a)
		}
	}
	one, err := b.Announcements(ctx, 2_000_000)
	if err != nil || len(one) != 1 || one[0] != all[2] {
		t.Fatalf("denomination 2,000,000: %+v, %v", one, err)
	}
	// The announcer withdraws: the removal passes the validator and the
	// board no longer lists it.
	k := keys[all[0].Peer.Sign]
	if _, err := p.RemoveWith(ctx, k.Sign, TopicAnnounce, k.Item); err != nil {
		t.Fatal(err)
	}
	left, err := b.Announcements(ctx, 1_000_000)
	if err != nil || len(left) != 1 || left[0] != all[1] {
		t.Fatalf("after a withdrawal: %+v, %v", left, err)
	}
}

// A flood beyond the topic's cap is refused, nothing held is evicted for
// it, and the board lists exactly what is held.
func TestAnnounceFlood(t *testing.T) {
	ctx := context.Background()
	const held = 5
	topic := AnnounceTopic(protocol.Regtest)
	topic.MaxHeld = held
	p := newTestPool(t, topic)
	ids := map[protocol.PoolID]bool{}
	for i := range 3 * held {
		raw, _, err := NewAnnouncement(protocol.Regtest, testTerms, testContact, 0)
		if err != nil {
			t.Fatal(err)
		}
		id, err := p.PublishRaw(ctx, raw)
		switch {
		case i < held && err != nil:
			t.Fatalf("announcement %d: %v", i, err)
		case i < held:
			ids[id] = true
		case !errors.Is(err, pool.ErrRefused) || !strings.Contains(err.Error(), "topic-full"):
			t.Fatalf("announcement %d beyond the cap: %v, want refused topic-full", i, err)
		}
	}
	list, err := NewBoard(p).Announcements(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != held {
		t.Fatalf("board lists %d, want %d", len(list), held)
	}
	for _, a := range list {
		if !ids[a.ID] {
			t.Fatalf("board lists %x, not one of the held", a.ID)
		}
	}
}

// fakePool: a pool that holds whatever it is given, checked or not.
type fakePool struct {
	msgs []pool.Message
	raws map[protocol.PoolID][]byte
}

func (f *fakePool) add(t *testing.T, e *protocol.PoolEnvelope, expires time.Time) {
	t.Helper()
	raw, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.ID()
	if err != nil {
		t.Fatal(err)
	}
	f.raws[id] = raw
	f.msgs = append(f.msgs, pool.Message{ID: id.String(), Topic: TopicAnnounce, Expires: expires, Removal: e.IsRemoval()})
}

func (f *fakePool) Messages(string) []pool.Message { return f.msgs }
func (f *fakePool) Envelope(_ context.Context, id protocol.PoolID) ([]byte, error) {
	if raw, ok := f.raws[id]; ok {
		return raw, nil
	}
	return nil, errors.New("gone")
}

// The board does not trust its pool: what the validator would refuse,
// and what has expired, is not listed.
func TestBoardDistrustsPool(t *testing.T) {
	f := &fakePool{raws: map[protocol.PoolID][]byte{}}
	later := time.Now().Add(AnnounceTTL)
	good := newKey(t)
	f.add(t, envOf(t, testBody(good, testTerms), good, RegtestStampBits), later)
	forger := newKey(t)
	f.add(t, envOf(t, testBody(newKey(t), testTerms), forger, RegtestStampBits), later)
	k := newKey(t)
	a := testBody(k, testTerms)
	a.Stamp = unstamped(t, xonly(k), a, RegtestStampBits)
	f.add(t, envOf(t, a, k, -1), later)
	old := newKey(t)
	f.add(t, envOf(t, testBody(old, testTerms), old, RegtestStampBits), time.Now().Add(-time.Second))
	f.msgs = append(f.msgs, pool.Message{ID: "zz", Expires: later}, pool.Message{ID: protocol.PoolID{1}.String(), Expires: later})
	list, err := NewBoard(f).Announcements(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Peer.Sign != xonly(good) {
		t.Fatalf("board %+v; want only the good one", list)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewBoard(f).Announcements(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestAnnounceParams(t *testing.T) {
	if MinParticipants != protocol.MinCJPeers || MaxParticipants != protocol.MaxCJPeers {
		t.Fatal("the announcement's bounds on T are not the round's")
	}
	if AnnounceTTL < 2*AnnounceInterval {
		t.Fatal("an announcement does not outlive one missed refresh")
	}
	// The largest envelope: the longest contact (no recipient: the
	// validator refuses one).
	k := newKey(t)
	a := testBody(k, testTerms)
	a.Contact = strings.Repeat("a", protocol.MaxAddrLen)
	raw, err := announceEnvelope(protocol.Regtest, a, k, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("largest envelope: %d bytes", len(raw))
	if len(raw)*AnnounceMaxHeld > AnnounceMaxHeldBytes {
		t.Fatalf("%d envelopes of %d bytes do not fit %d", AnnounceMaxHeld, len(raw), AnnounceMaxHeldBytes)
	}
	if AnnounceMaxBody > protocol.MaxPoolBodyLen {
		t.Fatal("an announcement does not fit a pool body")
	}
}
