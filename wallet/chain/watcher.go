package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

const (
	// DefaultPollInterval is how often the Watcher polls when nobody pokes
	// it. A poll with nothing new costs two cheap RPCs (tip, mempool
	// txids; ~1 ms on loopback). Blocks come every ~600 s and contract
	// timelocks are tens of blocks, so a few seconds of latency in seeing a
	// payment or a hashlock spend costs nothing, while 5 s keeps the node's
	// load negligible.
	DefaultPollInterval = 5 * time.Second

	// ReorgWindow is how many recent block hashes (with the events they
	// produced) the Watcher keeps to walk back on a reorg: 100 blocks, the
	// coinbase maturity, which is the depth Bitcoin itself assumes no reorg
	// reaches (the deepest mainnet reorg since 2013 was 24 blocks, the
	// March 2013 fork). A deeper reorg stops the Watcher with
	// ErrReorgTooDeep.
	ReorgWindow = 100

	// maxMempoolTxPerPoll bounds the getrawtransaction calls of one poll's
	// mempool pass (~0.5 ms each on loopback: ≤ 2.5 s); a larger mempool
	// (a first poll on mainnet) is worked through over several polls.
	maxMempoolTxPerPoll = 5000

	// saveTimeout bounds one SaveWatchState call made by the poll loop.
	saveTimeout = 30 * time.Second
)

// ErrReorgTooDeep means the chain reorganized below every block hash the
// Watcher kept; it cannot tell which delivered events are undone. Recover
// with Rescan from a height below the fork.
var ErrReorgTooDeep = errors.New("reorg deeper than the watcher's window")

// EventKind says what an Event reports.
type EventKind int

const (
	// Received: a transaction pays a watched script (the output is now a
	// watched outpoint).
	Received EventKind = iota + 1
	// Spent: a transaction spends a watched outpoint. Tx.TxIn[InputIndex]
	// carries the witness (this is how a hashlock preimage is read).
	Spent
	// Disconnected: a reorg removed the block that confirmed an earlier
	// Received or Spent event (Reverts says which). The transaction usually
	// returns to the mempool and is then reported again with Height 0.
	Disconnected
)

