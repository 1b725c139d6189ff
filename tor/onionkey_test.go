package tor

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/onionswap/onionswap/internal/testutil"
)

func TestOnionKeyPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "onion.key")
	k1, created, err := LoadOrCreateOnionKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != int64(keyFileSize) {
		t.Fatalf("mode %v size %d", fi.Mode(), fi.Size())
	}
	k2, created, err := LoadOrCreateOnionKey(path)
	if err != nil || created {
		t.Fatalf("reload: %v %v", created, err)
	}
	if k1.ServiceID() != k2.ServiceID() || len(k1.ServiceID()) != 56 {
		t.Fatalf("service id changed: %s %s", k1.ServiceID(), k2.ServiceID())
	}
	if err := SaveOnionKey(path, k1); err == nil {
		t.Fatal("SaveOnionKey replaced an existing key")
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries", len(ents))
	}
	// The file is Tor's own format: header + 64-byte expanded key.
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, []byte("== ed25519v1-secret: type0 ==")) {
		t.Fatalf("header %q", b[:32])
	}
}

func TestOnionKeyBadFiles(t *testing.T) {
	good, err := GenerateOnionKey()
	if err != nil {
		t.Fatal(err)
	}
	goodBytes := append([]byte(keyFileHeader), good.kp.PrivateKey()...)
	unclamped := append([]byte(nil), goodBytes...)
	unclamped[len(keyFileHeader)] |= 7
	badHeader := append([]byte(nil), goodBytes...)
	badHeader[3] = 'X'
	tests := []struct {
		name   string
		data   []byte
		mode   fs.FileMode
		wantIs error
		want   string
	}{
		{name: "group readable", data: goodBytes, mode: 0o640, wantIs: ErrKeyPermissions, want: "chmod 600"},
		{name: "world readable", data: goodBytes, mode: 0o604, wantIs: ErrKeyPermissions, want: "0604"},
		{name: "too short", data: goodBytes[:95], mode: 0o600, wantIs: ErrKeyFormat, want: "95 bytes, want 96"},
		{name: "too long", data: append(goodBytes, 0), mode: 0o600, wantIs: ErrKeyFormat, want: "97 bytes"},
		{name: "empty", data: nil, mode: 0o600, wantIs: ErrKeyFormat, want: "0 bytes"},
		{name: "wrong header", data: badHeader, mode: 0o600, wantIs: ErrKeyFormat, want: "header"},
		{name: "not a clamped scalar", data: unclamped, mode: 0o600, wantIs: ErrKeyFormat, want: "clamped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "onion.key")
			if err := os.WriteFile(path, tc.data, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // umask-proof
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateOnionKey(path)
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("want %v, got %v", tc.wantIs, err)
			}
			wantErrContains(t, err, tc.want, path)
			// The bad file is left alone: never silently a new identity.
			if b, _ := os.ReadFile(path); !bytes.Equal(b, tc.data) {
				t.Fatal("bad key file was modified")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOnionKey(dir); !errors.Is(err, ErrKeyFormat) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestListenRefusesBadKey: the transport reports the key problem instead
// of publishing under a new address.
func TestListenRefusesBadKey(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	cfg := attachConfig(f)
	cfg.KeyFile = filepath.Join(t.TempDir(), "onion.key")
	if err := os.WriteFile(cfg.KeyFile, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTorTransport(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Listen(t.Context()); !errors.Is(err, ErrKeyFormat) {
		t.Fatalf("want ErrKeyFormat, got %v", err)
	}
	for _, c := range f.commands() {
		if bytes.HasPrefix([]byte(c), []byte("ADD_ONION")) {
			t.Fatal("published despite a bad key file")
		}
	}
}
