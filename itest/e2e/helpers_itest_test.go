//go:build itest

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/swap"
)

// settleTimeout bounds waiting for every process to be idle after a swap
// (maker sweeps: a Tor message and a block, seconds; generous for load).
const settleTimeout = 3 * time.Minute

// Coin categories (wallet.Category strings as the control API reports them).
const (
	catRegular  = "regular"
	catSwept    = "swept"
	catBond     = "fidelity_bond"
	catContract = "contract"
	catIncoming = "swap_incoming"
)

// state is one process's view at a quiet moment.
type state struct {
	spendable int64 // regular + swept
	bond      int64
	swaps     map[string]control.SwapInfo
}

// snapshot waits until every process is settled and returns their states.
func snapshot(t testing.TB, ctx context.Context, ps ...*cluster.Proc) map[*cluster.Proc]*state {
	t.Helper()
	out := map[*cluster.Proc]*state{}
	for _, p := range ps {
		out[p] = settled(t, ctx, p)
	}
	return out
}

// settled waits until p's wallet is at the chain tip with nothing
// unconfirmed, nothing in contracts or swap-incoming outputs, every swap
// final and (makers) no reservation; it returns p's state.
func settled(t testing.TB, ctx context.Context, p *cluster.Proc) *state {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	var st *state
	var why string
	err := waitCond(ctx, p.Name+" settled", func() bool {
		st, why = trySettled(ctx, p)
		return st != nil
	})
	if err != nil {
		t.Fatalf("%v (last: %s)", err, why)
	}
	return st
}

func trySettled(ctx context.Context, p *cluster.Proc) (*state, string) {
	// Order matters: swaps final (their sweeps broadcast) → mempool empty
	// (everything broadcast so far is mined) → tip → the wallet's balances
	// computed at exactly that tip (so they include every such tx).
	ss, err := p.Client().Swaps(ctx)
	if err != nil {
		return nil, err.Error()
	}
	swaps := map[string]control.SwapInfo{}
	for _, s := range ss {
		if !s.Final {
			return nil, fmt.Sprintf("swap %s in phase %s", s.ID, s.Phase)
		}
		swaps[s.ID] = s
	}
	if p.Role == cluster.RoleMaker {
		ms, err := p.Client().MakerStatus(ctx)
		if err != nil {
			return nil, err.Error()
		}
		if ms.ActiveSwaps != 0 || len(ms.Reservations) != 0 {
			return nil, fmt.Sprintf("%d active swaps, %d reservations", ms.ActiveSwaps, len(ms.Reservations))
		}
	}
	mp, err := clu.Backend().MempoolTxids(ctx)
	if err != nil {
		return nil, err.Error()
	}
	if len(mp) != 0 {
		return nil, fmt.Sprintf("%d txs in the mempool", len(mp))
	}
	tip, err := clu.Tip(ctx)
	if err != nil {
		return nil, err.Error()
	}
	b, err := p.Balances(ctx)
	if err != nil {
		return nil, err.Error()
	}
	if b.Height != tip {
		return nil, fmt.Sprintf("wallet at %d, tip %d", b.Height, tip)
	}
	for cat, v := range b.Categories {
		if v.Unconfirmed != 0 {
			return nil, fmt.Sprintf("%s unconfirmed %d", cat, v.Unconfirmed)
		}
		if (cat == catContract || cat == catIncoming) && v.Total() != 0 {
			return nil, fmt.Sprintf("%s holds %d", cat, v.Total())
		}
	}
	return &state{spendable: b.Categories[catRegular].Total() + b.Categories[catSwept].Total(),
		bond: b.Categories[catBond].Total(), swaps: swaps}, ""
}

