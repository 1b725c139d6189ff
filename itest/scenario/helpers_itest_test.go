//go:build itest

package scenario

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/wallet/chain"
)

// poll is the interval of every wait loop.
const poll = 500 * time.Millisecond

func tctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitUntil polls cond until it reports done; on timeout the test fails
// with cond's last explanation.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	if err := cluster.Poll(ctx, poll, what, cond); err != nil {
		t.Fatal(err)
	}
}

// state is a party's wallet and swaps at one moment.
type state struct {
	spendable int64 // regular + swept, all confirmed
	bond      int64
	swaps     map[string]bool
}

// quietState returns p's state if it is settled: wallet at the chain tip,
// nothing unconfirmed, nothing in contract or swap-incoming outputs.
func quietState(ctx context.Context, p *cluster.Proc, tip int32) (*state, string) {
	b, err := p.Balances(ctx)
	if err != nil {
		return nil, err.Error()
	}
	if b.Height != tip {
		return nil, fmt.Sprintf("%s wallet at %d, tip %d", p.Name, b.Height, tip)
	}
	for cat, v := range b.Categories {
		if v.Unconfirmed != 0 {
			return nil, fmt.Sprintf("%s has %d unconfirmed in %s", p.Name, v.Unconfirmed, cat)
		}
		if (cat == "contract" || cat == "swap_incoming") && v.Total() != 0 {
			return nil, fmt.Sprintf("%s holds %d in %s", p.Name, v.Total(), cat)
		}
	}
	ss, err := p.Client().Swaps(ctx)
	if err != nil {
		return nil, err.Error()
	}
	st := &state{spendable: b.Categories["regular"].Total() + b.Categories["swept"].Total(),
		bond: b.Categories["fidelity_bond"].Total(), swaps: map[string]bool{}}
	for _, s := range ss {
		st.swaps[s.ID] = true
	}
	return st, ""
}

// quiet waits until the mempool is empty and every party is settled, and
// returns their states.
func quiet(t *testing.T, ctx context.Context, ps ...*cluster.Proc) map[*cluster.Proc]*state {
	t.Helper()
	out := map[*cluster.Proc]*state{}
	waitUntil(t, ctx, "the chain and wallets to settle", func() (bool, string) {
		ids, err := clu.Backend().MempoolTxids(ctx)
		if err != nil || len(ids) > 0 {
			return false, fmt.Sprintf("mempool: %d txs %v", len(ids), err)
		}
		tip, err := clu.Tip(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			st, why := quietState(ctx, p, tip)
			if st == nil {
				return false, why
			}
			out[p] = st
		}
		return true, ""
	})
	return out
}

// newSwaps returns p's swaps created since before.
func newSwaps(t *testing.T, ctx context.Context, p *cluster.Proc, before *state) []control.SwapInfo {
	t.Helper()
	ss, err := p.Client().Swaps(ctx)
	if err != nil {
		t.Fatalf("%s swaps: %v", p.Name, err)
	}
	var out []control.SwapInfo
	for _, s := range ss {
		if !before.swaps[s.ID] {
			out = append(out, s)
		}
	}
	return out
}

// allFinal reports whether every new swap of p is final (and how many).
func allFinal(ctx context.Context, p *cluster.Proc, before *state) (bool, string) {
	ss, err := p.Client().Swaps(ctx)
	if err != nil {
		return false, err.Error()
	}
	for _, s := range ss {
		if !before.swaps[s.ID] && !s.Final {
			return false, fmt.Sprintf("%s swap %.8s in phase %s", p.Name, s.ID, s.Phase)
		}
	}
	return true, ""
}

// phaseOf returns the phase of p's only new swap ("" if none).
func phaseOf(ctx context.Context, p *cluster.Proc, before *state) string {
	ss, err := p.Client().Swaps(ctx)
	if err != nil {
		return ""
	}
	for _, s := range ss {
		if !before.swaps[s.ID] {
			return s.Phase
		}
	}
	return ""
}

// detail is the engine's JSON view of a swap (control.SwapInfo.Detail).
type detail struct {
	Fee           int64 `json:"fee"`
	Reimbursement int64 `json:"reimbursement"`
	InTotal       int64 `json:"in_total"`
	OutTotal      int64 `json:"out_total"`
	Makers        []struct {
		Fee           int64 `json:"fee"`
		Reimbursement int64 `json:"reimbursement"`
	} `json:"makers"`
	Outputs []struct {
		Hop     int    `json:"hop"`
		Dir     string `json:"dir"`
		Funding string `json:"funding"`
		Value   int64  `json:"value"`
		Status  string `json:"status"`
		Resolve string `json:"resolve_txid"`
	} `json:"outputs"`
}

