//go:build itest

package market

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
)

func offers(ctx context.Context, p *cluster.Proc) ([]market.Entry, error) {
	return control.Call[[]market.Entry](ctx, p.Client(), http.MethodGet, "/v1/market/offers", nil)
}

func addrs(es []market.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Addr)
	}
	slices.Sort(out)
	return out
}

// bookHolds polls p's book until it lists exactly want (onion addresses).
func bookHolds(t *testing.T, ctx context.Context, p *cluster.Proc, what string, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	err := cluster.Poll(ctx, 200*time.Millisecond, p.Name+": "+what, func() (bool, string) {
		es, err := offers(ctx, p)
		if err != nil {
			return false, err.Error()
		}
		got := addrs(es)
		return slices.Equal(got, want), fmt.Sprintf("book %v", got)
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestOfferBookOverTor: two bonded makers publish their offers on the
// pool (sparse: maker 2 dials maker 1, the taker dials maker 2 only);
// every node's book holds both; a taker with no directory swaps from its
// book with exact balances; an offer the maker withdraws leaves every
// book, and comes back when it publishes again.
func TestOfferBookOverTor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	stopMine := clu.AutoMine(ctx, cluster.AutoMineOptions{})
	defer stopMine()
	// A directory for the makers to register with (bootstrap and
	// fallback); the taker is given none.
	if _, err := clu.Spawn(ctx, cluster.Spec{Name: "dir", Role: cluster.RoleDirectory}); err != nil {
		t.Fatal(err)
	}
	m1, err := clu.Spawn(ctx, cluster.Spec{Name: "m1", Role: cluster.RoleMaker, Fund: 20_000_000, FundCoins: 5})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := clu.Spawn(ctx, cluster.Spec{Name: "m2", Role: cluster.RoleMaker, Fund: 20_000_000, FundCoins: 5,
		Args: []string{"--pool-peer", m1.Onion()}})
	if err != nil {
		t.Fatal(err)
	}
	makers := []string{m1.Onion(), m2.Onion()}
	bookHolds(t, ctx, m1, "both offers", makers...)
	bookHolds(t, ctx, m2, "both offers", makers...)

	spawned := time.Now()
	tk, err := clu.Spawn(ctx, cluster.Spec{Name: "taker", Role: cluster.RoleTaker, Directories: []string{},
		Fund: 10_000_000, FundCoins: 4, Args: []string{"--pool-peer", m2.Onion()}})
	if err != nil {
		t.Fatal(err)
	}
	ready := time.Since(spawned)
	took := bookHolds(t, ctx, tk, "both offers after joining", makers...)
	t.Logf("taker ready %s after its start (tor, onion, pool peer), its book complete %s later",
		ready.Round(10*time.Millisecond), took.Round(10*time.Millisecond))

	err = cluster.Poll(ctx, 250*time.Millisecond, "taker funds confirmed", func() (bool, string) {
		b, err := tk.Balances(ctx)
		if err != nil {
			return false, err.Error()
		}
		return b.Categories["regular"].Confirmed == 10_000_000, "not yet"
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := tk.Spendable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tk.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: 5_000_000, Makers: 2, TxCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != "complete" || rep.AmountSent != 5_000_000 || len(rep.MakerFees) != 2 {
		t.Fatalf("report %+v", rep)
	}
	t.Logf("swap from the book: %s total, %s block waits, %d round trips", rep.Duration, rep.BlockWait, rep.RoundTrips)
	for _, p := range []*cluster.Proc{m1, m2, tk} {
		if err := cluster.Poll(ctx, 250*time.Millisecond, p.Name+" settled", func() (bool, string) { return p.Settled(ctx) }); err != nil {
			t.Fatal(err)
		}
	}
	after, err := tk.Spendable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cost := rep.MiningFees
	for _, f := range rep.MakerFees {
		cost += f.Fee + f.Reimbursement
	}
	if before-after != cost {
		t.Fatalf("taker paid %d sat, report says %d", before-after, cost)
	}

	// Withdrawn by its operator: out of every book; published again: back.
	if _, err := control.Call[market.StatusReply](ctx, m1.Client(), http.MethodPost, "/v1/market/withdraw", struct{}{}); err != nil {
		t.Fatal(err)
	}
	took = bookHolds(t, ctx, tk, "m1's offer withdrawn", m2.Onion())
	bookHolds(t, ctx, m2, "m1's offer withdrawn", m2.Onion())
	t.Logf("withdrawal reached the taker (two hops) in %s", took.Round(10*time.Millisecond))
	if _, err := control.Call[market.StatusReply](ctx, m1.Client(), http.MethodPost, "/v1/market/publish", struct{}{}); err != nil {
		t.Fatal(err)
	}
	took = bookHolds(t, ctx, tk, "m1's offer back", makers...)
	t.Logf("republished offer reached the taker in %s", took.Round(10*time.Millisecond))
}