func (k EventKind) String() string {
	switch k {
	case Received:
		return "received"
	case Spent:
		return "spent"
	case Disconnected:
		return "disconnected"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one Watcher notification.
type Event struct {
	Kind EventKind
	// Reverts is the kind of the confirmed event a Disconnected event
	// undoes (Received or Spent); 0 otherwise.
	Reverts EventKind
	// OutPoint is the received output, or the spent / disconnected one.
	OutPoint wire.OutPoint
	// Output is the received output; for Spent and Disconnected it is set
	// when the Watcher knows it (always for outputs found by script).
	Output *wire.TxOut
	// Tx is the receiving or spending transaction (nil for Disconnected).
	Tx *wire.MsgTx
	// Txid of the receiving or spending transaction (all kinds).
	Txid chainhash.Hash
	// InputIndex is the spending input for Spent (and for Disconnected
	// reverting a Spent), -1 otherwise.
	InputIndex int
	// Height of the confirming block, 0 while in the mempool. For
	// Disconnected: the height of the block that was removed.
	Height int32
	// BlockHash of the confirming (or removed) block, nil in the mempool.
	BlockHash *chainhash.Hash
}

// Handler consumes events. It is called from the Watcher's poll goroutine,
// one event at a time, in chain order. Returning an error stops the current
// poll; the Watcher has not saved its progress past the failed event's
// block, so the events of that block (and that mempool transaction) are
// delivered again on the next poll. Delivery is therefore at-least-once and
// handlers must be idempotent. A handler may call Watch, WatchOutPoint,
// Unwatch, Poke and Rescan, but not Stop or PollOnce (deadlock).
type Handler func(ctx context.Context, ev Event) error

// WatcherConfig configures NewWatcher.
type WatcherConfig struct {
	Backend Backend
	Store   WatchStore
	Handler Handler
	// PollInterval (DefaultPollInterval when zero).
	PollInterval time.Duration
	// StaleAfter: Healthy reports false when no poll succeeded for this
	// long (default 2 × PollInterval + DefaultCallTimeout: one slow call
	// plus a missed tick).
	StaleAfter time.Duration
	// StartHeight is used only when the store holds no state: the first
	// block to scan (a wallet's birthday). 0 means the current tip (no
	// history scan).
	StartHeight int32
	// Logger; nil means slog.Default().With("subsystem", "watcher").
	Logger *slog.Logger
}

// Watcher follows the chain through a Backend: new blocks, then the
// mempool, on every poll (every PollInterval, or at once after Poke). It
// reports outputs paying watched scripts (which then become watched
// outpoints) and spends of watched outpoints, first when seen in the
// mempool (Height 0, once per transaction per mempool stay) and again when
// confirmed. It walks back over reorgs with Disconnected events. Progress
// is saved through the WatchStore after each block's events were handled.
//
// Mempool transactions that leave the mempool without confirming (replaced,
// evicted) produce no event. A script or outpoint added with Watch /
// WatchOutPoint is matched in blocks processed afterwards and in the whole
// current mempool; for older blocks call Rescan.
type Watcher struct {
	cfg   WatcherConfig
	log   *slog.Logger
	stale time.Duration

	mu        sync.Mutex
	st        WatchState
	scripts   map[string]struct{}
	outpoints map[wire.OutPoint]*WatchedOutPoint
	rescan    int32                       // pending Rescan height, 0 = none
	seen      map[chainhash.Hash]struct{} // mempool txids already handled
	seenGen   uint64                      // bumped by resetSeen
	lastErr   error
	lastOK    time.Time
	loaded    bool
	tooDeep   bool // sticky ErrReorgTooDeep until Rescan

	saveMu sync.Mutex // serializes SaveWatchState calls in snapshot order
	pollMu sync.Mutex // one poll at a time

	poke chan struct{}
	// delivered counts handler calls that succeeded; a poll that moved it
	// or the height notifies the subscribers.
	delivered atomic.Uint64
	subMu     sync.Mutex
	subs      map[chan struct{}]struct{}
	started   atomic.Bool
	stopped   atomic.Bool
	lifeMu    sync.Mutex
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewWatcher checks cfg; Start loads the state and begins polling.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if cfg.Backend == nil || cfg.Store == nil || cfg.Handler == nil {
		return nil, errors.New("chain: WatcherConfig needs Backend, Store and Handler")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 2*cfg.PollInterval + DefaultCallTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("subsystem", "watcher")
	}
	return &Watcher{
		cfg:       cfg,
		log:       cfg.Logger,
		stale:     cfg.StaleAfter,
		scripts:   map[string]struct{}{},
		outpoints: map[wire.OutPoint]*WatchedOutPoint{},
		seen:      map[chainhash.Hash]struct{}{},
		poke:      make(chan struct{}, 1),
		subs:      map[chan struct{}]struct{}{},
		done:      make(chan struct{}),
	}, nil
}

// Start loads the saved state (or starts at cfg.StartHeight / the tip) and
// starts the poll goroutine. Calling it again is a no-op; after Stop it
// fails.
func (w *Watcher) Start(ctx context.Context) error {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	if w.stopped.Load() {
		return errStopped
	}
	if w.started.Load() {
		return nil
	}
	if err := w.load(ctx); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.started.Store(true)
	go w.loop(loopCtx)
	return nil
}

// Stop stops polling and waits for the poll goroutine (and a handler call
// in progress) to return. Idempotent; the Watcher cannot be restarted.
func (w *Watcher) Stop() {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	if w.stopped.Swap(true) {
		return
	}
	if w.started.Load() {
		w.cancel()
		<-w.done
	}
	w.mu.Lock()
	w.lastErr = errStopped
	w.mu.Unlock()
}

var errStopped = errors.New("watcher stopped")

// Poke makes the Watcher poll now (non-blocking).
func (w *Watcher) Poke() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// Healthy reports whether the last poll succeeded and happened recently
// enough (StaleAfter). Callers that must fail closed (a maker accepting
// swaps) check it before committing to anything chain-dependent.
func (w *Watcher) Healthy() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started.Load() && w.lastErr == nil && !w.lastOK.IsZero() && time.Since(w.lastOK) < w.stale
}

// LastError is the error of the last poll (nil after a successful one), or
// an explanation of why the Watcher is not healthy.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.lastErr != nil:
		return w.lastErr
	case !w.started.Load():
		return errors.New("watcher not started")
	case w.lastOK.IsZero():
		return errors.New("watcher has not completed a poll yet")
	case time.Since(w.lastOK) >= w.stale:
		return fmt.Errorf("watcher: no successful poll for %v", time.Since(w.lastOK).Round(time.Millisecond))
	}
	return nil
}

