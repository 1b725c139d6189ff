package wallet

import (
	"context"
	"database/sql"
	"embed"
	"errors"

	"github.com/onionswap/onionswap/internal/sqlitedb"
)

// migrationFiles holds the numbered schema migrations (NNNN_name.sql). Each
// runs in one transaction that also sets PRAGMA user_version = NNNN, so a
// crash leaves either the old or the new schema, never half of one (see
// package internal/sqlitedb, which also holds the SQLite settings and the
// reasons for them).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationFS is the migrations directory itself.
var migrationFS = sqlitedb.MustSub(migrationFiles, "migrations")

// Store errors. The store's errors for these conditions (from
// internal/sqlitedb) also match that package's sentinel for the condition.
var (
	// ErrWalletNotFound: no wallet file at the path (use Create or Restore).
	ErrWalletNotFound = errors.New("wallet file not found")
	// ErrWalletExists: Create/Restore refuse to overwrite a wallet file.
	ErrWalletExists = errors.New("wallet file already exists")
	// ErrCorrupt: the file is not a readable SQLite database (truncated,
	// overwritten, damaged). The file is left untouched.
	ErrCorrupt = errors.New("wallet file is corrupted or truncated")
	// ErrNewerSchema: the file was written by a newer version of onionswap.
	ErrNewerSchema = errors.New("wallet file was written by a newer version")
)

// dbErrors labels internal/sqlitedb's errors with the wallet's sentinels.
var dbErrors = sqlitedb.Errors{
	NotFound:    ErrWalletNotFound,
	Exists:      ErrWalletExists,
	Corrupt:     ErrCorrupt,
	NewerSchema: ErrNewerSchema,
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int {
	v, err := sqlitedb.SchemaVersion(migrationFS)
	if err != nil {
		panic(err) // embedded files: a build error, caught by the tests
	}
	return v
}

// store is the wallet's SQLite database.
type store struct {
	sdb  *sqlitedb.DB
	db   *sql.DB
	path string
}

// inspect opens the file read-only and returns its schema version after the
// header check and a quick_check. Nothing is written, and a clean file's
// directory is left exactly as it was.
func inspect(ctx context.Context, p string, fn func(db *sql.DB, version int) error) error {
	return sqlitedb.Inspect(ctx, p, sqlitedb.Options{Migrations: migrationFS, Errors: dbErrors}, fn)
}

// corruptOr maps SQLite's corruption codes to ErrCorrupt.
func corruptOr(err error) error { return dbErrors.CorruptOr(err) }

// openStore opens (and, with create, makes) the database read-write and
// brings its schema up to date. Callers run inspect first on existing files.
func openStore(ctx context.Context, p string, create bool) (*store, error) {
	opts := sqlitedb.Options{Migrations: migrationFS, Mode: sqlitedb.OpenExisting, Errors: dbErrors}
	if create {
		opts.Mode = sqlitedb.CreateNew
		opts.FileMode = 0o600 // the file holds keys: owner-only
	}
	sdb, err := sqlitedb.Open(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	return &store{sdb: sdb, db: sdb.SQL(), path: p}, nil
}

// removeDBFiles deletes the wallet file and its -wal/-shm/-journal files.
func removeDBFiles(p string) { _ = sqlitedb.Remove(p) }

func (s *store) close() error { return s.sdb.Close() }

// ExecTx runs fn in one immediate (write-locking) transaction and commits
// it, retried as a whole on SQLITE_BUSY/LOCKED after a random delay (see
// sqlitedb.DB.ExecTx); fn must therefore not have side effects outside tx
// (collect results in variables it resets itself).
func (s *store) ExecTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.sdb.ExecTx(ctx, fn)
}
