package market

import (
	"cmp"
	"context"
	"fmt"
	"slices"
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
	Origin           string    `json:"origin"`
	Addr             string    `json:"addr"`
	MinSize          int64     `json:"min_size"`
	MaxSize          int64     `json:"max_size"`
	BaseFee          int64     `json:"base_fee"`
	AmountFeePPB     uint32    `json:"amount_fee_ppb"`
	TimeFeePPB       uint32    `json:"time_fee_ppb"`
	MinLocktime      uint16    `json:"min_locktime"`
	RequiredConfirms uint32    `json:"required_confirms"`
	Proof            string    `json:"proof"`       // anti-spam proof kind
	BondAmount       int64     `json:"bond_amount"` // sat locked in the bond
	BondValue        float64   `json:"bond_value"`  // script.BondValue: amount and lock time, squared
	Created          time.Time `json:"created"`
	Expires          time.Time `json:"expires"`
	Own              bool      `json:"own,omitempty"`
	// Fee for Query.Amount at the offer's minimum locktime (0 when no
	// amount was asked for).
	Fee int64 `json:"fee,omitempty"`

	offer protocol.Offer
}

// Query filters and orders the book.
type Query struct {
	// Amount: only offers that take it, with their fee for it.
	Amount int64
	// MinBondValue: only offers whose bond is worth at least this.
	MinBondValue float64
	// Sort: "bond" (default, highest first), "fee" (lowest first; needs
	// Amount) or "age" (newest first).
	Sort string
}

// Offers lists the book's offers whose bond verifies, as q asks.
func (b *Book) Offers(ctx context.Context, q Query) ([]Entry, error) {
	switch q.Sort {
	case "", "bond", "age":
	case "fee":
		if q.Amount <= 0 {
			return nil, fmt.Errorf("market: sorting by fee needs an amount")
		}
	default:
		return nil, fmt.Errorf("market: unknown sort %q (bond, fee or age)", q.Sort)
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
		o := &mo.Offer
		if b.v.bl != nil {
			if _, listed := b.v.bl.Listed(ctx, e.Origin, o); listed {
				continue // held from before it was listed
			}
		}
		value, err := b.v.Bond(ctx, &o.Fidelity)
		if err != nil || value < q.MinBondValue {
			continue
		}
		if q.Amount > 0 && (q.Amount < o.MinSize || q.Amount > o.MaxSize) {
			continue
		}
		en := Entry{Origin: m.Origin, Addr: o.Fidelity.Addr, MinSize: o.MinSize, MaxSize: o.MaxSize,
			BaseFee: o.BaseFee, AmountFeePPB: o.AmountFeePPB, TimeFeePPB: o.TimeFeePPB, MinLocktime: o.MinLocktime,
			RequiredConfirms: o.RequiredConfirms, Proof: "bond", BondAmount: o.Fidelity.BondValue, BondValue: value,
			Created: m.Created, Expires: m.Expires, Own: m.Own, offer: *o}
		if q.Amount > 0 {
			en.Fee = swap.MakerFee(swap.Terms{BaseFee: o.BaseFee, AmountFeePPB: o.AmountFeePPB, TimeFeePPB: o.TimeFeePPB},
				q.Amount, o.MinLocktime)
		}
		out = append(out, en)
	}
	// One offer per bond (the validator lets one origin's offer hold a
	// bond at a time; copies held from before that keep the newest).
	newest := map[wire.OutPoint]int{}
	kept := out[:0]
	for _, en := range out {
		op := en.offer.Fidelity.BondOutPoint
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
	slices.SortFunc(out, func(a, b Entry) int {
		switch q.Sort {
		case "fee":
			return cmp.Or(cmp.Compare(a.Fee, b.Fee), cmp.Compare(b.BondValue, a.BondValue))
		case "age":
			return b.Created.Compare(a.Created)
		}
		return cmp.Or(cmp.Compare(b.BondValue, a.BondValue), cmp.Compare(a.Addr, b.Addr))
	})
	return out, nil
}

// Makers implements taker.MakerSource: the book's makers, highest bond
// first, with the certificates their offers carry (the taker verifies
// each again when it connects) and their trust (RouteTrust).
func (b *Book) Makers(ctx context.Context) ([]taker.Candidate, error) {
	es, err := b.Offers(ctx, Query{})
	if err != nil {
		return nil, err
	}
	trust := func(string) float64 { return 0 }
	if b.trust != nil {
		// Without our history (a wallet read failed) the bonds alone
		// still choose: the book must not go empty for want of trust.
		if of, err := b.trust.Of(ctx); err == nil {
			trust = of
		}
	}
	out := make([]taker.Candidate, 0, len(es))
	for i := range es {
		if es[i].Own {
			continue // our own offer: a maker does not swap with itself
		}
		f := es[i].offer.Fidelity
		out = append(out, taker.Candidate{Addr: es[i].Addr, Proof: &f, Trust: trust(es[i].Addr)})
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