// txFee is a transaction's fee read from the chain: Σ inputs − Σ outputs.
func txFee(t testing.TB, ctx context.Context, txid chainhash.Hash) int64 {
	t.Helper()
	be := clu.Backend()
	tx, _, err := be.Tx(ctx, txid)
	if err != nil {
		t.Fatalf("tx %s: %v", txid, err)
	}
	var in, out int64
	for _, ti := range tx.TxIn {
		prev, _, err := be.Tx(ctx, ti.PreviousOutPoint.Hash)
		if err != nil {
			t.Fatalf("prev tx %s: %v", ti.PreviousOutPoint.Hash, err)
		}
		in += prev.TxOut[ti.PreviousOutPoint.Index].Value
	}
	for _, o := range tx.TxOut {
		out += o.Value
	}
	return in - out
}

// feesOf sums the chain fees of distinct txids.
func feesOf(t testing.TB, ctx context.Context, txids []string) int64 {
	t.Helper()
	seen := map[string]bool{}
	var sum int64
	for _, s := range txids {
		if seen[s] {
			continue
		}
		seen[s] = true
		h, err := chainhash.NewHashFromStr(s)
		if err != nil {
			t.Fatalf("txid %q: %v", s, err)
		}
		sum += txFee(t, ctx, *h)
	}
	return sum
}

// makerDetail is the maker's SwapInfo.Detail.
type makerDetail struct {
	InTotal       int64  `json:"in_total"`
	OutTotal      int64  `json:"out_total"`
	Fee           int64  `json:"fee"`
	Reimbursement int64  `json:"reimbursement"`
	InLocktime    uint16 `json:"in_locktime"`
	OutLocktime   uint16 `json:"out_locktime"`
	Outputs       []struct {
		Hop         int    `json:"hop"`
		Dir         string `json:"dir"`
		Funding     string `json:"funding"`
		Value       int64  `json:"value"`
		ResolveTxid string `json:"resolve_txid"`
	} `json:"outputs"`
}

// offerTerms are a maker's advertised fee terms (MakerStatus.Offer).
func offerTerms(t testing.TB, ctx context.Context, p *cluster.Proc) swap.Terms {
	t.Helper()
	ms, err := p.Client().MakerStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		BaseFee      int64  `json:"base_fee"`
		AmountFeePPB uint32 `json:"amount_fee_ppb"`
		TimeFeePPB   uint32 `json:"time_fee_ppb"`
	}
	if err := json.Unmarshal(ms.Offer, &o); err != nil {
		t.Fatalf("%s offer: %v", p.Name, err)
	}
	return swap.Terms{BaseFee: o.BaseFee, AmountFeePPB: o.AmountFeePPB, TimeFeePPB: o.TimeFeePPB}
}

// hopMaker is one maker of a finished route.
type hopMaker struct {
	p *cluster.Proc
	d makerDetail
}

