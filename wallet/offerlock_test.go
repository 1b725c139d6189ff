package wallet

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/keys"
)

// TestOfferLocks: coins locked for the offer cannot be sent (the refusal
// says why and what to do), still fund swaps, come back when unlocked; a
// locked coin spent by a transaction we did not build breaks the offer.
func TestOfferLocks(t *testing.T) {
	cfg := testConfig(t, "")
	fb := &recordingBackend{Chain: newFake()}
	cfg.Backend = fb
	w, _ := createWallet(t, cfg)
	defer w.Close()
	ctx := context.Background()
	a := insertCoin(t, w, 1, 0, 200_000)
	insertCoin(t, w, 2, 1, 300_000)
	n, total, err := w.LockOfferCoins(ctx)
	if err != nil || n != 2 || total != 500_000 {
		t.Fatalf("locked %d coins, %d sat: %v", n, total, err)
	}
	dest, _ := w.NewAddress(ctx, keys.BranchExternal)
	_, err = w.Send(ctx, dest, 50_000, 2000)
	var ife *InsufficientFundsError
	if !errors.As(err, &ife) || ife.OfferLocked != 500_000 || !strings.Contains(err.Error(), "market withdraw") {
		t.Fatalf("send of locked coins: %v", err)
	}
	// A swap's funding may use them: that is what the offer promises.
	sent, err := w.FundOutputs(ctx, []*wire.TxOut{wire.NewTxOut(100_000, p2wpkhTemplate)}, 2000, Regular)
	if err != nil {
		t.Fatalf("swap funding from locked coins: %v", err)
	}
	if broken, err := w.OfferLockBroken(ctx); err != nil || len(broken) != 0 {
		t.Fatalf("our own funding broke the lock: %v %v", broken, err)
	}
	if err := w.AbandonTx(ctx, sent.Txid); err != nil {
		t.Fatal(err)
	}
	// A restored copy of the wallet spends a locked coin.
	foreign := chainhash.Hash{0xfe}
	if _, err := w.store.db.Exec(`UPDATE coins SET spent_by = ?, spent_height = 101 WHERE txid = ? AND vout = ?`,
		foreign[:], a.Hash[:], a.Index); err != nil {
		t.Fatal(err)
	}
	broken, err := w.OfferLockBroken(ctx)
	if err != nil || len(broken) != 1 || broken[0] != a {
		t.Fatalf("broken lock: %v %v", broken, err)
	}
	if err := w.UnlockOfferCoins(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Send(ctx, dest, 50_000, 2000); err != nil {
		t.Fatalf("send after unlocking: %v", err)
	}
}
