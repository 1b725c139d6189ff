package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"

	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// GapLimit is BIP44's address gap limit: every branch is watched up to 20
// addresses beyond the highest one used or handed out, and a restore from
// the words stops looking after 20 consecutive unused addresses. Handing
// out more than 20 addresses that are never paid, followed by a payment to
// a later one, would therefore hide that payment from a restore.
const GapLimit = 20

// NewAddress hands out the next unused P2WPKH address of a branch:
// keys.BranchExternal to receive, keys.BranchSwept as the destination of a
// swap sweep (those coins are category Swept).
func (w *Wallet) NewAddress(ctx context.Context, b keys.Branch) (btcutil.Address, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	if b == keys.BranchIntegrity {
		// A coin paid to an integrity key would join the integrity chain
		// and be linked to it for good; only PayIntegrityFee pays there.
		return nil, fmt.Errorf("new address: the %s branch is paid by PayIntegrityFee only", b)
	}
	var addr btcutil.Address
	var added [][]byte
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		var err error
		addr, _, added, err = w.issueAddress(ctx, tx, b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("new address: %w", err)
	}
	w.watchScripts(ctx, added)
	return addr, nil
}

// PurposeAddress is the receive address for a standing purpose ("bond"):
// the same address until it is paid, then a fresh one. A node that waits
// for a payment and asks again every few seconds thus hands out one
// address, never walking past the gap limit (a restore from the words
// would not see a payment beyond it).
func (w *Wallet) PurposeAddress(ctx context.Context, purpose string) (btcutil.Address, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	var addr btcutil.Address
	var added [][]byte
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		var idx int64
		err := tx.QueryRowContext(ctx, `SELECT p.idx FROM purpose_addresses p JOIN addresses a
			ON a.branch = p.branch AND a.idx = p.idx WHERE p.purpose = ? AND a.used = 0`, purpose).Scan(&idx)
		if err == nil {
			addr, _, err = w.keys.P2WPKHAddress(keys.BranchExternal, uint32(idx))
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var i uint32
		addr, i, added, err = w.issueAddress(ctx, tx, keys.BranchExternal)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO purpose_addresses (purpose, branch, idx) VALUES (?, ?, ?)
			ON CONFLICT (purpose) DO UPDATE SET branch = excluded.branch, idx = excluded.idx`, purpose, keys.BranchExternal, i)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("address for %s: %w", purpose, err)
	}
	w.watchScripts(ctx, added)
	return addr, nil
}

// issueAddress marks the next address of b as issued and tops up the
// watched window; it returns the new scripts to watch.
func (w *Wallet) issueAddress(ctx context.Context, tx *sql.Tx, b keys.Branch) (btcutil.Address, uint32, [][]byte, error) {
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx), -1) + 1 FROM addresses
		WHERE branch = ? AND (issued = 1 OR used = 1)`, b).Scan(&next); err != nil {
		return nil, 0, nil, err
	}
	idx := uint32(next)
	addr, _, err := w.keys.P2WPKHAddress(b, idx)
	if err != nil {
		return nil, 0, nil, err
	}
	pk, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, 0, nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO addresses (branch, idx, pk_script, issued) VALUES (?, ?, ?, 1)
		ON CONFLICT (branch, idx) DO UPDATE SET issued = 1`, b, idx, pk); err != nil {
		return nil, 0, nil, err
	}
	added, err := topUpAddresses(ctx, tx, w.keys, b)
	return addr, idx, added, err
}

// topUpAddresses derives and stores the addresses of b up to GapLimit
// beyond the highest issued or used one, returning the new pkScripts.
func topUpAddresses(ctx context.Context, tx *sql.Tx, kr *keys.Keyring, b keys.Branch) ([][]byte, error) {
	var hi, have int64
	if err := tx.QueryRowContext(ctx, `SELECT
			COALESCE(MAX(CASE WHEN issued = 1 OR used = 1 THEN idx END), -1),
			COALESCE(MAX(idx), -1)
		FROM addresses WHERE branch = ?`, b).Scan(&hi, &have); err != nil {
		return nil, err
	}
	var added [][]byte
	for i := have + 1; i <= hi+GapLimit; i++ {
		_, pub, err := kr.P2WPKHAddress(b, uint32(i))
		if err != nil {
			return nil, fmt.Errorf("derive %s/%d: %w", b, i, err)
		}
		pk := script.P2WPKHPkScript(pub)
		if _, err := tx.ExecContext(ctx, `INSERT INTO addresses (branch, idx, pk_script) VALUES (?, ?, ?)`, b, i, pk); err != nil {
			return nil, err
		}
		added = append(added, pk)
	}
	return added, nil
}

// watchScripts registers new scripts with the watcher once it has loaded
// its state (before that, LoadWatchState merges them from the database).
// A failure is logged: the script is in the database and the next Sync's
// ensureWatched adds it.
func (w *Wallet) watchScripts(ctx context.Context, pks [][]byte) {
	if !w.loaded.Load() {
		return
	}
	for _, pk := range pks {
		if err := w.watcher.Watch(ctx, pk); err != nil {
			w.log.Warn("watch script failed; retried at next sync", "err", err)
			return
		}
	}
}

// walletScripts returns every script the wallet watches: its addresses and
// its P2WSH scripts (bonds, swap coins, contracts).
func walletScripts(ctx context.Context, q queryer) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT pk_script FROM addresses UNION ALL SELECT pk_script FROM scripts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var pk []byte
		if err := rows.Scan(&pk); err != nil {
			return nil, err
		}
		out = append(out, pk)
	}
	return out, rows.Err()
}

// WatchScript makes the wallet watch a P2WSH output script it does not
// derive itself — a 2-of-2 swap output (SwapIncoming) or an HTLC contract
// (Contract) — and file coins paying it under cat. It returns the pkScript.
// Idempotent. The swap engine calls it (and persists its own swap state)
// before the counterparty can fund the script.
func (w *Wallet) WatchScript(ctx context.Context, witnessScript []byte, cat Category, label string) ([]byte, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	if cat != SwapIncoming && cat != Contract && cat != FidelityBond {
		return nil, fmt.Errorf("watch script: category %q is for wallet addresses", cat)
	}
	pk := script.WitnessScriptHash(witnessScript)
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO scripts (pk_script, witness_script, category, label) VALUES (?, ?, ?, ?)
			ON CONFLICT (pk_script) DO NOTHING`, pk, witnessScript, string(cat), label)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("watch script: %w", err)
	}
	w.watchScripts(ctx, [][]byte{pk})
	return pk, nil
}
