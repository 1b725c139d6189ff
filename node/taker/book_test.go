package taker_test

// Swaps from makers whose offers the taker knows before dialing (the
// pool's offer book): offers that changed since, and makers that are
// gone.

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
)

// TestSwapFromBookOfferChanged: a maker raised its fee after the book saw
// its offer. Its setup, priced with the old fee, is answered with its
// current offer; the taker sets the route up again with it and the swap
// completes at the new fee — in the same attempt, nothing replaced, no
// maker listed as bad. One extra round trip for the maker that changed
// and one for each maker before it (its setup is redone): 3 per maker + 1
// with the changed maker first, + 2 with it second.
func TestSwapFromBookOfferChanged(t *testing.T) {
	for _, tc := range []struct {
		name       string
		changed    int // route position (0-based) of the maker that changed
		roundTrips int
	}{
		{"first maker", 0, 7},
		{"second maker", 1, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := swaptest.New(t)
			raised := swaptest.Terms
			raised.BaseFee += 5_000
			var makers []*swaptest.Maker
			for i := 0; i < 2; i++ {
				o := swaptest.MakerOpts{}
				if i == tc.changed {
					o.Terms = &raised
				}
				makers = append(makers, net.NewMaker("m"+string(rune('1'+i)), o))
			}
			book := swaptest.Book(t, makers...)
			seen := *book[tc.changed].Offer
			seen.BaseFee = swaptest.Terms.BaseFee // what the book saw before the change
			book[tc.changed].Offer = &seen
			tk, _ := net.NewTaker("taker", book, swaptest.TakerOpts{
				Faults: []string{swap.FaultTakerRoute + "=" + makers[0].Addr() + "/" + makers[1].Addr()}})
			net.AutoMine()
			rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 8_000_000, TxCount: 2, Makers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Attempts != 1 || rep.ReplacedMakers != 0 || len(mustBad(t, tk)) != 0 {
				t.Fatalf("%d attempts, %d replaced, bad makers %v: a changed offer is no failure", rep.Attempts,
					rep.ReplacedMakers, mustBad(t, tk))
			}
			recs, err := tk.Swaps(swaptest.Ctx(t, swaptest.Timeout))
			if err != nil || len(recs) != 2 || recs[0].Phase != swap.TakerFailed || recs[1].Phase != swap.TakerComplete {
				t.Fatalf("taker records %d (%v): want the stale setup failed, then the complete swap", len(recs), err)
			}
			rec := recs[1]
			locks := swap.Locktimes(2, swap.DefaultLastHopLocktime, swap.DefaultLocktimeStep)
			for i, leg := range rec.Makers {
				terms := swaptest.Terms
				if i == tc.changed {
					terms = raised
				}
				if want := swap.MakerFee(terms, leg.InTotal, locks[i+1]); leg.Fee != want {
					t.Errorf("maker %d fee %d, want %d", i+1, leg.Fee, want)
				}
				ss := swaptest.MakerFinal(t, makers[i])
				last := ss[len(ss)-1]
				if last.Phase != swap.MakerComplete || last.Fee != leg.Fee {
					t.Errorf("maker %d: last swap %s with fee %d, want complete with %d", i+1, last.Phase, last.Fee, leg.Fee)
				}
			}
			if rep.Connections != 2 || rep.RoundTrips != tc.roundTrips {
				t.Errorf("connections %d (want 2), round trips %d (want %d)", rep.Connections, rep.RoundTrips, tc.roundTrips)
			}
		})
	}
}

// TestSwapFromBookOfferNoLongerFits: a maker raised its minimum size
// above the swap's amount after the book saw its offer. Answered with the
// new offer, the taker skips it like an offer that never fit — no blame,
// no attempt spent — and the spare completes the swap.
func TestSwapFromBookOfferNoLongerFits(t *testing.T) {
	net := swaptest.New(t)
	const amount = 4_000_000
	big := net.NewMaker("big", swaptest.MakerOpts{MinSize: 2 * amount})
	spare := net.NewMaker("spare", swaptest.MakerOpts{})
	book := swaptest.Book(t, big, spare)
	seen := *book[0].Offer
	seen.MinSize = swaptest.Terms.BaseFee // what the book saw: any amount
	book[0].Offer = &seen
	tk, _ := net.NewTaker("taker", book, swaptest.TakerOpts{
		Faults: []string{swap.FaultTakerRoute + "=" + big.Addr() + "/" + spare.Addr()}})
	net.AutoMine()
	rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: amount, TxCount: 2, Makers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attempts != 1 || len(rep.Makers) != 1 || rep.Makers[0].Addr != spare.Addr() || len(mustBad(t, tk)) != 0 {
		t.Fatalf("%d attempts, route %+v, bad makers %v", rep.Attempts, rep.Makers, mustBad(t, tk))
	}
	if ss, _ := big.Swaps(swaptest.Ctx(t, swaptest.Timeout)); len(ss) != 0 {
		t.Fatalf("the maker that no longer fits stored %d swaps", len(ss))
	}
}

