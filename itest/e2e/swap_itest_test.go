//go:build itest

package e2e

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/swap"
)

// swapTimeout bounds one swap over Tor with blocks mined on demand
// (~10-30 s on an idle machine; generous for a loaded 2-core one).
const swapTimeout = 4 * time.Minute

// takerSwap runs a swap through tk's control API and logs its wall time.
func takerSwap(t *testing.T, ctx context.Context, tk *cluster.Proc, req control.TakerSwapRequest) (*control.SwapReport, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, swapTimeout)
	defer cancel()
	t0 := time.Now()
	rep, err := tk.Client().TakerSwap(ctx, req)
	t.Logf("%s: swap of %d sat through %d makers, tx_count %d: %v (err %v)", tk.Name, req.Amount, req.Makers, req.TxCount,
		time.Since(t0).Round(time.Millisecond), err)
	return rep, err
}

// checkWire asserts the engine's wire targets: one connection per maker
// (no replacement happened) and at most 5 round trips per maker (handshake,
// offer, setup, funding, settlement: the 2-maker target is ≤ 10).
func checkWire(t *testing.T, rep *control.SwapReport) {
	t.Helper()
	if rep.Attempts != 1 || rep.ReplacedMakers != 0 {
		return // a retry legitimately opens more connections
	}
	if rep.Connections != rep.Makers || rep.RoundTrips > 4*rep.Makers {
		t.Errorf("%d connections, %d round trips for %d makers; want %d and ≤ %d", rep.Connections, rep.RoundTrips,
			rep.Makers, rep.Makers, 4*rep.Makers)
	}
}

// TestSwapRoutes: taker A swaps through 1, 2 and 4 makers of directory A
// (m1..m4, chosen at random by bond value); exact balances for the taker,
// every route maker and the idle makers (see checkSwap).
func TestSwapRoutes(t *testing.T) {
	g := getMain(t)
	for _, tc := range []struct {
		name string
		req  control.TakerSwapRequest
	}{
		{"1 maker", control.TakerSwapRequest{Amount: 3_000_000, Makers: 1, TxCount: 2}},
		{"2 makers", control.TakerSwapRequest{Amount: 5_000_000, Makers: 2, TxCount: 3}},
		{"4 makers", control.TakerSwapRequest{Amount: 4_000_000, Makers: 4, TxCount: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*swapTimeout)
			defer cancel()
			t0 := time.Now()
			procs := append([]*cluster.Proc{g.tA}, g.makers...)
			topUp(t, ctx, tc.req.Amount, tc.req.TxCount, procs...)
			before := snapshot(t, ctx, procs...)
			rep, err := takerSwap(t, ctx, g.tA, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			checkSwap(t, ctx, before, g.tA, g.makers, tc.req, rep)
			checkWire(t, rep)
			t.Logf("test wall time %v", time.Since(t0).Round(time.Millisecond))
		})
	}
}

// TestTwoTakersOneAfterTheOther: takers A and B, one after the other,
// through directory B, which lists only m1 and m2: both swaps go through
// the same two makers and each is exact.
func TestTwoTakersOneAfterTheOther(t *testing.T) {
	g := getMain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*swapTimeout)
	defer cancel()
	procs := append([]*cluster.Proc{g.tA, g.tB}, g.makers...)
	for _, tk := range []*cluster.Proc{g.tA, g.tB} {
		t0 := time.Now()
		req := control.TakerSwapRequest{Amount: 4_000_000, Makers: 2, TxCount: 2, Directories: []string{g.dirB.Onion()}}
		topUp(t, ctx, req.Amount, req.TxCount, procs...)
		before := snapshot(t, ctx, procs...)
		rep, err := takerSwap(t, ctx, tk, req)
		if err != nil {
			t.Fatal(err)
		}
		checkSwap(t, ctx, before, tk, g.makers, req, rep)
		checkWire(t, rep)
		after := snapshot(t, ctx, g.makers...)
		for _, m := range g.makers[:2] {
			if len(newSwaps(before[m], after[m])) != 1 {
				t.Fatalf("%s did not serve %s's swap", m.Name, tk.Name)
			}
		}
		idle := g.tB
		if tk == g.tB {
			idle = g.tA
		}
		checkUnchanged(t, ctx, before, idle)
		t.Logf("%s: test wall time %v", tk.Name, time.Since(t0).Round(time.Millisecond))
	}
}

// TestRouteLongerThanMakers: a 3-maker route where directory C lists only
// two makers fails before any contact with a maker: nothing spent, no swap
// recorded by anyone.
func TestRouteLongerThanMakers(t *testing.T) {
	g := getSmall(t)
	ctx, cancel := context.WithTimeout(context.Background(), swapTimeout)
	defer cancel()
	procs := append([]*cluster.Proc{g.c1}, g.makers...)
	before := snapshot(t, ctx, procs...)
	_, err := takerSwap(t, ctx, g.c1, control.TakerSwapRequest{Amount: 2_000_000, Makers: 3, TxCount: 2})
	if err == nil || !strings.Contains(err.Error(), swap.ErrNotEnoughMakers.Error()) {
		t.Fatalf("err = %v, want %q", err, swap.ErrNotEnoughMakers)
	}
	after := checkUnchanged(t, ctx, before, procs...)
	for _, p := range procs {
		if s := newSwaps(before[p], after[p]); len(s) != 0 {
			t.Fatalf("%s recorded %d swaps: %+v", p.Name, len(s), s)
		}
	}
}

