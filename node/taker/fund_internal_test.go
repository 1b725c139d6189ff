package taker

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/keys"
)

// TestWaitConfsSaysHopAlreadySpent (issue 9 §3): a resumed taker waiting
// for hop 1 whose funding was confirmed and already spent (by a maker's
// contract: none of that hop's contracts is the taker's) said "hop 1 not
// confirmed 6 blocks after broadcast". It now says what happened, at once.
func TestWaitConfsSaysHopAlreadySpent(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch := chaintest.New(chaintest.Options{})
	w, _, err := wallet.Create(ctx, wallet.Config{Path: filepath.Join(t.TempDir(), "t.db"),
		Params: &chaincfg.RegressionNetParams, Backend: ch, PollInterval: 20 * time.Millisecond, Logger: quiet}, wallet.CreateOptions{Words: 12})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tk, err := New(Config{Wallet: w, Backend: ch, Transport: tor.NewLoopback(), Network: protocol.Regtest,
		PollInterval: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// A confirmed output, then spent in a block: hop 1's funding as the
	// restarted taker finds it.
	addr, err := w.NewAddress(ctx, keys.BranchExternal)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := txscript.PayToAddrScript(addr)
	fund := ch.Fund(pk, 1_000_000)
	op := wire.OutPoint{Hash: fund.TxHash()}
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	other, _ := w.NewAddress(ctx, keys.BranchExternal)
	if _, err := w.SendMax(ctx, other, wallet.Regular, 0); err != nil {
		t.Fatal(err)
	}
	ch.MineN(1)
	rec := &swap.TakerSwap{Hops: [][]swap.HopOutput{nil, {{FundingOutPoint: op, MultisigScript: pk, Value: 1_000_000}}}}
	_, _ = rand.Read(rec.ID[:])
	r := &run{t: tk, rec: rec, rep: &Report{}}
	err = r.waitConfs(ctx, 1, 1, DefaultFundingTimeoutBlocks)
	if err == nil || !strings.Contains(err.Error(), "already spent") {
		t.Fatalf("waiting for a hop confirmed and spent: %v, want it said", err)
	}
}
