//go:build itest

package market

import (
	"context"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
)

// lineArgs: a node dials one pool peer only (--pool-outbound 1 fills no
// slot from peer exchange), so the topology is the test's.
var lineArgs = []string{"--pool-outbound", "1"}

// takerFund is what every test taker is funded with.
const takerFund = 10_000_000

// spawnLine starts a directory (for the makers to register with:
// bootstrap and fallback) and two bonded makers in a line, the second
// dialing the first: m1 ← m2.
func spawnLine(t *testing.T, ctx context.Context, dir, m1, m2 string) (*cluster.Proc, *cluster.Proc) {
	t.Helper()
	if _, err := clu.Spawn(ctx, cluster.Spec{Name: dir, Role: cluster.RoleDirectory}); err != nil {
		t.Fatal(err)
	}
	first, err := clu.Spawn(ctx, cluster.Spec{Name: m1, Role: cluster.RoleMaker, Fund: 20_000_000, FundCoins: 5, Args: lineArgs})
	if err != nil {
		t.Fatal(err)
	}
	second, err := clu.Spawn(ctx, cluster.Spec{Name: m2, Role: cluster.RoleMaker, Fund: 20_000_000, FundCoins: 5,
		Args: append([]string{"--pool-peer", first.Onion()}, lineArgs...)})
	if err != nil {
		t.Fatal(err)
	}
	return first, second
}

// spawnTaker starts a taker with no directory whose only pool peer is
// peer, funded with takerFund.
func spawnTaker(t *testing.T, ctx context.Context, name, peer string) *cluster.Proc {
	t.Helper()
	tk, err := clu.Spawn(ctx, cluster.Spec{Name: name, Role: cluster.RoleTaker, Directories: []string{},
		Fund: takerFund, FundCoins: 4, Args: append([]string{"--pool-peer", peer}, lineArgs...)})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// waitFunded waits until the taker's funds are confirmed.
func waitFunded(t *testing.T, ctx context.Context, tk *cluster.Proc) {
	t.Helper()
	err := cluster.Poll(ctx, 250*time.Millisecond, tk.Name+" funds confirmed", func() (bool, string) {
		b, err := tk.Balances(ctx)
		if err != nil {
			return false, err.Error()
		}
		return b.Categories["regular"].Confirmed == takerFund, "not yet"
	})
	if err != nil {
		t.Fatal(err)
	}
}

// swapExact runs a swap on tk that completes through makers, waits until
// every party has settled, and checks that the taker paid exactly what
// its report says (maker fees, reimbursements, mining fees).
func swapExact(t *testing.T, ctx context.Context, tk *cluster.Proc, req control.TakerSwapRequest, makers ...*cluster.Proc) *control.SwapReport {
	t.Helper()
	before, err := tk.Spendable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tk.Client().TakerSwap(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != "complete" || rep.AmountSent != req.Amount || len(rep.MakerFees) != len(makers) {
		t.Fatalf("report %+v", rep)
	}
	for _, p := range append(makers, tk) {
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
	return rep
}
