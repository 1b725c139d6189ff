package market

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
)

// Lister is what the book reads of the pool.
type Lister interface {
	Messages(topic string) []pool.Message
	Envelope(ctx context.Context, id protocol.PoolID) ([]byte, error)
}

// Book is the offer book: the live offers the node's pool holds.
type Book struct {
	pool Lister
	v    *Validator
	// trust fills each candidate's Trust (nil: none known, bond only).
	trust *Trusts
}

// UseTrust makes the book's candidates carry what ts knows of each
// maker (the taker weighs its bond by it).
func (b *Book) UseTrust(ts *Trusts) { b.trust = ts }

// NewBook reads offers from p; v verifies their bonds (cached).
func NewBook(p Lister, v *Validator) *Book { return &Book{pool: p, v: v} }

// Entry is one offer of the book.
type Entry struct {
	// ID names the offer for `chat send` and the like: the first
	// OfferIDLen hex digits of its origin (one offer per origin).
	ID               string  `json:"id"`
	Origin           string  `json:"origin"`
	Addr             string  `json:"addr"`
	MinSize          int64   `json:"min_size"`
	MaxSize          int64   `json:"max_size"`
	BaseFee          int64   `json:"base_fee"`
	AmountFeePPB     uint32  `json:"amount_fee_ppb"`
	TimeFeePPB       uint32  `json:"time_fee_ppb"`
	MinLocktime      uint16  `json:"min_locktime"`
	RequiredConfirms uint32  `json:"required_confirms"`
	Proof            string  `json:"proof"`                 // anti-spam proof kind: bond or integrity
	BondAmount       int64   `json:"bond_amount,omitempty"` // sat locked in the bond
	BondValue        float64 `json:"bond_value"`            // script.BondValue: amount and lock time, squared
	// An integrity offer's fee paid to miners, and the level it reaches
	// for the offer's maximum amount (low, normal, high).
	IntegrityFee   int64     `json:"integrity_fee,omitempty"`
	IntegrityLevel string    `json:"integrity_level,omitempty"`
	Created        time.Time `json:"created"`
	Expires        time.Time `json:"expires"`
	Own            bool      `json:"own,omitempty"`
	// Fee for Query.Amount at the offer's minimum locktime (0 when no
	// amount was asked for).
	Fee int64 `json:"fee,omitempty"`
	// Trust is what this node knows of the maker's record (RouteTrust:
	// proofs it showed us by `market trust`, our own completed swaps with
	// it, less its failures; 0: nothing known), which scales its weight in
	// the automatic choice.
	Trust float64 `json:"trust"`

	offer   protocol.Offer
	backing wire.OutPoint // the bond or integrity output: one offer each
	level   IntegrityLevel
}

// Query filters and orders the book.
type Query struct {
	// Amount: only offers that take it, with their fee for it.
	Amount int64
	// MinBondValue: only offers whose bond is worth at least this.
	MinBondValue float64
	// Proof: only offers with this kind of proof ("bond", "integrity";
	// "": both).
	Proof string
	// MinIntegrityLevel: integrity offers below this level are left out.
	MinIntegrityLevel IntegrityLevel
	// Sort: "bond" (default, highest first), "fee" (lowest first; needs
	// Amount), "trust" (highest first) or "age" (newest first).
	Sort string
}

// Offers lists the book's offers whose bond verifies, as q asks.
func (b *Book) Offers(ctx context.Context, q Query) ([]Entry, error) {
	switch q.Sort {
	case "", "bond", "age", "trust":
	case "fee":
		if q.Amount <= 0 {
			return nil, fmt.Errorf("market: sorting by fee needs an amount")
		}
	default:
		return nil, fmt.Errorf("market: unknown sort %q (bond, fee, trust or age)", q.Sort)
	}
	switch q.Proof {
	case "", ProofBond, ProofIntegrity:
	default:
		return nil, fmt.Errorf("market: unknown proof kind %q (bond or integrity)", q.Proof)
	}
	var out []Entry
	for _, m := range b.pool.Messages(pool.TopicOffer) {
		if m.Removal {
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
		if err != nil || e.Item != OfferItem {
			continue
		}
		mo, err := protocol.DecodeMarketOffer(e.Body)
		if err != nil {
			continue
		}
		en, ok := b.entry(ctx, e.Origin, mo, q)
		if !ok {
			continue
		}
		en.ID, en.Origin, en.Created, en.Expires, en.Own = m.Origin[:OfferIDLen], m.Origin, m.Created, m.Expires, m.Own
		out = append(out, en)
	}
	// One offer per bond or payment (the validator lets one origin's
	// offer hold a proof at a time, or two during an integrity switch;
	// copies held from before that keep the newest).
	newest := map[wire.OutPoint]int{}
	kept := out[:0]
	for _, en := range out {
		op := en.backing
		if i, ok := newest[op]; ok {
			if en.Created.After(kept[i].Created) {
				kept[i] = en
			}
			continue
		}
		newest[op] = len(kept)
		kept = append(kept, en)
	}
	out = kept
	trust := b.trustOf(ctx)
	for i := range out {
		out[i].Trust = trust(out[i].Addr)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		switch q.Sort {
		case "trust":
			return cmp.Or(cmp.Compare(b.Trust, a.Trust), cmp.Compare(b.BondValue, a.BondValue))
		case "fee":
			return cmp.Or(cmp.Compare(a.Fee, b.Fee), cmp.Compare(b.BondValue, a.BondValue))
		case "age":
			return b.Created.Compare(a.Created)
		}
		return cmp.Or(cmp.Compare(b.BondValue, a.BondValue), cmp.Compare(a.Addr, b.Addr))
	})
	return out, nil
}

