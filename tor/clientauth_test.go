package tor

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RFC 7748 section 6.1, Alice's key pair; the encodings were computed
// independently (Python's base64 module), the private one after tor's
// clamping.
const (
	goldenPrivHex   = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
	goldenPubB32    = "QUQPACMJGCTVI5ELPXOLIPXXLIG36OQNEY4BV5HLUSUY5KU3JZVA"
	goldenPrivB32   = "OADW2CTTDCSX2PAWYFZFDMTGIXPUYL4H5PAJSKVRO752KHNZFRVA"
	goldenPrivB64   = "cAdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LGo="
	goldenServiceID = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad"
)

func goldenPair(t *testing.T) *ClientAuthPair {
	t.Helper()
	b, _ := hex.DecodeString(goldenPrivHex)
	p, err := clientAuthFromPrivate(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClientAuthEncoding: the encodings tor expects, on a known vector:
// base32 public key (ClientAuthV3, .auth), the .auth_private line, the
// base64 key of ONION_CLIENT_AUTH_ADD.
func TestClientAuthEncoding(t *testing.T) {
	p := goldenPair(t)
	if got := p.Public().String(); got != goldenPubB32 {
		t.Fatalf("public key %s, want %s", got, goldenPubB32)
	}
	if got := p.Public().AuthLine(); got != "descriptor:x25519:"+goldenPubB32 {
		t.Fatalf(".auth line %q", got)
	}
	want := goldenServiceID + ":descriptor:x25519:" + goldenPrivB32
	for _, svc := range []string{goldenServiceID, goldenServiceID + ".onion", strings.ToUpper(goldenServiceID) + ".onion:80"} {
		got, err := p.AuthPrivateLine(svc)
		if err != nil || got != want {
			t.Fatalf("AuthPrivateLine(%q) = %q, %v; want %q", svc, got, err, want)
		}
	}
	if _, err := p.AuthPrivateLine(goldenServiceID[:55] + "b"); !errors.Is(err, ErrInvalidOnionAddress) {
		t.Fatalf("bad checksum accepted: %v", err)
	}
	if got := p.ControlPortKey(); got != "x25519:"+goldenPrivB64 {
		t.Fatalf("control port key %q", got)
	}
	if len(goldenPubB32) != 52 || strings.ToUpper(goldenPubB32) != goldenPubB32 || strings.Contains(goldenPubB32, "=") {
		t.Fatal("golden vector is not tor's form")
	}

	// Parsing accepts the bare key and the .auth line, in either case.
	for _, s := range []string{goldenPubB32, strings.ToLower(goldenPubB32), "descriptor:x25519:" + goldenPubB32 + "\n", " DESCRIPTOR:X25519:" + goldenPubB32} {
		k, err := ParseClientAuthKey(s)
		if err != nil || k != p.Public() {
			t.Fatalf("ParseClientAuthKey(%q) = %v, %v", s, k, err)
		}
	}
	for _, s := range []string{"", goldenPubB32[:51], goldenPubB32 + "A", "descriptor:ed25519:" + goldenPubB32,
		strings.Repeat("A", 52), goldenPubB32[:51] + "1"} {
		if _, err := ParseClientAuthKey(s); !errors.Is(err, ErrKeyFormat) {
			t.Fatalf("ParseClientAuthKey(%q): %v", s, err)
		}
	}

	// Fresh keys are distinct, clamped, and their public half matches.
	a, _ := GenerateClientAuth()
	b, _ := GenerateClientAuth()
	if a.Public() == b.Public() || a.priv[0]&7 != 0 || a.priv[31]&0xC0 != 0x40 {
		t.Fatal("generated keys not fresh or not clamped")
	}
	if again, _ := clientAuthFromPrivate(a.priv[:]); again.Public() != a.Public() {
		t.Fatal("public key not derived from the private one")
	}
}

// TestClientAuthFile: created 0600 (also the directory made for it, 0700),
// loaded back unchanged, never replaced; a file group or others may read
// and a malformed one are refused.
func TestClientAuthFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "dashboard-client.key")
	p, created, err := LoadOrCreateClientAuth(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", di.Mode())
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "descriptor:x25519:") || len(b) != len("descriptor:x25519:")+52+1 {
		t.Fatalf("file content %q", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	p2, created, err := LoadOrCreateClientAuth(path)
	if err != nil || created || p2.Public() != p.Public() || p2.priv != p.priv {
		t.Fatalf("reload: created %v, err %v, same %v", created, err, p2 != nil && p2.priv == p.priv)
	}
	if err := SaveClientAuth(path, goldenPair(t)); err == nil {
		t.Fatal("existing key file replaced")
	}

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateClientAuth(path); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("group-readable key: %v", err)
	}
	for _, content := range []string{"", "descriptor:x25519:" + goldenPrivB32[:40], goldenPrivB32, "descriptor:x25519:" + goldenPrivB32 + "X"} {
		bad := filepath.Join(dir, "bad.key")
		os.Remove(bad)
		if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateClientAuth(bad); !errors.Is(err, ErrKeyFormat) {
			t.Fatalf("content %q: %v", content, err)
		}
	}
	// The golden key stored and loaded is the same key.
	gp := filepath.Join(dir, "golden.key")
	if err := SaveClientAuth(gp, goldenPair(t)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(gp); string(b) != "descriptor:x25519:"+goldenPrivB32+"\n" {
		t.Fatalf("golden file %q", b)
	}
	if g, err := LoadClientAuth(gp); err != nil || g.Public().String() != goldenPubB32 {
		t.Fatalf("golden reload: %v", err)
	}
}
