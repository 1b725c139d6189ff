//go:build itest

package crash

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
)

// Swap parameters of every scenario. TxCount 2: more than one funding
// output per hop, so every recovery loop over a hop's outputs (and a crash
// between two of its steps) is exercised; 3+ would only add transactions.
const (
	swapAmount  = 1_000_000
	swapTxCount = 2
	// takerFund: 3 confirmed coins (one per funding tx of hop 0, and one
	// spare) of 1 M sat each.
	takerFund, takerCoins = 3_000_000, 3
	// faultyFund: a per-case maker's bond (0.005 BTC) and one coin per
	// outgoing funding tx, with room for the fees.
	faultyFund, faultyCoins = 5_000_000, 4
	// sharedFund: the two shared makers serve every case (up to
	// maxParallel at once, 2 coins each, reservations of a taker that
	// crashed before funding held until its Abort or the disconnect
	// grace): 40 coins.
	sharedFund, sharedCoins = 60_000_000, 40
)

// env is the package's long-lived part: a directory and two healthy
// makers, A (always route position 1 unless position 1 is under test) and
// B (position 2), whose spendable balance at start is the base of their
// cumulative exact balance check.
type envT struct {
	dir  *cluster.Proc
	a, b *cluster.Proc
	base map[string]int64
}

var (
	envOnce sync.Once
	env     envT
	envErr  error
)

func setup(t *testing.T) *envT {
	t.Helper()
	envOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		t0 := time.Now()
		if env.dir, envErr = clu.Spawn(ctx, cluster.Spec{Name: "dir", Role: cluster.RoleDirectory}); envErr != nil {
			return
		}
		ps, err := clu.SpawnAll(ctx, []cluster.Spec{
			{Name: "A", Role: cluster.RoleMaker, Directories: dirs(), Fund: sharedFund, FundCoins: sharedCoins},
			{Name: "B", Role: cluster.RoleMaker, Directories: dirs(), Fund: sharedFund, FundCoins: sharedCoins},
		})
		if envErr = err; err != nil {
			return
		}
		env.a, env.b = ps[0], ps[1]
		env.base = map[string]int64{}
		for _, p := range ps {
			if envErr = waitSettledWallet(ctx, p); envErr != nil {
				return
			}
			if env.base[p.Name], envErr = spendable(ctx, p); envErr != nil {
				return
			}
		}
		fmt.Printf("crash: directory and shared makers ready in %s\n", time.Since(t0).Round(time.Second))
	})
	if envErr != nil {
		t.Fatalf("setup: %v", envErr)
	}
	return &env
}

func dirs() []string { return []string{env.dir.Onion()} }

// spendable is what the wallet can spend: regular + swept coins.
func spendable(ctx context.Context, p *cluster.Proc) (int64, error) { return p.Spendable(ctx) }

// heldEffect is what a held (never broadcast) tx of p's wallet does to
// its spendable balance: + its change coins − the coins it spends.
func heldEffect(ctx context.Context, p *cluster.Proc, txid string) (int64, error) {
	coins, err := p.Client().Coins(ctx, "", true)
	if err != nil {
		return 0, err
	}
	var d int64
	for _, c := range coins {
		if c.SpentBy == txid {
			d -= c.Value
		}
		if strings.HasPrefix(c.OutPoint, txid+":") && c.SpentBy == "" && (c.Category == "regular" || c.Category == "swept") {
			d += c.Value
		}
	}
	return d, nil
}

// heldUnconfirmed is the value of p's unconfirmed coins created by txs
// that are neither in the mempool nor in the chain (held funding txs of
// reservations).
func heldUnconfirmed(ctx context.Context, p *cluster.Proc) (int64, error) {
	coins, err := p.Client().Coins(ctx, "", false)
	if err != nil {
		return 0, err
	}
	var v int64
	for _, c := range coins {
		if c.Confirmations > 0 {
			continue
		}
		h, err := chainhash.NewHashFromStr(fundingTxid(c.OutPoint))
		if err != nil {
			return 0, err
		}
		if _, _, err := clu.Backend().Tx(ctx, *h); err != nil {
			v += c.Value
		}
	}
	return v, nil
}

