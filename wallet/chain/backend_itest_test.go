//go:build itest

package chain_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/chain/regtest"
)

func TestBackendTipAndBlocks(t *testing.T) {
	ctx := testCtx(t)
	b := node.Backend()
	h, hash, err := b.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h < regtest.BootstrapBlocks {
		t.Fatalf("tip %d below bootstrap", h)
	}
	got, err := b.BlockHash(ctx, h)
	if err != nil || got != hash {
		t.Fatalf("BlockHash(tip) = %v, %v; want %v", got, err, hash)
	}
	blk, err := b.Block(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := b.BlockHash(ctx, h-1)
	if err != nil || blk.Header.PrevBlock != prev {
		t.Fatalf("block's prev %v, BlockHash(h-1) %v, %v", blk.Header.PrevBlock, prev, err)
	}
	hdr, err := b.BlockHeader(ctx, hash)
	if err != nil || hdr.BlockHash() != hash {
		t.Fatalf("header %v, %v", hdr, err)
	}
	if _, err := b.BlockHash(ctx, h+1000); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("BlockHash above tip: %v", err)
	}
	if _, err := b.Block(ctx, chainhash.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown block: %v", err)
	}
	if _, _, err := b.Tx(ctx, chainhash.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown tx: %v", err)
	}
	if _, _, err := b.UTXO(ctx, wire.OutPoint{Hash: chainhash.Hash{1}}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown utxo: %v", err)
	}
}

func TestBackendTxLifecycleAndIdempotentBroadcast(t *testing.T) {
	ctx := testCtx(t)
	b := node.Backend()
	k := newKey(t, "lifecycle")
	tx, op, out := fundKey(t, ctx, k, 1_000_000)
	txid := tx.TxHash()

	got, st, err := b.Tx(ctx, txid)
	if err != nil || !st.InMempool || st.Height != 0 || got.TxHash() != txid {
		t.Fatalf("mempool tx: %+v, %v", st, err)
	}
	ids, err := b.MempoolTxids(ctx)
	if err != nil || !slices.Contains(ids, txid) {
		t.Fatalf("mempool txids %v, %v", ids, err)
	}
	if _, confs, err := b.UTXO(ctx, op); err != nil || confs != 0 {
		t.Fatalf("unconfirmed utxo: confs %d, %v", confs, err)
	}
	for i := 0; i < 2; i++ { // already in the mempool: success, twice
		if id, err := b.Broadcast(ctx, tx); err != nil || id != txid {
			t.Fatalf("re-broadcast %d: %v, %v", i, id, err)
		}
	}

	hashes, err := node.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	tip, _, _ := b.Tip(ctx)
	_, st, err = b.Tx(ctx, txid)
	if err != nil || st.InMempool || st.Height != tip || *st.BlockHash != hashes[0] || st.Confirmations != 1 {
		t.Fatalf("confirmed tx: %+v, %v (tip %d)", st, err, tip)
	}
	if _, err := b.Broadcast(ctx, tx); err != nil { // already in the chain: success
		t.Fatalf("broadcast of a confirmed tx: %v", err)
	}
	txo, confs, err := b.UTXO(ctx, op)
	if err != nil || confs != 1 || txo.Value != out.Value || string(txo.PkScript) != string(k.pk) {
		t.Fatalf("utxo %+v confs %d, %v", txo, confs, err)
	}
	if spender, err := b.MempoolSpender(ctx, op); err != nil || spender != nil {
		t.Fatalf("unspent: spender %v, %v", spender, err)
	}
}