// ledger is what a party's swaps did, computed from the transactions on
// chain: the values it funded and lost to the counterparty (Sent), the
// values it took in (Recv), and every mining fee it bore (Mining: its
// funding txs, and for each output it resolved itself the difference
// between the output's value and what reached its wallet: the contract
// tx's fee plus the claim/refund fee, or the sweep fee).
type ledger struct {
	Sent, Recv, Mining int64
	// Agreed: the fees the taker agreed to pay (Σ maker fee +
	// reimbursement); for a maker, Earned: its fee + reimbursement.
	Agreed, Earned int64
	// Counts of outputs by outcome.
	Funded, Given, Refunded, Settled, Claimed, InPeer, InUnfunded int
}

func (l ledger) delta() int64 { return l.Recv - l.Sent - l.Mining }

// path names the outcome: complete (every funded output went to the
// counterparty and every incoming one came in), refunded (every funded
// output came back by timelock, nothing came in), untouched (nothing
// funded), else mixed.
func (l ledger) path() string {
	switch {
	case l.Funded == 0 && l.Settled+l.Claimed == 0:
		return "untouched"
	case l.Given == l.Funded && l.Refunded == 0 && l.Settled+l.Claimed > 0:
		if l.Claimed > 0 {
			return "complete/hashlock"
		}
		return "complete/cooperative"
	case l.Refunded == l.Funded && l.Settled+l.Claimed == 0:
		return "refunded/timelock"
	case l.Refunded == l.Funded && l.Settled == 0 && l.Claimed > 0:
		return "refunded/timelock+claimed/hashlock"
	}
	return "mixed"
}

func (l ledger) String() string {
	return fmt.Sprintf("sent %d, received %d, mining fees %d (funded %d, given %d, refunded %d, swept %d, claimed %d)",
		l.Sent, l.Recv, l.Mining, l.Funded, l.Given, l.Refunded, l.Settled, l.Claimed)
}

// txOnChain returns a confirmed transaction (nil if unknown or only in
// the mempool: quiet() ran before, so the mempool is empty).
func txOnChain(t *testing.T, ctx context.Context, s string) *wire.MsgTx {
	t.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		t.Fatalf("txid %q: %v", s, err)
	}
	tx, st, err := clu.Backend().Tx(ctx, *h)
	if errors.Is(err, chain.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("tx %s: %v", s, err)
	}
	if st.InMempool {
		t.Fatalf("tx %s still unconfirmed", s)
	}
	return tx
}

// fee is a confirmed transaction's fee, from its inputs' previous outputs.
func fee(t *testing.T, ctx context.Context, tx *wire.MsgTx) int64 {
	t.Helper()
	var in, out int64
	for _, ti := range tx.TxIn {
		prev, _, err := clu.Backend().Tx(ctx, ti.PreviousOutPoint.Hash)
		if err != nil {
			t.Fatalf("input %v: %v", ti.PreviousOutPoint, err)
		}
		in += prev.TxOut[ti.PreviousOutPoint.Index].Value
	}
	for _, o := range tx.TxOut {
		out += o.Value
	}
	return in - out
}

// account builds a party's ledger over swaps from the chain.
func account(t *testing.T, ctx context.Context, role string, swaps []control.SwapInfo) ledger {
	t.Helper()
	var l ledger
	for _, s := range swaps {
		var d detail
		if err := json.Unmarshal(s.Detail, &d); err != nil {
			t.Fatalf("swap detail: %v", err)
		}
		settledSwap := s.Phase != string(swap.TakerFailed) && s.Phase != string(swap.PhaseAbandoned)
		if !settledSwap {
			// an attempt that funded nothing: no fee is due
		} else if role == cluster.RoleTaker {
			for _, m := range d.Makers {
				l.Agreed += m.Fee + m.Reimbursement
			}
		} else {
			l.Earned += d.Fee + d.Reimbursement
		}
		for _, o := range d.Outputs {
			txid, _, _ := strings.Cut(o.Funding, ":")
			resolved := func() int64 { // what reached our wallet from the resolving tx
				rtx := txOnChain(t, ctx, o.Resolve)
				if rtx == nil || len(rtx.TxOut) != 1 {
					t.Fatalf("%s output %d/%s resolved by %q: not a confirmed 1-output tx", s.Role, o.Hop, o.Dir, o.Resolve)
				}
				return rtx.TxOut[0].Value
			}
			switch o.Dir {
			case string(swap.DirOut):
				ftx := txOnChain(t, ctx, txid)
				if ftx == nil {
					if o.Status != swap.StatusAbandoned {
						t.Fatalf("%s: outgoing %s never funded but status %s", s.Role, o.Funding, o.Status)
					}
					continue
				}
				l.Funded++
				l.Mining += fee(t, ctx, ftx)
				if o.Status == swap.StatusRefunded {
					got := resolved()
					l.Refunded++
					l.Mining += o.Value - got
				} else {
					// given (keys handed over), peer (the receiver swept
					// or claimed it), or live in a vanished maker's record
					l.Given++
					l.Sent += o.Value
				}
			case string(swap.DirIn):
				switch o.Status {
				case swap.StatusSettled, swap.StatusClaimed:
					got := resolved()
					if o.Status == swap.StatusSettled {
						l.Settled++
					} else {
						l.Claimed++
					}
					l.Recv += o.Value
					l.Mining += o.Value - got
				default:
					if txOnChain(t, ctx, txid) == nil {
						l.InUnfunded++
					} else {
						l.InPeer++ // the sender refunded it
					}
				}
			}
		}
	}
	return l
}