// Height is the last block whose events were delivered.
func (w *Watcher) Height() int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.Height
}

// Watch adds an output script. It is saved before Watch returns.
func (w *Watcher) Watch(ctx context.Context, pkScript []byte) error {
	w.mu.Lock()
	if _, ok := w.scripts[string(pkScript)]; ok {
		w.mu.Unlock()
		return nil
	}
	w.scripts[string(pkScript)] = struct{}{}
	w.resetSeen() // re-examine the whole mempool
	w.mu.Unlock()
	defer w.Poke()
	return w.persist(ctx)
}

// Unwatch removes an output script (outpoints already found stay watched).
func (w *Watcher) Unwatch(ctx context.Context, pkScript []byte) error {
	w.mu.Lock()
	delete(w.scripts, string(pkScript))
	w.mu.Unlock()
	return w.persist(ctx)
}

// WatchOutPoint adds an outpoint whose spend is reported. It is saved
// before WatchOutPoint returns.
func (w *Watcher) WatchOutPoint(ctx context.Context, op wire.OutPoint) error {
	w.mu.Lock()
	if _, ok := w.outpoints[op]; ok {
		w.mu.Unlock()
		return nil
	}
	w.outpoints[op] = &WatchedOutPoint{OutPoint: op}
	w.resetSeen()
	w.mu.Unlock()
	defer w.Poke()
	return w.persist(ctx)
}

// UnwatchOutPoint removes an outpoint.
func (w *Watcher) UnwatchOutPoint(ctx context.Context, op wire.OutPoint) error {
	w.mu.Lock()
	delete(w.outpoints, op)
	w.mu.Unlock()
	return w.persist(ctx)
}

// Rescan makes the next poll scan again from fromHeight (≥ 1) to the tip,
// delivering the events of those blocks again (handlers are idempotent).
// Used after restoring a wallet (its birthday) or after ErrReorgTooDeep.
func (w *Watcher) Rescan(fromHeight int32) {
	if fromHeight < 1 {
		fromHeight = 1
	}
	w.mu.Lock()
	if w.rescan == 0 || fromHeight < w.rescan {
		w.rescan = fromHeight
	}
	w.mu.Unlock()
	w.Poke()
}

// resetSeen makes the next mempool pass look at every mempool tx again
// (under w.mu). A pass in progress does not mark its txs seen afterwards.
func (w *Watcher) resetSeen() {
	w.seen = map[chainhash.Hash]struct{}{}
	w.seenGen++
}

// Watching reports whether a script or outpoint is watched (tests,
// diagnostics).
func (w *Watcher) Watching(pkScript []byte, op *wire.OutPoint) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pkScript != nil {
		if _, ok := w.scripts[string(pkScript)]; ok {
			return true
		}
	}
	if op != nil {
		if _, ok := w.outpoints[*op]; ok {
			return true
		}
	}
	return false
}

