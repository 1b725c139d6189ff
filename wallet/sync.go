package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
)

// Sync brings the wallet up to the chain tip now: it rebroadcasts stored
// transactions waiting for the mempool (once per Open), runs one watcher
// poll (new blocks, reorgs, mempool), and drops unconfirmed coins whose
// transaction left the node. A node that is down, refuses our password or
// is on another network is reported wrapped (chain.ErrUnreachable,
// chain.ErrAuth, ...).
func (w *Wallet) Sync(ctx context.Context) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	if !w.rebroadcast.Load() {
		if err := w.rebroadcastPending(ctx); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		w.rebroadcast.Store(true)
	}
	if err := w.watcher.PollOnce(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	w.loaded.Store(true)
	if err := w.ensureWatched(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := w.pruneVanished(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// Rescan scans the chain again from height (the birthday when ≤ 0) on the
// next Sync or poll; events are applied idempotently.
func (w *Wallet) Rescan(ctx context.Context, from int32) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	if from <= 0 {
		from = w.birthday
	}
	w.watcher.Rescan(from)
	return w.Sync(ctx)
}

// SyncedHeight is the last block the wallet has processed.
func (w *Wallet) SyncedHeight(ctx context.Context) (int32, error) {
	return w.syncedHeight(ctx, w.store.db)
}

// ensureWatched registers scripts the database has and the watcher lacks.
func (w *Wallet) ensureWatched(ctx context.Context) error {
	pks, err := walletScripts(ctx, w.store.db)
	if err != nil {
		return err
	}
	for _, pk := range pks {
		if !w.watcher.Watching(pk, nil) {
			if err := w.watcher.Watch(ctx, pk); err != nil {
				return err
			}
		}
	}
	return nil
}

// rebroadcastPending re-sends every unconfirmed transaction in state
// publish: the "act" half of persist-then-act after a crash or restart.
// Broadcast counts "already known" as success. A transaction the node now
// refuses is logged, not abandoned: its inputs may come back (a reorg), and
// the watcher abandons it if a conflicting spend confirms.
func (w *Wallet) rebroadcastPending(ctx context.Context) error {
	txs, err := w.storedTxs(ctx, `status = 'publish'`)
	if err != nil {
		return err
	}
	for _, tx := range txs {
		_, err := w.backend.Broadcast(ctx, tx)
		switch {
		case err == nil:
		case isRefusal(err):
			w.log.Warn("stored transaction refused on rebroadcast", "txid", tx.TxHash(), "err", err)
		default:
			return fmt.Errorf("rebroadcast %s: %w", tx.TxHash(), err)
		}
	}
	return nil
}

func isRefusal(err error) bool {
	return errors.Is(err, chain.ErrRejected) || errors.Is(err, chain.ErrDoubleSpend) ||
		errors.Is(err, chain.ErrMissingInputs)
}

// pruneVanished drops what the watcher cannot report: a transaction that
// left the mempool without confirming (a reorg followed by a conflicting
// spend, an eviction). Unconfirmed coins created by, and spends recorded
// for, transactions that are not ours are checked against the node; our own
// unconfirmed transactions stay (they are rebroadcast; AbandonTx drops them).
func (w *Wallet) pruneVanished(ctx context.Context) error {
	rows, err := w.store.db.QueryContext(ctx, `
		SELECT txid FROM coins WHERE height = 0 AND spent_by IS NULL
		UNION
		SELECT spent_by FROM coins WHERE spent_by IS NOT NULL AND spent_height = 0
		EXCEPT
		SELECT txid FROM transactions WHERE status IN ('held', 'publish')`)
	if err != nil {
		return err
	}
	var ids []chainhash.Hash
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return err
		}
		h, err := hashFromBytes(b)
		if err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		_, _, err := w.backend.Tx(ctx, id)
		if err == nil {
			continue
		}
		if !errors.Is(err, chain.ErrNotFound) {
			return err
		}
		w.log.Info("unconfirmed transaction left the node; dropping it", "txid", id)
		err = w.store.ExecTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM coins WHERE txid = ? AND height = 0`, id[:]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE coins SET spent_by = NULL, spent_height = NULL
				WHERE spent_by = ? AND spent_height = 0`, id[:])
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// handleEvent applies one watcher event. Delivery is at-least-once, so every
// branch is idempotent (upserts and conditional updates).
func (w *Wallet) handleEvent(ctx context.Context, ev chain.Event) error {
	var added [][]byte
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		added = nil
		var err error
		switch ev.Kind {
		case chain.Received:
			added, err = w.applyReceived(ctx, tx, ev)
		case chain.Spent:
			err = w.applySpent(ctx, tx, ev)
		case chain.Disconnected:
			err = w.applyDisconnected(ctx, tx, ev)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("wallet: applying %s of %v: %w", ev.Kind, ev.OutPoint, err)
	}
	w.watchScripts(ctx, added)
	for _, h := range w.extraHandlers() {
		if err := h(ctx, ev); err != nil {
			return fmt.Errorf("wallet: event handler for %s of %v: %w", ev.Kind, ev.OutPoint, err)
		}
	}
	return nil
}

func blockHashArg(h *chainhash.Hash) any {
	if h == nil {
		return nil
	}
	return h[:]
}

func (w *Wallet) applyReceived(ctx context.Context, tx *sql.Tx, ev chain.Event) ([][]byte, error) {
	if ev.Output == nil {
		return nil, nil
	}
	pk := ev.Output.PkScript
	cat, branch, ok, err := ownScript(ctx, tx, pk)
	if err != nil || !ok {
		return nil, err // not ours (watch set from elsewhere)
	}
	coinbase := ev.Tx != nil && len(ev.Tx.TxIn) == 1 && ev.Tx.TxIn[0].PreviousOutPoint.Index == wire.MaxPrevOutIndex &&
		ev.Tx.TxIn[0].PreviousOutPoint.Hash == (chainhash.Hash{})
	set := 0 // unknown without the transaction
	if ev.Tx != nil {
		if set, err = anonSet(ctx, tx, ev.Tx, ev.Output.Value); err != nil {
			return nil, err
		}
	}
	// The txid commits to the outputs, so a known anon_set never changes;
	// MAX fills in one recorded as unknown (0) when a rescan sees the coin.
	if _, err := tx.ExecContext(ctx, `INSERT INTO coins (txid, vout, value, pk_script, category, height, block_hash, coinbase, anon_set)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (txid, vout) DO UPDATE SET height = excluded.height, block_hash = excluded.block_hash,
			anon_set = MAX(anon_set, excluded.anon_set)`,
		ev.OutPoint.Hash[:], ev.OutPoint.Index, ev.Output.Value, pk, string(cat), ev.Height,
		blockHashArg(ev.BlockHash), coinbase, set); err != nil {
		return nil, err
	}
	if err := w.markTxSeen(ctx, tx, ev.Txid, ev.Height, ev.BlockHash); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE bonds SET conf_height = ?,
		status = CASE WHEN status = 'redeemed' THEN status WHEN ? > 0 THEN 'confirmed' ELSE 'pending' END
		WHERE txid = ? AND vout = ?`, ev.Height, ev.Height, ev.OutPoint.Hash[:], ev.OutPoint.Index); err != nil {
		return nil, err
	}
	if cat == Integrity {
		if err := w.recordChainIntegrity(ctx, tx, ev); err != nil {
			return nil, err
		}
	}
	return w.markAddressUsed(ctx, tx, pk, branch)
}

// ownScript tells whether pk is the wallet's and in which category its
// coins go: an address of a key branch (regular, or swept for the branch
// swap coins are swept to), or a P2WSH script the wallet registered (bonds,
// swap coins, contracts). branch is set for addresses only.
func ownScript(ctx context.Context, tx *sql.Tx, pk []byte) (Category, sql.NullInt64, bool, error) {
	var branch sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT branch FROM addresses WHERE pk_script = ?`, pk).Scan(&branch)
	switch {
	case err == nil:
		switch keys.Branch(branch.Int64) {
		case keys.BranchSwept:
			return Swept, branch, true, nil
		case keys.BranchIntegrity:
			return Integrity, branch, true, nil
		}
		return Regular, branch, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", branch, false, err
	}
	var c string
	err = tx.QueryRowContext(ctx, `SELECT category FROM scripts WHERE pk_script = ?`, pk).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", branch, false, nil
	}
	if err != nil {
		return "", branch, false, err
	}
	return Category(c), branch, true, nil
}