// party is one participant of a scenario and what it must end with.
type party struct {
	p      *cluster.Proc
	honest bool
	// want is the expected ledger path ("" = not checked: a cheater).
	want string
}

// settleAndCheck waits until every party's new swaps are final (running
// step each poll: mining, recover calls), then until the chain is quiet,
// and checks each party's balance change against its ledger, exactly.
func settleAndCheck(t *testing.T, ctx context.Context, before map[*cluster.Proc]*state, step func(), ps ...party) map[*cluster.Proc]ledger {
	t.Helper()
	waitUntil(t, ctx, "every swap final", func() (bool, string) {
		if step != nil {
			step()
		}
		for _, pt := range ps {
			if ok, why := allFinal(ctx, pt.p, before[pt.p]); !ok {
				return false, why
			}
		}
		return true, ""
	})
	procs := make([]*cluster.Proc, len(ps))
	for i, pt := range ps {
		procs[i] = pt.p
	}
	after := quiet(t, ctx, procs...)
	for _, pt := range ps {
		if n := logCount(pt.p, msgIs("dialing a candidate maker failed; retrying once")); pt.p.Role == cluster.RoleTaker && n > 0 {
			t.Logf("%s: %d dial retries so far (stale circuits to restarted makers)", pt.p.Name, n)
		}
	}
	out := map[*cluster.Proc]ledger{}
	for _, pt := range ps {
		b, a := before[pt.p], after[pt.p]
		l := account(t, ctx, pt.p.Role, newSwaps(t, ctx, pt.p, b))
		out[pt.p] = l
		got := a.spendable - b.spendable
		t.Logf("%-6s Δ %+d sat: %s → %s", pt.p.Name, got, l, l.path())
		if got != l.delta() {
			t.Errorf("%s: balance changed by %d, the transactions say %d (%s)", pt.p.Name, got, l.delta(), l)
		}
		if a.bond != b.bond {
			t.Errorf("%s: fidelity bond balance %d → %d", pt.p.Name, b.bond, a.bond)
		}
		if pt.honest && got < -l.Mining-l.Agreed {
			t.Errorf("%s (honest) lost %d sat: more than its mining fees %d + agreed fees %d", pt.p.Name, -got, l.Mining, l.Agreed)
		}
		if pt.want != "" && l.path() != pt.want {
			t.Errorf("%s: outcome %s, want %s (%s)", pt.p.Name, l.path(), pt.want, l)
		}
	}
	return out
}

// checkComplete checks the success figures of a completed swap: the taker
// received exactly what it sent minus each maker's fee and reimbursement,
// each maker gained exactly its fee + reimbursement minus the mining fees
// it bore.
func checkComplete(t *testing.T, tk ledger, makers ...ledger) {
	t.Helper()
	if tk.Sent-tk.Recv != tk.Agreed {
		t.Errorf("taker sent %d, received %d: paid %d, agreed %d", tk.Sent, tk.Recv, tk.Sent-tk.Recv, tk.Agreed)
	}
	var earned int64
	for i, m := range makers {
		earned += m.Earned
		if m.Recv-m.Sent != m.Earned {
			t.Errorf("maker %d: in %d − out %d ≠ fee + reimbursement %d", i+1, m.Recv, m.Sent, m.Earned)
		}
	}
	if earned != tk.Agreed {
		t.Errorf("makers earned %d, the taker agreed to pay %d", earned, tk.Agreed)
	}
}

// logRecord is one JSON log line of a process.
type logRecord map[string]any

// logCount counts p's log records matching match.
func logCount(p *cluster.Proc, match func(logRecord) bool) int {
	f, err := os.Open(p.LogPath())
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r logRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && match(r) {
			n++
		}
	}
	return n
}

// msgIs matches a record by message (and optional key=value attributes).
func msgIs(msg string, kv ...any) func(logRecord) bool {
	return func(r logRecord) bool {
		if r["msg"] != msg {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if r[kv[i].(string)] != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// mineEvery returns a step that mines n blocks (the timelock scenarios:
// CSV locks of 20–60 blocks pass in seconds).
func mineEvery(t *testing.T, ctx context.Context, n int) func() {
	return func() {
		if _, err := clu.Mine(ctx, n); err != nil && ctx.Err() == nil {
			t.Logf("mining: %v", err)
		}
	}
}

// recoverTaker returns a step that asks the taker to run a recovery pass
// (`onionswap taker recover` through the control API).
func recoverTaker(ctx context.Context, tk *cluster.Proc) func() {
	return func() {
		if tk.Running() {
			_, _ = tk.Client().TakerRecover(ctx)
		}
	}
}

func steps(fs ...func()) func() {
	return func() {
		for _, f := range fs {
			f()
		}
	}
}
