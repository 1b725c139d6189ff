package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/wire"
)

// ErrCoinUnavailable: the coin asked for is not one the wallet can hold for
// a joint transaction (unknown, spent, not P2WPKH-spendable, unconfirmed,
// or held by another builder).
var ErrCoinUnavailable = errors.New("coin unavailable")

// HoldCoin reserves one chosen coin for holder (a CoinJoin round) until
// until, so that no other builder spends it meanwhile. The coin must be
// ours, unspent, confirmed, of a category the wallet signs for (regular
// or swept) and not held by anyone else; holding it again for the same
// holder moves its expiry. The reservation is on disk: a node that dies
// holding a coin gets it back at until, not before.
func (w *Wallet) HoldCoin(ctx context.Context, op wire.OutPoint, holder string, until time.Time) (Coin, error) {
	if err := w.checkOpen(); err != nil {
		return Coin{}, err
	}
	now := w.now().Unix()
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE coins SET reserved_by = ?, reserved_until = ?
			WHERE txid = ? AND vout = ? AND spent_by IS NULL AND height > 0 AND coinbase = 0
			  AND category IN (?, ?)
			  AND (reserved_by IS NULL OR reserved_until <= ? OR reserved_by = ?)`,
			holder, until.Unix(), op.Hash[:], op.Index, string(Regular), string(Swept), now, holder)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: %v", ErrCoinUnavailable, op)
		}
		return nil
	})
	if err != nil {
		return Coin{}, err
	}
	cs, err := w.ListCoins(ctx, "", true)
	if err != nil {
		return Coin{}, err
	}
	for _, c := range cs {
		if c.OutPoint == op {
			return c, nil
		}
	}
	return Coin{}, fmt.Errorf("%w: %v", ErrCoinUnavailable, op)
}

// ReleaseCoin ends holder's reservation of op (no-op when it holds none).
func (w *Wallet) ReleaseCoin(ctx context.Context, op wire.OutPoint, holder string) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	return w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE coins SET reserved_by = NULL, reserved_until = NULL
			WHERE txid = ? AND vout = ? AND reserved_by = ?`, op.Hash[:], op.Index, holder)
		return err
	})
}
