package securefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	p := filepath.Join(dir, "secret")
	if err := WriteAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	fi, _ := os.Stat(p)
	di, _ := os.Stat(dir)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Fatalf("%q %v, file %v, dir %v", b, err, fi.Mode().Perm(), di.Mode().Perm())
	}
	if err := WriteExclusive(p, []byte("three"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive write over an existing file: %v", err)
	}
	q := filepath.Join(dir, "key")
	if err := WriteExclusive(q, []byte("k"), 0o400); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(q); fi.Mode().Perm() != 0o400 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	es, _ := os.ReadDir(dir)
	if len(es) != 2 {
		t.Fatalf("temp files left: %v", es)
	}
}
