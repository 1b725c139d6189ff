package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogRotation(t *testing.T) {
	cases := []struct {
		name     string
		maxBytes int64
		keep     int
		records  int
		// wantFiles: onionswap.log, .1, .2, … that must exist.
		wantFiles int
	}{
		{"never", 0, 3, 200, 1},
		{"fits", 1 << 20, 3, 200, 1},
		{"rotates, keeps 2", 2048, 2, 200, 3},
		{"keeps 1", 2048, 1, 200, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, LogName)
			r, err := openRotating(path, c.maxBytes, c.keep)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < c.records; i++ {
				if _, err := fmt.Fprintf(r, "{\"record\":%04d,\"pad\":\"%s\"}\n", i, strings.Repeat("x", 40)); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			// Newest records in the live file, older ones in .1, .2, …;
			// every file holds whole lines, none passes the limit, and the
			// records kept are the last ones, in order, without a gap.
			var all []string
			for i := c.keep + 1; i >= 0; i-- {
				p := path
				if i > 0 {
					p = fmt.Sprintf("%s.%d", path, i)
				}
				b, err := os.ReadFile(p)
				if os.IsNotExist(err) {
					if i < c.wantFiles {
						t.Fatalf("%s missing", filepath.Base(p))
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if i >= c.wantFiles {
					t.Fatalf("%s exists, want %d files", filepath.Base(p), c.wantFiles)
				}
				if c.maxBytes > 0 && int64(len(b)) > c.maxBytes {
					t.Fatalf("%s has %d bytes > %d", filepath.Base(p), len(b), c.maxBytes)
				}
				if len(b) == 0 || b[len(b)-1] != '\n' {
					t.Fatalf("%s does not end with a whole record", filepath.Base(p))
				}
				all = append(all, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
			}
			first := c.records - len(all)
			for j, l := range all {
				if want := fmt.Sprintf("{\"record\":%04d,", first+j); !strings.HasPrefix(l, want) {
					t.Fatalf("line %d of the kept logs is %q, want record %d", j, l, first+j)
				}
			}
			if c.maxBytes == 0 && first != 0 {
				t.Fatalf("records lost without rotation: first kept %d", first)
			}
		})
	}
}

// TestLogRotationReopen: a restarted daemon appends to the existing file
// and counts its size toward the limit.
func TestLogRotationReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LogName)
	if err := os.WriteFile(path, []byte(strings.Repeat("y", 1000)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := openRotating(path, 1500, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Write([]byte(strings.Repeat("z", 600) + "\n")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	old, err := os.ReadFile(path + ".1")
	if err != nil || len(old) != 1001 {
		t.Fatalf("the old file was not rotated whole: %d bytes, %v", len(old), err)
	}
	cur, _ := os.ReadFile(path)
	if len(cur) != 601 {
		t.Fatalf("new file has %d bytes, want 601", len(cur))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("log mode %#o, want 0600", fi.Mode().Perm())
	}
	if _, err := r.Write([]byte("late\n")); err == nil {
		t.Fatal("write after Close succeeded")
	}
}