func (w *Watcher) load(ctx context.Context) error {
	w.mu.Lock()
	loaded := w.loaded
	w.mu.Unlock()
	if loaded {
		return nil
	}
	st, err := w.cfg.Store.LoadWatchState(ctx)
	if err != nil {
		return fmt.Errorf("watcher: loading state: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if st != nil {
		if st.Version > WatchStateVersion {
			return fmt.Errorf("watcher: saved state version %d is newer than this program's %d", st.Version, WatchStateVersion)
		}
		w.st = *st
		for _, s := range st.Scripts {
			if _, dup := w.scripts[string(s)]; !dup {
				w.scripts[string(s)] = struct{}{}
			}
		}
		for i := range st.OutPoints {
			o := st.OutPoints[i]
			w.outpoints[o.OutPoint] = &o
		}
		w.st.Scripts, w.st.OutPoints = nil, nil // the maps are authoritative
	}
	w.st.Version = WatchStateVersion
	w.loaded = true
	return nil
}

// snapshot copies the state for saving (under w.mu).
func (w *Watcher) snapshot() *WatchState {
	st := &WatchState{Version: WatchStateVersion, Height: w.st.Height}
	st.Blocks = append([]BlockRecord(nil), w.st.Blocks...)
	for s := range w.scripts {
		st.Scripts = append(st.Scripts, []byte(s))
	}
	for _, o := range w.outpoints {
		st.OutPoints = append(st.OutPoints, *o)
	}
	return st
}

func (w *Watcher) persist(ctx context.Context) error {
	w.saveMu.Lock()
	defer w.saveMu.Unlock()
	w.mu.Lock()
	st := w.snapshot()
	w.mu.Unlock()
	if err := w.cfg.Store.SaveWatchState(ctx, st); err != nil {
		return fmt.Errorf("watcher: saving state: %w", err)
	}
	return nil
}

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	wasDown := false
	for {
		err := w.PollOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !wasDown:
			w.log.Warn("watcher poll failed; will retry", "err", err)
			wasDown = true
		case err != nil:
			w.log.Debug("watcher poll failed again", "err", err)
		case wasDown:
			w.log.Info("watcher recovered")
			wasDown = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.poke:
		}
	}
}

// PollOnce runs one poll now, synchronously: reorg check, new blocks,
// mempool. The poll goroutine calls it on every tick; it is exported for
// tests and for callers that want to be sure the Watcher has caught up.
func (w *Watcher) PollOnce(ctx context.Context) error {
	if w.stopped.Load() {
		return errStopped
	}
	if err := w.load(ctx); err != nil {
		return err
	}
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	w.mu.Lock()
	h0 := w.st.Height
	w.mu.Unlock()
	d0 := w.delivered.Load()
	err := w.poll(ctx)
	w.mu.Lock()
	if err != nil {
		w.lastErr = err
	} else {
		w.lastErr = nil
		w.lastOK = time.Now()
	}
	changed := w.st.Height != h0
	w.mu.Unlock()
	if changed || w.delivered.Load() != d0 {
		w.notify()
	}
	return err
}

// Subscribe returns a channel that receives a signal after every poll
// that processed a block, walked back a reorg or delivered an event (a
// watched transaction in the mempool). Signals coalesce: a slow reader
// sees one, never a backlog. Consumers with deadlines counted in blocks
// (swap recovery) wake on it instead of waiting for their own timer.
// cancel ends the subscription; it is idempotent.
func (w *Watcher) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.subMu.Lock()
	w.subs[ch] = struct{}{}
	w.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.subMu.Lock()
			delete(w.subs, ch)
			w.subMu.Unlock()
		})
	}
}

