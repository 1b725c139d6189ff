package chain

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// WatchStore persists a Watcher's state. The consumer implements it (package
// wallet on SQLite); MemWatchStore is an in-memory implementation for tests.
//
// The Watcher always saves its whole state, and only after the events the
// saved state covers were delivered (the handler returned nil). A store must
// make SaveWatchState atomic: after a crash LoadWatchState returns either the
// previous or the new state, never a mix. The simplest implementation stores
// the JSON encoding of the WatchState (json.Marshal / json.Unmarshal; every
// field has a stable JSON form) in one row in one transaction.
//
// The state is small: ReorgWindow block records (hash plus the few events
// each block produced), the watched scripts, and the watched outpoints
// (spent outpoints are pruned once their spend is ReorgWindow blocks deep).
type WatchStore interface {
	// LoadWatchState returns the saved state, or nil, nil if there is none.
	LoadWatchState(ctx context.Context) (*WatchState, error)
	// SaveWatchState atomically replaces the saved state. The Watcher does
	// not modify st after the call; the store may keep it.
	SaveWatchState(ctx context.Context, st *WatchState) error
}

// WatchStateVersion is the current WatchState.Version.
const WatchStateVersion = 1

// WatchState is what a Watcher persists.
type WatchState struct {
	// Version of this layout (WatchStateVersion). A Watcher refuses a newer
	// version.
	Version int `json:"version"`
	// Height is the last block fully processed (its events delivered).
	Height int32 `json:"height"`
	// Blocks are the most recent processed blocks, ascending by height,
	// at most ReorgWindow of them; the last one is at Height. Each carries
	// the confirmed events delivered for it, so a reorg can undo them.
	Blocks []BlockRecord `json:"blocks"`
	// Scripts are the watched output scripts.
	Scripts [][]byte `json:"scripts"`
	// OutPoints are the watched outpoints.
	OutPoints []WatchedOutPoint `json:"outpoints"`
}

// BlockRecord is one processed block.
type BlockRecord struct {
	Height int32          `json:"height"`
	Hash   chainhash.Hash `json:"hash"`
	// Events delivered for this block, in delivery order.
	Events []JournalEntry `json:"events,omitempty"`
}

// JournalEntry is enough of a delivered Received or Spent event to announce
// its undoing on a reorg.
type JournalEntry struct {
	Kind       EventKind      `json:"kind"`
	OutPoint   wire.OutPoint  `json:"outpoint"`
	Txid       chainhash.Hash `json:"txid"`
	InputIndex int            `json:"input_index"`
	Value      int64          `json:"value"`
	PkScript   []byte         `json:"pk_script,omitempty"`
}

// WatchedOutPoint is an outpoint whose spend the Watcher reports.
type WatchedOutPoint struct {
	OutPoint wire.OutPoint `json:"outpoint"`
	// Value and PkScript of the output when known (outputs found by script
	// always; WatchOutPoint leaves them empty).
	Value    int64  `json:"value"`
	PkScript []byte `json:"pk_script,omitempty"`
	// SpentHeight is the height of the block that spent it, 0 while unspent
	// in the chain.
	SpentHeight int32 `json:"spent_height,omitempty"`
}

// MemWatchStore is an in-memory WatchStore (tests, and a Watcher that
// should not persist). It keeps a deep copy, so later changes by the caller
// do not leak in. The zero value is ready to use.
type MemWatchStore struct {
	mu    sync.Mutex
	state []byte
	saves int
}

// LoadWatchState implements WatchStore.
func (m *MemWatchStore) LoadWatchState(context.Context) (*WatchState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == nil {
		return nil, nil
	}
	var st WatchState
	if err := json.Unmarshal(m.state, &st); err != nil {
		return nil, fmt.Errorf("memwatchstore: %w", err)
	}
	return &st, nil
}

// SaveWatchState implements WatchStore.
func (m *MemWatchStore) SaveWatchState(_ context.Context, st *WatchState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("memwatchstore: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = b
	m.saves++
	return nil
}

// Saves counts SaveWatchState calls.
func (m *MemWatchStore) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}
