package wallet

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/onionswap/onionswap/internal/sqlitedb"
	"github.com/onionswap/onionswap/wallet/keys"
)

func testConfig(t *testing.T, pass string) Config {
	t.Helper()
	cfg := Config{Path: filepath.Join(t.TempDir(), "wallet.db"), Params: &chaincfg.RegressionNetParams, Backend: newFake()}
	if pass != "" {
		cfg.Passphrase = []byte(pass)
	}
	return cfg
}

func createWallet(t *testing.T, cfg Config) (*Wallet, keys.Mnemonic) {
	t.Helper()
	w, m, err := Create(context.Background(), cfg, CreateOptions{Words: 12})
	if err != nil {
		t.Fatal(err)
	}
	return w, m
}

// fileHash hashes the database and its -wal file (absent = empty).
func fileHash(t *testing.T, p string) [32]byte {
	t.Helper()
	h := sha256.New()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(p + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		h.Write([]byte{byte(len(suffix))})
		h.Write(b)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func dirListing(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestMigrations(t *testing.T) {
	ms, err := sqlitedb.Migrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations: %+v", ms)
	}
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "m.db")
	s, err := openStore(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion() {
		t.Fatalf("user_version = %d, %v; want %d", v, err, SchemaVersion())
	}
	for _, table := range []string{"meta", "key_counters", "addresses", "scripts", "transactions", "coins", "bonds", "watch_state",
		"integrity_payments"} {
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	// Pragmas of the DSN reach every pooled connection.
	var mode string
	var fk, sync int
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q %v", mode, err)
	}
	if err := s.db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys %d %v", fk, err)
	}
	if err := s.db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous %d %v (want 2 = FULL)", sync, err)
	}
	s.close()
	// Re-opening applies nothing new.
	s, err = openStore(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	s.close()
	if _, err := openStore(ctx, p, true); !errors.Is(err, ErrWalletExists) {
		t.Fatalf("create over existing: %v", err)
	}
}

// TestMigrationAtomic checks a failing migration leaves the old version
// (user_version is transactional with the DDL).
func TestMigrationAtomic(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "a.db")
	s, err := openStore(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	err = s.ExecTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE later (x INTEGER); PRAGMA user_version = 99`); err != nil {
			return err
		}
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("no error")
	}
	var v, n int
	s.db.QueryRow("PRAGMA user_version").Scan(&v)
	s.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'later'`).Scan(&n)
	if v != SchemaVersion() || n != 0 {
		t.Fatalf("after rollback: version %d, table count %d", v, n)
	}
}

func TestOpenNewerSchemaRefused(t *testing.T) {
	cfg := testConfig(t, "")
	w, _ := createWallet(t, cfg)
	if _, err := w.store.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	before := fileHash(t, cfg.Path)
	_, err := Open(context.Background(), cfg)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("err = %v, want ErrNewerSchema", err)
	}
	t.Log(err)
	if fileHash(t, cfg.Path) != before {
		t.Fatal("file changed by a refused open")
	}
}

func TestOpenCorruptFile(t *testing.T) {
	cfg := testConfig(t, "")
	w, _ := createWallet(t, cfg)
	w.Close()
	good, err := os.ReadFile(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, len(good))
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	// Overwrite the b-tree page header of every page after the first.
	pageFlip := append([]byte(nil), good...)
	for pg := 4096; pg+8 <= len(pageFlip); pg += 4096 {
		for i := pg; i < pg+8; i++ {
			pageFlip[i] = 0x33
		}
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"truncated to half", good[:len(good)/2]},
		{"truncated inside the header", good[:50]},
		{"empty", nil},
		{"garbage bytes", garbage},
		{"damaged pages", pageFlip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.Path = filepath.Join(t.TempDir(), "bad.db")
			if err := os.WriteFile(c.Path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			before := fileHash(t, c.Path)
			_, err := Open(context.Background(), c)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			t.Log(err)
			if fileHash(t, c.Path) != before {
				t.Fatal("corrupted file modified by the failed open")
			}
			if got := dirListing(t, filepath.Dir(c.Path)); len(got) != 1 {
				t.Fatalf("open left files behind: %v", got)
			}
		})
	}
}

func TestOpenMissingFile(t *testing.T) {
	cfg := testConfig(t, "")
	if _, err := Open(context.Background(), cfg); !errors.Is(err, ErrWalletNotFound) {
		t.Fatalf("err = %v", err)
	}
}

// TestWrongPassphrase: a wrong (or missing) passphrase is ErrWrongPassphrase
// and the database and WAL files are byte-identical afterwards.
func TestWrongPassphrase(t *testing.T) {
	cfg := testConfig(t, "correct horse")
	w, _ := createWallet(t, cfg)
	addr, err := w.NewAddress(context.Background(), keys.BranchExternal)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	before := fileHash(t, cfg.Path)
	listing := dirListing(t, filepath.Dir(cfg.Path))

	bad := cfg
	bad.Passphrase = []byte("battery staple")
	start := time.Now()
	if _, err := Open(context.Background(), bad); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	t.Logf("refused in %v", time.Since(start))
	none := cfg
	none.Passphrase = nil
	if _, err := Open(context.Background(), none); !errors.Is(err, ErrPassphraseRequired) {
		t.Fatalf("no passphrase: %v", err)
	}
	if fileHash(t, cfg.Path) != before {
		t.Fatal("wallet file changed by a refused open")
	}
	if got := dirListing(t, filepath.Dir(cfg.Path)); len(got) != len(listing) {
		t.Fatalf("files %v, before %v", got, listing)
	}
	start = time.Now()
	w, err = Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open with passphrase (argon2id + checks): %v", time.Since(start))
	defer w.Close()
	again, err := w.NewAddress(context.Background(), keys.BranchExternal)
	if err != nil {
		t.Fatal(err)
	}
	if again.EncodeAddress() == addr.EncodeAddress() {
		t.Fatal("address handed out twice")
	}
	// The seed is not in the file in clear.
	var blob []byte
	w.store.db.QueryRow(`SELECT seed FROM meta`).Scan(&blob)
	if len(blob) == keys.SeedLen {
		t.Fatal("seed stored in clear")
	}
}

