package wallet

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// migrationFS holds the numbered schema migrations (NNNN_name.sql). Each runs
// in one transaction that also sets PRAGMA user_version = NNNN, so a crash
// leaves either the old or the new schema, never half of one.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// SQLite settings. They go in the DSN so every pooled connection gets them
// (a PRAGMA through db.Exec reaches one connection only).
const (
	// busyTimeoutMs: how long a connection waits for the write lock before
	// SQLITE_BUSY; lnd's default, ample for a single-process wallet.
	busyTimeoutMs = 5000
	// maxOpenConns: SQLite has one writer; a second connection lets a read
	// run while a write transaction is open (lnd's DefaultSqliteMaxConns).
	maxOpenConns = 2

	// ExecTx retry bounds (lnd sqldb): retried only on busy/locked, with a
	// random delay in [retryMinDelay, retryMaxDelay], at most txRetries times.
	txRetries     = 10
	retryMinDelay = 20 * time.Millisecond
	retryMaxDelay = 500 * time.Millisecond
)

// rwDSN: WAL so readers never block the writer; synchronous=FULL because the
// wallet signs and broadcasts on the strength of what it committed (NORMAL
// may lose the last commits on power loss, fatal for "persist, then act");
// foreign keys on; _txlock=immediate takes the write lock at BEGIN so two
// read-then-write transactions cannot deadlock into SQLITE_BUSY mid-way.
func rwDSN(p string) string {
	return "file:" + escapePath(p) + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=" +
		strconv.Itoa(busyTimeoutMs) + "&_foreign_keys=on&_txlock=immediate"
}

// roDSN opens without write access: used to check a file before anything
// may write to it (corruption, schema version, passphrase). After a clean
// close there is no -wal file and the whole database is in the main file, so
// immutable=1 reads it without creating -wal/-shm files or taking locks: a
// failed Open then leaves the directory exactly as it was. With a -wal
// present (crash, or another process has it open) a plain read-only open
// reads the WAL too.
func roDSN(p string) string {
	dsn := "file:" + escapePath(p) + "?mode=ro&_busy_timeout=" + strconv.Itoa(busyTimeoutMs)
	if _, err := os.Stat(p + "-wal"); errors.Is(err, os.ErrNotExist) {
		dsn += "&immutable=1"
	}
	return dsn
}

func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

// Store errors.
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

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order, checking the
// numbering is 1, 2, 3... without gaps.
func migrations() ([]migration, error) {
	ents, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %q is not NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // embedded files: a build error, caught by the tests
	}
	return len(ms)
}

// store is the wallet's SQLite database.
type store struct {
	db   *sql.DB
	path string
}

// sqliteHeaderLen is the fixed database header at the start of page 1.
const sqliteHeaderLen = 100

// checkFile rejects, without letting SQLite touch the file, anything that is
// not a complete SQLite database: wrong magic (garbage bytes), a page size
// that is not a power of two in [512, 65536], or a file shorter than the page
// count its header declares (truncated copy).
func checkFile(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return ErrWalletNotFound
	}
	if err != nil {
		return fmt.Errorf("open wallet file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open wallet file: %w", err)
	}
	var hdr [sqliteHeaderLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("%w: %d bytes, shorter than a database header", ErrCorrupt, st.Size())
	}
	if !bytes.Equal(hdr[:16], []byte("SQLite format 3\x00")) {
		return fmt.Errorf("%w: not an SQLite database", ErrCorrupt)
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("%w: page size %d", ErrCorrupt, pageSize)
	}
	// The in-header page count is valid when "version-valid-for" equals the
	// change counter (SQLite ≥ 3.7.0 always writes both).
	pages := int64(binary.BigEndian.Uint32(hdr[28:32]))
	if binary.BigEndian.Uint32(hdr[92:96]) == binary.BigEndian.Uint32(hdr[24:28]) &&
		st.Size() < pages*pageSize {
		return fmt.Errorf("%w: %d bytes, header declares %d pages of %d", ErrCorrupt, st.Size(), pages, pageSize)
	}
	return nil
}

// inspect opens the file read-only and returns its schema version after a
// quick_check. Nothing is written.
func inspect(ctx context.Context, p string, fn func(db *sql.DB, version int) error) error {
	if err := checkFile(p); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", roDSN(p))
	if err != nil {
		return fmt.Errorf("open wallet file: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return corruptOr(err)
	}
	if res != "ok" {
		lines := strings.Split(res, "\n")
		if len(lines) > 3 {
			lines = append(lines[:3], fmt.Sprintf("(%d more problems)", len(lines)-3))
		}
		return fmt.Errorf("%w: quick_check: %s", ErrCorrupt, strings.Join(lines, "; "))
	}
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return corruptOr(err)
	}
	if latest := SchemaVersion(); v > latest {
		return fmt.Errorf("%w: schema version %d, this build knows up to %d; upgrade onionswap", ErrNewerSchema, v, latest)
	}
	if v == 0 {
		return fmt.Errorf("%w: no wallet schema in the file", ErrCorrupt)
	}
	return fn(db, v)
}

// corruptOr maps SQLite's corruption codes to ErrCorrupt.
func corruptOr(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// openStore opens (and, with create, makes) the database read-write and
// brings its schema up to date. Callers run inspect first on existing files.
func openStore(ctx context.Context, p string, create bool) (*store, error) {
	_, statErr := os.Stat(p)
	switch {
	case create && statErr == nil:
		return nil, fmt.Errorf("%w: %s", ErrWalletExists, p)
	case !create && errors.Is(statErr, os.ErrNotExist):
		return nil, fmt.Errorf("%w: %s", ErrWalletNotFound, p)
	}
	db, err := sql.Open("sqlite3", rwDSN(p))
	if err != nil {
		return nil, fmt.Errorf("open wallet db: %w", err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &store{db: db, path: p}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		if create {
			removeDBFiles(p)
		}
		return nil, err
	}
	if create {
		// The file holds keys: owner-only.
		if err := os.Chmod(p, 0o600); err != nil {
			db.Close()
			removeDBFiles(p)
			return nil, fmt.Errorf("chmod wallet file: %w", err)
		}
	}
	return s, nil
}

func removeDBFiles(p string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(p + suffix)
	}
}

// migrate applies every migration above the file's user_version, each in
// its own immediate transaction together with the new user_version.
func (s *store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return corruptOr(fmt.Errorf("read schema version: %w", err))
	}
	if v > len(ms) {
		return fmt.Errorf("%w: schema version %d, this build knows up to %d; upgrade onionswap", ErrNewerSchema, v, len(ms))
	}
	for _, m := range ms[v:] {
		err := s.ExecTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			// PRAGMA takes no bind parameters; the version is our integer.
			_, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.version))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *store) close() error { return s.db.Close() }

// ExecTx runs fn in one immediate (write-locking) transaction and commits
// it. When SQLite reports busy or locked — another connection or process
// held the write lock past busy_timeout — the whole transaction is retried
// after a random delay, at most txRetries times; fn must therefore not have
// side effects outside tx (collect results in variables it resets itself).
func (s *store) ExecTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 0; ; attempt++ {
		err = s.execTxOnce(ctx, fn)
		if err == nil || !isBusy(err) || attempt >= txRetries {
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

func (s *store) execTxOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}