// markAddressUsed marks the address pk (of branch, when set) used and tops
// up its branch's gap; it returns the new scripts to watch.
func (w *Wallet) markAddressUsed(ctx context.Context, tx *sql.Tx, pk []byte, branch sql.NullInt64) ([][]byte, error) {
	if !branch.Valid {
		return nil, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE addresses SET used = 1 WHERE pk_script = ? AND used = 0`, pk)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	return topUpAddresses(ctx, tx, w.keys, keys.Branch(branch.Int64))
}

// creditOwnOutputs records the outputs of a transaction we are about to
// broadcast that pay the wallet, as unconfirmed coins, in the same database
// transaction that marks its inputs spent: the balance never shows the
// inputs gone and the outputs not yet there (the watcher would add them
// only at its next mempool poll). The watcher's later sighting is an
// upsert of the same rows.
func (w *Wallet) creditOwnOutputs(ctx context.Context, tx *sql.Tx, msg *wire.MsgTx) ([][]byte, error) {
	txid := msg.TxHash()
	var added [][]byte
	for i, o := range msg.TxOut {
		cat, branch, ok, err := ownScript(ctx, tx, o.PkScript)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		set, err := anonSet(ctx, tx, msg, o.Value)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO coins (txid, vout, value, pk_script, category, height, anon_set)
			VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (txid, vout) DO NOTHING`,
			txid[:], i, o.Value, o.PkScript, string(cat), set); err != nil {
			return nil, err
		}
		more, err := w.markAddressUsed(ctx, tx, o.PkScript, branch)
		if err != nil {
			return nil, err
		}
		added = append(added, more...)
	}
	return added, nil
}

