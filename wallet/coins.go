package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Category is what a coin is for; coin selection never mixes categories.
type Category string

// The coin categories (stored as these strings).
const (
	Regular      Category = "regular"       // BIP84 receive and change coins
	SwapIncoming Category = "swap_incoming" // 2-of-2 outputs we hold a key in
	Contract     Category = "contract"      // live HTLC contract outputs
	FidelityBond Category = "fidelity_bond" // our timelocked bonds
	Swept        Category = "swept"         // swap coins swept to our own key
	Integrity    Category = "integrity"     // the integrity-fee chain's output (PayIntegrityFee only)
)

// Categories lists every category.
var Categories = []Category{Regular, SwapIncoming, Contract, FidelityBond, Swept, Integrity}

// Valid reports whether c is a known category.
func (c Category) Valid() bool {
	for _, k := range Categories {
		if c == k {
			return true
		}
	}
	return false
}

// spendable reports whether the generic builder can sign for c (P2WPKH keys).
func (c Category) spendable() bool { return c == Regular || c == Swept }

// CoinbaseMaturity is the consensus maturity of coinbase outputs (blocks).
const CoinbaseMaturity = 100

// Coin is one of our outputs.
type Coin struct {
	OutPoint wire.OutPoint
	Value    btcutil.Amount
	PkScript []byte
	Category Category
	// Height of the confirming block, 0 while in the mempool.
	Height int32
	// Confirmations at the last synced tip (0 in the mempool).
	Confirmations int32
	Coinbase      bool
	// SpentBy is the spending transaction (ours, possibly not yet broadcast,
	// or one seen on chain); nil for an unspent coin.
	SpentBy *chainhash.Hash
	// Reserved is true while a transaction builder holds the coin.
	Reserved bool
	// AnonSet is the coin's anonymity set: how many outputs of the
	// transaction that created it have exactly its value (1 for an ordinary
	// payment or change, 5 for one of 5 equal CoinJoin outputs); 0 when
	// unknown (a coin recorded before the wallet counted them).
	AnonSet int
}

// DefaultAnonTarget is the anonymity set T below which a coin is
// traceable (Traceable): 5 by default (issue 14). It is the smallest set a
// completed JoinMarket join gives: its taker goes on with no fewer than
// minimum_makers = 4 makers, so 5 equal outputs (market-reference §5).
const DefaultAnonTarget = 5

// Traceable reports whether the coin's anonymity set is below target; a
// coin whose set is unknown (0) counts as traceable.
func (c Coin) Traceable(target int) bool { return c.AnonSet < target }

// equalOutputs is the anonymity set of an output of tx worth value: the
// number of outputs of tx with exactly that value (0 if there is none).
// Every INSERT INTO coins fills anon_set with it, from the transaction
// being recorded.
func equalOutputs(tx *wire.MsgTx, value int64) int {
	n := 0
	for _, o := range tx.TxOut {
		if o.Value == value {
			n++
		}
	}
	return n
}

// anonSet is what a coin of msg worth value records as its anonymity set:
// equalOutputs, unless every input of msg is ours. Then no one else's
// coin went in, and equal outputs hide nothing (a premix that cuts a coin
// into CoinJoin-sized pieces, a payment to ourselves): 1.
func anonSet(ctx context.Context, tx *sql.Tx, msg *wire.MsgTx, value int64) (int, error) {
	n := equalOutputs(msg, value)
	if n <= 1 {
		return n, nil
	}
	for _, in := range msg.TxIn {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM coins WHERE txid = ? AND vout = ?`,
			in.PreviousOutPoint.Hash[:], in.PreviousOutPoint.Index).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
	return 1, nil
}

// Balance of one category. Unconfirmed includes immature coinbase outputs.
type Balance struct {
	Confirmed   btcutil.Amount
	Unconfirmed btcutil.Amount
}

// Total is Confirmed + Unconfirmed.
func (b Balance) Total() btcutil.Amount { return b.Confirmed + b.Unconfirmed }

// Balances returns the balance of every category (as of the last Sync).
// Coins spent by one of our stored transactions no longer count, even before
// that transaction is broadcast; its change counts as unconfirmed.
func (w *Wallet) Balances(ctx context.Context) (map[Category]Balance, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	tip, err := w.syncedHeight(ctx, w.store.db)
	if err != nil {
		return nil, err
	}
	rows, err := w.store.db.QueryContext(ctx, `
		SELECT category, value, height, coinbase FROM coins WHERE spent_by IS NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[Category]Balance, len(Categories))
	for _, c := range Categories {
		out[c] = Balance{}
	}
	for rows.Next() {
		var cat string
		var value int64
		var height int32
		var coinbase bool
		if err := rows.Scan(&cat, &value, &height, &coinbase); err != nil {
			return nil, err
		}
		b := out[Category(cat)]
		if height > 0 && (!coinbase || tip-height+1 >= CoinbaseMaturity) {
			b.Confirmed += btcutil.Amount(value)
		} else {
			b.Unconfirmed += btcutil.Amount(value)
		}
		out[Category(cat)] = b
	}
	return out, rows.Err()
}

// Balance returns the balance of one category.
func (w *Wallet) Balance(ctx context.Context, cat Category) (Balance, error) {
	all, err := w.Balances(ctx)
	if err != nil {
		return Balance{}, err
	}
	return all[cat], nil
}

// ListCoins returns the coins of a category ("" = every category); with
// unspentOnly, coins spent (or being spent) are left out.
func (w *Wallet) ListCoins(ctx context.Context, cat Category, unspentOnly bool) ([]Coin, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	if cat != "" && !cat.Valid() {
		return nil, fmt.Errorf("unknown category %q", cat)
	}
	tip, err := w.syncedHeight(ctx, w.store.db)
	if err != nil {
		return nil, err
	}
	rows, err := w.store.db.QueryContext(ctx, `
		SELECT txid, vout, value, pk_script, category, height, coinbase, spent_by,
		       reserved_by IS NOT NULL AND reserved_until > ?, anon_set
		FROM coins
		WHERE (? = '' OR category = ?) AND (? = 0 OR spent_by IS NULL)
		ORDER BY height, txid, vout`, w.now().Unix(), string(cat), string(cat), unspentOnly)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Coin
	for rows.Next() {
		var c Coin
		var txid, spentBy []byte
		var cat string
		var value int64
		if err := rows.Scan(&txid, &c.OutPoint.Index, &value, &c.PkScript, &cat, &c.Height,
			&c.Coinbase, &spentBy, &c.Reserved, &c.AnonSet); err != nil {
			return nil, err
		}
		c.OutPoint.Hash, err = hashFromBytes(txid)
		if err != nil {
			return nil, err
		}
		if spentBy != nil {
			h, err := hashFromBytes(spentBy)
			if err != nil {
				return nil, err
			}
			c.SpentBy = &h
		}
		c.Value = btcutil.Amount(value)
		c.Category = Category(cat)
		if c.Height > 0 && tip >= c.Height {
			c.Confirmations = tip - c.Height + 1
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func hashFromBytes(b []byte) (chainhash.Hash, error) {
	var h chainhash.Hash
	if err := h.SetBytes(b); err != nil {
		return h, fmt.Errorf("stored hash: %w", err)
	}
	return h, nil
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}
