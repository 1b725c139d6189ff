package wallet

import (
	"context"
	"database/sql"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// Offer coin locks (issue 12): while a maker's offer is up, the coins
// that back it are locked in the database: a send or a new bond may not
// spend them, only the swaps the offer promises (FundOutputs); withdrawing
// the offer releases them. A locked coin spent by a transaction this
// wallet did not build (a restored copy of the wallet) breaks the offer.

// LockOfferCoins locks every confirmed, unspent Regular coin as backing
// the offer (coins that arrived since the last call included) and returns
// how many are locked and their value.
func (w *Wallet) LockOfferCoins(ctx context.Context) (int, btcutil.Amount, error) {
	if err := w.checkOpen(); err != nil {
		return 0, 0, err
	}
	var n int
	var total int64
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE coins SET offer_lock = 1
			WHERE category = ? AND spent_by IS NULL AND height > 0 AND offer_lock = 0`, string(Regular)); err != nil {
			return err
		}
		var sum sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), SUM(value) FROM coins
			WHERE offer_lock = 1 AND spent_by IS NULL`).Scan(&n, &sum); err != nil {
			return err
		}
		total = sum.Int64
		return nil
	})
	return n, btcutil.Amount(total), err
}

// UnlockOfferCoins releases every offer lock.
func (w *Wallet) UnlockOfferCoins(ctx context.Context) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	return w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE coins SET offer_lock = 0 WHERE offer_lock = 1`)
		return err
	})
}

// OfferLockBroken returns the locked coins that a transaction this wallet
// did not build has spent.
func (w *Wallet) OfferLockBroken(ctx context.Context) ([]wire.OutPoint, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := w.store.db.QueryContext(ctx, `SELECT txid, vout FROM coins
		WHERE offer_lock = 1 AND spent_by IS NOT NULL AND spent_by NOT IN (SELECT txid FROM transactions)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []wire.OutPoint
	for rows.Next() {
		var txid []byte
		var op wire.OutPoint
		if err := rows.Scan(&txid, &op.Index); err != nil {
			return nil, err
		}
		if op.Hash, err = hashFromBytes(txid); err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, rows.Err()
}

// offerLocked is the value of the unspent coins of cat the offer locks
// (0 when it cannot say).
func (w *Wallet) offerLocked(ctx context.Context, cat Category) btcutil.Amount {
	var sum sql.NullInt64
	_ = w.store.db.QueryRowContext(ctx, `SELECT SUM(value) FROM coins
		WHERE category = ? AND offer_lock = 1 AND spent_by IS NULL`, string(cat)).Scan(&sum)
	return btcutil.Amount(sum.Int64)
}
