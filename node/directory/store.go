package directory

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/sqlitedb"
	"github.com/onionswap/onionswap/protocol"
)

// The directory's SQLite file uses the plumbing shared with the wallet
// (package internal/sqlitedb): settings in the DSN so every pooled
// connection has them (WAL so List never blocks a registration;
// synchronous=FULL because an Ack promises the maker its entry survives a
// crash; _txlock=immediate so read-then-write transactions such as the
// capacity check cannot deadlock), numbered embedded migrations applied with
// PRAGMA user_version in the same transaction, and ExecTx retried on busy
// with a random delay.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationFS is the migrations directory itself.
var migrationFS = sqlitedb.MustSub(migrationFiles, "migrations")

// Store errors.
var (
	// ErrNewerSchema: the database was written by a newer onionswap.
	ErrNewerSchema = errors.New("directory database was written by a newer version")
	// ErrCorrupt: the file is not a readable SQLite database.
	ErrCorrupt = errors.New("directory database is corrupted")
	// errFull: the directory holds MaxEntries bonds, all worth at least as
	// much as the new one.
	errFull = errors.New("directory full")
)

// Entry is one listed maker as the directory stores it.
type Entry struct {
	Addr       string
	Proof      protocol.FidelityProof
	BondValue  float64
	FirstSeen  time.Time
	LastSeen   time.Time // last successful Register; the TTL runs from here
	VerifiedAt time.Time // last successful on-chain verification
}

// DirEntry converts e for a ListReply.
func (e *Entry) DirEntry() protocol.DirEntry {
	return protocol.DirEntry{Addr: e.Addr, Proof: e.Proof, LastSeen: uint64(max(e.LastSeen.Unix(), 0))}
}

type store struct {
	sdb *sqlitedb.DB
	db  *sql.DB
}

// openStore opens or creates the database at p, checks it (quick_check)
// and migrates it.
func openStore(ctx context.Context, p string) (*store, error) {
	sdb, err := sqlitedb.OpenOwn(ctx, p, "directory db", migrationFS, sqlitedb.Errors{Corrupt: ErrCorrupt, NewerSchema: ErrNewerSchema})
	if err != nil {
		return nil, err
	}
	return &store{sdb: sdb, db: sdb.SQL()}, nil
}

func (s *store) close() error { return s.sdb.Close() }

// execTx runs fn in one immediate transaction, retried on busy/locked
// (fn must have no side effects outside tx).
func (s *store) execTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.sdb.ExecTx(ctx, fn)
}

func ms(t time.Time) int64          { return t.UnixMilli() }
func fromMS(v int64) time.Time      { return time.UnixMilli(v) }
func opKey(op wire.OutPoint) []byte { return op.Hash[:] }

// upsert stores e under its bond outpoint. An existing entry for the bond
// is replaced (keeping its first_seen) and its previous address returned.
// A new bond when maxEntries are listed evicts the least valuable entry
// if e is worth more, else fails with errFull.
func (s *store) upsert(ctx context.Context, e *Entry, maxEntries int) (prevAddr string, evicted *wire.OutPoint, err error) {
	op := e.Proof.BondOutPoint
	err = s.execTx(ctx, func(tx *sql.Tx) error {
		prevAddr, evicted = "", nil
		var prev string
		switch err := tx.QueryRowContext(ctx, `SELECT addr FROM entries WHERE txid = ? AND vout = ?`,
			opKey(op), op.Index).Scan(&prev); {
		case err == nil:
			prevAddr = prev
			_, err := tx.ExecContext(ctx, `UPDATE entries SET addr = ?, bond_pubkey = ?, lock_height = ?, amount = ?,
				cert_expiry = ?, cert_sig = ?, bond_value = ?, last_seen = ?, verified_at = ? WHERE txid = ? AND vout = ?`,
				e.Addr, e.Proof.BondPubKey.SerializeCompressed(), e.Proof.LockHeight, e.Proof.BondValue,
				e.Proof.CertExpiry, e.Proof.CertSig, e.BondValue, ms(e.LastSeen), ms(e.VerifiedAt), opKey(op), op.Index)
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM entries`).Scan(&n); err != nil {
			return err
		}
		if n >= maxEntries {
			var txid []byte
			var vout uint32
			var value float64
			if err := tx.QueryRowContext(ctx, `SELECT txid, vout, bond_value FROM entries
				ORDER BY bond_value ASC, last_seen ASC LIMIT 1`).Scan(&txid, &vout, &value); err != nil {
				return err
			}
			if value >= e.BondValue {
				return errFull
			}
			h, err := chainhash.NewHash(txid)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE txid = ? AND vout = ?`, txid, vout); err != nil {
				return err
			}
			evicted = wire.NewOutPoint(h, vout)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO entries (txid, vout, addr, bond_pubkey, lock_height, amount,
			cert_expiry, cert_sig, bond_value, first_seen, last_seen, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			opKey(op), op.Index, e.Addr, e.Proof.BondPubKey.SerializeCompressed(), e.Proof.LockHeight, e.Proof.BondValue,
			e.Proof.CertExpiry, e.Proof.CertSig, e.BondValue, ms(e.FirstSeen), ms(e.LastSeen), ms(e.VerifiedAt))
		return err
	})
	return prevAddr, evicted, err
}

