package wallet

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/keys"
)

func TestEqualOutputs(t *testing.T) {
	tx := func(values ...int64) *wire.MsgTx {
		m := wire.NewMsgTx(2)
		for _, v := range values {
			m.AddTxOut(wire.NewTxOut(v, []byte{0x51}))
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		tx    *wire.MsgTx
		value int64
		want  int
	}{
		{"payment and change", tx(70_000, 29_000), 29_000, 1},
		{"one output", tx(100_000), 100_000, 1},
		{"5 equal including ours", tx(50_000, 50_000, 12_345, 50_000, 50_000, 50_000), 50_000, 5},
		{"change beside 5 equal", tx(50_000, 50_000, 12_345, 50_000, 50_000, 50_000), 12_345, 1},
		{"different values", tx(50_000, 50_001, 49_999), 50_001, 1},
		{"two pairs", tx(10, 20, 10, 20, 20), 10, 2},
		{"value absent", tx(50_000, 60_000), 55_000, 0},
		{"no outputs", tx(), 1, 0},
	} {
		if got := equalOutputs(tc.tx, tc.value); got != tc.want {
			t.Errorf("%s: equalOutputs(%d) = %d, want %d", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestTraceable(t *testing.T) {
	for _, tc := range []struct {
		anonSet int
		want    bool
	}{{0, true}, {1, true}, {4, true}, {5, false}, {12, false}} {
		if got := (Coin{AnonSet: tc.anonSet}).Traceable(DefaultAnonTarget); got != tc.want {
			t.Errorf("AnonSet %d: Traceable(%d) = %v", tc.anonSet, DefaultAnonTarget, got)
		}
	}
}

// TestAnonSetThroughSync: a transaction paying the wallet one of 5 equal
// outputs and a change-like coin of another value, seen by the watcher:
// the coins carry anonymity sets 5 and 1; a coin of unknown set (0) gets
// it on a rescan; a Send's change gets its set when the wallet records it.
func TestAnonSetThroughSync(t *testing.T) {
	ctx := context.Background()
	c := newFake()
	cfg := testConfig(t, "")
	cfg.Backend = c
	w, _ := createWallet(t, cfg)
	defer w.Close()

	own := func() []byte {
		t.Helper()
		addr, err := w.NewAddress(ctx, keys.BranchExternal)
		if err != nil {
			t.Fatal(err)
		}
		pk, _ := txscript.PayToAddrScript(addr)
		return pk
	}
	other := func(b byte) []byte { // P2WPKH of someone else
		pk := []byte{txscript.OP_0, txscript.OP_DATA_20}
		for i := 0; i < 20; i++ {
			pk = append(pk, b)
		}
		return pk
	}
	const denom, change = 100_000, 73_210
	mixPk, changePk := own(), own()
	join := c.FundOutputs(
		wire.NewTxOut(denom, other(1)),
		wire.NewTxOut(denom, other(2)),
		wire.NewTxOut(denom, mixPk),
		wire.NewTxOut(change, changePk),
		wire.NewTxOut(denom, other(3)),
		wire.NewTxOut(denom, other(4)),
		wire.NewTxOut(55_555, other(5)),
	)
	syncFake(t, w)
	coins, err := w.ListCoins(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(coins) != 2 {
		t.Fatalf("coins %+v", coins)
	}
	for _, co := range coins {
		if co.OutPoint.Hash != join.TxHash() {
			t.Fatalf("coin %v not from the join", co.OutPoint)
		}
		switch co.Value {
		case denom:
			if co.AnonSet != 5 || co.Traceable(DefaultAnonTarget) {
				t.Errorf("mixed coin: AnonSet %d, traceable %v; want 5, false", co.AnonSet, co.Traceable(DefaultAnonTarget))
			}
		case change:
			if co.AnonSet != 1 || !co.Traceable(DefaultAnonTarget) {
				t.Errorf("change: AnonSet %d, traceable %v; want 1, true", co.AnonSet, co.Traceable(DefaultAnonTarget))
			}
		default:
			t.Errorf("unexpected coin %+v", co)
		}
	}
	// A coin recorded before anon sets were counted (0, unknown) gets its
	// set when a rescan sees its transaction again; a known one keeps it.
	if _, err := w.store.db.Exec(`UPDATE coins SET anon_set = 0 WHERE value = ?`, denom); err != nil {
		t.Fatal(err)
	}
	if coins, _ := w.ListCoins(ctx, "", true); !coinAnonSets(coins, map[int64]int{denom: 0, change: 1}) {
		t.Fatalf("after clearing: %+v", coins)
	}
	if err := w.Rescan(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if coins, _ := w.ListCoins(ctx, "", true); !coinAnonSets(coins, map[int64]int{denom: 5, change: 1}) {
		t.Fatalf("after rescan: %+v", coins)
	}

	// Our own transaction: its change is recorded by the builder with the
	// count from the transaction it built.
	addr, err := w.NewAddress(ctx, keys.BranchExternal)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := w.Send(ctx, addr, 40_000, 2_000)
	if err != nil {
		t.Fatal(err)
	}
	coins, _ = w.ListCoins(ctx, "", true)
	n := 0
	for _, co := range coins {
		if co.OutPoint.Hash == sent.Txid {
			n++
			if co.AnonSet != 1 {
				t.Errorf("output %d of our send: AnonSet %d, want 1", co.OutPoint.Index, co.AnonSet)
			}
		}
	}
	if n == 0 {
		t.Fatal("no coin of our send recorded")
	}
}

// coinAnonSets reports whether coins are exactly one per value in want,
// each with the anon set want gives.
func coinAnonSets(coins []Coin, want map[int64]int) bool {
	if len(coins) != len(want) {
		return false
	}
	for _, co := range coins {
		if a, ok := want[int64(co.Value)]; !ok || co.AnonSet != a {
			return false
		}
	}
	return true
}

// TestSplitOutputsAreTraceable: a premix's equal outputs are all ours, so
// each records an anonymity set of 1, also once the watcher sees the
// transaction (whose equal outputs would count 4 otherwise).
func TestSplitOutputsAreTraceable(t *testing.T) {
	ctx := context.Background()
	c := newFake()
	cfg := testConfig(t, "")
	cfg.Backend = c
	w, _ := createWallet(t, cfg)
	defer w.Close()
	addr, err := w.NewAddress(ctx, keys.BranchExternal)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := txscript.PayToAddrScript(addr)
	c.FundOutputs(wire.NewTxOut(1_000_000, pk))
	syncFake(t, w)
	if _, err := w.Split(ctx, Regular, 20, 101_500, 2_000); err == nil {
		t.Fatal("a split of 20 outputs was accepted")
	}
	if _, err := w.Split(ctx, Regular, 4, 300_000, 2_000); err == nil {
		t.Fatal("a split beyond the balance was accepted")
	}
	sent, err := w.Split(ctx, Regular, 4, 101_500, 2_000)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		coins, err := w.ListCoins(ctx, "", true)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, co := range coins {
			if co.OutPoint.Hash != sent.Txid || co.Value != 101_500 {
				continue
			}
			n++
			if co.AnonSet != 1 || !co.Traceable(DefaultAnonTarget) || co.Category != Regular {
				t.Errorf("%s: premix output %+v: want anon set 1, traceable, regular", when, co)
			}
		}
		if n != 4 {
			t.Fatalf("%s: %d premix outputs recorded, want 4", when, n)
		}
	}
	if _, err := c.Mine(ctx, 1); err != nil { // the broadcast split confirms
		t.Fatal(err)
	}
	syncFake(t, w)
	check("after the watcher saw it")
	if err := w.Rescan(ctx, 0); err != nil {
		t.Fatal(err)
	}
	check("after a rescan")
}
