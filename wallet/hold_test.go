package wallet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/keys"
)

// TestHoldCoin: a held coin is out of reach of other holders and of the
// generic builder until it is released or its hold expires; a spent or
// unknown coin cannot be held.
func TestHoldCoin(t *testing.T) {
	ctx := context.Background()
	c := newFake()
	cfg := testConfig(t, "")
	cfg.Backend = c
	now := time.Unix(1_800_000_000, 0)
	cfg.Now = func() time.Time { return now }
	w, _ := createWallet(t, cfg)
	defer w.Close()
	addr, err := w.NewAddress(ctx, keys.BranchExternal)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := txscript.PayToAddrScript(addr)
	fund := c.FundOutputs(wire.NewTxOut(100_000, pk))
	syncFake(t, w)
	op := wire.OutPoint{Hash: fund.TxHash(), Index: 0}

	coin, err := w.HoldCoin(ctx, op, "round-a", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !coin.Reserved || coin.Value != 100_000 {
		t.Fatalf("held coin %+v", coin)
	}
	if _, err := w.HoldCoin(ctx, op, "round-b", now.Add(time.Minute)); !errors.Is(err, ErrCoinUnavailable) {
		t.Fatalf("second holder: %v, want ErrCoinUnavailable", err)
	}
	if _, err := w.HoldCoin(ctx, op, "round-a", now.Add(2*time.Minute)); err != nil {
		t.Fatalf("same holder again: %v", err)
	}
	if _, err := w.Send(ctx, addr, 50_000, 1_000); err == nil {
		t.Fatal("the builder spent a held coin")
	}
	// The hold expires by itself (a node that died holding it).
	now = now.Add(3 * time.Minute)
	if _, err := w.HoldCoin(ctx, op, "round-b", now.Add(time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := w.ReleaseCoin(ctx, op, "round-a"); err != nil { // not its holder: no-op
		t.Fatal(err)
	}
	if cs, _ := w.ListCoins(ctx, "", true); len(cs) != 1 || !cs[0].Reserved {
		t.Fatalf("another holder released it: %+v", cs)
	}
	if err := w.ReleaseCoin(ctx, op, "round-b"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := w.ListCoins(ctx, "", true); len(cs) != 1 || cs[0].Reserved {
		t.Fatalf("after release: %+v", cs)
	}
	var unknown wire.OutPoint
	unknown.Index = 7
	if _, err := w.HoldCoin(ctx, unknown, "round-c", now.Add(time.Minute)); !errors.Is(err, ErrCoinUnavailable) {
		t.Fatalf("unknown coin: %v", err)
	}
}
