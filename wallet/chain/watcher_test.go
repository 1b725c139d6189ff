package chain

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
)

var testLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder is a Handler that records events and can be told to fail.
type recorder struct {
	mu     sync.Mutex
	evs    []Event
	failAt int // fail the failAt-th call (1-based) once; 0 = never
	calls  int
}

func (r *recorder) handle(_ context.Context, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failAt > 0 && r.calls == r.failAt {
		r.failAt = 0
		return errors.New("handler failed")
	}
	r.evs = append(r.evs, ev)
	return nil
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.evs
	r.evs = nil
	return evs
}

type evKey struct {
	kind, reverts EventKind
	op            wire.OutPoint
	height        int32
}

func keys(evs []Event) []evKey {
	var ks []evKey
	for _, e := range evs {
		ks = append(ks, evKey{e.Kind, e.Reverts, e.OutPoint, e.Height})
	}
	return ks
}

func newTestWatcher(t *testing.T, f *fakeChain, store WatchStore, rec *recorder) *Watcher {
	t.Helper()
	w, err := NewWatcher(WatcherConfig{Backend: f, Store: store, Handler: rec.handle, Logger: testLog,
		PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func poll(t *testing.T, w *Watcher) {
	t.Helper()
	if err := w.PollOnce(context.Background()); err != nil {
		t.Fatalf("poll: %v", err)
	}
}

func wantKeys(t *testing.T, got []Event, want ...evKey) {
	t.Helper()
	g := keys(got)
	if len(g) != len(want) {
		t.Fatalf("got %d events %+v, want %d %+v", len(g), g, len(want), want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Fatalf("event %d: got %+v, want %+v (all: %+v)", i, g[i], want[i], g)
		}
	}
}

var (
	scriptA = []byte{0x00, 0x14, 0xaa}
	scriptB = []byte{0x00, 0x14, 0xbb}
)

func TestWatcherReceiveSpendReorgPersist(t *testing.T) {
	ctx := context.Background()
	f := newFakeChain()
	f.mine()
	f.mine() // tip 2
	store := &MemWatchStore{}
	rec := &recorder{}
	w := newTestWatcher(t, f, store, rec)
	poll(t, w) // starts at the tip
	if w.Height() != 2 {
		t.Fatalf("height %d, want 2", w.Height())
	}
	if err := w.Watch(ctx, scriptA); err != nil {
		t.Fatal(err)
	}

	// A payment in the mempool, then confirmed.
	pay := payTx(nil, scriptA, 1000, 1)
	op := wire.OutPoint{Hash: pay.TxHash(), Index: 0}
	f.addMempool(pay)
	poll(t, w)
	wantKeys(t, rec.take(), evKey{Received, 0, op, 0})
	poll(t, w) // mempool events are emitted once
	wantKeys(t, rec.take())
	f.mineMempool() // height 3
	poll(t, w)
	wantKeys(t, rec.take(), evKey{Received, 0, op, 3})
	if !w.Watching(nil, &op) {
		t.Fatal("received output is not a watched outpoint")
	}

	// Its spend: mempool, then confirmed; the witness travels with the tx.
	spend := payTx(&op, scriptB, 900, 2)
	f.addMempool(spend)
	poll(t, w)
	evs := rec.take()
	wantKeys(t, evs, evKey{Spent, 0, op, 0})
	if got := evs[0].Tx.TxIn[evs[0].InputIndex].Witness[1]; string(got) != "preimage-c" {
		t.Fatalf("witness %q", got)
	}
	if evs[0].Output == nil || evs[0].Output.Value != 1000 {
		t.Fatalf("spent event output %+v", evs[0].Output)
	}
	f.mineMempool() // height 4
	poll(t, w)
	wantKeys(t, rec.take(), evKey{Spent, 0, op, 4})

	// Reorg of both blocks: Disconnected for the spend, then the receive,
	// newest first; then both txs are back in the mempool.
	f.disconnect(2)
	f.mine()
	f.mine()
	f.mine() // new tip 5 without our txs; they stay in the mempool
	poll(t, w)
	wantKeys(t, rec.take(),
		evKey{Disconnected, Spent, op, 4},
		evKey{Disconnected, Received, op, 3},
		evKey{Received, 0, op, 0},
		evKey{Spent, 0, op, 0},
	)
	if w.Height() != 5 {
		t.Fatalf("height %d, want 5", w.Height())
	}

	// Restart with the same store: no confirmed event is delivered again.
	f.mineMempool() // height 6: both confirmed
	poll(t, w)
	wantKeys(t, rec.take(), evKey{Received, 0, op, 6}, evKey{Spent, 0, op, 6})
	w.Stop()

	rec2 := &recorder{}
	w2 := newTestWatcher(t, f, store, rec2)
	poll(t, w2)
	wantKeys(t, rec2.take())
	if w2.Height() != 6 || !w2.Watching(scriptA, nil) || !w2.Watching(nil, &op) {
		t.Fatalf("restored watcher: height %d", w2.Height())
	}
	// ... and it still knows the journal: a reorg of block 6 is undone.
	f.disconnect(1)
	f.mine()
	f.mine()
	poll(t, w2)
	wantKeys(t, rec2.take(),
		evKey{Disconnected, Spent, op, 6},
		evKey{Disconnected, Received, op, 6},
		evKey{Received, 0, op, 0},
		evKey{Spent, 0, op, 0},
	)
}

func TestWatcherAtLeastOnce(t *testing.T) {
	ctx := context.Background()
	f := newFakeChain()
	f.mine()
	store := &MemWatchStore{}
	rec := &recorder{}
	w := newTestWatcher(t, f, store, rec)
	poll(t, w)
	if err := w.Watch(ctx, scriptA); err != nil {
		t.Fatal(err)
	}
	a := payTx(nil, scriptA, 1, 1)
	b := payTx(nil, scriptA, 2, 2)
	f.mine(a, b) // height 2, two receives
	rec.failAt = 2
	if err := w.PollOnce(ctx); err == nil {
		t.Fatal("handler failure not reported")
	}
	if w.Height() != 1 {
		t.Fatalf("height advanced to %d despite handler failure", w.Height())
	}
	poll(t, w)
	opA := wire.OutPoint{Hash: a.TxHash()}
	opB := wire.OutPoint{Hash: b.TxHash()}
	// The first event was delivered twice: at-least-once.
	wantKeys(t, rec.take(), evKey{Received, 0, opA, 2}, evKey{Received, 0, opA, 2}, evKey{Received, 0, opB, 2})
}

func TestWatcherMempoolChildBeforeParent(t *testing.T) {
	ctx := context.Background()
	f := newFakeChain()
	rec := &recorder{}
	w := newTestWatcher(t, f, &MemWatchStore{}, rec)
	poll(t, w)
	if err := w.Watch(ctx, scriptA); err != nil {
		t.Fatal(err)
	}
	parent := payTx(nil, scriptA, 10, 1)
	op := wire.OutPoint{Hash: parent.TxHash()}
	child := payTx(&op, scriptB, 9, 2)
	f.addMempool(parent, child) // the fake lists the child first
	poll(t, w)
	wantKeys(t, rec.take(), evKey{Received, 0, op, 0}, evKey{Spent, 0, op, 0})
}

func TestWatcherWatchOutPointSeesExistingMempoolSpend(t *testing.T) {
	ctx := context.Background()
	f := newFakeChain()
	rec := &recorder{}
	w := newTestWatcher(t, f, &MemWatchStore{}, rec)
	op := wire.OutPoint{Hash: [32]byte{7}, Index: 1}
	spend := payTx(&op, scriptB, 5, 3)
	f.addMempool(spend)
	poll(t, w) // sees the tx, nothing watched yet
	wantKeys(t, rec.take())
	if err := w.WatchOutPoint(ctx, op); err != nil {
		t.Fatal(err)
	}
	poll(t, w)
	wantKeys(t, rec.take(), evKey{Spent, 0, op, 0})
}

func TestWatcherReorgTooDeepAndRescan(t *testing.T) {
	ctx := context.Background()
	f := newFakeChain()
	rec := &recorder{}
	w := newTestWatcher(t, f, &MemWatchStore{}, rec)
	poll(t, w)
	if err := w.Watch(ctx, scriptA); err != nil {
		t.Fatal(err)
	}
	pay := payTx(nil, scriptA, 10, 1)
	f.mine(pay)
	for i := 0; i < ReorgWindow+5; i++ {
		f.mine()
	}
	poll(t, w)
	rec.take()
	// Replace every block above height 0.
	f.disconnect(ReorgWindow + 6)
	for i := 0; i < ReorgWindow+10; i++ {
		f.mine()
	}
	err := w.PollOnce(ctx)
	if !errors.Is(err, ErrReorgTooDeep) {
		t.Fatalf("got %v, want ErrReorgTooDeep", err)
	}
	if err := w.PollOnce(ctx); !errors.Is(err, ErrReorgTooDeep) {
		t.Fatalf("second poll: got %v, want sticky ErrReorgTooDeep", err)
	}
	rec.take()
	w.Rescan(1)
	poll(t, w)
	op := wire.OutPoint{Hash: pay.TxHash()}
	// The payment is back in the mempool (fake returns disconnected txs).
	wantKeys(t, rec.take(), evKey{Received, 0, op, 0})
	if w.Height() != int32(ReorgWindow+10) {
		t.Fatalf("height %d", w.Height())
	}
}

func TestWatcherRescanRedelivers(t *testing.T) {
	ctx := context.Background()
	f := newFakeChain()
	pay := payTx(nil, scriptA, 10, 1)
	f.mine(pay) // height 1, before the watcher exists
	f.mine()
	rec := &recorder{}
	w := newTestWatcher(t, f, &MemWatchStore{}, rec)
	if err := w.Watch(ctx, scriptA); err != nil {
		t.Fatal(err)
	}
	poll(t, w)
	wantKeys(t, rec.take())
	w.Rescan(1)
	poll(t, w)
	wantKeys(t, rec.take(), evKey{Received, 0, wire.OutPoint{Hash: pay.TxHash()}, 1})
}

func TestWatcherStartHeightBirthday(t *testing.T) {
	f := newFakeChain()
	pay := payTx(nil, scriptA, 10, 1)
	f.mine()
	f.mine(pay) // height 2
	f.mine()
	store := &MemWatchStore{}
	if err := store.SaveWatchState(context.Background(), &WatchState{Version: 1, Scripts: [][]byte{scriptA}}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	w, err := NewWatcher(WatcherConfig{Backend: f, Store: store, Handler: rec.handle, Logger: testLog, StartHeight: 2})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, w)
	wantKeys(t, rec.take(), evKey{Received, 0, wire.OutPoint{Hash: pay.TxHash()}, 2})
}

func TestWatcherHealthAndLifecycle(t *testing.T) {
	f := newFakeChain()
	rec := &recorder{}
	w, err := NewWatcher(WatcherConfig{Backend: f, Store: &MemWatchStore{}, Handler: rec.handle, Logger: testLog,
		PollInterval: 10 * time.Millisecond, StaleAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if w.Healthy() {
		t.Fatal("healthy before Start")
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ { // idempotent
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "healthy", w.Healthy)
	down := errors.New("connection refused")
	f.setDown(down)
	waitFor(t, "unhealthy", func() bool { return !w.Healthy() })
	if !errors.Is(w.LastError(), down) {
		t.Fatalf("LastError %v", w.LastError())
	}
	f.setDown(nil)
	w.Poke()
	waitFor(t, "recovered", w.Healthy)
	w.Stop()
	w.Stop()
	if w.Healthy() || w.LastError() == nil {
		t.Fatal("healthy after Stop")
	}
	if err := w.Start(ctx); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatcherSubscribe: a subscriber is signalled by polls that processed
// a block or delivered an event, not by idle polls; signals coalesce;
// after cancel nothing arrives.
func TestWatcherSubscribe(t *testing.T) {
	ctx := context.Background()
	f := newFakeChain()
	f.mine()
	rec := &recorder{}
	w := newTestWatcher(t, f, &MemWatchStore{}, rec)
	poll(t, w)
	ch, cancel := w.Subscribe()
	got := func() bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"idle poll", func() {}, false},
		{"new block", func() { f.mine() }, true},
		{"idle again", func() {}, false},
		{"watched tx in the mempool", func() {
			if err := w.Watch(ctx, scriptA); err != nil {
				t.Fatal(err)
			}
			f.addMempool(payTx(nil, scriptA, 1000, 7))
		}, true},
		{"same mempool", func() {}, false},
		{"unwatched tx in the mempool", func() { f.addMempool(payTx(nil, scriptB, 1000, 8)) }, false},
		{"reorg", func() { f.disconnect(1); f.mine(); f.mine() }, true},
	}
	for _, s := range steps {
		s.do()
		poll(t, w)
		if g := got(); g != s.want {
			t.Fatalf("%s: signalled %v, want %v", s.name, g, s.want)
		}
	}
	// Coalescing: three blocks, three polls, one pending signal.
	for range 3 {
		f.mine()
		poll(t, w)
	}
	if !got() || got() {
		t.Fatal("three polls with blocks did not leave exactly one signal")
	}
	cancel()
	cancel() // idempotent
	f.mine()
	poll(t, w)
	if got() {
		t.Fatal("signal after cancel")
	}
}
