package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet/keys"
)

func TestOnionKeyFromSeed(t *testing.T) {
	var seed keys.Seed
	for i := range seed {
		seed[i] = byte(i)
	}
	kr, err := keys.NewKeyring(&seed, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p1 := filepath.Join(dir, "a", OnionKeyName)
	p2 := filepath.Join(dir, "b", OnionKeyName)
	for _, p := range []string{p1, p2} {
		created, err := ensureOnionKeyFromSeed(p, kr)
		if err != nil || !created {
			t.Fatalf("created=%v err=%v", created, err)
		}
	}
	k1, err := tor.LoadOnionKey(p1)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := tor.LoadOnionKey(p2)
	if k1.ServiceID() != k2.ServiceID() {
		t.Fatal("the same seed gave two addresses")
	}
	fi, _ := os.Stat(p1)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %#o", fi.Mode().Perm())
	}
	// An existing key is never replaced.
	before, _ := os.ReadFile(p1)
	var other keys.Seed
	kr2, _ := keys.NewKeyring(&other, &chaincfg.RegressionNetParams)
	if created, err := ensureOnionKeyFromSeed(p1, kr2); err != nil || created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	after, _ := os.ReadFile(p1)
	if string(before) != string(after) {
		t.Fatal("existing key replaced")
	}
}
