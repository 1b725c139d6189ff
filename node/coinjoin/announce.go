package coinjoin

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/internal/hashcash"
	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
)

// Announcements (issue 14, item 2). A wallet that wants to mix says so on
// the pool's CoinJoin topic every AnnounceInterval: the round's terms
// (denomination, T, fee rate), a fresh round key that signs the envelope
// as its origin, a fresh X25519 key for the shuffle's layers and the
// ephemeral onion where it takes the round's messages. Nothing in it is
// the node's: not its pool identity (the envelope's origin is the round
// key), not its onion, not its coins.
//
// # Anti-spam: a hashcash stamp
//
// Every relay checks that the announcement carries a proof of work
// (internal/hashcash, as the chat's mailbox does) bound to the envelope's
// origin and to the body without its stamp, so a stamp is worth one
// announcement and a replay under a new key needs new work. It costs the
// announcer CPU and shows nothing: a proof of coin ownership (a signature
// by the coin to be mixed, a bond) would show the announcer's coins to
// every pool node, which is what the CoinJoin is there to hide, and would
// link the coin to the round key before the round begins. The stamp comes
// on top of what the pool does for every topic: per-connection budgets (a
// flooding peer is banned within a second), the topic's rate, and its
// caps (AnnounceMaxHeld, AnnounceMaxHeldBytes), which refuse what does
// not fit and never evict what is held, so a flood cannot crowd out the
// offers or the mailbox.
//
// Its limit: work is bought with cores. At StampBits a fast core mints
// ~13 stamps a second, so a flooder with one core can keep the topic's
// 2,000 slots full (AnnounceTTL is 10 minutes) and delay honest
// announcements until the flood stops; the caps keep the damage to this
// topic. Refusing that flooder would need something it cannot make up by
// the dozen, a cost every announcer pays on chain, which the issue rules
// out for privacy.

// Tags of what the announcements derive.
const (
	stampTag = "onionswap/coinjoin-stamp"
	itemTag  = "onionswap/coinjoin-item"
)

// Errors of the announcement topic.
var (
	// ErrBadStamp: an announcement without its proof of work (or with
	// one minted for another body or origin).
	ErrBadStamp = errors.New("coinjoin: announcement stamp below the difficulty")
	// ErrOriginMismatch: the envelope is not signed by the announcement's
	// round key (or is not the item that key names).
	ErrOriginMismatch = errors.New("coinjoin: announcement not signed by its round key")
	// ErrRecipient: an announcement is for everyone.
	ErrRecipient = errors.New("coinjoin: announcement addressed to a recipient")
)

// AnnounceItem is the pool item of the announcement of round key sign:
// one item per key, the first 16 bytes of its tagged hash.
func AnnounceItem(sign [protocol.XOnlyKeySize]byte) protocol.PoolItem {
	var it protocol.PoolItem
	copy(it[:], chainhash.TaggedHash([]byte(itemTag), sign[:])[:])
	return it
}

// stampPrefix is what an announcement's stamp is bound to: the envelope's
// origin and the SHA-256 of the body with its stamp zeroed.
func stampPrefix(origin [protocol.XOnlyKeySize]byte, a *protocol.CoinJoinAnnounce) ([32]byte, error) {
	c := *a
	c.Stamp = 0
	body, err := protocol.EncodeCoinJoinAnnounce(&c)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.Sum256(body)
	return hashcash.Prefix(stampTag, origin[:], h[:]), nil
}

// AnnounceTopic is the CoinJoin topic as every pool node relays it, with
// its caps and the relay's check.
func AnnounceTopic(network protocol.Network) pool.Topic {
	bits := stampBits(network)
	return pool.Topic{
		Name:         TopicAnnounce,
		MaxBody:      AnnounceMaxBody,
		MaxTTL:       AnnounceTTL,
		Rate:         announceTopicRate,
		Burst:        announceTopicBurst,
		MaxHeld:      AnnounceMaxHeld,
		MaxHeldBytes: AnnounceMaxHeldBytes,
		Validate: func(_ context.Context, e *protocol.PoolEnvelope) (pool.Verdict, error) {
			if e.IsRemoval() {
				return pool.Accept, nil // the announcer withdraws
			}
			if _, err := checkAnnounce(e, bits); err != nil {
				return pool.Reject, err
			}
			return pool.Accept, nil
		},
		Why: announceWhy,
	}
}