func TestBackendDoubleSpendMissingInputsRejected(t *testing.T) {
	ctx := testCtx(t)
	b := node.Backend()
	k := newKey(t, "doublespend")
	dest := newKey(t, "dest")
	_, op, out := fundKey(t, ctx, k, 500_000)
	mine(t, ctx, 1)

	a := k.spend(t, op, out, dest.pk, 500, wire.MaxTxInSequenceNum)
	if ok, reason, err := b.TestAccept(ctx, a); err != nil || !ok {
		t.Fatalf("TestAccept: %v %q %v", ok, reason, err)
	}
	if _, err := b.Broadcast(ctx, a); err != nil {
		t.Fatal(err)
	}
	spender, err := b.MempoolSpender(ctx, op)
	if err != nil || spender == nil || *spender != a.TxHash() {
		t.Fatalf("MempoolSpender: %v, %v", spender, err)
	}
	// btcd's gettxout alone would still report it: UTXO accounts for the
	// mempool spend.
	if _, _, err := b.UTXO(ctx, op); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("UTXO of a mempool-spent output: %v", err)
	}

	conflict := k.spend(t, op, out, dest.pk, 900, wire.MaxTxInSequenceNum)
	ok, reason, err := b.TestAccept(ctx, conflict)
	if err != nil || ok || reason == "" {
		t.Fatalf("TestAccept of a conflict: %v %q %v", ok, reason, err)
	}
	t.Logf("conflict reject reason: %s", reason)
	if _, err := b.Broadcast(ctx, conflict); !errors.Is(err, chain.ErrDoubleSpend) {
		t.Fatalf("conflict: %v, want ErrDoubleSpend", err)
	}

	missing := k.spend(t, wire.OutPoint{Hash: chainhash.Hash{9, 9}}, out, dest.pk, 500, wire.MaxTxInSequenceNum)
	if _, err := b.Broadcast(ctx, missing); !errors.Is(err, chain.ErrMissingInputs) {
		t.Fatalf("missing inputs: %v", err)
	}

	_, op2, out2 := fundKey(t, ctx, k, 400_000)
	lowFee := k.spend(t, op2, out2, dest.pk, 10, wire.MaxTxInSequenceNum) // 10 sat for ~110 vB
	_, err = b.Broadcast(ctx, lowFee)
	if !errors.Is(err, chain.ErrRejected) || errors.Is(err, chain.ErrDoubleSpend) {
		t.Fatalf("low fee: %v, want ErrRejected", err)
	}
	t.Logf("low fee error: %v", err)
	mine(t, ctx, 1)
	if _, err := b.Broadcast(ctx, conflict); !errors.Is(err, chain.ErrMissingInputs) {
		t.Fatalf("conflict after the spend confirmed: %v, want ErrMissingInputs", err)
	}
}

// The fallback needs a node without fee data: TestStoppedNode checks it on
// its fresh node. Here the shared node has seen the faucet's 2 sat/vB txs.
func TestBackendFeeRateFloor(t *testing.T) {
	ctx := testCtx(t)
	tests := []struct {
		name      string
		floor     int64
		wantExact int64 // 0: anything in [floor, max]
	}{
		{"estimate or fallback above the default floor", 0, 0},
		{"floor above any estimate", 90_000, 90_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := node.RPCConfig()
			cfg.FeeFloorSatPerKVB = tt.floor
			r, err := chain.DialRPC(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := r.FeeRate(ctx, 6)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("FeeRate(6) = %d sat/kvB", got)
			if tt.wantExact != 0 && got != tt.wantExact {
				t.Fatalf("got %d, want %d", got, tt.wantExact)
			}
			if got < chain.DefaultFeeFloorSatPerKVB || got > chain.MaxFeeRateSatPerKVB {
				t.Fatalf("got %d outside [floor, max]", got)
			}
		})
	}
}

func TestDialRPCWrongPassword(t *testing.T) {
	cfg := node.RPCConfig()
	cfg.Pass = "wrong"
	_, err := chain.DialRPC(testCtx(t), cfg)
	if !errors.Is(err, chain.ErrAuth) || !strings.Contains(err.Error(), "RPC authentication failed") {
		t.Fatalf("got %v", err)
	}
	t.Logf("error: %v", err)
}

