package script

import (
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testKey returns a deterministic private key derived from name.
func testKey(name string) *btcec.PrivateKey {
	h := sha256.Sum256([]byte("onionswap-script-test/" + name))
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

// testPreimage returns a deterministic 32-byte preimage.
func testPreimage(name string) [32]byte {
	return sha256.Sum256([]byte("onionswap-script-test-preimage/" + name))
}

func testOutPoint(name string, idx uint32) wire.OutPoint {
	return wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte(name))), Index: idx}
}

// golden compares got with testdata/name (rewriting it with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create): %v", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(got) {
		t.Errorf("%s mismatch:\n got: %s\nwant: %s", name, got, want)
	}
}

// testContract returns a contract with deterministic keys and the given CSV.
func testContract(t testing.TB, csv uint16) (*Contract, []byte) {
	t.Helper()
	c := &Contract{
		Hash:        PreimageHash(testPreimage("p")),
		HashlockKey: testKey("hashlock").PubKey(),
		TimelockKey: testKey("timelock").PubKey(),
		CSV:         csv,
	}
	s, err := c.Script()
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// p2wpkh is a destination used by spend tests.
func p2wpkh(name string) []byte { return P2WPKHPkScript(testKey(name).PubKey()) }

func prevMap(op wire.OutPoint, value int64, pkScript []byte) map[wire.OutPoint]*wire.TxOut {
	return map[wire.OutPoint]*wire.TxOut{op: wire.NewTxOut(value, pkScript)}
}
