package sqlitedb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// Caller sentinels, as a store (the wallet) defines its own.
var (
	errOwnNotFound = errors.New("test file not found")
	errOwnExists   = errors.New("test file already exists")
	errOwnCorrupt  = errors.New("test file is corrupted")
	errOwnNewer    = errors.New("test file is from a newer version")
	ownErrors      = Errors{NotFound: errOwnNotFound, Exists: errOwnExists, Corrupt: errOwnCorrupt, NewerSchema: errOwnNewer}
)

func migFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, sql := range files {
		m[name] = &fstest.MapFile{Data: []byte(sql), Mode: 0o644}
	}
	return m
}

var (
	v1 = map[string]string{"0001_init.sql": `CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT NOT NULL);`}
	v2 = map[string]string{
		"0001_init.sql": v1["0001_init.sql"],
		"0002_b.sql":    `CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL REFERENCES a(id));`,
	}
)

func opts(files map[string]string, mode Mode) Options {
	return Options{Migrations: migFS(files), Mode: mode, Errors: ownErrors}
}

// fileState hashes every file in dir (names and contents): a check that
// nothing in the directory was written, created or removed.
func fileState(t *testing.T, dir string) [32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(b))
		h.Write(b)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestMigrationsOrderAndNumbering(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		want    []string // names in order; nil = error expected
		wantErr string
	}{
		{"ordered by number, not by name", []string{"10_j.sql", "1_a.sql", "2_b.sql", "3_c.sql", "4_d.sql",
			"5_e.sql", "6_f.sql", "7_g.sql", "8_h.sql", "9_i.sql"},
			[]string{"1_a.sql", "2_b.sql", "3_c.sql", "4_d.sql", "5_e.sql", "6_f.sql", "7_g.sql", "8_h.sql", "9_i.sql", "10_j.sql"}, ""},
		{"zero padded", []string{"0002_b.sql", "0001_a.sql"}, []string{"0001_a.sql", "0002_b.sql"}, ""},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, nil, "expected number 2"},
		{"not starting at 1", []string{"0002_b.sql"}, nil, "expected number 1"},
		{"duplicate number", []string{"0001_a.sql", "0001_b.sql"}, nil, "expected number 2"},
		{"no number", []string{"0001_a.sql", "init.sql"}, nil, "not NNNN_name.sql"},
		{"no name", []string{"0001.sql"}, nil, "not NNNN_name.sql"},
		{"not .sql", []string{"0001_a.sql", "0002_b.txt"}, nil, "not NNNN_name.sql"},
		{"empty", nil, nil, "no migrations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for _, f := range tc.files {
				files[f] = "SELECT 1;"
			}
			ms, err := Migrations(migFS(files))
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), opts(files, OpenOrCreate)); err == nil {
					t.Fatal("Open accepted bad migrations")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for i, m := range ms {
				names = append(names, m.Name)
				if m.Version != i+1 || m.SQL != "SELECT 1;" {
					t.Errorf("migration %d: %+v", i, m)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("order %v, want %v", names, tc.want)
			}
			if v, err := SchemaVersion(migFS(files)); err != nil || v != len(tc.want) {
				t.Fatalf("SchemaVersion = %d, %v", v, err)
			}
		})
	}
}