// checkSwap asserts, after a complete swap by tk (report rep) with
// candidate makers ms, everyone settled, exactly:
//   - the route: as many makers as asked, each with one new complete swap
//     whose fee is its advertised formula on its incoming total and
//     outgoing locktime, chained amounts in = previous out, the report's
//     per-maker fees and the makers' own records agree;
//   - the taker's report: received = sent − Σ(fee + reimbursement), mining
//     fees = the chain fees of its txids; its wallet changed by exactly
//     −Σ(fee + reimbursement) − mining fees;
//   - each route maker's wallet changed by exactly fee + reimbursement −
//     its funding txs' chain fees − its sweep txs' chain fees; its bond
//     unchanged; the other makers unchanged;
//   - every contract / swap-incoming balance is zero (settled).
func checkSwap(t testing.TB, ctx context.Context, before map[*cluster.Proc]*state, tk *cluster.Proc, ms []*cluster.Proc,
	req control.TakerSwapRequest, rep *control.SwapReport) {
	t.Helper()
	after := snapshot(t, ctx, append([]*cluster.Proc{tk}, ms...)...)
	if rep.Outcome != string(swap.TakerComplete) || rep.AmountSent != req.Amount || rep.Makers != req.Makers ||
		rep.TxCount != req.TxCount || len(rep.MakerFees) != req.Makers {
		t.Fatalf("report %+v", rep)
	}
	var route []hopMaker
	for _, m := range ms {
		var fresh []control.SwapInfo
		for _, s := range newSwaps(before[m], after[m]) {
			// A competing taker's aborted attempt leaves an abandoned
			// swap (nothing funded): not part of this route.
			if s.Phase != string(swap.PhaseAbandoned) {
				fresh = append(fresh, s)
			}
		}
		if len(fresh) == 0 {
			if d := after[m].spendable - before[m].spendable; d != 0 || after[m].bond != before[m].bond {
				t.Fatalf("%s is not in the route but its balance changed by %d", m.Name, d)
			}
			continue
		}
		if len(fresh) != 1 {
			t.Fatalf("%s: %d new swaps, want 1", m.Name, len(fresh))
		}
		s := fresh[0]
		if s.Phase != string(swap.MakerComplete) || s.TxCount != req.TxCount {
			t.Fatalf("%s: swap %s phase %s tx_count %d", m.Name, s.ID, s.Phase, s.TxCount)
		}
		var d makerDetail
		if err := json.Unmarshal(s.Detail, &d); err != nil {
			t.Fatal(err)
		}
		route = append(route, hopMaker{m, d})
	}
	if len(route) != req.Makers {
		t.Fatalf("%d makers have a new swap, want %d", len(route), req.Makers)
	}
	// Route order: the incoming totals decrease along the route.
	sort.Slice(route, func(i, j int) bool { return route[i].d.InTotal > route[j].d.InTotal })
	locks := swap.Locktimes(req.Makers, swap.DefaultLastHopLocktime, swap.DefaultLocktimeStep)
	in := req.Amount
	var cost int64
	var names []string
	for i, h := range route {
		d := h.d
		wantFee := swap.MakerFee(offerTerms(t, ctx, h.p), in, locks[i+1])
		rf := rep.MakerFees[i]
		switch {
		case d.InTotal != in:
			t.Fatalf("hop %d (%s): in %d, want %d", i+1, h.p.Name, d.InTotal, in)
		case d.InLocktime != locks[i] || d.OutLocktime != locks[i+1]:
			t.Fatalf("hop %d (%s): locktimes %d/%d, want %d/%d", i+1, h.p.Name, d.InLocktime, d.OutLocktime, locks[i], locks[i+1])
		case d.Fee != wantFee || rf.Fee != wantFee:
			t.Fatalf("hop %d (%s): fee %d (report %d), advertised formula gives %d", i+1, h.p.Name, d.Fee, rf.Fee, wantFee)
		case d.Reimbursement != rf.Reimbursement || d.Reimbursement != rep.MakerFees[0].Reimbursement:
			t.Fatalf("hop %d (%s): reimbursement %d, report %d", i+1, h.p.Name, d.Reimbursement, rf.Reimbursement)
		case d.OutTotal != in-d.Fee-d.Reimbursement:
			t.Fatalf("hop %d (%s): forwards %d, want %d", i+1, h.p.Name, d.OutTotal, in-d.Fee-d.Reimbursement)
		}
		// The maker's gain: fee + reimbursement − the mining fees it paid.
		var fund, sweep []string
		for _, o := range d.Outputs {
			if o.Dir == string(swap.DirOut) {
				fund = append(fund, strings.SplitN(o.Funding, ":", 2)[0])
			} else if o.ResolveTxid != "" {
				sweep = append(sweep, o.ResolveTxid)
			} else {
				t.Fatalf("hop %d (%s): incoming output %s not swept", i+1, h.p.Name, o.Funding)
			}
		}
		ff, sf := feesOf(t, ctx, fund), feesOf(t, ctx, sweep)
		want := d.Fee + d.Reimbursement - ff - sf
		if got := after[h.p].spendable - before[h.p].spendable; got != want {
			t.Fatalf("hop %d (%s): balance change %d, want fee %d + reimbursement %d − funding fees %d − sweep fees %d = %d",
				i+1, h.p.Name, got, d.Fee, d.Reimbursement, ff, sf, want)
		}
		if after[h.p].bond != before[h.p].bond {
			t.Fatalf("%s: bond changed", h.p.Name)
		}
		t.Logf("  hop %d %s: in %d, fee %d, reimbursement %d, funding fees %d, sweep fees %d, gain %d",
			i+1, h.p.Name, d.InTotal, d.Fee, d.Reimbursement, ff, sf, want)
		names = append(names, h.p.Name)
		cost += d.Fee + d.Reimbursement
		in = d.OutTotal
	}
	if rep.AmountReceived != in || rep.AmountReceived != req.Amount-cost {
		t.Fatalf("taker received %d, route forwards %d = sent %d − %d", rep.AmountReceived, in, req.Amount, cost)
	}
	mining := feesOf(t, ctx, rep.Txids)
	if rep.MiningFees != mining {
		t.Fatalf("report mining fees %d, chain says %d", rep.MiningFees, mining)
	}
	var det struct {
		MakerFees      int64 `json:"maker_fees"`
		Reimbursements int64 `json:"reimbursements"`
		FundingFees    int64 `json:"funding_fees"`
		SweepFees      int64 `json:"sweep_fees"`
	}
	if err := json.Unmarshal(rep.Detail, &det); err != nil {
		t.Fatal(err)
	}
	if det.MakerFees+det.Reimbursements != cost || det.FundingFees+det.SweepFees != mining {
		t.Fatalf("report detail %+v; route cost %d, mining %d", det, cost, mining)
	}
	if got, want := after[tk].spendable-before[tk].spendable, -cost-mining; got != want {
		t.Fatalf("taker balance change %d, want −(maker fees+reimbursements %d) − mining fees %d = %d", got, cost, mining, want)
	}
	t.Logf("route %v: sent %d, received %d, maker fees+reimbursements %d, taker mining fees %d (funding %d, sweep %d)",
		names, rep.AmountSent, rep.AmountReceived, cost, mining, det.FundingFees, det.SweepFees)
	logFigures(t, rep)
}

