// Package sqlitedb is the SQLite plumbing shared by onionswap's stores (the
// wallet and the maker directory): connection settings, embedded numbered
// migrations tracked by PRAGMA user_version, corruption checks that never
// modify the file, and write transactions retried on SQLITE_BUSY.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// SQLite settings. They go in the DSN so every pooled connection gets them
// (a PRAGMA through db.Exec reaches one connection only).
const (
	// DefaultBusyTimeout: how long a connection waits for the write lock
	// before SQLITE_BUSY; lnd's default, ample for a single-process store.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultMaxOpenConns: SQLite has one writer; a second connection lets a
	// read run while a write transaction is open (lnd's
	// DefaultSqliteMaxConns).
	DefaultMaxOpenConns = 2
	// connMaxIdleTime: idle pooled connections are closed after this long;
	// a store is used in bursts (a sync, a registration), and reopening a
	// connection costs well under a millisecond.
	connMaxIdleTime = 5 * time.Minute

	// ExecTx retry bounds (lnd sqldb): retried only on busy/locked, with a
	// random delay in [retryMinDelay, retryMaxDelay], at most txRetries
	// times. The random delay keeps two writers that collided from
	// colliding again in lockstep; 10 retries of at most 500 ms on top of
	// the busy timeout bound a hopeless wait to about 10 s.
	txRetries     = 10
	retryMinDelay = 20 * time.Millisecond
	retryMaxDelay = 500 * time.Millisecond
)

// Sentinel errors. Errors returned by this package wrap one of them, and
// also the caller's own sentinel for the same condition when Options.Errors
// names one (see Errors), so errors.Is matches either.
var (
	// ErrNotFound: no database file at the path.
	ErrNotFound = errors.New("database file not found")
	// ErrExists: Open with CreateNew refuses to overwrite a file.
	ErrExists = errors.New("database file already exists")
	// ErrCorrupt: the file is not a readable SQLite database (truncated,
	// overwritten, damaged). The file is left untouched.
	ErrCorrupt = errors.New("database file is corrupted or truncated")
	// ErrNewerSchema: the file was written by a newer version (its
	// user_version is above the highest embedded migration).
	ErrNewerSchema = errors.New("database file was written by a newer version")
)

// Errors names a caller's own sentinel errors for the conditions of the
// package's sentinels. A non-nil field replaces the package's sentinel in
// the message ("wallet file is corrupted or truncated: ...") and is matched
// by errors.Is, as is the package's sentinel.
type Errors struct {
	NotFound, Exists, Corrupt, NewerSchema error
}

// labeled is an error of one of the package's kinds whose message starts
// with the caller's sentinel (wrapped by error) or the package's own.
type labeled struct {
	error       // fmt.Errorf("%w: detail", caller's or package's sentinel)
	kind  error // the package's sentinel
}

func (e *labeled) Unwrap() []error { return []error{e.error, e.kind} }

// errorf returns an error of kind (a package sentinel) with the detail
// format, which may wrap a cause with %w.
func (e *Errors) errorf(kind error, format string, args ...any) error {
	label := kind
	var own error
	if e != nil {
		switch kind {
		case ErrNotFound:
			own = e.NotFound
		case ErrExists:
			own = e.Exists
		case ErrCorrupt:
			own = e.Corrupt
		case ErrNewerSchema:
			own = e.NewerSchema
		}
	}
	if own != nil {
		label = own
	}
	err := fmt.Errorf("%w: "+format, append([]any{label}, args...)...)
	if label == kind {
		return err
	}
	return &labeled{error: err, kind: kind}
}

// CorruptOr returns err marked as ErrCorrupt (and errs.Corrupt) when it is
// SQLite's SQLITE_CORRUPT or SQLITE_NOTADB, else err unchanged. For the
// queries a caller runs on the database in Inspect's callback.
func (e *Errors) CorruptOr(err error) error {
	if IsCorrupt(err) {
		return e.errorf(ErrCorrupt, "%w", err)
	}
	return err
}

// IsCorrupt reports whether err is SQLite's SQLITE_CORRUPT or SQLITE_NOTADB.
func IsCorrupt(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB)
}

// IsBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED:
// another connection held the lock past the busy timeout.
func IsBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// rwDSN: WAL so readers never block the writer; synchronous=FULL because
// the stores act on the strength of what they committed (the wallet signs
// and broadcasts, the directory acks a registration promising the entry
// survives a crash): NORMAL may lose the last commits on power loss, fatal
// for "persist, then act"; foreign keys on; _txlock=immediate takes the
// write lock at BEGIN so two read-then-write transactions cannot deadlock
// into SQLITE_BUSY mid-way.
func rwDSN(p string, busy time.Duration) string {
	return "file:" + escapePath(p) + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=" +
		strconv.FormatInt(busy.Milliseconds(), 10) + "&_foreign_keys=on&_txlock=immediate"
}

// roDSN opens without write access: used to check a file before anything
// may write to it (corruption, schema version, the caller's own checks such
// as the wallet's passphrase). After a clean close there is no -wal file and
// the whole database is in the main file, so immutable=1 reads it without
// creating -wal/-shm files or taking locks: a failed open then leaves the
// directory exactly as it was. With a -wal present (crash, or another
// process has it open) a plain read-only open reads the WAL too.
func roDSN(p string, busy time.Duration) string {
	dsn := "file:" + escapePath(p) + "?mode=ro&_busy_timeout=" + strconv.FormatInt(busy.Milliseconds(), 10)
	if _, err := os.Stat(p + "-wal"); errors.Is(err, os.ErrNotExist) {
		dsn += "&immutable=1"
	}
	return dsn
}

// escapePath makes p safe inside a file: URI (spaces, '?', '#', '%').
func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

// quickCheck runs PRAGMA quick_check and returns ErrCorrupt with (at most
// three of) the problems it reports.
func (e *Errors) quickCheck(ctx context.Context, db *sql.DB) error {
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return e.CorruptOr(err)
	}
	if res != "ok" {
		lines := strings.Split(res, "\n")
		if len(lines) > 3 {
			lines = append(lines[:3], fmt.Sprintf("(%d more problems)", len(lines)-3))
		}
		return e.errorf(ErrCorrupt, "quick_check: %s", strings.Join(lines, "; "))
	}
	return nil
}

// Remove deletes the database file at p and its -wal, -shm and -journal
// companions, ignoring those that do not exist.
func Remove(p string) error {
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(p + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// execTx is DB.ExecTx on a bare pool (Open's migrations run through it
// before there is a DB).
func execTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := execTxOnce(ctx, db, fn)
		if err == nil || !IsBusy(err) || attempt >= txRetries {
			return err
		}
		d := retryMinDelay + rand.N(retryMaxDelay-retryMinDelay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		case <-time.After(d):
		}
	}
}

func execTxOnce(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