// settledWallet: nothing unconfirmed (but the change of held funding txs
// of reservations), nothing in a contract or an incoming 2-of-2 (every
// contract balance zero).
func settledWallet(ctx context.Context, p *cluster.Proc) (bool, string) {
	b, err := p.Balances(ctx)
	if err != nil {
		return false, err.Error()
	}
	held, err := heldUnconfirmed(ctx, p)
	if err != nil {
		return false, err.Error()
	}
	for cat, v := range b.Categories {
		if cat == "regular" && v.Unconfirmed == held {
			continue
		}
		if v.Unconfirmed != 0 {
			return false, fmt.Sprintf("%s unconfirmed %d", cat, v.Unconfirmed)
		}
		if (cat == "contract" || cat == "swap_incoming") && v.Total() != 0 {
			return false, fmt.Sprintf("%s balance %d", cat, v.Total())
		}
	}
	tip, err := clu.Tip(ctx)
	if err == nil && b.Height < tip {
		return false, fmt.Sprintf("wallet at %d, tip %d", b.Height, tip)
	}
	return true, ""
}

func waitSettledWallet(ctx context.Context, p *cluster.Proc) error {
	return poll(ctx, p.Name+" wallet settled", func() (bool, string) { return settledWallet(ctx, p) })
}

// poll calls cond every 250 ms until it holds or ctx ends.
func poll(ctx context.Context, what string, cond func() (bool, string)) error {
	return cluster.Poll(ctx, 250*time.Millisecond, what, cond)
}

// Swap detail as the control API reports it (node/daemon outputsJSON).
type outputJSON struct {
	Hop         int    `json:"hop"`
	Dir         string `json:"dir"`
	Funding     string `json:"funding"`
	Value       int64  `json:"value"`
	Status      string `json:"status"`
	ResolveTxid string `json:"resolve_txid"`
}

type legJSON struct {
	Fee           int64 `json:"fee"`
	Reimbursement int64 `json:"reimbursement"`
}

type detailJSON struct {
	Outputs       []outputJSON `json:"outputs"`
	Makers        []legJSON    `json:"makers"` // taker
	Fee           int64        `json:"fee"`    // maker
	Reimbursement int64        `json:"reimbursement"`
}

func parseDetail(s control.SwapInfo) (detailJSON, error) {
	var d detailJSON
	err := json.Unmarshal(s.Detail, &d)
	return d, err
}

// Outcomes of one party's swap.
const (
	outNothing  = "nothing-funded" // nothing of ours reached the chain
	outComplete = "complete"       // coins exchanged (cooperatively or by hashlock)
	outRefunded = "refunded"       // our funding came back by timelock
)

// acct is one party's exact view of one swap, from the actual transactions.
type acct struct {
	Delta     int64  // expected change of the wallet's spendable balance
	OwnMining int64  // mining fees this party bore (funding, contract, sweep/claim/refund)
	Agreed    int64  // fees agreed: −(maker fees + reimbursements) for the taker, +(fee + reimbursement) for a maker
	Reserved  int64  // part of Delta held by a reservation (a held funding tx): back when it is released
	Outcome   string // outNothing, outComplete, outRefunded
	Path      string // how it resolved: cooperative, hashlock, timelock, none
	Funding   []string
}

var (
	txCacheMu sync.Mutex
	txCache   = map[chainhash.Hash]*wire.MsgTx{}
)

// chainTx fetches a transaction through the harness's own backend
// (bypasses the relay, so it works during a chain outage too).
func chainTx(ctx context.Context, id string) (*wire.MsgTx, error) {
	h, err := chainhash.NewHashFromStr(id)
	if err != nil {
		return nil, err
	}
	txCacheMu.Lock()
	tx := txCache[*h]
	txCacheMu.Unlock()
	if tx != nil {
		return tx, nil
	}
	tx, st, err := clu.Backend().Tx(ctx, *h)
	if err != nil {
		return nil, fmt.Errorf("tx %s: %w", id, err)
	}
	if !st.InMempool && st.Height > 0 {
		txCacheMu.Lock()
		txCache[*h] = tx
		txCacheMu.Unlock()
	}
	return tx, nil
}

