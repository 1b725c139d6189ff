package wallet

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// Support for the swap engine (node/swap): its own tables live in the
// wallet database (migrations/0002_swaps.sql), it sees the watcher's events,
// it asks whether the watcher is healthy (fail closed), and it publishes
// transactions it assembles itself (contract txs, hashlock/timelock claims,
// cooperative sweeps) so the wallet tracks and rebroadcasts them.

// ExecTx runs fn in one immediate (write-locked) SQLite transaction with
// busy retries, committed with synchronous=FULL. For the swap engine's own
// tables: "commit the phase, then act".
func (w *Wallet) ExecTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	return w.store.ExecTx(ctx, fn)
}

// DB is the wallet database for read-only queries of the swap tables.
func (w *Wallet) DB() *sql.DB { return w.store.db }

// AddEventHandler registers h to receive every watcher event after the
// wallet applied it. An error from h makes the watcher deliver the event
// again at the next poll (the wallet's own part is idempotent), so h must be
// idempotent too. Register before Start.
func (w *Wallet) AddEventHandler(h chain.Handler) {
	w.hmu.Lock()
	w.handlers = append(w.handlers, h)
	w.hmu.Unlock()
}

func (w *Wallet) extraHandlers() []chain.Handler {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	return append([]chain.Handler(nil), w.handlers...)
}

// Healthy returns nil while the background watcher polls successfully, or
// why not (not started, the chain backend unreachable, stale). Swap code
// fails closed on it: no new swap while the chain cannot be watched.
func (w *Wallet) Healthy() error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	if w.watcher.Healthy() {
		return nil
	}
	return fmt.Errorf("wallet watcher unhealthy: %w", w.watcher.LastError())
}

// Poke asks the background watcher to poll now (non-blocking).
func (w *Wallet) Poke() { w.watcher.Poke() }

// PublishTx stores a transaction the caller built and signed (label says
// what it is), marks the wallet coins it spends as spent by it, and
// broadcasts it; Sync rebroadcasts it until it confirms. Idempotent: a
// transaction already stored, in the mempool or in the chain is success.
// fee is recorded for reports (the caller knows its inputs' values). A
// transaction the node refuses (a timelock not yet reached, a missing
// parent) is not stored and the error wraps ErrBroadcast.
func (w *Wallet) PublishTx(ctx context.Context, tx *wire.MsgTx, fee btcutil.Amount, label string) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	txid := tx.TxHash()
	var status string
	err := w.store.db.QueryRowContext(ctx, `SELECT status FROM transactions WHERE txid = ?`, txid[:]).Scan(&status)
	switch {
	case err == nil && status != "abandoned":
		if _, err := w.backend.Broadcast(ctx, tx); err != nil && !isRefusal(err) {
			return err
		}
		return nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return err
	}
	// known: the node already has it (mempool or chain); the watcher
	// credits its outputs as it does for any transaction it sees.
	known := true
	if _, _, err := w.backend.Tx(ctx, txid); err != nil {
		if !errors.Is(err, chain.ErrNotFound) {
			return err
		}
		known = false
		// Between the lookup and the test another party of a joint
		// transaction (a CoinJoin's) may have broadcast it.
		if err := w.testAccept(ctx, tx); errors.Is(err, errAlreadyKnown) {
			known = true
		} else if err != nil {
			return err
		}
	}
	var raw bytes.Buffer
	if err := tx.Serialize(&raw); err != nil {
		return err
	}
	var added [][]byte
	err = w.store.ExecTx(ctx, func(dbtx *sql.Tx) error {
		added = nil
		if _, err := dbtx.ExecContext(ctx, `INSERT INTO transactions (txid, raw, status, fee, label, created_at)
			VALUES (?, ?, 'publish', ?, ?, ?) ON CONFLICT (txid) DO UPDATE SET status = 'publish'
			WHERE status = 'abandoned'`, txid[:], raw.Bytes(), int64(fee), label, w.now().Unix()); err != nil {
			return err
		}
		for _, in := range tx.TxIn {
			if _, err := dbtx.ExecContext(ctx, `UPDATE coins SET spent_by = ? WHERE txid = ? AND vout = ? AND spent_by IS NULL`,
				txid[:], in.PreviousOutPoint.Hash[:], in.PreviousOutPoint.Index); err != nil {
				return err
			}
		}
		if known {
			return nil
		}
		added, err = w.creditOwnOutputs(ctx, dbtx, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("publish %s: %w", txid, err)
	}
	w.watchScripts(ctx, added)
	if _, err := w.backend.Broadcast(ctx, tx); err != nil {
		if isRefusal(err) {
			return fmt.Errorf("%w: %w", ErrBroadcast, err)
		}
		return fmt.Errorf("broadcast %s (stored; the next Sync rebroadcasts it): %w", txid, err)
	}
	w.log.Info("transaction published", "txid", txid, "fee", int64(fee), "label", label)
	return nil
}

// TxFee returns the fee recorded for a stored transaction (0 when unknown).
func (w *Wallet) TxFee(ctx context.Context, txid chainhash.Hash) (btcutil.Amount, error) {
	var fee sql.NullInt64
	err := w.store.db.QueryRowContext(ctx, `SELECT fee FROM transactions WHERE txid = ?`, txid[:]).Scan(&fee)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: %v", ErrUnknownTx, txid)
	}
	return btcutil.Amount(fee.Int64), err
}