// TestSwapFromBookMakerGone: a maker of the book is unreachable when its
// setup is due (it stopped after the book saw it). It is left out like a
// candidate that cannot be dialed — avoided for a while, no attempt
// spent — and the spare completes the swap.
func TestSwapFromBookMakerGone(t *testing.T) {
	net := swaptest.New(t)
	gone := net.NewMaker("gone", swaptest.MakerOpts{})
	spare := net.NewMaker("spare", swaptest.MakerOpts{})
	book := swaptest.Book(t, gone, spare)
	gone.Stop()
	tk, _ := net.NewTaker("taker", book, swaptest.TakerOpts{
		Faults: []string{swap.FaultTakerRoute + "=" + gone.Addr() + "/" + spare.Addr()}})
	net.AutoMine()
	rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 4_000_000, TxCount: 2, Makers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attempts != 1 || len(rep.Makers) != 1 || rep.Makers[0].Addr != spare.Addr() {
		t.Fatalf("%d attempts, route %+v", rep.Attempts, rep.Makers)
	}
	if _, ok := mustBad(t, tk)[gone.Addr()]; !ok {
		t.Fatal("unreachable maker not avoided")
	}
	// The attempt cut short by the unreachable maker spent nothing: only
	// the complete swap's funding left the wallet.
	recs, _ := tk.Swaps(swaptest.Ctx(t, swaptest.Timeout))
	if len(recs) != 2 || recs[0].Phase != swap.TakerFailed || recs[1].Phase != swap.TakerComplete {
		t.Fatalf("taker records %d: want the cut-short attempt failed, then the complete swap", len(recs))
	}
	onChain := map[chainhash.Hash]bool{}
	for _, tx := range net.Chain.Accepted() {
		onChain[tx.TxHash()] = true
	}
	for _, o := range recs[0].Out {
		if onChain[*o.FundingTxid] {
			t.Fatalf("funding of the abandoned attempt %v reached the chain", *o.FundingTxid)
		}
	}
}

// TestSwapFromBookOfferTooSmall: the book saw a maker's offer when its
// liquidity was below the swap's amount; it has grown since (refilled,
// not republished yet). A MaxSize follows liquidity, so the taker asks
// the maker for its current offer instead of skipping it — the round
// trip a directory's maker costs — and the swap completes.
func TestSwapFromBookOfferTooSmall(t *testing.T) {
	net := swaptest.New(t)
	const amount = 4_000_000
	m := net.NewMaker("m", swaptest.MakerOpts{})
	book := swaptest.Book(t, m)
	seen := *book[0].Offer
	seen.MaxSize = amount - 1
	book[0].Offer = &seen
	tk, _ := net.NewTaker("taker", book, swaptest.TakerOpts{})
	net.AutoMine()
	rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: amount, TxCount: 2, Makers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attempts != 1 || rep.RoundTrips != 4 || rep.Connections != 1 {
		t.Fatalf("%d attempts, %d round trips (want 4: the offer asked for), %d connections", rep.Attempts,
			rep.RoundTrips, rep.Connections)
	}
}

// TestSwapFromBookBondless: a maker whose book offer carries no bond is
// taken when the book listed it for its integrity fee (verified there)
// and refused otherwise — an offer without a bond proves nothing by
// itself.
func TestSwapFromBookBondless(t *testing.T) {
	for _, tc := range []struct {
		name         string
		integrityFee int64
		ok           bool
	}{
		{"listed for its integrity fee", 22_500, true},
		{"no bond and no fee", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := swaptest.New(t)
			m := net.NewMaker("m", swaptest.MakerOpts{})
			book := swaptest.Book(t, m)
			o := *book[0].Offer
			o.Fidelity = protocol.FidelityProof{} // as a bondless maker publishes it
			book[0] = taker.Candidate{Addr: m.Addr(), IntegrityFee: tc.integrityFee, Offer: &o}
			tk, _ := net.NewTaker("taker", book, swaptest.TakerOpts{})
			net.AutoMine()
			rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 4_000_000, TxCount: 2, Makers: 1})
			if !tc.ok {
				if !errors.Is(err, swap.ErrNotEnoughMakers) {
					t.Fatalf("err = %v, want the bondless offer refused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.RoundTrips != 3 || len(mustBad(t, tk)) != 0 {
				t.Fatalf("%d round trips (want 3), bad makers %v", rep.RoundTrips, mustBad(t, tk))
			}
		})
	}
}

// TestSwapNamedKeepsOrder: makers named by the request (a swap from the
// book, `taker swap --offer`) make the route in the order given, whatever
// their weights.
func TestSwapNamedKeepsOrder(t *testing.T) {
	net := swaptest.New(t)
	var makers []*swaptest.Maker
	for i := range 3 {
		makers = append(makers, net.NewMaker("m"+string(rune('1'+i)), swaptest.MakerOpts{}))
	}
	tk, _ := net.NewTaker("taker", swaptest.Book(t, makers...), swaptest.TakerOpts{})
	net.AutoMine()
	want := []string{makers[2].Addr(), makers[0].Addr()}
	rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 8_000_000, TxCount: 1, Makers: 2, Named: want})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range rep.Makers {
		got = append(got, m.Addr)
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("route %v, want %v", got, want)
	}
}