// txFee is Σ inputs − Σ outputs of a transaction, read from the chain.
func txFee(ctx context.Context, id string) (int64, error) {
	tx, err := chainTx(ctx, id)
	if err != nil {
		return 0, err
	}
	var in, out int64
	for _, ti := range tx.TxIn {
		prev, err := chainTx(ctx, ti.PreviousOutPoint.Hash.String())
		if err != nil {
			return 0, err
		}
		in += prev.TxOut[ti.PreviousOutPoint.Index].Value
	}
	for _, o := range tx.TxOut {
		out += o.Value
	}
	return in - out, nil
}

// txOut is the total output value of a (single-output) resolution tx.
func txOut(ctx context.Context, id string) (int64, error) {
	tx, err := chainTx(ctx, id)
	if err != nil {
		return 0, err
	}
	if len(tx.TxOut) != 1 {
		return 0, fmt.Errorf("resolution tx %s has %d outputs, want 1", id, len(tx.TxOut))
	}
	return tx.TxOut[0].Value, nil
}

func fundingTxid(op string) string { return op[:strings.IndexByte(op, ':')] }

// account derives a party's exact view of a final swap. Every funding tx
// of a swap pays exactly one swap output (plus change), so its whole fee
// is the sender's cost for that output.
func account(ctx context.Context, p *cluster.Proc, s control.SwapInfo) (acct, error) {
	d, err := parseDetail(s)
	if err != nil {
		return acct{}, err
	}
	var a acct
	if s.Role == "taker" {
		for _, m := range d.Makers {
			a.Agreed -= m.Fee + m.Reimbursement
		}
	} else {
		a.Agreed = d.Fee + d.Reimbursement
	}
	if s.Phase == "reserved" {
		// A maker's reservation for a taker that failed before funding
		// (held until the maker's idle timeout): its funding txs must not
		// be anywhere.
		for _, o := range d.Outputs {
			if o.Dir != "out" {
				continue
			}
			h, err := chainhash.NewHashFromStr(fundingTxid(o.Funding))
			if err != nil {
				return a, err
			}
			if _, _, err := clu.Backend().Tx(ctx, *h); err == nil {
				return a, fmt.Errorf("reserved swap: funding %s was broadcast", o.Funding)
			}
			// The held funding tx is not on chain, but the wallet counts
			// its inputs as spent and its change as unconfirmed until the
			// reservation is released: that is the swap's (temporary)
			// effect on the spendable balance, read from the wallet's coins.
			held, err := heldEffect(ctx, p, fundingTxid(o.Funding))
			if err != nil {
				return a, err
			}
			a.Delta += held
			a.Reserved += held
		}
		a.Outcome, a.Path = outNothing, "none (reserved)"
		return a, nil
	}
	var given, refunded, got int
	paths := map[string]bool{}
	for _, o := range d.Outputs {
		a.Funding = append(a.Funding, o.Funding)
		switch o.Dir {
		case "out":
			switch o.Status {
			case "abandoned":
				continue
			case "live":
				return a, fmt.Errorf("outgoing %s still live", o.Funding)
			}
			fee, err := txFee(ctx, fundingTxid(o.Funding))
			if err != nil {
				return a, err
			}
			a.Delta -= o.Value + fee
			a.OwnMining += fee
			if o.Status == "refunded" {
				v, err := txOut(ctx, o.ResolveTxid)
				if err != nil {
					return a, err
				}
				a.Delta += v
				a.OwnMining += o.Value - v
				refunded++
				paths["timelock"] = true
			} else { // given, peer: the receiver's now
				given++
			}
		case "in":
			switch o.Status {
			case "settled", "claimed":
				v, err := txOut(ctx, o.ResolveTxid)
				if err != nil {
					return a, err
				}
				a.Delta += v
				a.OwnMining += o.Value - v
				got++
				if o.Status == "claimed" {
					paths["hashlock"] = true
				} else {
					paths["cooperative"] = true
				}
			}
		}
	}
	switch {
	case given+refunded+got == 0:
		a.Outcome = outNothing
	case refunded > 0 && (given > 0 || got > 0):
		return a, fmt.Errorf("mixed outcome: %d outputs given, %d refunded, %d received", given, refunded, got)
	case refunded > 0:
		a.Outcome = outRefunded
	case s.Role == "taker" && (given == 0 || got == 0):
		return a, fmt.Errorf("taker gave %d outputs and received %d", given, got)
	default:
		a.Outcome = outComplete
	}
	var ps []string
	for p := range paths {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	a.Path = strings.Join(ps, "+")
	if a.Path == "" {
		a.Path = "none"
	}
	return a, nil
}

// checkEconomics: a completed swap moved exactly the agreed fees; any
// other outcome cost exactly the party's own mining fees.
func (a acct) check() error {
	want := int64(0)
	if a.Outcome == outComplete {
		want = a.Agreed
	}
	if got := a.Delta - a.Reserved + a.OwnMining; got != want {
		return fmt.Errorf("%s: balance change %d + own mining fees %d = %d, want %d", a.Outcome, a.Delta, a.OwnMining, got, want)
	}
	return nil
}

// swapsOf returns a process's swaps.
func swapsOf(ctx context.Context, p *cluster.Proc) ([]control.SwapInfo, error) {
	return p.Client().Swaps(ctx)
}

// swapWith returns p's swap that shares a funding outpoint with funding.
func swapWith(ctx context.Context, p *cluster.Proc, funding []string) (*control.SwapInfo, error) {
	ss, err := swapsOf(ctx, p)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, f := range funding {
		want[f] = true
	}
	for i := range ss {
		d, err := parseDetail(ss[i])
		if err != nil {
			return nil, err
		}
		for _, o := range d.Outputs {
			if want[o.Funding] {
				return &ss[i], nil
			}
		}
	}
	return nil, nil
}

// checkShared checks the shared makers' wallets against every swap they
// served since setup (exact, cumulative: their swaps run in parallel).
// The expected delta and the balance are read in the same poll round and
// must agree: a reservation left by an earlier case can be abandoned by
// the maker's idle timeout at any moment, which changes both at once, so
// reading them in two steps could compare a balance with a stale account.
// A real mismatch persists and fails the test with the last figures.
func checkShared(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, p := range []*cluster.Proc{env.a, env.b} {
		var want, got int64
		var swapErrs []string
		err := poll(ctx, p.Name+" final, settled and accounted", func() (bool, string) {
			if ok, why := settledWallet(ctx, p); !ok {
				return false, why
			}
			ss, err := swapsOf(ctx, p)
			if err != nil {
				return false, err.Error()
			}
			want, swapErrs = 0, nil
			for _, s := range ss {
				if !s.Final && s.Phase != "reserved" {
					return false, "swap " + s.ID + " " + s.Phase
				}
				a, err := account(ctx, p, s)
				if err != nil {
					return false, err.Error()
				}
				if err := a.check(); err != nil {
					swapErrs = append(swapErrs, fmt.Sprintf("swap %s: %v", s.ID, err))
				}
				want += a.Delta
			}
			if got, err = spendable(ctx, p); err != nil {
				return false, err.Error()
			}
			if got-env.base[p.Name] != want {
				return false, fmt.Sprintf("spendable changed by %d since setup, its swaps account for %d", got-env.base[p.Name], want)
			}
			return true, ""
		})
		for _, e := range swapErrs {
			t.Errorf("%s %s", p.Name, e)
		}
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		t.Logf("%s: spendable %+d sat since setup, exactly what its swaps account for", p.Name, want)
	}
}

var _ = btcutil.Amount(0)