func TestOpenNetworkMismatch(t *testing.T) {
	cfg := testConfig(t, "")
	w, _ := createWallet(t, cfg)
	w.Close()
	c := cfg
	c.Params = &chaincfg.TestNet3Params
	c.Backend = newFakeOn(&chaincfg.TestNet3Params)
	if _, err := Open(context.Background(), c); !errors.Is(err, ErrNetworkMismatch) {
		t.Fatalf("err = %v", err)
	}
	c = cfg
	c.Backend = newFakeOn(&chaincfg.MainNetParams)
	if _, err := Open(context.Background(), c); !errors.Is(err, ErrNetworkMismatch) {
		t.Fatalf("backend on mainnet: %v", err)
	}
	c = cfg
	c.Passphrase = []byte("x")
	if _, err := Open(context.Background(), c); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("passphrase on clear wallet: %v", err)
	}
}

// TestRestoreSameKeys: the words restore the same addresses and bond keys.
func TestRestoreSameKeys(t *testing.T) {
	cfg := testConfig(t, "pw")
	w, m := createWallet(t, cfg)
	defer w.Close()
	a1, _ := w.NewAddress(context.Background(), keys.BranchExternal)
	cfg2 := testConfig(t, "")
	w2, err := Restore(context.Background(), cfg2, RestoreOptions{Mnemonic: m.Words(), Birthday: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	a2, _ := w2.NewAddress(context.Background(), keys.BranchExternal)
	if a1.EncodeAddress() != a2.EncodeAddress() {
		t.Fatalf("restored address %s != %s", a2, a1)
	}
	if _, err := Restore(context.Background(), testConfig(t, ""), RestoreOptions{Mnemonic: "abandon abandon"}); !errors.Is(err, keys.ErrMnemonicLength) {
		t.Fatalf("bad words: %v", err)
	}
}

// TestAddressGap: the watched window follows the highest issued address.
func TestAddressGap(t *testing.T) {
	cfg := testConfig(t, "")
	w, _ := createWallet(t, cfg)
	defer w.Close()
	ctx := context.Background()
	count := func(b keys.Branch) int {
		var n int
		w.store.db.QueryRow(`SELECT count(*) FROM addresses WHERE branch = ?`, b).Scan(&n)
		return n
	}
	for _, b := range keys.Branches {
		if n := count(b); n != GapLimit {
			t.Fatalf("branch %s: %d addresses, want %d", b, n, GapLimit)
		}
	}
	seen := map[string]bool{}
	for i := range 5 {
		a, err := w.NewAddress(ctx, keys.BranchExternal)
		if err != nil {
			t.Fatal(err)
		}
		if seen[a.EncodeAddress()] {
			t.Fatalf("address %d repeated", i)
		}
		seen[a.EncodeAddress()] = true
	}
	if n := count(keys.BranchExternal); n != 5+GapLimit {
		t.Fatalf("external window %d, want %d", n, 5+GapLimit)
	}
}

// TestBondFundingOneAddress: a maker waiting for its bond's funds asks
// again every few seconds; every attempt must name the same address (not
// walk the gap limit) and burn no bond key, until that address is paid.
func TestBondFundingOneAddress(t *testing.T) {
	w, _ := createWallet(t, testConfig(t, ""))
	defer w.Close()
	ctx := context.Background()
	attempt := func() string {
		t.Helper()
		_, _, err := w.CreateBond(ctx, 500_000, 10_000, 0)
		var ife *InsufficientFundsError
		if !errors.As(err, &ife) || ife.Address == "" {
			t.Fatalf("empty wallet: %v, want an InsufficientFundsError naming an address", err)
		}
		return ife.Address
	}
	first := attempt()
	for range 12 {
		if a := attempt(); a != first {
			t.Fatalf("attempt named %s, want the same address %s", a, first)
		}
	}
	var issued, bondNext int
	w.store.db.QueryRow(`SELECT count(*) FROM addresses WHERE branch = ? AND issued = 1`, keys.BranchExternal).Scan(&issued)
	w.store.db.QueryRow(`SELECT COALESCE((SELECT next FROM key_counters WHERE name = 'bond'), 0)`).Scan(&bondNext)
	if issued != 1 || bondNext != 0 {
		t.Fatalf("after 13 short attempts: %d addresses issued (want 1), bond counter %d (want 0)", issued, bondNext)
	}
	// Once that address is paid, the next request gets a fresh one.
	if _, err := w.store.db.Exec(`UPDATE addresses SET used = 1 WHERE branch = ? AND issued = 1`, keys.BranchExternal); err != nil {
		t.Fatal(err)
	}
	if a := attempt(); a == first {
		t.Fatal("a paid address was handed out again")
	}
}