const entryCols = `txid, vout, addr, bond_pubkey, lock_height, amount, cert_expiry, cert_sig,
	bond_value, first_seen, last_seen, verified_at`

// list returns up to limit entries seen at or after notBefore, most
// valuable first. Older entries are expired: they are never returned,
// whether or not a sweep has deleted them yet.
func (s *store) list(ctx context.Context, notBefore time.Time, limit int) ([]Entry, error) {
	return s.query(ctx, `SELECT `+entryCols+` FROM entries WHERE last_seen >= ?
		ORDER BY bond_value DESC, txid, vout LIMIT ?`, ms(notBefore), limit)
}

// all returns every stored entry, expired or not.
func (s *store) all(ctx context.Context) ([]Entry, error) {
	return s.query(ctx, `SELECT `+entryCols+` FROM entries ORDER BY txid, vout`)
}

func (s *store) query(ctx context.Context, q string, args ...any) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var txid, pub []byte
		var first, last, verified int64
		p := &e.Proof
		if err := rows.Scan(&txid, &p.BondOutPoint.Index, &e.Addr, &pub, &p.LockHeight, &p.BondValue,
			&p.CertExpiry, &p.CertSig, &e.BondValue, &first, &last, &verified); err != nil {
			return nil, err
		}
		h, err := chainhash.NewHash(txid)
		if err != nil {
			return nil, fmt.Errorf("%w: txid: %w", ErrCorrupt, err)
		}
		p.BondOutPoint.Hash = *h
		if p.BondPubKey, err = btcec.ParsePubKey(pub); err != nil {
			return nil, fmt.Errorf("%w: bond key: %w", ErrCorrupt, err)
		}
		p.Addr = e.Addr
		e.FirstSeen, e.LastSeen, e.VerifiedAt = fromMS(first), fromMS(last), fromMS(verified)
		out = append(out, e)
	}
	return out, rows.Err()
}

// sweep deletes entries last seen before cutoff.
func (s *store) sweep(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.execTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE last_seen < ?`, ms(cutoff))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// deleteIfUnchanged removes the entry for op if it is still the version
// that was verified (same address and last_seen): a re-registration with
// a fresh proof meanwhile wins over a stale verification.
func (s *store) deleteIfUnchanged(ctx context.Context, e *Entry) (bool, error) {
	op := e.Proof.BondOutPoint
	var n int64
	err := s.execTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE txid = ? AND vout = ? AND addr = ? AND last_seen = ?`,
			opKey(op), op.Index, e.Addr, ms(e.LastSeen))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// markVerified records a successful re-verification (value and time) of
// the entry version e.
func (s *store) markVerified(ctx context.Context, e *Entry, value float64, at time.Time) error {
	op := e.Proof.BondOutPoint
	return s.execTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE entries SET bond_value = ?, verified_at = ?
			WHERE txid = ? AND vout = ? AND addr = ? AND last_seen = ?`,
			value, ms(at), opKey(op), op.Index, e.Addr, ms(e.LastSeen))
		return err
	})
}

func (s *store) count(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM entries`).Scan(&n)
	return n, err
}
