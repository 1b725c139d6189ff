package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema step, from a file NNNN_name.sql.
type Migration struct {
	Version int    // NNNN: the user_version the schema has after this step
	Name    string // the file name
	SQL     string // statements, run in one transaction
}

// Migrations returns the migrations at the root of fsys (files
// NNNN_name.sql; for an embed.FS of "migrations/*.sql" pass
// MustSub(files, "migrations")) in order, checking the numbering is 1, 2,
// 3... without gaps or duplicates.
func Migrations(fsys fs.FS) ([]Migration, error) {
	if fsys == nil {
		return nil, fmt.Errorf("sqlitedb: no migrations")
	}
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") || e.IsDir() {
			return nil, fmt.Errorf("migration file %q is not NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.Name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("sqlitedb: no migrations")
	}
	return ms, nil
}

// MustSub is fs.Sub(fsys, dir), panicking on error: for a package-level
// var over an embed.FS of "migrations/*.sql", whose fs.Sub cannot fail.
func MustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("sqlitedb: migrations dir %q: %v", dir, err))
	}
	return sub
}

// SchemaVersion is the schema version the migrations in fsys produce: the
// number of the last one.
func SchemaVersion(fsys fs.FS) (int, error) {
	ms, err := Migrations(fsys)
	if err != nil {
		return 0, err
	}
	return len(ms), nil
}

// newerSchema is ErrNewerSchema for a file at version v.
func (e *Errors) newerSchema(v, latest int) error {
	return e.errorf(ErrNewerSchema, "schema version %d, this build knows up to %d; upgrade onionswap", v, latest)
}

// migrate applies every migration above the file's user_version, each in
// its own immediate transaction together with the new user_version, so a
// crash leaves either the old or the new schema, never half of one.
func migrate(ctx context.Context, db *sql.DB, ms []Migration, errs *Errors) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return errs.CorruptOr(fmt.Errorf("read schema version: %w", err))
	}
	if v > len(ms) {
		return errs.newerSchema(v, len(ms))
	}
	for _, m := range ms[v:] {
		err := execTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			// PRAGMA takes no bind parameters; the version is our integer.
			_, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.Version))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
