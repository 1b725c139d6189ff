package wallet

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/onionswap/onionswap/wallet/chain"
)

// watchStore implements chain.WatchStore on the wallet database: the
// watcher's state is one JSON row, replaced atomically (the encoding the
// chain package recommends). The wallet's own tables are the source of
// truth for what to watch, so LoadWatchState adds every wallet script to the
// saved set: an address stored but not yet registered (crash, or handed out
// before the watcher loaded) is still watched.
type watchStore Wallet

var _ chain.WatchStore = (*watchStore)(nil)

// LoadWatchState implements chain.WatchStore.
func (s *watchStore) LoadWatchState(ctx context.Context) (*chain.WatchState, error) {
	w := (*Wallet)(s)
	var raw []byte
	err := w.store.db.QueryRowContext(ctx, `SELECT state FROM watch_state WHERE id = 1`).Scan(&raw)
	var st chain.WatchState
	switch {
	case errors.Is(err, sql.ErrNoRows):
		st.Version = chain.WatchStateVersion
	case err != nil:
		return nil, fmt.Errorf("load watch state: %w", err)
	default:
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("load watch state: %w: %w", ErrCorrupt, err)
		}
	}
	scripts, err := walletScripts(ctx, w.store.db)
	if err != nil {
		return nil, fmt.Errorf("load watch state: %w", err)
	}
	st.Scripts = append(st.Scripts, scripts...) // the watcher de-duplicates
	return &st, nil
}

// SaveWatchState implements chain.WatchStore.
func (s *watchStore) SaveWatchState(ctx context.Context, st *chain.WatchState) error {
	w := (*Wallet)(s)
	return w.store.ExecTx(ctx, func(tx *sql.Tx) error { return saveWatchState(ctx, tx, st) })
}

func saveWatchState(ctx context.Context, tx *sql.Tx, st *chain.WatchState) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save watch state: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO watch_state (id, height, state) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET height = excluded.height, state = excluded.state`, st.Height, raw)
	return err
}

// syncedHeight is the last block the watcher processed (0 before the first
// poll of a restored wallet).
func (w *Wallet) syncedHeight(ctx context.Context, q queryer) (int32, error) {
	var h int32
	err := q.QueryRowContext(ctx, `SELECT height FROM watch_state WHERE id = 1`).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return h, err
}
