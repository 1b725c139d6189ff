package sqlitedb

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// headerLen is SQLite's fixed database header at the start of page 1.
const headerLen = 100

// checkFile rejects, without letting SQLite touch the file, anything that is
// not a complete SQLite database: wrong magic (garbage bytes), a page size
// that is not a power of two in [512, 65536], or a file shorter than the page
// count its header declares (truncated copy) when no WAL holds the missing
// pages.
func (e *Errors) checkFile(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return e.errorf(ErrNotFound, "%s", p)
	}
	if err != nil {
		return fmt.Errorf("open database file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open database file: %w", err)
	}
	var hdr [headerLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return e.errorf(ErrCorrupt, "%d bytes, shorter than a database header", st.Size())
	}
	if !bytes.Equal(hdr[:16], []byte("SQLite format 3\x00")) {
		return e.errorf(ErrCorrupt, "not an SQLite database")
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return e.errorf(ErrCorrupt, "page size %d", pageSize)
	}
	// The in-header page count is valid when "version-valid-for" equals the
	// change counter (SQLite ≥ 3.7.0 always writes both).
	pages := int64(binary.BigEndian.Uint32(hdr[28:32]))
	if binary.BigEndian.Uint32(hdr[92:96]) == binary.BigEndian.Uint32(hdr[24:28]) &&
		st.Size() < pages*pageSize && !walHasFrames(p) {
		return e.errorf(ErrCorrupt, "%d bytes, header declares %d pages of %d", st.Size(), pages, pageSize)
	}
	return nil
}

// Inspect checks the existing database at p without writing anything to it
// or its directory, then calls fn with a read-only handle and the file's
// schema version, for checks of the caller's own (the wallet's network and
// passphrase) before Open may write. It fails with ErrNotFound when there is
// no file; with ErrCorrupt when the header is not that of a complete SQLite
// database, PRAGMA quick_check finds damage or the file has no schema
// (user_version 0); with ErrNewerSchema when its schema version is above
// the last of opts.Migrations. Of opts, only Migrations, BusyTimeout and
// Errors are used.
func Inspect(ctx context.Context, p string, opts Options, fn func(db *sql.DB, version int) error) error {
	errs := &opts.Errors
	latest, err := SchemaVersion(opts.Migrations)
	if err != nil {
		return err
	}
	if err := errs.checkFile(p); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", roDSN(p, opts.busyTimeout()))
	if err != nil {
		return fmt.Errorf("open database file: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := errs.quickCheck(ctx, db); err != nil {
		return err
	}
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return errs.CorruptOr(err)
	}
	if v > latest {
		return errs.newerSchema(v, latest)
	}
	if v == 0 {
		return errs.errorf(ErrCorrupt, "no schema in the file")
	}
	if fn == nil {
		return nil
	}
	return fn(db, v)
}

// walFrameOffset: a WAL file's header is 32 bytes; anything beyond it is
// frames.
const walFrameOffset = 32

// walHasFrames reports whether the database at p has a WAL with frames in
// it. A checkpoint copies the WAL's pages in page order, page 1 (whose
// header counts the pages) first; a process that dies or exits while one
// runs leaves a main file shorter than its header says, and the WAL that
// holds the rest. SQLite finishes the checkpoint from the WAL at the next
// open (quick_check then judges the result), so that file is not
// truncated. Another process checkpointing at this moment looks the same.
func walHasFrames(p string) bool {
	st, err := os.Stat(p + "-wal")
	return err == nil && st.Size() > walFrameOffset
}
