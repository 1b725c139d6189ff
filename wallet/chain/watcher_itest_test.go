//go:build itest

package chain_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
)

func startWatcher(t *testing.T, b chain.Backend, store chain.WatchStore, log *eventLog, stale time.Duration) *chain.Watcher {
	t.Helper()
	w, err := chain.NewWatcher(chain.WatcherConfig{Backend: b, Store: store, Handler: log.handle,
		PollInterval: 50 * time.Millisecond, StaleAfter: stale})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

func isEv(kind chain.EventKind, op wire.OutPoint, confirmed bool) func(chain.Event) bool {
	return func(ev chain.Event) bool {
		return ev.Kind == kind && ev.OutPoint == op && (ev.Height > 0) == confirmed
	}
}

// TestWatcherRegtest: received in the mempool then confirmed, spent with
// the spending witness, persistence across a restart, and a reorg that
// removes a payment.
func TestWatcherRegtest(t *testing.T) {
	ctx := testCtx(t)
	store := &chain.MemWatchStore{}
	log := &eventLog{}
	w := startWatcher(t, node.Backend(), store, log, 5*time.Second)
	k := newKey(t, "watcher")
	dest := newKey(t, "watcher-dest")
	if err := w.Watch(ctx, k.pk); err != nil {
		t.Fatal(err)
	}

	// Received: mempool, then confirmed with its height.
	fund, op, out := fundKey(t, ctx, k, 2_000_000)
	ev := log.wait(t, "mempool receive", isEv(chain.Received, op, false))
	if ev.Output.Value != out.Value || ev.Tx.TxHash() != fund.TxHash() || ev.BlockHash != nil {
		t.Fatalf("mempool receive %+v", ev)
	}
	hashes, err := node.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev = log.wait(t, "confirmed receive", isEv(chain.Received, op, true))
	if *ev.BlockHash != hashes[0] {
		t.Fatalf("confirmed receive in %v, mined %v", ev.BlockHash, hashes[0])
	}

	// Spent: the event carries the spending tx and its witness.
	spend := k.spend(t, op, out, dest.pk, 300, wire.MaxTxInSequenceNum)
	if _, err := node.Backend().Broadcast(ctx, spend); err != nil {
		t.Fatal(err)
	}
	ev = log.wait(t, "mempool spend", isEv(chain.Spent, op, false))
	wit := ev.Tx.TxIn[ev.InputIndex].Witness
	if len(wit) != 2 || !bytes.Equal(wit[1], k.priv.PubKey().SerializeCompressed()) ||
		!bytes.Equal(wit[0], spend.TxIn[0].Witness[0]) {
		t.Fatalf("spend witness %x", wit)
	}
	mine(t, ctx, 1)
	log.wait(t, "confirmed spend", isEv(chain.Spent, op, true))
	waitUntil(t, "watcher at tip", 5*time.Second, func() bool {
		tip, _, _ := node.Backend().Tip(ctx)
		return w.Height() == tip
	})

	// Restart on the same store: resumes at the stored height and does
	// not deliver the confirmed events again.
	height := w.Height()
	w.Stop()
	delivered := len(log.all())
	log2 := &eventLog{}
	w2, err := chain.NewWatcher(chain.WatcherConfig{Backend: node.Backend(), Store: store, Handler: log2.handle})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := w2.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("poll after restart (nothing new): %v", time.Since(t0))
	if w2.Height() != height || len(log2.all()) != 0 {
		t.Fatalf("restarted: height %d (was %d), events %+v", w2.Height(), height, log2.all())
	}
	var polls []time.Duration
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		if err := w2.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		polls = append(polls, time.Since(t0))
	}
	slices.Sort(polls)
	t.Logf("idle poll: median %v, max %v (%d events before restart)", polls[10], polls[19], delivered)

	// Reorg removes a payment: k pays the watched script with an RBF
	// signalling tx; its block is invalidated; a replacement paying
	// elsewhere takes its place. The watcher reports Disconnected and the
	// output is gone from the chain.
	payer := newKey(t, "watcher-payer")
	_, pop, pout := fundKey(t, ctx, payer, 1_000_000)
	mine(t, ctx, 1)
	pay := payer.spend(t, pop, pout, k.pk, 300, wire.MaxTxInSequenceNum-2) // BIP125 signalling
	if _, err := node.Backend().Broadcast(ctx, pay); err != nil {
		t.Fatal(err)
	}
	payOp := wire.OutPoint{Hash: pay.TxHash(), Index: 0}
	blk, err := node.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	log2.wait(t, "payment confirmed", isEv(chain.Received, payOp, true))
	if _, confs, err := node.Backend().UTXO(ctx, payOp); err != nil || confs != 1 {
		t.Fatalf("payment utxo: %d, %v", confs, err)
	}
	if err := node.InvalidateBlock(ctx, blk[0]); err != nil {
		t.Fatal(err)
	}
	replacement := payer.spend(t, pop, pout, dest.pk, 5000, wire.MaxTxInSequenceNum)
	if _, err := node.Backend().Broadcast(ctx, replacement); err != nil {
		t.Fatalf("replacement: %v", err)
	}
	mine(t, ctx, 2)
	if err := w2.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ev = log2.wait(t, "disconnected", func(ev chain.Event) bool {
		return ev.Kind == chain.Disconnected && ev.Reverts == chain.Received && ev.OutPoint == payOp
	})
	if *ev.BlockHash != blk[0] || ev.Output.Value != pay.TxOut[0].Value {
		t.Fatalf("disconnected %+v", ev)
	}
	if _, _, err := node.Backend().UTXO(ctx, payOp); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("payment output after the reorg: %v", err)
	}
	// A model balance built from the events drops the payment.
	bal := map[wire.OutPoint]int64{}
	for _, ev := range log2.all() {
		switch {
		case ev.Kind == chain.Received && ev.Height > 0:
			bal[ev.OutPoint] = ev.Output.Value
		case ev.Kind == chain.Disconnected && ev.Reverts == chain.Received:
			delete(bal, ev.OutPoint)
		}
	}
	if _, ok := bal[payOp]; ok {
		t.Fatal("reorged payment still in the confirmed balance")
	}
	w2.Stop()
}

// TestWatcherUnhealthyWhilePaused: the watcher fails closed while the chain
// is unreachable and recovers on Resume.
func TestWatcherUnhealthyWhilePaused(t *testing.T) {
	ctx := testCtx(t)
	cfg := node.RPCConfig()
	cfg.CallTimeout = 500 * time.Millisecond
	r, err := chain.DialRPC(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := startWatcher(t, r, &chain.MemWatchStore{}, &eventLog{}, 2*time.Second)
	waitUntil(t, "healthy", 5*time.Second, w.Healthy)
	defer node.Resume()
	node.Pause()
	t0 := time.Now()
	waitUntil(t, "unhealthy", 5*time.Second, func() bool { return !w.Healthy() })
	t.Logf("unhealthy %v after Pause: %v", time.Since(t0).Round(time.Millisecond), w.LastError())
	if !errors.Is(w.LastError(), chain.ErrUnreachable) {
		t.Fatalf("LastError %v", w.LastError())
	}
	node.Resume()
	w.Poke()
	waitUntil(t, "recovered", 5*time.Second, w.Healthy)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	tip, _, _ := r.Tip(ctx)
	waitUntil(t, "caught up", 5*time.Second, func() bool { return w.Height() == tip })
}