func TestOpenModesAndSettings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "s p a c e?#.db") // escaped in the file: URI

	_, err := Open(ctx, p, opts(v1, OpenExisting))
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, errOwnNotFound) || !strings.HasPrefix(err.Error(), errOwnNotFound.Error()) {
		t.Fatalf("open missing: %v", err)
	}
	if err := Inspect(ctx, p, opts(v1, 0), nil); !errors.Is(err, ErrNotFound) || !errors.Is(err, errOwnNotFound) {
		t.Fatalf("inspect missing: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("refused opens created files: %v", ents)
	}

	o := opts(v2, CreateNew)
	o.FileMode = 0o600
	db, err := Open(ctx, p, o)
	if err != nil {
		t.Fatal(err)
	}
	if db.Path() != p {
		t.Errorf("Path %q", db.Path())
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v %v", st.Mode(), err)
	}
	// The DSN's settings reach every pooled connection: hold one
	// connection busy and ask through the other.
	c1, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		pragma string
		want   string
	}{{"journal_mode", "wal"}, {"synchronous", "2"}, {"foreign_keys", "1"}, {"busy_timeout", "5000"}, {"user_version", "2"}} {
		var got1, got2 string
		if err := c1.QueryRowContext(ctx, "PRAGMA "+q.pragma).Scan(&got1); err != nil {
			t.Fatal(err)
		}
		if err := db.SQL().QueryRowContext(ctx, "PRAGMA "+q.pragma).Scan(&got2); err != nil {
			t.Fatal(err)
		}
		if got1 != q.want || got2 != q.want {
			t.Errorf("PRAGMA %s = %q / %q, want %q", q.pragma, got1, got2, q.want)
		}
	}
	c1.Close()
	// Foreign keys are enforced.
	err = db.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO b (id, a_id) VALUES (1, 42)`)
		return err
	})
	if err == nil {
		t.Error("foreign key not enforced")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = Open(ctx, p, opts(v2, CreateNew))
	if !errors.Is(err, ErrExists) || !errors.Is(err, errOwnExists) {
		t.Fatalf("create over existing: %v", err)
	}
	// Without caller sentinels the package's own label the error.
	_, err = Open(ctx, p, Options{Migrations: migFS(v2), Mode: CreateNew})
	if !errors.Is(err, ErrExists) || !strings.HasPrefix(err.Error(), ErrExists.Error()) {
		t.Fatalf("create over existing: %v", err)
	}
	for _, mode := range []Mode{OpenExisting, OpenOrCreate} {
		db, err := Open(ctx, p, opts(v2, mode))
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	var seen int
	if err := Inspect(ctx, p, opts(v2, 0), func(db *sql.DB, v int) error {
		seen = v
		return nil
	}); err != nil || seen != 2 {
		t.Fatalf("inspect: %d %v", seen, err)
	}
}

func TestUpgradeAppliesMissingMigrations(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "u.db")
	db, err := Open(ctx, p, opts(v1, OpenOrCreate))
	if err != nil {
		t.Fatal(err)
	}
	if v := userVersion(t, db.SQL()); v != 1 || tableExists(t, db.SQL(), "b") {
		t.Fatalf("v1: version %d", v)
	}
	if err := db.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO a (id, v) VALUES (1, 'kept')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, p, opts(v2, OpenExisting))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var kept string
	if err := db.SQL().QueryRow(`SELECT v FROM a WHERE id = 1`).Scan(&kept); err != nil || kept != "kept" {
		t.Fatalf("data lost: %q %v", kept, err)
	}
	if v := userVersion(t, db.SQL()); v != 2 || !tableExists(t, db.SQL(), "b") {
		t.Fatalf("v2: version %d", v)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "n.db")
	db, err := Open(ctx, p, opts(v2, CreateNew))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileState(t, dir)
	err = Inspect(ctx, p, opts(v1, 0), func(*sql.DB, int) error {
		t.Error("callback called for a newer schema")
		return nil
	})
	if !errors.Is(err, ErrNewerSchema) || !errors.Is(err, errOwnNewer) || !strings.Contains(err.Error(), "schema version 2, this build knows up to 1") {
		t.Fatalf("inspect: %v", err)
	}
	if fileState(t, dir) != before {
		t.Fatal("Inspect changed the directory")
	}
	_, err = Open(ctx, p, opts(v1, OpenExisting))
	if !errors.Is(err, ErrNewerSchema) || !errors.Is(err, errOwnNewer) {
		t.Fatalf("open: %v", err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("refused open removed the file: %v", err)
	}
	db, err = Open(ctx, p, opts(v2, OpenExisting))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := userVersion(t, db.SQL()); v != 2 {
		t.Fatalf("version %d after refused open", v)
	}
}

// TestFailedMigrationKeepsOldVersion: a migration that fails half-way
// leaves the previous schema and user_version (DDL and the version bump
// share one transaction), and a retry with fixed migrations succeeds.
func TestFailedMigrationKeepsOldVersion(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "f.db")
	db, err := Open(ctx, p, opts(v1, CreateNew))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	bad := map[string]string{
		"0001_init.sql": v1["0001_init.sql"],
		"0002_ok.sql":   `CREATE TABLE b (x INTEGER);`,
		"0003_bad.sql":  `CREATE TABLE c (x INTEGER); INSERT INTO no_such_table VALUES (1);`,
	}
	_, err = Open(ctx, p, opts(bad, OpenExisting))
	if err == nil || !strings.Contains(err.Error(), "migration 0003_bad.sql") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("failed migration of an existing file removed it: %v", err)
	}
	if err := Inspect(ctx, p, opts(bad, 0), func(db *sql.DB, v int) error {
		if v != 2 || !tableExists(t, db, "b") || tableExists(t, db, "c") {
			t.Errorf("after failed migration: version %d, b %v, c %v", v, tableExists(t, db, "b"), tableExists(t, db, "c"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A failed migration of a file Open created removes it again.
	p2 := filepath.Join(t.TempDir(), "new.db")
	if _, err := Open(ctx, p2, opts(bad, CreateNew)); err == nil {
		t.Fatal("no error")
	}
	if ents, _ := os.ReadDir(filepath.Dir(p2)); len(ents) != 0 {
		t.Fatalf("failed create left files: %v", ents)
	}
}

func TestCorruptFileRefusedUntouched(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "good.db")
	db, err := Open(ctx, p, opts(v1, CreateNew))
	if err != nil {
		t.Fatal(err)
	}
	// Enough rows for several pages.
	if err := db.ExecTx(ctx, func(tx *sql.Tx) error {
		for i := range 400 {
			if _, err := tx.Exec(`INSERT INTO a (v) VALUES (?)`, strings.Repeat("x", 100)+fmt.Sprint(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(good) < 5*4096 {
		t.Fatalf("test database only %d bytes", len(good))
	}
	if err := Inspect(ctx, p, opts(v1, 0), nil); err != nil {
		t.Fatalf("good file: %v", err)
	}
	garbage := make([]byte, len(good))
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	pageFlip := slices.Clone(good) // every b-tree page header after page 1
	for pg := 4096; pg+8 <= len(pageFlip); pg += 4096 {
		for i := pg; i < pg+8; i++ {
			pageFlip[i] = 0x33
		}
	}
	badPageSize := slices.Clone(good)
	badPageSize[16], badPageSize[17] = 0x03, 0x00 // 768
	// empty: a valid database without a schema (user_version 0).
	empty, err := func() ([]byte, error) {
		p := filepath.Join(t.TempDir(), "empty.db")
		db, err := sql.Open("sqlite3", rwDSN(p, time.Second))
		if err != nil {
			return nil, err
		}
		if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
			return nil, err
		}
		db.Close()
		return os.ReadFile(p)
	}()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated to half", good[:len(good)/2], "header declares"},
		{"truncated inside the header", good[:50], "shorter than a database header"},
		{"empty file", nil, "shorter than a database header"},
		{"garbage bytes", garbage, "not an SQLite database"},
		{"bad page size", badPageSize, "page size 768"},
		{"damaged pages", pageFlip, ""},
		{"no schema", empty, "no schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "bad.db")
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			before := fileState(t, dir)
			err := Inspect(ctx, p, opts(v1, 0), func(*sql.DB, int) error {
				t.Error("callback called for a corrupt file")
				return nil
			})
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errOwnCorrupt) || !strings.Contains(err.Error(), tc.want) ||
				!strings.HasPrefix(err.Error(), errOwnCorrupt.Error()) {
				t.Fatalf("err = %v, want ErrCorrupt %q", err, tc.want)
			}
			t.Log(err)
			if fileState(t, dir) != before {
				t.Fatal("Inspect modified the directory")
			}
		})
	}
	// Open with QuickCheck (no Inspect first) refuses a garbage file and
	// does not remove it, since it did not create it.
	dir := t.TempDir()
	p = filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(p, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	o := opts(v1, OpenOrCreate)
	o.QuickCheck = true
	if _, err := Open(ctx, p, o); !errors.Is(err, ErrCorrupt) || !errors.Is(err, errOwnCorrupt) {
		t.Fatalf("open garbage: %v", err)
	}
	if b, err := os.ReadFile(p); err != nil || !slices.Equal(b, garbage) {
		t.Fatalf("garbage file changed or removed: %v", err)
	}
}

// TestExecTxRetriesOnBusy: while another connection holds the write lock
// past the (short) busy timeout, ExecTx retries the whole transaction and
// succeeds once the lock is released; errors other than busy are not
// retried; a cancelled context ends the retries.
func TestExecTxRetriesOnBusy(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "busy.db")
	o := opts(v1, CreateNew)
	o.BusyTimeout = 10 * time.Millisecond
	db, err := Open(ctx, p, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := sql.Open("sqlite3", rwDSN(p, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	// hold takes the write lock through other (immediate transaction) and
	// keeps it until release is closed.
	hold := func() (release func()) {
		tx, err := other.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO a (v) VALUES ('other')`); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := tx.Commit(); err != nil {
				t.Error(err)
			}
		}
	}

	release := hold()
	var calls atomic.Int32
	// One attempt alone fails: the busy timeout is far shorter than the
	// hold below, so only ExecTx's retries can get the transaction through.
	err = execTxOnce(ctx, db.SQL(), func(*sql.Tx) error { return nil })
	if !IsBusy(err) {
		t.Fatalf("single attempt under a held lock: %v, want busy", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond) // several retries' worth
		release()
	}()
	start := time.Now()
	err = db.ExecTx(ctx, func(tx *sql.Tx) error {
		calls.Add(1)
		_, err := tx.Exec(`INSERT INTO a (v) VALUES ('mine')`)
		return err
	})
	wg.Wait()
	if err != nil {
		t.Fatalf("ExecTx: %v", err)
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Fatalf("ExecTx returned after %v while the lock was held", time.Since(start))
	}
	var n int
	if err := db.SQL().QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows %d %v, want 2", n, err)
	}
	if calls.Load() < 1 {
		t.Fatal("fn not called")
	}

	// Errors from fn are returned at once, the transaction rolled back.
	calls.Store(0)
	boom := errors.New("boom")
	err = db.ExecTx(ctx, func(tx *sql.Tx) error {
		calls.Add(1)
		if _, err := tx.Exec(`INSERT INTO a (v) VALUES ('rolled back')`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
	if err := db.SQL().QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows %d %v, want 2", n, err)
	}

	// A lock never released: the context ends the retries, and the error
	// says both why it stopped and what it was waiting on.
	release = hold()
	defer release()
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = db.ExecTx(cctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO a (v) VALUES ('never')`)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) || !IsBusy(err) {
		t.Fatalf("err = %v, want deadline after busy", err)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.db")
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.WriteFile(p+s, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "r.db.bak")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := Remove(p); err != nil { // nothing left: still fine
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "r.db.bak" {
		t.Fatalf("left %v", ents)
	}
}

// TestFileModesFromCreation: the database and its -wal and -shm files are
// owner-only from the moment they exist, whatever the umask lets through
// (a wallet's WAL holds the seed until the first checkpoint), and an Open
// narrows companions an older version left wider than the main file.
func TestFileModesFromCreation(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "w.db")
	db, err := Open(ctx, p, opts(v1, CreateNew))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO a (v) VALUES ('seed')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		st, err := os.Stat(p + suffix)
		if err != nil {
			t.Fatalf("%s: %v", suffix, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %#o while open, want 0600", filepath.Base(p+suffix), st.Mode().Perm())
		}
	}
	db.Close()

	// A -wal left 0644 by a crashed older version.
	db, err = Open(ctx, p, opts(v1, OpenExisting))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO a (v) VALUES ('x')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p+"-wal", 0o644)
	db2, err := Open(ctx, p, opts(v1, OpenExisting))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p + "-wal"); st.Mode().Perm() != 0o600 {
		t.Errorf("-wal left %#o", st.Mode().Perm())
	}
	db2.Close()
	db.Close()
}

// TestOpensMidCheckpointCrash: a process that dies while checkpointing
// (power loss, or an exit while its last connection closes) leaves the
// main file with the WAL's newest page 1, whose header counts pages the
// checkpoint had not written yet, and the whole WAL beside it. SQLite
// finishes that checkpoint from the WAL when the file is next opened, so
// Inspect and Open must not call the file truncated; nothing is lost.
func TestOpensMidCheckpointCrash(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "live.db")
	db, err := Open(ctx, p, opts(v1, CreateNew))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// A live writer whose pages stay in the WAL: no automatic checkpoint,
	// and its connection stays open while the files are copied.
	raw, err := sql.Open("sqlite3", rwDSN(p, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
		t.Fatal(err)
	}
	const rows = 400 // about 12 pages beyond the checkpointed file
	for i := range rows {
		if _, err := raw.Exec(`INSERT INTO a (v) VALUES (?)`, strings.Repeat("y", 100)+fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	mainFile, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(p + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint copies pages in page order: page 1 (the newest in the
	// WAL, with the new page count) lands first.
	const pageSize, walHeader, frameHeader = 4096, 32, 24
	var page1 []byte
	for off := walHeader; off+frameHeader+pageSize <= len(wal); off += frameHeader + pageSize {
		if pgno := uint32(wal[off])<<24 | uint32(wal[off+1])<<16 | uint32(wal[off+2])<<8 | uint32(wal[off+3]); pgno == 1 {
			page1 = wal[off+frameHeader : off+frameHeader+pageSize]
		}
	}
	if page1 == nil {
		t.Fatal("no page 1 in the WAL")
	}
	crashed := slices.Clone(mainFile)
	copy(crashed, page1)
	declared := int(uint32(page1[28])<<24 | uint32(page1[29])<<16 | uint32(page1[30])<<8 | uint32(page1[31]))
	if declared*pageSize <= len(crashed) {
		t.Fatalf("header declares %d pages, file has %d bytes: not the state under test", declared, len(crashed))
	}
	dir := t.TempDir()
	cp := filepath.Join(dir, "crashed.db")
	if err := os.WriteFile(cp, crashed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Inspect(ctx, cp, opts(v1, 0), nil); err != nil {
		t.Fatalf("inspect: %v", err)
	}
	o := opts(v1, OpenExisting)
	o.QuickCheck = true
	got, err := Open(ctx, cp, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer got.Close()
	var n int
	if err := got.SQL().QueryRowContext(ctx, `SELECT count(*) FROM a`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != rows {
		t.Fatalf("%d rows after recovery, want %d", n, rows)
	}
	// A truncated copy without a WAL is still refused.
	bare := filepath.Join(t.TempDir(), "bare.db")
	if err := os.WriteFile(bare, crashed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Inspect(ctx, bare, opts(v1, 0), nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated file without a WAL: %v, want ErrCorrupt", err)
	}
}
