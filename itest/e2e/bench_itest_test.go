//go:build itest

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
)

// Benchmark targets (issue 5 item 7): counts, not timings, so asserting
// them is deterministic.
const (
	benchMaxConnsPerMaker = 1
	benchMaxRoundTrips    = 10
	benchAmount           = 3_000_000
	benchTxCount          = 3
	// topUpAmount is what topUp pays a wallet short of coins.
	topUpAmount = 20_000_000
)

// BenchmarkSwap: the 2-maker, 3-transaction swap over the private Tor
// network, blocks mined as soon as the mempool holds anything. Each
// iteration is one full swap by taker A through m1 and m2 (directory B),
// checked exactly (checkSwap). Metrics per swap: wall ms excluding and
// including block waits, round trips, connections, bytes on the wire.
func BenchmarkSwap(b *testing.B) {
	g := getMain(b)
	benchSwaps(b, g, control.TakerSwapRequest{Amount: benchAmount, Makers: 2, TxCount: benchTxCount,
		Directories: []string{g.dirB.Onion()}}, benchMaxRoundTrips, nil)
}

// BenchmarkSwapFromBook: the same swap through m1 and m2 named from the
// taker's offer book (`taker swap --offer`): their offers are known, so
// no offer round trip, and each SetupHop rides behind its Hello: at most
// 3 round trips per maker (issue 12), 6 for the route. Before each swap
// (not timed) the taker's book must show both offers taking the amount,
// so that a top-up's new liquidity is not asked for again.
func BenchmarkSwapFromBook(b *testing.B) {
	g := getMain(b)
	req := control.TakerSwapRequest{Amount: benchAmount, Makers: 2, TxCount: benchTxCount,
		Offers: []string{g.makers[0].Onion(), g.makers[1].Onion()}}
	benchSwaps(b, g, req, 3*req.Makers, func(ctx context.Context) {
		// A refresh after a change of terms waits at most 30 s
		// (market.MinRepublishInterval), then crosses two hops.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		err := waitCond(ctx, "both offers taking the amount in tA's book", func() bool {
			es, err := control.Call[[]market.Entry](ctx, g.tA.Client(), http.MethodGet,
				fmt.Sprintf("/v1/market/offers?amount=%d", req.Amount), nil)
			if err != nil {
				return false
			}
			n := 0
			for _, e := range es {
				if slices.Contains(req.Offers, e.Addr) {
					n++
				}
			}
			return n == len(req.Offers)
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// benchSwaps runs b.N swaps of req by taker A, each checked exactly
// (checkSwap) and within maxRoundTrips, and reports per swap: wall ms
// excluding and including block waits, round trips, connections, bytes
// on the wire. ready (nil: none) runs before each swap, untimed.
func benchSwaps(b *testing.B, g *mainGroup, req control.TakerSwapRequest, maxRoundTrips int, ready func(context.Context)) {
	ctx := context.Background()
	procs := append([]*cluster.Proc{g.tA}, g.makers...)
	var excl, incl time.Duration
	var rts, conns int
	var bytes uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		topUp(b, ctx, benchAmount, benchTxCount, procs...)
		if ready != nil {
			ready(ctx)
		}
		before := snapshot(b, ctx, procs...)
		b.StartTimer()
		sctx, cancel := context.WithTimeout(ctx, swapTimeout)
		rep, err := g.tA.Client().TakerSwap(sctx, req)
		cancel()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		checkSwap(b, ctx, before, g.tA, g.makers, req, rep)
		if rep.Connections > benchMaxConnsPerMaker*req.Makers || rep.RoundTrips > maxRoundTrips {
			b.Fatalf("%d connections (max %d per maker), %d round trips (max %d)", rep.Connections, benchMaxConnsPerMaker,
				rep.RoundTrips, maxRoundTrips)
		}
		excl += rep.Duration - rep.BlockWait
		incl += rep.Duration
		rts += rep.RoundTrips
		conns += rep.Connections
		bytes += rep.BytesSent + rep.BytesReceived
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(excl.Milliseconds())/n, "ms-excl-blocks/op")
	b.ReportMetric(float64(incl.Milliseconds())/n, "ms-incl-blocks/op")
	b.ReportMetric(float64(rts)/n, "round-trips/op")
	b.ReportMetric(float64(conns)/n, "connections/op")
	b.ReportMetric(float64(bytes)/n, "wire-bytes/op")
}

// topUp funds (from the faucet, outside any measured time) each process
// whose wallet could not fund the next swap of amount with txCount funding
// txs: fewer than txCount+1 confirmed unreserved regular coins (each
// funding tx needs its own confirmed coin; swapped coins come back as
// category swept, which the funding builder does not spend) or less than
// twice amount in them. It waits until the payments are confirmed.
func topUp(tb testing.TB, ctx context.Context, amount int64, txCount int, ps ...*cluster.Proc) {
	tb.Helper()
	var funded []*cluster.Proc
	for _, p := range ps {
		settled(tb, ctx, p)
		coins, err := p.Client().Coins(ctx, catRegular, false)
		if err != nil {
			tb.Fatal(err)
		}
		n, v := 0, int64(0)
		for _, c := range coins {
			if c.Confirmations > 0 && !c.Reserved {
				n++
				v += c.Value
			}
		}
		if n > txCount && v >= 2*amount {
			continue
		}
		for range txCount + 1 {
			if _, err := clu.Fund(ctx, p, btcutil.Amount(topUpAmount/(txCount+1))); err != nil {
				tb.Fatal(err)
			}
		}
		funded = append(funded, p)
	}
	for _, p := range funded {
		settled(tb, ctx, p) // AutoMine confirms the payments
		tb.Logf("%s topped up with %d sat", p.Name, topUpAmount)
	}
}
