package script

import (
	"github.com/btcsuite/btcd/btcec/v2"
)

// NewNonce draws a fresh random tweak (a non-zero scalar). The taker uses one
// per derived maker key; it is sent to the maker so it can derive the
// private key.
func NewNonce() (*btcec.PrivateKey, error) {
	return btcec.NewPrivateKey()
}

// TweakPubKey returns point + nonce·G: the public key a taker derives for a
// maker from the maker's tweakable point without a round trip. It returns
// nil only if the sum is the point at infinity, which requires nonce to be
// the negated discrete log of point (i.e. knowing the maker's private key).
func TweakPubKey(point *btcec.PublicKey, nonce *btcec.PrivateKey) *btcec.PublicKey {
	if point == nil || nonce == nil {
		return nil
	}
	var p, nG, sum btcec.JacobianPoint
	point.AsJacobian(&p)
	btcec.ScalarBaseMultNonConst(&nonce.Key, &nG)
	btcec.AddNonConst(&p, &nG, &sum)
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		return nil
	}
	sum.ToAffine()
	return btcec.NewPublicKey(&sum.X, &sum.Y)
}

// TweakPrivKey returns key + nonce mod N, the private key of
// TweakPubKey(key.PubKey(), nonce). It returns nil only if the sum is zero
// (nonce = −key), which an honest nonce never is.
func TweakPrivKey(key *btcec.PrivateKey, nonce *btcec.PrivateKey) *btcec.PrivateKey {
	if key == nil || nonce == nil {
		return nil
	}
	var s btcec.ModNScalar
	s.Add2(&key.Key, &nonce.Key)
	if s.IsZero() {
		return nil
	}
	return btcec.PrivKeyFromScalar(&s)
}
