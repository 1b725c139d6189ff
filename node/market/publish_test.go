package market

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

// bookOf lists b's offers (failing the test on error).
func bookOf(t *testing.T, b *Book, q Query) []Entry {
	t.Helper()
	es, err := b.Offers(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestPublishUpdateWithdraw: a maker's offer reaches another node's book;
// a change of terms replaces it there, a maker without liquidity or
// without a bond withdraws it, and a stopping maker removes it.
func TestPublishUpdateWithdraw(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	policy := script.DefaultBondParams()
	va, vb := NewValidator(c, policy, nil), NewValidator(c, policy, nil)
	a := newPoolNode(t, va)
	b := newPoolNode(t, vb, a.addr)
	m := &maker{t: t, c: c, b: newBond(t, c, 2_000_000), addr: onion(1), max: 5_000_000}
	locks := &locker{}
	pub := NewPublisher(PublisherConfig{Pool: a.pool, Maker: m, Locks: locks, CheckInterval: 20 * time.Millisecond,
		MinRepublish: 100 * time.Millisecond})
	svc := NewService(NewBook(a.pool, va), pub, nil)
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	book := NewBook(b.pool, vb)
	offerIs := func(max int64) func() bool {
		return func() bool {
			es := bookOf(t, book, Query{})
			return len(es) == 1 && es[0].MaxSize == max
		}
	}
	eventually(t, "the offer in the other node's book", offerIs(5_000_000))
	e := bookOf(t, book, Query{Amount: 1_000_000})[0]
	if e.Addr != onion(1) || e.BondAmount != 2_000_000 || e.BondValue <= 0 || e.Proof != "bond" || e.Own {
		t.Fatalf("entry %+v", e)
	}
	if want := int64(1000 + 1_000 + 200); e.Fee != want { // base + 0.1 % + 20 blocks × 0.001 %
		t.Fatalf("fee for 1,000,000 sat: %d, want %d", e.Fee, want)
	}
	if cs, _ := NewBook(a.pool, va).Makers(context.Background()); len(cs) != 0 {
		t.Fatalf("a maker's own offer is a candidate of its own book: %+v", cs)
	}
	if cs, _ := book.Makers(context.Background()); len(cs) != 1 || cs[0].Addr != onion(1) {
		t.Fatalf("candidates %+v", cs)
	}
	if st := pub.Status(); !st.Published || st.LockedCoins != 2 || !locks.isLocked() {
		t.Fatalf("status %+v, coins locked: %v", st, locks.isLocked())
	}

	m.set(3_000_000, nil)
	eventually(t, "the changed terms everywhere", offerIs(3_000_000))

	m.set(50_000, nil) // below the minimum size
	eventually(t, "the offer withdrawn for want of liquidity", func() bool { return len(bookOf(t, book, Query{})) == 0 })
	if st := pub.Status(); st.Published || st.Why == "" || locks.isLocked() {
		t.Fatalf("status %+v, coins locked: %v", st, locks.isLocked())
	}
	m.set(4_000_000, nil)
	eventually(t, "the offer back", offerIs(4_000_000))
	m.set(4_000_000, errors.New("bond spent"))
	eventually(t, "the offer withdrawn without a bond", func() bool { return len(bookOf(t, book, Query{})) == 0 })
	m.set(4_000_000, nil)
	eventually(t, "the offer back again", offerIs(4_000_000))

	if err := pub.Withdraw(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the offer withdrawn by the operator", func() bool { return len(bookOf(t, book, Query{})) == 0 })
	time.Sleep(100 * time.Millisecond) // several ticks: it stays withdrawn
	if st := pub.Status(); st.Published || len(bookOf(t, book, Query{})) != 0 {
		t.Fatalf("republished while withdrawn: %+v", st)
	}
	pub.Publish()
	eventually(t, "the offer published again", offerIs(4_000_000))

	svc.Stop()
	eventually(t, "the offer removed when the maker stops", func() bool { return len(bookOf(t, book, Query{})) == 0 })
}

// TestBookQuery: amount filter, fee, sorting, bond floor.
func TestBookQuery(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	v := NewValidator(c, script.DefaultBondParams(), nil)
	a := newPoolNode(t, v)
	b := newPoolNode(t, NewValidator(c, script.DefaultBondParams(), nil), a.addr)
	for i, spec := range []struct {
		bond, max int64
		node      *poolNode
	}{{1_000_000, 2_000_000, a}, {3_000_000, 9_000_000, b}} {
		m := &maker{t: t, c: c, b: newBond(t, c, spec.bond), addr: onion(i + 1), max: spec.max}
		p := NewPublisher(PublisherConfig{Pool: spec.node.pool, Maker: m, CheckInterval: 20 * time.Millisecond})
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
	}
	book := NewBook(a.pool, v)
	eventually(t, "both offers", func() bool { return len(bookOf(t, book, Query{})) == 2 })
	if es := bookOf(t, book, Query{}); es[0].BondAmount != 3_000_000 {
		t.Fatalf("not by bond value: %+v", es)
	}
	if es := bookOf(t, book, Query{Amount: 5_000_000}); len(es) != 1 || es[0].Addr != onion(2) {
		t.Fatalf("amount filter: %+v", es)
	}
	if es := bookOf(t, book, Query{Sort: "age"}); len(es) != 2 {
		t.Fatalf("by age: %+v", es)
	}
	if _, err := book.Offers(context.Background(), Query{Sort: "fee"}); err == nil {
		t.Fatal("sort by fee without an amount")
	}
	if _, err := book.Offers(context.Background(), Query{Sort: "size"}); err == nil {
		t.Fatal("unknown sort")
	}
	high := bookOf(t, book, Query{})[0].BondValue
	if es := bookOf(t, book, Query{MinBondValue: high}); len(es) != 1 {
		t.Fatalf("bond floor: %+v", es)
	}
}

// TestPublishCoinsSpentElsewhere: a restored copy of the wallet spends a
// coin that backs the offer: the offer goes down at once, its coins are
// released, and it stays down until the operator publishes again. (Its
// own test: the pool's per-origin budget, 10 envelopes then one per 15 s,
// would hold back a longer sequence of one maker's publications.)
func TestPublishCoinsSpentElsewhere(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	policy := script.DefaultBondParams()
	va, vb := NewValidator(c, policy, nil), NewValidator(c, policy, nil)
	a := newPoolNode(t, va)
	b := newPoolNode(t, vb, a.addr)
	m := &maker{t: t, c: c, b: newBond(t, c, 2_000_000), addr: onion(1), max: 4_000_000}
	locks := &locker{}
	pub := NewPublisher(PublisherConfig{Pool: a.pool, Maker: m, Locks: locks, CheckInterval: 20 * time.Millisecond})
	if err := pub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Stop)
	book := NewBook(b.pool, vb)
	offerIs := func(max int64) func() bool {
		return func() bool {
			es := bookOf(t, book, Query{})
			return len(es) == 1 && es[0].MaxSize == max
		}
	}
	eventually(t, "the offer in the other node's book", offerIs(4_000_000))
	// A restored copy of the wallet spends a locked coin: the offer goes
	// down at once and stays down until the operator publishes again.
	locks.mu.Lock()
	locks.broken = []wire.OutPoint{m.b.op}
	locks.mu.Unlock()
	eventually(t, "the offer withdrawn when its coins are spent elsewhere", func() bool { return len(bookOf(t, book, Query{})) == 0 })
	if st := pub.Status(); st.Published || !strings.Contains(st.Why, "restored copy") || locks.isLocked() {
		t.Fatalf("status %+v, coins locked: %v", st, locks.isLocked())
	}
	locks.mu.Lock()
	locks.broken = nil
	locks.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if len(bookOf(t, book, Query{})) != 0 {
		t.Fatal("republished without the operator")
	}
	pub.Publish()
	eventually(t, "the offer back after the operator's publish", offerIs(4_000_000))

}