// trustOf is each maker's RouteTrust, or 0 for all when the node's
// history cannot be read: the bonds alone still choose, the book must not
// go empty for want of trust.
func (b *Book) trustOf(ctx context.Context) func(addr string) float64 {
	if b.trust != nil {
		if of, err := b.trust.Of(ctx); err == nil {
			return of
		}
	}
	return func(string) float64 { return 0 }
}

// Proof kinds as the book names them.
const (
	ProofBond      = "bond"
	ProofIntegrity = "integrity"
)

// entry is one pool offer as the book shows it, if it verifies and q
// wants it.
func (b *Book) entry(ctx context.Context, origin [protocol.XOnlyKeySize]byte, mo *protocol.MarketOffer, q Query) (Entry, bool) {
	o := &mo.Offer
	if b.v.bl != nil {
		if _, listed := b.v.bl.Listed(ctx, origin, mo); listed {
			return Entry{}, false // held from before it was listed
		}
	}
	if q.Amount > 0 && (q.Amount < o.MinSize || q.Amount > o.MaxSize) {
		return Entry{}, false
	}
	en := Entry{Addr: mo.MakerAddr(), MinSize: o.MinSize, MaxSize: o.MaxSize,
		BaseFee: o.BaseFee, AmountFeePPB: o.AmountFeePPB, TimeFeePPB: o.TimeFeePPB, MinLocktime: o.MinLocktime,
		RequiredConfirms: o.RequiredConfirms, offer: *o}
	switch mo.ProofKind {
	case protocol.OfferProofIntegrity:
		fact, err := b.v.Integrity(ctx, origin, mo)
		if err != nil || q.Proof == ProofBond || q.MinBondValue > 0 || fact.Level < q.MinIntegrityLevel {
			return Entry{}, false
		}
		en.Proof, en.IntegrityFee, en.IntegrityLevel = ProofIntegrity, fact.Fee, fact.Level.String()
		en.backing, en.level = fact.OutPoint, fact.Level
	default:
		value, err := b.v.Bond(ctx, &o.Fidelity)
		if err != nil || value < q.MinBondValue || q.Proof == ProofIntegrity {
			return Entry{}, false
		}
		en.Proof, en.BondAmount, en.BondValue = ProofBond, o.Fidelity.BondValue, value
		en.backing = o.Fidelity.BondOutPoint
	}
	if q.Amount > 0 {
		en.Fee = swap.MakerFee(swap.Terms{BaseFee: o.BaseFee, AmountFeePPB: o.AmountFeePPB, TimeFeePPB: o.TimeFeePPB},
			q.Amount, o.MinLocktime)
	}
	return en, true
}

// Makers implements taker.MakerSource: the book's makers, highest bond
// first, each with its offer (the taker skips asking for it, and names
// its terms when it sets the maker's hop up), the certificate it carries
// (the taker verifies the bond on its own node before it dials) or,
// without a bond, the integrity fee it paid, and its trust (RouteTrust).
func (b *Book) Makers(ctx context.Context) ([]taker.Candidate, error) {
	es, err := b.Offers(ctx, Query{})
	if err != nil {
		return nil, err
	}
	out := make([]taker.Candidate, 0, len(es))
	for i := range es {
		if es[i].Own {
			continue // our own offer: a maker does not swap with itself
		}
		o := es[i].offer
		c := taker.Candidate{Addr: es[i].Addr, Trust: es[i].Trust, Offer: &o}
		if o.HasBond() {
			c.Proof = &o.Fidelity
		} else {
			c.IntegrityFee = es[i].IntegrityFee
		}
		out = append(out, c)
	}
	return out, nil
}

// Named returns the book's makers at addrs, each of which must have a
// live offer whose bond verifies: the route of a swap that names its
// makers (`taker swap --offer`).
func (b *Book) Named(ctx context.Context, addrs []string) (taker.MakerSource, error) {
	all, err := b.Makers(ctx)
	if err != nil {
		return nil, err
	}
	byAddr := make(map[string]taker.Candidate, len(all))
	for _, c := range all {
		byAddr[c.Addr] = c
	}
	out := make(taker.StaticSource, 0, len(addrs))
	seen := map[string]bool{}
	for _, a := range addrs {
		c, ok := byAddr[a]
		switch {
		case seen[a]:
			return nil, fmt.Errorf("market: %s named twice", a)
		case !ok:
			return nil, fmt.Errorf("market: no offer of %s in the book (onionswap market offers)", a)
		}
		seen[a] = true
		out = append(out, c)
	}
	return out, nil
}

// OfferIDLen: hex digits of an offer id. 64 bits of the origin: a
// collision with a chosen maker's id needs ~2^64 keys, and among the
// ≤ 5,000 offers of a book two ids collide with odds of ~10^-12.
const OfferIDLen = 16

// ErrNoOffer: no offer of the book has the id.
var ErrNoOffer = errors.New("market: no such offer in the book")

// Offer finds the offer whose id (or its origin, or a prefix of it of at
// least 8 hex digits) is id.
func (b *Book) Offer(ctx context.Context, id string) (Entry, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) < 8 || len(id) > 64 {
		return Entry{}, fmt.Errorf("%w: %q (an offer id is %d hex digits)", ErrNoOffer, id, OfferIDLen)
	}
	es, err := b.Offers(ctx, Query{})
	if err != nil {
		return Entry{}, err
	}
	var found []Entry
	for _, e := range es {
		if strings.HasPrefix(e.Origin, id) {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return Entry{}, fmt.Errorf("%w: %q", ErrNoOffer, id)
	case 1:
		return found[0], nil
	}
	return Entry{}, fmt.Errorf("%w: %q names %d offers", ErrNoOffer, id, len(found))
}