// checkAnnounce checks a live announcement envelope (signature and clock
// are the pool's) and returns its body: addressed to nobody, a body that
// decodes, signed by the body's round key under the item it names, terms
// a round accepts, and the stamp.
func checkAnnounce(e *protocol.PoolEnvelope, bits int) (*protocol.CoinJoinAnnounce, error) {
	if e.Flags&protocol.PoolFlagRecipient != 0 {
		return nil, ErrRecipient
	}
	a, err := protocol.DecodeCoinJoinAnnounce(e.Body)
	if err != nil {
		return nil, fmt.Errorf("coinjoin: announcement body: %w", err)
	}
	if e.Origin != a.SignKey || e.Item != AnnounceItem(a.SignKey) {
		return nil, ErrOriginMismatch
	}
	if err := (Params{Denomination: a.Denomination, FeeRate: int64(a.FeeRate)}).check(int(a.T)); err != nil {
		return nil, err
	}
	p, err := stampPrefix(e.Origin, a)
	if err != nil {
		return nil, fmt.Errorf("coinjoin: announcement body: %w", err)
	}
	if !hashcash.Check(p, a.Stamp, bits) {
		return nil, ErrBadStamp
	}
	return a, nil
}

func announceWhy(err error) string {
	switch {
	case errors.Is(err, ErrBadStamp):
		return "bad-stamp"
	case errors.Is(err, ErrOriginMismatch):
		return "origin-mismatch"
	case errors.Is(err, ErrRecipient):
		return "recipient"
	case errors.Is(err, ErrParams):
		return "terms"
	}
	return "malformed"
}

// Terms are what an announcement offers: the round's denomination, the
// least number of participants T and the least fee rate.
type Terms struct {
	Denomination int64
	T            int
	FeeRate      int64
}

// RoundKeys are the fresh keys of one announcement: Sign signs its
// envelope (and withdraws it: pool.RemoveWith(Sign, TopicAnnounce, Item))
// and the announcer's passes, Enc opens its shuffle layers; Peer is their
// public halves, as the other participants list it.
type RoundKeys struct {
	Sign *btcec.PrivateKey
	Enc  sealbox.Key
	Peer ShufflePeer
	Item protocol.PoolItem
}

// NewAnnouncement makes fresh round keys and the signed envelope that
// announces them with terms and the announcer's ephemeral onion contact
// ("host:port"), stamped with bits of work (0: the network's) and alive
// for AnnounceTTL from now. The caller publishes it (pool.PublishRaw) and
// makes a new one every AnnounceInterval.
func NewAnnouncement(network protocol.Network, terms Terms, contact string, bits int) ([]byte, RoundKeys, error) {
	var keys RoundKeys
	if err := (Params{Denomination: terms.Denomination, FeeRate: terms.FeeRate}).check(terms.T); err != nil {
		return nil, keys, err
	}
	sign, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, keys, fmt.Errorf("coinjoin: %w", err)
	}
	enc, err := sealbox.NewKey()
	if err != nil {
		return nil, keys, fmt.Errorf("coinjoin: %w", err)
	}
	keys = RoundKeys{Sign: sign, Enc: enc}
	copy(keys.Peer.Sign[:], schnorr.SerializePubKey(sign.PubKey()))
	keys.Peer.Enc = enc.Pub
	keys.Item = AnnounceItem(keys.Peer.Sign)
	a := &protocol.CoinJoinAnnounce{Denomination: terms.Denomination, T: uint8(terms.T), FeeRate: uint32(terms.FeeRate),
		SignKey: keys.Peer.Sign, EncKey: keys.Peer.Enc, Contact: contact}
	if bits == 0 {
		bits = stampBits(network)
	}
	raw, err := announceEnvelope(network, a, sign, bits, time.Now())
	if err != nil {
		return nil, RoundKeys{}, err
	}
	return raw, keys, nil
}