func (w *Watcher) notify() {
	w.subMu.Lock()
	defer w.subMu.Unlock()
	for ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// handle calls the Handler and counts what it accepted.
func (w *Watcher) handle(ctx context.Context, ev Event) error {
	if err := w.cfg.Handler(ctx, ev); err != nil {
		return err
	}
	w.delivered.Add(1)
	return nil
}

func (w *Watcher) poll(ctx context.Context) error {
	b := w.cfg.Backend
	tipH, tipHash, err := b.Tip(ctx)
	if err != nil {
		return err
	}

	// First run: start at the birthday or the tip.
	w.mu.Lock()
	fresh := w.st.Height == 0 && len(w.st.Blocks) == 0
	rescan := w.rescan
	tooDeep := w.tooDeep
	w.mu.Unlock()
	if tooDeep && rescan == 0 {
		return fmt.Errorf("watcher: %w; Rescan from below the fork", ErrReorgTooDeep)
	}
	if fresh {
		if w.cfg.StartHeight > 0 && w.cfg.StartHeight <= tipH {
			w.setBase(w.cfg.StartHeight-1, nil)
		} else {
			w.setBase(tipH, &BlockRecord{Height: tipH, Hash: tipHash})
		}
		if err := w.persist(ctx); err != nil {
			return err
		}
	}
	if rescan > 0 {
		w.mu.Lock()
		w.applyRescan(rescan)
		w.rescan = 0
		w.mu.Unlock()
		if err := w.persist(ctx); err != nil {
			return err
		}
	}

	for {
		// Walk back while our newest block is no longer on the chain.
		if err := w.walkBack(ctx, tipH); err != nil {
			return err
		}
		w.mu.Lock()
		height := w.st.Height
		w.mu.Unlock()
		if height >= tipH {
			break
		}
		restart, err := w.scanBlocks(ctx, height+1, tipH)
		if err != nil {
			return err
		}
		if !restart {
			break
		}
		// The chain changed under us: refresh the tip and walk back.
		if tipH, _, err = b.Tip(ctx); err != nil {
			return err
		}
	}
	return w.scanMempool(ctx)
}

// setBase resets the state to "processed up to height".
func (w *Watcher) setBase(height int32, rec *BlockRecord) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.Height = height
	w.st.Blocks = nil
	if rec != nil {
		w.st.Blocks = []BlockRecord{*rec}
	}
}

// applyRescan drops the records at or above from (under w.mu).
func (w *Watcher) applyRescan(from int32) {
	if from-1 >= w.st.Height && !w.tooDeep {
		return
	}
	keep := w.st.Blocks[:0:0]
	for _, r := range w.st.Blocks {
		if r.Height < from {
			keep = append(keep, r)
		}
	}
	w.st.Blocks = keep
	w.st.Height = from - 1
	w.tooDeep = false
	// Spends at or above from will be found again.
	for _, o := range w.outpoints {
		if o.SpentHeight >= from {
			o.SpentHeight = 0
		}
	}
	w.resetSeen()
}

// walkBack disconnects stored blocks that are no longer on the main chain,
// newest first, delivering Disconnected events for what they confirmed.
func (w *Watcher) walkBack(ctx context.Context, tipH int32) error {
	w.mu.Lock()
	initial := len(w.st.Blocks)
	w.mu.Unlock()
	disconnected := 0
	for {
		w.mu.Lock()
		if len(w.st.Blocks) == 0 {
			w.mu.Unlock()
			if disconnected > 0 && initial >= ReorgWindow {
				w.mu.Lock()
				w.tooDeep = true
				w.mu.Unlock()
				return fmt.Errorf("watcher: %w (%d blocks); Rescan from below the fork", ErrReorgTooDeep, ReorgWindow)
			}
			return nil
		}
		top := w.st.Blocks[len(w.st.Blocks)-1]
		w.mu.Unlock()

		onChain := false
		if top.Height <= tipH {
			h, err := w.cfg.Backend.BlockHash(ctx, top.Height)
			switch {
			case err == nil:
				onChain = h == top.Hash
			case errors.Is(err, ErrNotFound):
			default:
				return err
			}
		}
		if onChain {
			return nil
		}
		// Undo in reverse delivery order.
		for i := len(top.Events) - 1; i >= 0; i-- {
			e := top.Events[i]
			hash := top.Hash
			ev := Event{Kind: Disconnected, Reverts: e.Kind, OutPoint: e.OutPoint, Txid: e.Txid,
				InputIndex: -1, Height: top.Height, BlockHash: &hash}
			if e.PkScript != nil || e.Value != 0 {
				ev.Output = wire.NewTxOut(e.Value, e.PkScript)
			}
			if e.Kind == Spent {
				ev.InputIndex = e.InputIndex
			}
			if err := w.handle(ctx, ev); err != nil {
				return fmt.Errorf("watcher: handler: %w", err)
			}
		}
		w.mu.Lock()
		w.st.Blocks = w.st.Blocks[:len(w.st.Blocks)-1]
		w.st.Height = top.Height - 1
		for _, e := range top.Events {
			if e.Kind == Spent {
				if o, ok := w.outpoints[e.OutPoint]; ok && o.SpentHeight == top.Height {
					o.SpentHeight = 0
				}
			}
		}
		w.resetSeen() // disconnected txs return to the mempool
		w.mu.Unlock()
		disconnected++
		w.log.Info("reorg: block disconnected", "height", top.Height, "hash", top.Hash, "events", len(top.Events))
		if err := w.persist(ctx); err != nil {
			return err
		}
	}
}