func (w *Wallet) applySpent(ctx context.Context, tx *sql.Tx, ev chain.Event) error {
	var prev []byte
	err := tx.QueryRowContext(ctx, `SELECT spent_by FROM coins WHERE txid = ? AND vout = ?`,
		ev.OutPoint.Hash[:], ev.OutPoint.Index).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if prev != nil && !bytesEqualHash(prev, ev.Txid) {
		// One of our stored transactions lost the race to another spend of
		// this coin: it can never confirm, so drop it and free its inputs.
		other, err := hashFromBytes(prev)
		if err != nil {
			return err
		}
		w.log.Warn("stored transaction double-spent; abandoning it", "txid", other, "by", ev.Txid)
		if err := abandonTx(ctx, tx, other, true); err != nil && !errors.Is(err, ErrUnknownTx) {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE coins SET spent_by = ?, spent_height = ?, reserved_by = NULL, reserved_until = NULL
		WHERE txid = ? AND vout = ?`, ev.Txid[:], ev.Height, ev.OutPoint.Hash[:], ev.OutPoint.Index); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE bonds SET redeem_txid = ?,
		status = CASE WHEN ? > 0 THEN 'redeemed' ELSE status END
		WHERE txid = ? AND vout = ?`, ev.Txid[:], ev.Height, ev.OutPoint.Hash[:], ev.OutPoint.Index); err != nil {
		return err
	}
	return w.markTxSeen(ctx, tx, ev.Txid, ev.Height, ev.BlockHash)
}

func (w *Wallet) applyDisconnected(ctx context.Context, tx *sql.Tx, ev chain.Event) error {
	switch ev.Reverts {
	case chain.Received:
		if _, err := tx.ExecContext(ctx, `UPDATE coins SET height = 0, block_hash = NULL
			WHERE txid = ? AND vout = ? AND height >= ?`, ev.OutPoint.Hash[:], ev.OutPoint.Index, ev.Height); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bonds SET conf_height = 0, status = 'pending'
			WHERE txid = ? AND vout = ? AND conf_height >= ?`, ev.OutPoint.Hash[:], ev.OutPoint.Index, ev.Height); err != nil {
			return err
		}
	case chain.Spent:
		if _, err := tx.ExecContext(ctx, `UPDATE coins SET spent_height = 0
			WHERE txid = ? AND vout = ? AND spent_by = ? AND spent_height >= ?`,
			ev.OutPoint.Hash[:], ev.OutPoint.Index, ev.Txid[:], ev.Height); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bonds SET status = 'confirmed'
			WHERE txid = ? AND vout = ? AND status = 'redeemed'`, ev.OutPoint.Hash[:], ev.OutPoint.Index); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE transactions SET status = 'publish', height = 0, block_hash = NULL
		WHERE txid = ? AND status = 'confirmed' AND height >= ?`, ev.Txid[:], ev.Height)
	if err == nil {
		w.rebroadcast.Store(false) // our disconnected transactions go out again
	}
	return err
}

// markTxSeen records where one of our stored transactions is now.
func (w *Wallet) markTxSeen(ctx context.Context, tx *sql.Tx, txid chainhash.Hash, height int32, block *chainhash.Hash) error {
	if height > 0 {
		_, err := tx.ExecContext(ctx, `UPDATE transactions SET status = 'confirmed', height = ?, block_hash = ?
			WHERE txid = ? AND status <> 'abandoned'`, height, blockHashArg(block), txid[:])
		return err
	}
	// Seen in the mempool: a held transaction was broadcast (by us or the
	// counterparty), so it must be rebroadcast from now on.
	_, err := tx.ExecContext(ctx, `UPDATE transactions SET status = 'publish' WHERE txid = ? AND status = 'held'`, txid[:])
	return err
}

func bytesEqualHash(b []byte, h chainhash.Hash) bool {
	return len(b) == len(h) && string(b) == string(h[:])
}