// TestTwoTakersAtOnce: takers c1 and c2 start a 2-maker swap at the same
// time against s1 and s2, each with liquidity for one such swap. Exactly
// one succeeds (exact balances); the other is refused before any funding,
// says why (insufficient liquidity, or an offer too small for the amount),
// and holds exactly what it held; the makers keep no reservation.
func TestTwoTakersAtOnce(t *testing.T) {
	g := getSmall(t)
	contend(t, g, g.c1, g.c2)
}

// TestTwoTakersAtOnceCrossedRoutes: as TestTwoTakersAtOnce, with routes
// fixed in opposite orders (c3: s1 then s2; c4: s2 then s1) so each taker
// tends to reserve the maker the other needs next. Both see a refusal; the
// busy-maker retry (random delay, same route) must still let exactly one
// of them through, and leave the other intact.
func TestTwoTakersAtOnceCrossedRoutes(t *testing.T) {
	g := getSmall(t)
	ctx, cancel := context.WithTimeout(context.Background(), spawnTimeout)
	defer cancel()
	s1, s2 := g.makers[0].Onion(), g.makers[1].Onion()
	c := []string{g.dirC.Onion()}
	ps, err := clu.SpawnAll(ctx, []cluster.Spec{
		{Name: "c3", Role: cluster.RoleTaker, Directories: c, Fund: smallTakerFund, FundCoins: smallTakerCoins,
			Faults: []string{swap.FaultTakerRoute + "=" + s1 + "/" + s2}},
		{Name: "c4", Role: cluster.RoleTaker, Directories: c, Fund: smallTakerFund, FundCoins: smallTakerCoins,
			Faults: []string{swap.FaultTakerRoute + "=" + s2 + "/" + s1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	contend(t, g, ps[0], ps[1])
}

// contend runs the two-takers-at-once scenario with takers a and b.
func contend(t *testing.T, g *smallGroup, a, b *cluster.Proc) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*swapTimeout)
	defer cancel()
	t0 := time.Now()
	takers := []*cluster.Proc{a, b}
	refillSmall(t, ctx, g.makers...)
	procs := append(append([]*cluster.Proc{}, takers...), g.makers...)
	before := snapshot(t, ctx, procs...)
	req := control.TakerSwapRequest{Amount: contendedAmount, Makers: 2, TxCount: 2}
	reps := make([]*control.SwapReport, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, tk := range takers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = takerSwap(t, ctx, tk, req)
		}()
	}
	wg.Wait()
	win := -1
	for i, err := range errs {
		if err == nil {
			if win >= 0 {
				t.Fatalf("both takers succeeded: the makers over-committed their liquidity")
			}
			win = i
		}
	}
	if win < 0 {
		t.Fatalf("no taker succeeded: %v; %v", errs[0], errs[1])
	}
	lose := 1 - win
	le := errs[lose].Error()
	if !strings.Contains(le, swap.ErrNotEnoughMakers.Error()) ||
		!(strings.Contains(le, swap.ErrLiquidity.Error()) || strings.Contains(le, "offer takes")) {
		t.Fatalf("loser's error %q does not give the refusal reason", le)
	}
	if strings.Contains(le, "after funding") || errors.Is(errs[lose], control.ErrUnavailable) {
		t.Fatalf("loser failed after funding: %v", errs[lose])
	}
	t.Logf("winner %s (%d attempts); %s refused: %v", takers[win].Name, reps[win].Attempts, takers[lose].Name, errs[lose])
	checkSwap(t, ctx, before, takers[win], g.makers, req, reps[win])
	after := checkUnchanged(t, ctx, before, takers[lose])
	for _, s := range newSwaps(before[takers[lose]], after[takers[lose]]) {
		if s.Phase != string(swap.TakerFailed) {
			t.Fatalf("loser's swap %s in phase %s, want %s (nothing funded)", s.ID, s.Phase, swap.TakerFailed)
		}
	}
	t.Logf("test wall time %v", time.Since(t0).Round(time.Millisecond))
}

// smallLiquidity is what refillSmall brings a small maker's confirmed
// regular coins to: one contendedAmount swap fits (its offer advertises
// 90%: 6.75M ≥ 4.5M, and the funding fees are a few hundred sat), a second
// one does not (7.5M − 4.5M = 3M < 4.5M).
const smallLiquidity = 7_500_000

// refillSmall brings each small maker that served a swap since its last
// refill back to smallLiquidity of regular coins (a swap moves its incoming
// coins to category swept, which it does not fund from), in two faucet
// coins.
func refillSmall(t *testing.T, ctx context.Context, ms ...*cluster.Proc) {
	t.Helper()
	var funded []*cluster.Proc
	for _, m := range ms {
		settled(t, ctx, m)
		coins, err := m.Client().Coins(ctx, catRegular, false)
		if err != nil {
			t.Fatal(err)
		}
		var v int64
		for _, c := range coins {
			v += c.Value
		}
		if v > smallLiquidity-contendedAmount/2 { // not used since the last refill
			continue
		}
		for _, part := range []int64{(smallLiquidity - v) / 2, smallLiquidity - v - (smallLiquidity-v)/2} {
			if _, err := clu.Fund(ctx, m, btcutil.Amount(part)); err != nil {
				t.Fatal(err)
			}
		}
		funded = append(funded, m)
	}
	for _, m := range funded {
		settled(t, ctx, m)
		t.Logf("%s refilled to %d sat of regular coins", m.Name, smallLiquidity)
	}
}