// scanBlocks processes blocks from..to. restart is true when a block does
// not connect to the previous one (a reorg while scanning).
func (w *Watcher) scanBlocks(ctx context.Context, from, to int32) (restart bool, err error) {
	for h := from; h <= to; h++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		hash, err := w.cfg.Backend.BlockHash(ctx, h)
		if errors.Is(err, ErrNotFound) {
			return true, nil // chain got shorter
		}
		if err != nil {
			return false, err
		}
		blk, err := w.cfg.Backend.Block(ctx, hash)
		if errors.Is(err, ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		w.mu.Lock()
		var prev *chainhash.Hash
		if n := len(w.st.Blocks); n > 0 && w.st.Blocks[n-1].Height == h-1 {
			prev = &w.st.Blocks[n-1].Hash
		}
		w.mu.Unlock()
		if prev != nil && blk.Header.PrevBlock != *prev {
			return true, nil
		}
		if err := w.processBlock(ctx, h, hash, blk); err != nil {
			return false, err
		}
	}
	return false, nil
}

// match finds the events of one transaction against the watch set, adding
// outputs that pay watched scripts to the watch set (under w.mu). adds
// collects the new outpoints so a failed delivery can undo them.
func (w *Watcher) match(tx *wire.MsgTx, height int32, blockHash *chainhash.Hash, spendsOnly, receivesOnly bool,
	adds *[]wire.OutPoint) []Event {
	var evs []Event
	txid := tx.TxHash()
	if !receivesOnly {
		for i, in := range tx.TxIn {
			o, ok := w.outpoints[in.PreviousOutPoint]
			if !ok {
				continue
			}
			ev := Event{Kind: Spent, OutPoint: in.PreviousOutPoint, Tx: tx, Txid: txid, InputIndex: i,
				Height: height, BlockHash: blockHash}
			if o.PkScript != nil {
				ev.Output = wire.NewTxOut(o.Value, o.PkScript)
			}
			evs = append(evs, ev)
		}
	}
	if !spendsOnly {
		for i, out := range tx.TxOut {
			if _, ok := w.scripts[string(out.PkScript)]; !ok {
				continue
			}
			op := wire.OutPoint{Hash: txid, Index: uint32(i)}
			evs = append(evs, Event{Kind: Received, OutPoint: op, Output: out, Tx: tx, Txid: txid, InputIndex: -1,
				Height: height, BlockHash: blockHash})
			if _, ok := w.outpoints[op]; !ok {
				w.outpoints[op] = &WatchedOutPoint{OutPoint: op, Value: out.Value, PkScript: out.PkScript}
				*adds = append(*adds, op)
			}
		}
	}
	return evs
}

func (w *Watcher) undoAdds(adds []wire.OutPoint) {
	w.mu.Lock()
	for _, op := range adds {
		delete(w.outpoints, op)
	}
	w.mu.Unlock()
}

