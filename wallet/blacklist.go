package wallet

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Blacklist kinds: what an entry names.
const (
	ListOrigin    = "origin"    // a pool origin key (x-only, hex)
	ListOnion     = "onion"     // an onion address "host.onion:port"
	ListBond      = "bond"      // a fidelity bond outpoint "txid:vout"
	ListIntegrity = "integrity" // an integrity output "txid:vout"
)

// Blacklist sources.
const (
	ListSourceLocal = "local" // the operator
	ListSourceAuto  = "auto"  // the node: a maker failed a swap by its own fault, or could not be reached
)

// BlacklistEntry is one listed party.
type BlacklistEntry struct {
	Kind   string    `json:"kind"`
	Value  string    `json:"value"`
	Reason string    `json:"reason"`
	Added  time.Time `json:"added"`
	// Until: listed until then; zero: for good.
	Until  time.Time `json:"until,omitzero"`
	Source string    `json:"source"`
}

// BlacklistAdd lists e (Added: now when zero). An entry listed for good
// stays so: a later, shorter listing of the same party (an "unreachable"
// after a cheat) does not shorten it.
func (w *Wallet) BlacklistAdd(ctx context.Context, e BlacklistEntry) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	if e.Added.IsZero() {
		e.Added = w.now()
	}
	var until int64
	if !e.Until.IsZero() {
		until = e.Until.Unix()
	}
	if e.Source == "" {
		e.Source = ListSourceLocal
	}
	return w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO blacklist (kind, value, reason, added, until, source) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, value) DO UPDATE SET reason = excluded.reason, added = excluded.added,
				until = excluded.until, source = excluded.source
			WHERE blacklist.until != 0 OR excluded.until = 0`,
			e.Kind, e.Value, e.Reason, e.Added.Unix(), until, e.Source)
		if err != nil {
			return fmt.Errorf("blacklist %s %s: %w", e.Kind, e.Value, err)
		}
		return nil
	})
}

// BlacklistRemove unlists a party; it reports whether it was listed.
func (w *Wallet) BlacklistRemove(ctx context.Context, kind, value string) (bool, error) {
	if err := w.checkOpen(); err != nil {
		return false, err
	}
	var n int64
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM blacklist WHERE kind = ? AND value = ?`, kind, value)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n > 0, err
}

// Blacklist returns the entries listed at now ("" kind: every kind).
func (w *Wallet) Blacklist(ctx context.Context, kind string, now time.Time) ([]BlacklistEntry, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := w.store.db.QueryContext(ctx, `SELECT kind, value, reason, added, until, source FROM blacklist
		WHERE (? = '' OR kind = ?) AND (until = 0 OR until > ?) ORDER BY kind, value`, kind, kind, now.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BlacklistEntry
	for rows.Next() {
		var e BlacklistEntry
		var added, until int64
		if err := rows.Scan(&e.Kind, &e.Value, &e.Reason, &added, &until, &e.Source); err != nil {
			return nil, err
		}
		e.Added = time.Unix(added, 0).UTC()
		if until != 0 {
			e.Until = time.Unix(until, 0).UTC()
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListKey is the key that signs the blacklists the node exports.
func (w *Wallet) ListKey() (*btcec.PrivateKey, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	return w.keys.ListKey()
}