// Liquidity is what the generic builder can fund right now from Regular
// coins: the confirmed value not spent or held by a stored transaction (a
// swap's held funding txs count as spent, so concurrent swaps see each
// other's reservations) and not reserved by a builder, and the number of
// such coins (a swap hop of tx_count funding txs needs at least tx_count).
func (w *Wallet) Liquidity(ctx context.Context) (btcutil.Amount, int, error) {
	if err := w.checkOpen(); err != nil {
		return 0, 0, err
	}
	tip, err := w.syncedHeight(ctx, w.store.db)
	if err != nil {
		return 0, 0, err
	}
	var total sql.NullInt64
	var n int
	err = w.store.db.QueryRowContext(ctx, `SELECT SUM(value), COUNT(*) FROM coins
		WHERE category = ? AND spent_by IS NULL AND height > 0
		  AND (coinbase = 0 OR ? - height + 1 >= ?)
		  AND (reserved_by IS NULL OR reserved_until <= ?)`,
		string(Regular), tip, CoinbaseMaturity, w.now().Unix()).Scan(&total, &n)
	if err != nil {
		return 0, 0, err
	}
	return btcutil.Amount(total.Int64), n, nil
}

// CoinSpender returns the transaction recorded as spending one of our
// watched outputs (wallet coins of any category, e.g. a contract output),
// or nil when it is unspent or unknown.
func (w *Wallet) CoinSpender(ctx context.Context, op wire.OutPoint) (*chainhash.Hash, error) {
	var b []byte
	err := w.store.db.QueryRowContext(ctx, `SELECT spent_by FROM coins WHERE txid = ? AND vout = ?`, op.Hash[:], op.Index).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) || b == nil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := hashFromBytes(b)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// InputOwnership is one input's owner key and its signature over
// script.FundingProofDigest.
type InputOwnership struct {
	PubKey *btcec.PublicKey
	Sig    []byte
}

// ProveFunding signs, for every input of tx (a transaction the wallet
// built, such as a held funding tx), the funding-proof digest with the
// coin's key: proof that tx spends our coins, which, unlike the
// transaction's own signatures, cannot be broadcast.
func (w *Wallet) ProveFunding(ctx context.Context, tx *wire.MsgTx) ([]InputOwnership, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	txid := tx.TxHash()
	out := make([]InputOwnership, len(tx.TxIn))
	for i, in := range tx.TxIn {
		op := in.PreviousOutPoint
		var b keys.Branch
		var index uint32
		err := w.store.db.QueryRowContext(ctx, `SELECT a.branch, a.idx FROM coins c JOIN addresses a ON a.pk_script = c.pk_script
			WHERE c.txid = ? AND c.vout = ?`, op.Hash[:], op.Index).Scan(&b, &index)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("prove funding: input %d (%v) is not a wallet coin", i, op)
		}
		if err != nil {
			return nil, err
		}
		key, err := w.keys.P2WPKHKey(b, index)
		if err != nil {
			return nil, err
		}
		out[i] = InputOwnership{PubKey: key.PubKey(), Sig: script.SignFundingProof(key, txid, uint32(i))}
		key.Zero()
	}
	return out, nil
}
