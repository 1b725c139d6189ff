package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Mode says whether Open may, must or must not create the file.
type Mode int

const (
	// OpenExisting fails with ErrNotFound when there is no file.
	OpenExisting Mode = iota
	// CreateNew fails with ErrExists when a file is already there.
	CreateNew
	// OpenOrCreate opens the file, creating it when absent.
	OpenOrCreate
)

// Options configure Open (and, partly, Inspect).
type Options struct {
	// Migrations holds the schema migrations NNNN_name.sql at its root
	// (see Migrations). Required.
	Migrations fs.FS
	// Mode: OpenExisting, CreateNew or OpenOrCreate.
	Mode Mode
	// FileMode is the mode of a file this Open creates; 0 means 0o600.
	// The file is created with it before SQLite opens it, and SQLite gives
	// its -wal and -shm files the main file's mode: no companion file is
	// ever readable by more users than the database itself.
	FileMode os.FileMode
	// MaxOpenConns of the pool; 0 means DefaultMaxOpenConns.
	MaxOpenConns int
	// BusyTimeout: how long a statement waits for a lock before SQLITE_BUSY;
	// 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// QuickCheck runs PRAGMA quick_check before migrating, for callers
	// that do not Inspect the file first.
	QuickCheck bool
	// Errors: the caller's own sentinels, wrapped into returned errors.
	Errors Errors
}

func (o *Options) busyTimeout() time.Duration {
	if o.BusyTimeout <= 0 {
		return DefaultBusyTimeout
	}
	return o.BusyTimeout
}

// DB is an open read-write database with an up-to-date schema.
type DB struct {
	db   *sql.DB
	path string
}

// Open opens the database at p read-write (creating it as opts.Mode
// allows), optionally runs quick_check, and applies the migrations the file
// lacks. A file at a newer schema version is refused with ErrNewerSchema and
// left unchanged. When Open created the file and then fails, it removes the
// file again. Callers that must not write to a damaged file run Inspect
// first: a read-write open creates -wal/-shm files and may replay a WAL.
func Open(ctx context.Context, p string, opts Options) (*DB, error) {
	errs := &opts.Errors
	ms, err := Migrations(opts.Migrations)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(p)
	exists := statErr == nil
	switch {
	case opts.Mode == CreateNew && exists:
		return nil, errs.errorf(ErrExists, "%s", p)
	case opts.Mode == OpenExisting && errors.Is(statErr, os.ErrNotExist):
		return nil, errs.errorf(ErrNotFound, "%s", p)
	case statErr != nil && !errors.Is(statErr, os.ErrNotExist):
		return nil, fmt.Errorf("open database: %w", statErr)
	}
	created := !exists
	mode := opts.FileMode
	if mode == 0 {
		mode = 0o600
	}
	if created {
		if err := createFile(p, mode); err != nil {
			if errors.Is(err, fs.ErrExist) && opts.Mode == CreateNew {
				return nil, errs.errorf(ErrExists, "%s", p)
			}
			return nil, fmt.Errorf("create database file: %w", err)
		}
	} else if err := narrowCompanions(p); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db, err := sql.Open("sqlite3", rwDSN(p, opts.busyTimeout()))
	if err != nil {
		if created {
			_ = Remove(p)
		}
		return nil, fmt.Errorf("open database: %w", err)
	}
	maxConns := opts.MaxOpenConns
	if maxConns <= 0 {
		maxConns = DefaultMaxOpenConns
	}
	db.SetMaxOpenConns(maxConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	fail := func(err error) (*DB, error) {
		db.Close()
		if created {
			_ = Remove(p)
		}
		return nil, err
	}
	if opts.QuickCheck {
		if err := errs.quickCheck(ctx, db); err != nil {
			return fail(fmt.Errorf("%s: %w", p, err))
		}
	}
	if err := migrate(ctx, db, ms, errs); err != nil {
		return fail(err)
	}
	return &DB{db: db, path: p}, nil
}

// createFile creates the empty database file p with mode (exactly: the
// umask may only have narrowed it), failing if p exists. SQLite takes an
// empty file for an empty database, and creates the -wal and -shm files
// with the mode of the main file: creating it ourselves first is what
// keeps a new wallet's WAL, which holds the seed until the first
// checkpoint, from being created world-readable under a 022 umask.
func createFile(p string, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		_ = os.Remove(p)
		return err
	}
	return f.Close()
}

// narrowCompanions gives a -wal or -shm file left by an earlier process
// (a crash keeps them) no more permissions than the main file: versions
// before createFile created them 0644.
func narrowCompanions(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	perm := st.Mode().Perm()
	for _, suffix := range []string{"-wal", "-shm"} {
		cs, err := os.Stat(p + suffix)
		if err != nil {
			continue
		}
		if cs.Mode().Perm()&^perm != 0 {
			if err := os.Chmod(p+suffix, cs.Mode().Perm()&perm); err != nil {
				return err
			}
		}
	}
	return nil
}

// SQL is the connection pool, for queries outside ExecTx.
func (d *DB) SQL() *sql.DB { return d.db }

// Path is the database file.
func (d *DB) Path() string { return d.path }

// Close closes the pool.
func (d *DB) Close() error { return d.db.Close() }

// ExecTx runs fn in one immediate (write-locking) transaction and commits
// it. When SQLite reports busy or locked — another connection or process
// held the write lock past the busy timeout — the whole transaction is
// retried after a random delay, at most txRetries times; fn must therefore
// not have side effects outside tx (collect results in variables it resets
// itself). An error from fn rolls the transaction back and is returned.
func (d *DB) ExecTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return execTx(ctx, d.db, fn)
}

// OpenOwn opens a service's own database at p (pool.db, directory.db,
// chat.db): its directory made 0700 if missing, the file created 0600 if
// missing, quick_check, then the migrations. name prefixes errors ("pool
// db: …").
func OpenOwn(ctx context.Context, p, name string, migrations fs.FS, errs Errors) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	db, err := Open(ctx, p, Options{Migrations: migrations, Mode: OpenOrCreate, FileMode: 0o600, QuickCheck: true, Errors: errs})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return db, nil
}