func TestDialRPCWrongNetwork(t *testing.T) {
	cfg := node.RPCConfig()
	cfg.Params = &chaincfg.TestNet3Params
	_, err := chain.DialRPC(testCtx(t), cfg)
	if !errors.Is(err, chain.ErrWrongNetwork) ||
		!strings.Contains(err.Error(), "is on regtest but the wallet is configured for testnet3") {
		t.Fatalf("got %v", err)
	}
	t.Logf("error: %v", err)
}

func TestUnreachablePausedAndBlackholed(t *testing.T) {
	ctx := testCtx(t)
	cfg := node.RPCConfig()
	cfg.CallTimeout = time.Second
	r, err := chain.DialRPC(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer node.Resume()

	for _, mode := range []struct {
		name  string
		pause func()
	}{{"paused", node.Pause}, {"blackholed", node.Blackhole}} {
		t.Run(mode.name, func(t *testing.T) {
			mode.pause()
			t0 := time.Now()
			_, _, err := r.Tip(ctx)
			d := time.Since(t0)
			if !errors.Is(err, chain.ErrUnreachable) || !strings.Contains(err.Error(), cfg.Host) {
				t.Fatalf("Tip: %v", err)
			}
			if d > cfg.CallTimeout+time.Second {
				t.Fatalf("Tip failed after %v with a %v timeout", d, cfg.CallTimeout)
			}
			t.Logf("Tip error after %v: %v", d.Round(time.Millisecond), err)
			t0 = time.Now()
			_, err = chain.DialRPC(ctx, cfg)
			if !errors.Is(err, chain.ErrUnreachable) {
				t.Fatalf("DialRPC: %v", err)
			}
			t.Logf("DialRPC error after %v: %v", time.Since(t0).Round(time.Millisecond), err)
			node.Resume()
			if _, _, err := r.Tip(ctx); err != nil {
				t.Fatalf("after Resume: %v", err)
			}
		})
	}
}

func TestStoppedNode(t *testing.T) {
	ctx := testCtx(t)
	n2, err := regtest.Start(ctx, regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := n2.DirectRPCConfig()
	cfg.CallTimeout = time.Second
	r, err := chain.DialRPC(ctx, cfg)
	if err != nil {
		n2.Stop()
		t.Fatal(err)
	}
	defer r.Close()
	// A fresh chain: btcd's estimatefee errors, so FeeRate falls back.
	for _, fb := range []int64{0, 7777} {
		c := n2.DirectRPCConfig()
		c.FallbackFeeSatPerKVB = fb
		rf, err := chain.DialRPC(ctx, c)
		if err != nil {
			n2.Stop()
			t.Fatal(err)
		}
		want := fb
		if fb == 0 {
			want = chain.DefaultFallbackFeeSatPerKVB
		}
		if got, err := rf.FeeRate(ctx, 6); err != nil || got != want {
			n2.Stop()
			t.Fatalf("fallback %d: FeeRate = %d, %v; want %d", fb, got, err, want)
		}
		rf.Close()
	}
	pid := n2.PID()
	n2.Stop()
	n2.Stop() // idempotent
	if processAlive(pid) {
		t.Fatalf("btcd pid %d still running after Stop", pid)
	}
	t0 := time.Now()
	_, _, err = r.Tip(ctx)
	if !errors.Is(err, chain.ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Tip on a stopped node: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	if _, err := chain.DialRPC(ctx, cfg); !errors.Is(err, chain.ErrUnreachable) || !strings.Contains(err.Error(), cfg.Host) {
		t.Fatalf("DialRPC to a stopped node: %v", err)
	}
}

// TestRPCLatency measures the per-call cost over the relay (reported, not
// asserted beyond a sanity bound).
func TestRPCLatency(t *testing.T) {
	ctx := testCtx(t)
	b := node.Backend()
	const n = 200
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if _, _, err := b.Tip(ctx); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	t.Logf("Tip latency over %d calls: median %v, p90 %v, max %v", n, ds[n/2], ds[n*9/10], ds[n-1])
	if ds[n/2] > 100*time.Millisecond {
		t.Fatalf("median %v", ds[n/2])
	}
}