// announceEnvelope stamps a (bits ≥ 0: bound to key's origin) and signs
// its envelope with key, under the item of a's SignKey.
func announceEnvelope(network protocol.Network, a *protocol.CoinJoinAnnounce, key *btcec.PrivateKey, bits int, now time.Time) ([]byte, error) {
	var origin [protocol.XOnlyKeySize]byte
	copy(origin[:], schnorr.SerializePubKey(key.PubKey()))
	if bits >= 0 {
		p, err := stampPrefix(origin, a)
		if err != nil {
			return nil, err
		}
		a.Stamp = hashcash.Mint(p, bits)
	}
	body, err := protocol.EncodeCoinJoinAnnounce(a)
	if err != nil {
		return nil, err
	}
	e := &protocol.PoolEnvelope{Network: network, Topic: TopicAnnounce, Item: AnnounceItem(a.SignKey),
		Seq: uint64(now.UnixMilli()), Created: uint64(now.Unix()), Expiry: uint64(now.Add(AnnounceTTL).Unix()), Body: body}
	if err := e.Sign(key); err != nil {
		return nil, err
	}
	return e.Encode()
}

// Lister is what the board reads of the pool (*pool.Pool).
type Lister interface {
	Messages(topic string) []pool.Message
	Envelope(ctx context.Context, id protocol.PoolID) ([]byte, error)
}

// Board lists the live announcements a pool holds.
type Board struct {
	pool Lister
	now  func() time.Time
}

// NewBoard reads announcements from p.
func NewBoard(p Lister) *Board { return &Board{pool: p, now: time.Now} }

// Announcement is one live announcement of the board.
type Announcement struct {
	// Peer: the announcer's round keys (Sign is the envelope's origin).
	Peer ShufflePeer
	// Contact: the announcer's ephemeral onion, "host:port".
	Contact      string
	Denomination int64
	T            int
	FeeRate      int64
	Expires      time.Time
	// ID of the envelope in the pool.
	ID protocol.PoolID
}

// Announcements lists the live announcements of denomination (0: of
// every denomination), ordered by denomination, then the newest first
// (the latest expiry), then round key. The board does not trust the pool:
// it lists only those that pass the relay's check again (a body that
// decodes, signed by its round key, terms a round accepts, the stamp of
// the envelope's network).
func (b *Board) Announcements(ctx context.Context, denomination int64) ([]Announcement, error) {
	now := b.now()
	var out []Announcement
	for _, m := range b.pool.Messages(TopicAnnounce) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if m.Removal || !m.Expires.After(now) {
			continue
		}
		id, err := protocol.ParsePoolID(m.ID)
		if err != nil {
			continue
		}
		raw, err := b.pool.Envelope(ctx, id)
		if err != nil {
			continue // gone since it was listed
		}
		e, err := protocol.DecodePoolEnvelope(raw)
		if err != nil || e.Topic != TopicAnnounce || e.IsRemoval() {
			continue
		}
		a, err := checkAnnounce(e, stampBits(e.Network))
		if err != nil || (denomination != 0 && a.Denomination != denomination) {
			continue
		}
		out = append(out, Announcement{Peer: ShufflePeer{Sign: a.SignKey, Enc: a.EncKey}, Contact: a.Contact,
			Denomination: a.Denomination, T: int(a.T), FeeRate: int64(a.FeeRate),
			Expires: time.Unix(int64(e.Expiry), 0).UTC(), ID: id})
	}
	slices.SortFunc(out, func(x, y Announcement) int {
		return cmp.Or(cmp.Compare(x.Denomination, y.Denomination), y.Expires.Compare(x.Expires),
			bytes.Compare(x.Peer.Sign[:], y.Peer.Sign[:]))
	})
	return out, nil
}
