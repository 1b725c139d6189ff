package market

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

// TestRouteTrust: Score's points less a penalty per fault, below zero
// when the faults outweigh the record (Score stops at zero).
func TestRouteTrust(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	proofs := func(n int) []VerifiedProof {
		var ps []VerifiedProof
		for i := range n {
			ps = append(ps, VerifiedProof{OutPoint: wire.OutPoint{Index: uint32(i)}, Value: TrustCapPerProof, SpendTime: now})
		}
		return ps
	}
	tests := []struct {
		name   string
		proofs []VerifiedProof
		h      History
		want   float64
	}{
		{"nothing known", nil, History{}, 0},
		{"proofs", proofs(3), History{}, 3},
		{"proofs and our own swaps", proofs(3), History{Completed: 2}, 3 + 2*TrustCompletedPoints},
		{"each half capped", proofs(50), History{Completed: 50}, TrustMaxProofPoints + TrustMaxHistoryPoints},
		{"unfinished swaps count nothing", nil, History{Unfinished: 4}, 0},
		{"a fault against a record", proofs(15), History{Faults: 1}, 15 - TrustFaultPenalty},
		{"a fault and no record: below zero", nil, History{Faults: 1}, -TrustFaultPenalty},
		{"two faults", proofs(1), History{Completed: 1, Faults: 2}, 1 + TrustCompletedPoints - 2*TrustFaultPenalty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RouteTrust(tc.proofs, tc.h, now); got != tc.want {
				t.Fatalf("RouteTrust = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTrustsHistoriesAndMemory: our swaps through each maker and our
// blacklist's automatic entries (live, or added within TrustRecentAge)
// make its history; verified proofs count for TrustMemory.
func TestTrustsHistoriesAndMemory(t *testing.T) {
	ctx := context.Background()
	w := testWallet(t, chaintest.New(chaintest.Options{}))
	now := time.Now()
	clock := now
	ts := NewTrusts(w, func() time.Time { return clock })
	st := swap.NewStore(w)
	a, b, c, d := onion(1), onion(2), onion(3), onion(4)
	for i, r := range []struct {
		phase  swap.Phase
		makers []string
	}{
		{swap.TakerComplete, []string{a, b}},
		{swap.TakerComplete, []string{a}},
		{swap.TakerFailed, []string{b}},
		{swap.TakerNegotiating, []string{c}}, // not over: not counted
	} {
		rec := &swap.TakerSwap{ID: protocol.SwapID{byte(i + 1)}, Phase: r.phase}
		for _, m := range r.makers {
			rec.Makers = append(rec.Makers, swap.MakerLeg{Addr: m})
		}
		if err := st.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []wallet.BlacklistEntry{
		{Value: b, Until: now.Add(-time.Minute), Added: now.Add(-time.Hour)},                                // expired, recent
		{Value: c, Until: now.Add(-time.Minute), Added: now.Add(-TrustRecentAge - time.Hour)},               // expired, old
		{Value: d, Added: now.Add(-2 * TrustRecentAge)},                                                     // for good
		{Value: a, Until: now.Add(time.Hour), Added: now.Add(-time.Minute), Source: wallet.ListSourceLocal}, // the operator's
	} {
		e.Kind = wallet.ListOnion
		if e.Source == "" {
			e.Source = wallet.ListSourceAuto
		}
		if err := w.BlacklistAdd(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	hs, err := ts.Histories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]History{a: {Completed: 2}, b: {Completed: 1, Unfinished: 1, Faults: 1}, d: {Faults: 1}}
	if len(hs) != len(want) {
		t.Fatalf("histories %+v, want %+v", hs, want)
	}
	for addr, h := range want {
		if hs[addr] != h {
			t.Fatalf("history of %s: %+v, want %+v", addr, hs[addr], h)
		}
	}

	ts.Remember(a, []VerifiedProof{{OutPoint: wire.OutPoint{Index: 1}, Value: TrustCapPerProof, SpendTime: now}})
	of, err := ts.Of(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := of(a), 1.0+2*TrustCompletedPoints; got != want {
		t.Fatalf("trust of a: %v, want %v", got, want)
	}
	if got, want := of(b), float64(TrustCompletedPoints-TrustFaultPenalty); got != want {
		t.Fatalf("trust of b: %v, want %v", got, want)
	}
	clock = now.Add(TrustMemory)
	if of, _ = ts.Of(ctx); of(a) != 2*TrustCompletedPoints {
		t.Fatalf("trust of a after TrustMemory: %v, want its history only", of(a))
	}
}

// TestBookMakersCarryTrust: the book's entries and candidates carry what
// the node knows of each maker.
func TestBookMakersCarryTrust(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	v := NewValidator(c, script.DefaultBondParams(), nil)
	a := newPoolNode(t, v)
	var makers []*maker
	for i := range 2 {
		m := &maker{t: t, c: c, b: newBond(t, c, 1_000_000), addr: onion(i + 1), max: 5_000_000}
		p := NewPublisher(PublisherConfig{Pool: newPoolNode(t, NewValidator(c, script.DefaultBondParams(), nil), a.addr).pool,
			Maker: m, CheckInterval: 20 * time.Millisecond})
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		makers = append(makers, m)
	}
	book := NewBook(a.pool, v)
	eventually(t, "both offers", func() bool { return len(bookOf(t, book, Query{})) == 2 })
	ts := NewTrusts(nil, nil)
	ts.Remember(makers[0].addr, []VerifiedProof{{Value: TrustCapPerProof, SpendTime: time.Now()}})
	book.UseTrust(ts)
	cs, err := book.Makers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, c := range cs {
		got[c.Addr] = c.Trust
	}
	if len(got) != 2 || got[makers[0].addr] != 1 || got[makers[1].addr] != 0 {
		t.Fatalf("candidates' trust %v", got)
	}
	// market offers shows it, and sorts by it.
	es := bookOf(t, book, Query{Sort: "trust"})
	if len(es) != 2 || es[0].Addr != makers[0].addr || es[0].Trust != 1 || es[1].Trust != 0 {
		t.Fatalf("book by trust: %+v", es)
	}
}