// logFigures logs the report's wire and time figures.
func logFigures(t testing.TB, rep *control.SwapReport) {
	t.Helper()
	t.Logf("figures: %d round trips, %d connections, %d bytes (%d sent, %d received), wall %v excluding block waits (%v with them, %v waiting), %d attempts",
		rep.RoundTrips, rep.Connections, rep.BytesSent+rep.BytesReceived, rep.BytesSent, rep.BytesReceived,
		(rep.Duration - rep.BlockWait).Round(time.Millisecond), rep.Duration.Round(time.Millisecond),
		rep.BlockWait.Round(time.Millisecond), rep.Attempts)
	for _, p := range rep.Phases {
		t.Logf("  phase %-9s %v (block wait %v)", p.Name, p.Duration.Round(time.Millisecond), p.BlockWait.Round(time.Millisecond))
	}
}

// checkUnchanged asserts every process holds exactly what it held before
// (nothing spent, no fee paid, bond intact) and has no new non-final swap.
func checkUnchanged(t testing.TB, ctx context.Context, before map[*cluster.Proc]*state, ps ...*cluster.Proc) map[*cluster.Proc]*state {
	t.Helper()
	after := snapshot(t, ctx, ps...)
	for _, p := range ps {
		if a, b := after[p], before[p]; a.spendable != b.spendable || a.bond != b.bond {
			t.Fatalf("%s: spendable %d → %d, bond %d → %d: funds moved", p.Name, b.spendable, a.spendable, b.bond, a.bond)
		}
	}
	return after
}

// newSwaps returns the swaps of p present in after but not in before.
func newSwaps(before, after *state) []control.SwapInfo {
	var out []control.SwapInfo
	for id, s := range after.swaps {
		if _, old := before.swaps[id]; !old {
			out = append(out, s)
		}
	}
	return out
}
