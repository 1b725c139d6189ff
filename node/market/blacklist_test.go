package market

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

func testWallet(t *testing.T, c *chaintest.Chain) *wallet.Wallet {
	t.Helper()
	w, _, err := wallet.Create(context.Background(), wallet.Config{Path: filepath.Join(t.TempDir(), "wallet.db"),
		Params: &chaincfg.RegressionNetParams, Backend: c}, wallet.CreateOptions{Words: 12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestCheckEntry(t *testing.T) {
	txid := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		kind, value string
		ok          bool
	}{
		{wallet.ListOrigin, strings.Repeat("0f", 32), true},
		{wallet.ListOrigin, "0f", false},
		{wallet.ListOnion, onion(3), false}, // not a v3 onion (digits)
		{wallet.ListBond, txid + ":1", true},
		{wallet.ListBond, txid, false},
		{wallet.ListIntegrity, txid + ":x", false},
		{"friend", "x", false},
	} {
		if err := CheckEntry(tc.kind, tc.value, "r"); (err == nil) != tc.ok {
			t.Errorf("%s %s: %v", tc.kind, tc.value, err)
		}
	}
	if err := CheckEntry(wallet.ListBond, txid+":0", strings.Repeat("x", MaxListReason+1)); !errors.Is(err, ErrList) {
		t.Errorf("long reason: %v", err)
	}
}

// TestBlacklistHidesAndStopsRelay: a listed maker's offer is ignored by
// the listing node's pool (not relayed: the node behind it never gets
// it, while an unlisted maker's offer passes the same way) and hidden
// from its book; unlisting lets the next refresh through.
func TestBlacklistHidesAndStopsRelay(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	policy := script.DefaultBondParams()
	bl := NewBlacklist(testWallet(t, c), nil)
	va, vb, vc := NewValidator(c, policy, nil), NewValidator(c, policy, nil), NewValidator(c, policy, nil)
	vb.UseBlacklist(bl)
	a := newPoolNode(t, va)
	b := newPoolNode(t, vb, a.addr)
	cn := newPoolNode(t, vc, b.addr)
	bad := &maker{t: t, c: c, b: newBond(t, c, 1_000_000), addr: onion(1), max: 5_000_000}
	good := &maker{t: t, c: c, b: newBond(t, c, 1_000_000), addr: onion(2), max: 5_000_000}
	badPub := bad.b.op.String()
	if err := bl.Add(context.Background(), wallet.ListBond, badPub, "sybil", 0); err != nil {
		t.Fatal(err)
	}
	d := newPoolNode(t, NewValidator(c, policy, nil), a.addr) // the good maker's own node
	for _, p := range []*Publisher{
		NewPublisher(PublisherConfig{Pool: a.pool, Maker: bad, CheckInterval: 20 * time.Millisecond, Refresh: 300 * time.Millisecond}),
		NewPublisher(PublisherConfig{Pool: d.pool, Maker: good, CheckInterval: 20 * time.Millisecond}),
	} {
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
	}
	bookC := NewBook(cn.pool, vc)
	// The listing node has met the listed offer (and ignored it) before
	// the test looks behind it.
	eventually(t, "the listed offer ignored by the listing node", func() bool {
		return b.pool.Stats().Refused["validator-ignored"] > 0
	})
	t.Cleanup(func() {
		if t.Failed() {
			for n, p := range map[string]*poolNode{"a": a, "b": b, "c": cn, "d": d} {
				t.Logf("%s: %+v", n, p.pool.Stats())
			}
		}
	})
	eventually(t, "the unlisted offer behind the listing node", func() bool {
		es := bookOf(t, bookC, Query{})
		return len(es) >= 1
	})
	if es := bookOf(t, bookC, Query{}); len(es) != 1 || es[0].Addr != onion(2) {
		t.Fatalf("the node behind the listing node got %+v", addrsOf(es))
	}
	if es := bookOf(t, NewBook(b.pool, vb), Query{}); len(es) != 1 || es[0].Addr != onion(2) {
		t.Fatalf("the listing node's book shows %+v", addrsOf(es))
	}
	// Unlisted: the bad maker's next refresh goes through.
	if ok, err := bl.Remove(context.Background(), wallet.ListBond, badPub); err != nil || !ok {
		t.Fatalf("remove: %v %v", ok, err)
	}
	eventually(t, "the unlisted maker's offer everywhere", func() bool { return len(bookOf(t, bookC, Query{})) == 2 })
}

func addrsOf(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Addr)
	}
	return out
}

// TestBlacklistExportImport: a signed export imports on another node with
// its signer as the source; an altered file, a forged signer and an
// oversized file are refused.
func TestBlacklistExportImport(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	ctx := context.Background()
	src := NewBlacklist(testWallet(t, c), nil)
	origin := strings.Repeat("1f", 32)
	if err := src.Add(ctx, wallet.ListOrigin, origin, "spam offers", 0); err != nil {
		t.Fatal(err)
	}
	if err := src.Add(ctx, wallet.ListBond, strings.Repeat("cd", 32)+":0", "sybil", 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	f, err := src.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseListFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	dst := NewBlacklist(testWallet(t, c), nil)
	n, err := dst.Import(ctx, got)
	if err != nil || n != 2 {
		t.Fatalf("imported %d: %v", n, err)
	}
	es, _ := dst.List(ctx)
	if len(es) != 2 || !strings.HasPrefix(es[0].Source, "import:") || es[1].Until.IsZero() == es[0].Until.IsZero() {
		t.Fatalf("imported entries %+v", es)
	}
	var o [32]byte
	copy(o[:], []byte(strings.Repeat("\x1f", 32)))
	if why, listed := dst.Listed(ctx, o, nil); !listed || !strings.Contains(why, "spam offers") {
		t.Fatalf("imported origin not listed: %q", why)
	}

	tampered := strings.Replace(string(raw), "spam offers", "kind words", 1)
	if _, err := ParseListFile([]byte(tampered)); !errors.Is(err, ErrList) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("altered file: %v", err)
	}
	other, _ := btcec.NewPrivateKey()
	forged := *f
	forged.Signer = hex.EncodeToString(schnorr.SerializePubKey(other.PubKey())) // someone else's name on it
	fb, _ := json.Marshal(&forged)
	if _, err := ParseListFile(fb); !errors.Is(err, ErrList) {
		t.Fatalf("forged signer: %v", err)
	}
	if _, err := ParseListFile(make([]byte, MaxListFileSize+1)); !errors.Is(err, ErrList) {
		t.Fatalf("oversized file: %v", err)
	}
	if _, err := ParseListFile([]byte(`{"onionswap_blacklist": 2}`)); !errors.Is(err, ErrList) {
		t.Fatalf("unknown version: %v", err)
	}
}
