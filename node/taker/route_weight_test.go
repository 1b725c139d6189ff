package taker_test

import (
	"math"
	"slices"
	"testing"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
)

// TestRouteWeight: trust scales a bond's weight between a tenth and
// twice it; it never makes a weight out of no bond.
func TestRouteWeight(t *testing.T) {
	tests := []struct {
		name        string
		bond, trust float64
		want        float64
	}{
		{"nothing known: the bond alone", 1000, 0, 1000},
		{"some record", 1000, taker.TrustWeightScale / 2, 1500},
		{"a full record doubles it", 1000, taker.TrustWeightScale, 2000},
		{"more record adds nothing", 1000, 10 * taker.TrustWeightScale, 2000},
		{"one failure by its fault halves it", 1000, -10, 500},
		{"failures cut it to a tenth at most", 1000, -10 * taker.TrustWeightScale, 100},
		{"a failure against some record", 1000, 15 - 10, 1250},
		{"no bond, no weight", 0, taker.TrustWeightScale, 0},
		{"a negative bond value counts nothing", -5, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := taker.RouteWeight(tc.bond, tc.trust); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("RouteWeight(%v, %v) = %v, want %v", tc.bond, tc.trust, got, tc.want)
			}
		})
	}
}

// TestSwapPicksByBondAndTrust: a swap through 2 of 3 candidates weighs
// each by bond and trust. m3 has the best record but a bond of 1 sat
// against the others' 10^12 (odds of ~10^-9 per pick, swap.WeightedPick's
// resolution): trust cannot lift it; m2 has two failures by its fault, but its bond still counts (cut to
// a tenth, not to nothing), so it is picked over m3 and the swap
// completes through m1 and m2.
func TestSwapPicksByBondAndTrust(t *testing.T) {
	net := swaptest.New(t)
	m1 := net.NewMaker("m1", swaptest.MakerOpts{})
	m2 := net.NewMaker("m2", swaptest.MakerOpts{})
	m3 := net.NewMaker("m3", swaptest.MakerOpts{})
	// Listed bond values only weigh the choice: each maker's own bond is
	// verified when the taker connects.
	listed := func(m *swaptest.Maker, bond int64, trust float64) taker.Candidate {
		return taker.Candidate{Addr: m.Addr(), Proof: &protocol.FidelityProof{BondValue: bond}, Trust: trust}
	}
	src := taker.StaticSource{listed(m1, 1e12, 5), listed(m2, 1e12, -20), listed(m3, 1, 40)}
	tk, _ := net.NewTaker("taker", src, swaptest.TakerOpts{})
	net.AutoMine()
	rep, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 8_000_000, TxCount: 2, Makers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var route []string
	for _, m := range rep.Makers {
		route = append(route, m.Addr)
	}
	slices.Sort(route)
	want := []string{m1.Addr(), m2.Addr()}
	slices.Sort(want)
	if !slices.Equal(route, want) || rep.Attempts != 1 {
		t.Fatalf("route %v in %d attempts, want %v (m3 is %s)", route, rep.Attempts, want, m3.Addr())
	}
}