// processBlock delivers a block's events, then records the block.
func (w *Watcher) processBlock(ctx context.Context, height int32, hash chainhash.Hash, blk *wire.MsgBlock) error {
	bh := hash
	var evs []Event
	var adds []wire.OutPoint
	w.mu.Lock()
	for _, tx := range blk.Transactions {
		evs = append(evs, w.match(tx, height, &bh, false, false, &adds)...)
	}
	w.mu.Unlock()
	rec := BlockRecord{Height: height, Hash: hash}
	for _, ev := range evs {
		if err := w.handle(ctx, ev); err != nil {
			w.undoAdds(adds)
			return fmt.Errorf("watcher: handler: %w", err)
		}
		e := JournalEntry{Kind: ev.Kind, OutPoint: ev.OutPoint, Txid: ev.Txid, InputIndex: ev.InputIndex}
		if ev.Output != nil {
			e.Value, e.PkScript = ev.Output.Value, ev.Output.PkScript
		}
		rec.Events = append(rec.Events, e)
	}
	w.mu.Lock()
	for _, ev := range evs {
		if ev.Kind == Spent {
			if o, ok := w.outpoints[ev.OutPoint]; ok {
				o.SpentHeight = height
			}
		}
	}
	// Forget outpoints whose spend can no longer be reorged away.
	for op, o := range w.outpoints {
		if o.SpentHeight > 0 && height-o.SpentHeight >= ReorgWindow {
			delete(w.outpoints, op)
		}
	}
	w.st.Blocks = append(w.st.Blocks, rec)
	if n := len(w.st.Blocks); n > ReorgWindow {
		w.st.Blocks = append([]BlockRecord(nil), w.st.Blocks[n-ReorgWindow:]...)
	}
	w.st.Height = height
	w.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := w.persist(sctx); err != nil {
		return err
	}
	if len(evs) > 0 {
		w.log.Debug("block processed", "height", height, "hash", hash, "events", len(evs))
	}
	return nil
}

// scanMempool delivers events for mempool transactions not seen before:
// receives of all new transactions first, then spends, so a child is
// matched even when the mempool lists it before its parent.
func (w *Watcher) scanMempool(ctx context.Context) error {
	ids, err := w.cfg.Backend.MempoolTxids(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	current := make(map[chainhash.Hash]struct{}, len(ids))
	for _, id := range ids {
		current[id] = struct{}{}
	}
	for id := range w.seen { // forget what left the mempool
		if _, ok := current[id]; !ok {
			delete(w.seen, id)
		}
	}
	gen := w.seenGen
	var fresh []chainhash.Hash
	for _, id := range ids {
		if _, ok := w.seen[id]; !ok {
			fresh = append(fresh, id)
			if len(fresh) == maxMempoolTxPerPoll {
				break
			}
		}
	}
	w.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}

	type mtx struct {
		id chainhash.Hash
		tx *wire.MsgTx
	}
	txs := make([]mtx, 0, len(fresh))
	for _, id := range fresh {
		tx, st, err := w.cfg.Backend.Tx(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // left the mempool meanwhile
		case err != nil:
			return err
		case !st.InMempool:
			continue // confirmed meanwhile: the next block scan reports it
		}
		txs = append(txs, mtx{id, tx})
	}
	var adds []wire.OutPoint
	for pass := 0; pass < 2; pass++ {
		for _, m := range txs {
			w.mu.Lock()
			evs := w.match(m.tx, 0, nil, pass == 1, pass == 0, &adds)
			w.mu.Unlock()
			for _, ev := range evs {
				if err := w.handle(ctx, ev); err != nil {
					w.undoAdds(adds)
					return fmt.Errorf("watcher: handler: %w", err)
				}
			}
		}
	}
	w.mu.Lock()
	if w.seenGen == gen {
		for _, m := range txs {
			w.seen[m.id] = struct{}{}
		}
	}
	w.mu.Unlock()
	// Not-found and confirmed-meanwhile txids stay unseen and are looked
	// at again next time; they drop out of the mempool list soon.
	if len(adds) > 0 {
		return w.persist(ctx)
	}
	return nil
}
