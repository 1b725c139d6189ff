package script

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

func TestTweakAgreement(t *testing.T) {
	for i, name := range []string{"maker-1", "maker-2", "maker-3"} {
		p := testKey(name)
		for j := 0; j < 4; j++ {
			n, err := NewNonce()
			if err != nil {
				t.Fatal(err)
			}
			pub := TweakPubKey(p.PubKey(), n)
			priv := TweakPrivKey(p, n)
			if pub == nil || priv == nil {
				t.Fatalf("%d/%d: nil result", i, j)
			}
			if !priv.PubKey().IsEqual(pub) {
				t.Fatalf("%d/%d: (p+n)·G != P + n·G", i, j)
			}
			// Cross-check with the big-int curve API: P + n·G.
			curve := btcec.S256()
			nx, ny := curve.ScalarBaseMult(n.Serialize())
			x, y := curve.Add(p.PubKey().X(), p.PubKey().Y(), nx, ny)
			if x.Cmp(pub.X()) != 0 || y.Cmp(pub.Y()) != 0 {
				t.Fatalf("%d/%d: Jacobian and affine sums differ", i, j)
			}
			if pub.IsEqual(p.PubKey()) {
				t.Fatal("tweak did not change the key")
			}
		}
	}
	// Deterministic vector: tweak by 1 is P + G.
	var one btcec.ModNScalar
	one.SetInt(1)
	oneKey := btcec.PrivKeyFromScalar(&one)
	p := testKey("maker-1")
	var two btcec.ModNScalar
	two.Add2(&p.Key, &one)
	if !TweakPubKey(p.PubKey(), oneKey).IsEqual(btcec.PrivKeyFromScalar(&two).PubKey()) {
		t.Fatal("P + 1·G mismatch")
	}
	// The point at infinity / zero key: nonce = −p.
	var neg btcec.ModNScalar
	neg.Set(&p.Key).Negate()
	negKey := btcec.PrivKeyFromScalar(&neg)
	if TweakPubKey(p.PubKey(), negKey) != nil || TweakPrivKey(p, negKey) != nil {
		t.Fatal("infinity not reported as nil")
	}
	if TweakPubKey(nil, oneKey) != nil || TweakPrivKey(p, nil) != nil {
		t.Fatal("nil input not reported as nil")
	}
}
