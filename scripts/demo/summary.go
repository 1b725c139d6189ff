package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
)

func (d *demo) summary() {
	fmt.Println()
	fmt.Println("======================== summary ========================")
	d.bookSummary()
	swapSummary(d.res.swap, d.res.swapWall, d.res.route)
	d.cjSummary()
	d.balanceSummary()
	fmt.Printf("total wall time   %s (network, chain and build included)\n", d.res.total.Round(100*time.Millisecond))
	fmt.Println("==========================================================")
}

func (d *demo) bookSummary() {
	r := &d.res
	fmt.Println("--- offer book and chat ---")
	fmt.Printf("offers seen       %d in the taker's book, complete %s after it was ready:\n", len(r.offers), r.bookWait.Round(10*time.Millisecond))
	for _, e := range r.offers {
		fmt.Printf("  %-8s offer %s  %s–%s BTC  fee %d sat + %d ppb  %s %s BTC\n", d.nameOf(e.Addr), e.ID,
			btc(e.MinSize), btc(e.MaxSize), e.BaseFee, e.AmountFeePPB, e.Proof, btc(e.BondAmount))
	}
	fmt.Printf("chat round trip   %s: taker %q, %s %q\n", r.chatRTT.Round(time.Millisecond), r.chatQ, d.makers[0].Name, r.chatA)
}

func swapSummary(r *control.SwapReport, wall time.Duration, route []string) {
	fmt.Println("--- CoinSwap ---")
	fmt.Printf("route: taker → %s (named from the book) → taker, %d funding transaction(s) per hop\n", strings.Join(route, " → "), r.TxCount)
	fmt.Printf("taker sent        %s BTC (hop 0)\n", btc(r.AmountSent))
	fmt.Printf("taker received    %s BTC (last hop, before its sweep fee)\n", btc(r.AmountReceived))
	var makerTotal int64
	for _, f := range r.MakerFees {
		name := "?"
		if f.Hop >= 1 && f.Hop <= len(route) {
			name = route[f.Hop-1]
		}
		fmt.Printf("hop %d (%s)    fee %d sat + mining-fee reimbursement %d sat\n", f.Hop, name, f.Fee, f.Reimbursement)
		makerTotal += f.Fee + f.Reimbursement
	}
	fmt.Printf("taker mining fees %d sat (funding + sweep)\n", r.MiningFees)
	fmt.Printf("taker total cost  %d sat = maker fees and reimbursements %d + mining fees %d\n", makerTotal+r.MiningFees, makerTotal, r.MiningFees)
	fmt.Println("time per phase (wall, of which waiting for blocks):")
	for _, p := range r.Phases {
		fmt.Printf("  %-16s %8s  (blocks %s)\n", p.Name, p.Duration.Round(time.Millisecond), p.BlockWait.Round(time.Millisecond))
	}
	fmt.Printf("swap total        %s (block waits %s; excluding them %s); request wall time %s\n", r.Duration.Round(time.Millisecond),
		r.BlockWait.Round(time.Millisecond), (r.Duration - r.BlockWait).Round(time.Millisecond), wall.Round(time.Millisecond))
	fmt.Printf("wire              %d round trips, %d connections, %d bytes sent, %d received, %d attempt(s)\n",
		r.RoundTrips, r.Connections, r.BytesSent, r.BytesReceived, r.Attempts)
	if len(r.Txids) > 0 {
		b, _ := json.Marshal(r.Txids)
		fmt.Printf("txids             %s\n", b)
	}
}

func (d *demo) cjSummary() {
	r := &d.res.cj
	fmt.Println("--- CoinJoin ---")
	fmt.Printf("txid              %s\n", r.txid)
	fmt.Printf("outputs           %d equal outputs of %d sat (T = %d), %d inputs, no change\n", r.outputs, r.denom, cjT, r.inputs)
	fmt.Printf("taker's input     its swept coin %s (%d sat)\n", r.coin.Coin, r.coin.Value)
	fmt.Printf("time              %s for the step (funding the others' coins, announcing, the round, its confirmation); the round itself %s\n",
		r.wall.Round(100*time.Millisecond), r.roundDur.Round(time.Millisecond))
}

func (d *demo) balanceSummary() {
	r := &d.res
	fmt.Println("--- wallets (regular + swept coins; makers' bonds not counted) ---")
	fmt.Printf("  %-8s %12s %10s %10s %12s %10s\n", "", "before", "swap", "funded", "after", "coinjoin")
	for _, p := range d.participants() {
		n := p.Name
		swap := r.afterSwap[n] - r.start[n]
		cj := r.afterCJ[n] - r.afterSwap[n] - r.funded[n]
		fmt.Printf("  %-8s %12s %+10d %+10d %12s %+10d  (CoinJoin fee %d sat)\n", n, btc(r.start[n]), swap, r.funded[n],
			btc(r.afterCJ[n]), cj, r.cj.fees[n])
	}
	fmt.Println("  (sat; \"funded\": the coin the demo paid each for the CoinJoin from the faucet)")
}

// keepRunning prints how to reach each node and waits for Ctrl-C or
// SIGTERM; the caller's deferred stop then stops everything.
func (d *demo) keepRunning(ctx context.Context) error {
	fmt.Println()
	fmt.Println("--keep: every process keeps running (blocks are still mined when transactions wait). Logins are regtest-only cookies:")
	for _, p := range d.participants() {
		keepInfo(ctx, p)
	}
	fmt.Printf("data directories in %s; CLI example: %s status --datadir %s\n", d.c.Dir(), d.c.Binary(), d.taker.DataDir)
	fmt.Println("press Ctrl-C (or send SIGTERM) to stop every process the demo started")
	<-ctx.Done()
	fmt.Println()
	return nil
}

// keepInfo prints p's dashboard URL (control.Status.Dashboard) and its
// control cookie, which logs in.
func keepInfo(ctx context.Context, p *cluster.Proc) {
	dash := "dashboard not available (this build reports none)"
	if s, err := p.Client().Status(ctx); err != nil {
		dash = "status: " + err.Error()
	} else if s.Dashboard != "" {
		dash = "dashboard " + s.Dashboard
	}
	path := control.CookiePath(p.DataDir)
	cookie := "unreadable"
	if b, err := os.ReadFile(path); err == nil {
		cookie = strings.TrimSpace(string(b))
	}
	fmt.Printf("  %-8s %s\n           login: control cookie %s = %s\n", p.Name, dash, path, cookie)
}
