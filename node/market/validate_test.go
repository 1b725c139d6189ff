package market

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

// offerEnvelope is an offer envelope by origin, its body built from m and
// broken as mutate says.
func offerEnvelope(t *testing.T, origin *btcec.PrivateKey, m *maker, mutate func(*protocol.PoolEnvelope, *protocol.MarketOffer)) *protocol.PoolEnvelope {
	return offerEnvelopeTB(t, origin, m, mutate)
}

// offerEnvelopeB is offerEnvelope for benchmarks (unbroken).
func offerEnvelopeB(b *testing.B, origin *btcec.PrivateKey, m *maker) *protocol.PoolEnvelope {
	return offerEnvelopeTB(b, origin, m, nil)
}

func offerEnvelopeTB(t testing.TB, origin *btcec.PrivateKey, m *maker, mutate func(*protocol.PoolEnvelope, *protocol.MarketOffer)) *protocol.PoolEnvelope {
	t.Helper()
	off, err := m.Offer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := &protocol.PoolEnvelope{Network: protocol.Regtest, Topic: pool.TopicOffer, Item: OfferItem, Seq: 1,
		Created: uint64(time.Now().Unix()), Expiry: uint64(time.Now().Add(OfferTTL).Unix())}
	if err := e.Sign(origin); err != nil { // sets the origin
		t.Fatal(err)
	}
	d := OriginDigest(e.Origin, off.Fidelity.CertExpiry)
	mo := &protocol.MarketOffer{ProofKind: protocol.OfferProofBond, Offer: *off, OriginSig: ecdsa.Sign(m.b.key, d[:]).Serialize()}
	if mutate != nil {
		mutate(e, mo)
	}
	if e.Body == nil && !e.IsRemoval() {
		if e.Body, err = protocol.EncodeMarketOffer(mo); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// TestValidatorVerdicts: provably false offers are rejected (the relayer
// pays), offers our node cannot confirm are ignored, a good one and a
// removal are accepted; the chain is asked once per certificate.
func TestValidatorVerdicts(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	cc := &countingChain{Chain: c}
	v := NewValidator(cc, script.DefaultBondParams(), nil)
	m := &maker{t: t, c: c, b: newBond(t, c, 1_000_000), addr: onion(1), max: 5_000_000}
	origin, _ := btcec.NewPrivateKey()
	other, _ := btcec.NewPrivateKey()
	unconfirmed := &maker{t: t, c: c, addr: onion(2), max: 5_000_000}
	unconfirmed.b = newBond(t, c, 1_000_000)
	unconfirmed.b.op.Index = 7 // no such output: as a bond our node has not seen
	small := &maker{t: t, c: c, b: newBond(t, c, 50_000), addr: onion(3), max: 5_000_000}
	fresh := &maker{t: t, c: c, b: mempoolBond(t, c, 1_000_000), addr: onion(4), max: 5_000_000}
	tests := []struct {
		name   string
		m      *maker
		mutate func(*protocol.PoolEnvelope, *protocol.MarketOffer)
		want   pool.Verdict
		err    error
	}{
		{"good offer", m, nil, pool.Accept, nil},
		{"another item", m, func(e *protocol.PoolEnvelope, _ *protocol.MarketOffer) { e.Item[0] ^= 1 }, pool.Reject, ErrOfferItem},
		{"garbage body", m, func(e *protocol.PoolEnvelope, _ *protocol.MarketOffer) { e.Body = []byte{1, 1, 0} }, pool.Reject, protocol.ErrTruncated},
		{"max below min", m, func(_ *protocol.PoolEnvelope, mo *protocol.MarketOffer) { mo.Offer.MaxSize = 1 }, pool.Reject, ErrOfferTerms},
		{"bond bound to another origin", m, func(e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			var o [32]byte
			copy(o[:], other.PubKey().SerializeCompressed()[1:])
			d := OriginDigest(o, mo.Offer.Fidelity.CertExpiry)
			mo.OriginSig = ecdsa.Sign(m.b.key, d[:]).Serialize()
		}, pool.Reject, ErrOriginSig},
		{"origin signed by another key", m, func(e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			d := OriginDigest(e.Origin, mo.Offer.Fidelity.CertExpiry)
			mo.OriginSig = ecdsa.Sign(other, d[:]).Serialize()
		}, pool.Reject, ErrOriginSig},
		{"forged certificate", m, func(_ *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			mo.Offer.Fidelity.BondValue++ // the certificate no longer matches its signature
		}, pool.Reject, script.ErrBondBadSignature},
		{"bond our node does not know", unconfirmed, nil, pool.Ignore, script.ErrBondNotFound},
		{"certificate expired", m, func(e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			mo.Offer.Fidelity.CertExpiry = uint32(c.Height()) // valid while tip < expiry
			resign(t, m, e, mo)
		}, pool.Ignore, script.ErrBondCertExpired},
		{"bond too small for our policy", small, nil, pool.Ignore, script.ErrBondTooSmall},
		{"bond unconfirmed", fresh, nil, pool.Ignore, script.ErrBondUnconfirmed},
		{"removal", m, func(e *protocol.PoolEnvelope, _ *protocol.MarketOffer) { e.Flags = protocol.PoolFlagRemoval }, pool.Accept, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := offerEnvelope(t, origin, tc.m, tc.mutate)
			got, err := v.Validate(context.Background(), e)
			if got != tc.want || (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("verdict %v (%v), want %v (%v)", got, err, tc.want, tc.err)
			}
		})
	}
	// The good certificate again: from the cache.
	before := cc.calls.Load()
	if got, err := v.Validate(context.Background(), offerEnvelope(t, origin, m, nil)); got != pool.Accept {
		t.Fatalf("again: %v %v", got, err)
	}
	if n := cc.calls.Load() - before; n != 0 {
		t.Fatalf("%d chain calls for a cached certificate", n)
	}
}

// resign signs the (changed) certificate of mo and its origin binding
// again with m's bond key, as a maker with that certificate would.
func resign(t *testing.T, m *maker, e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
	t.Helper()
	f := &mo.Offer.Fidelity
	cert := &script.BondCert{OutPoint: f.BondOutPoint, PubKey: f.BondPubKey, LockHeight: f.LockHeight, Amount: f.BondValue,
		Onion: f.Addr, ExpiryHeight: f.CertExpiry}
	sig, err := cert.Sign(m.b.key)
	if err != nil {
		t.Fatal(err)
	}
	f.CertSig = sig
	d := OriginDigest(e.Origin, f.CertExpiry)
	mo.OriginSig = ecdsa.Sign(m.b.key, d[:]).Serialize()
}

// mempoolBond is a bond whose funding is in the mempool only.
func mempoolBond(t *testing.T, c *chaintest.Chain, amt int64) *bond {
	t.Helper()
	b := newBond(t, c, amt) // confirmed: its key and lock; then a second,
	// unconfirmed output of the same script spent from a faucet coin
	pk, err := script.BondPkScript(b.key.PubKey(), b.lock)
	if err != nil {
		t.Fatal(err)
	}
	funding := c.Fund(script.P2WPKHPkScript(b.key.PubKey()), amt+10_000)
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: funding.TxHash()}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(amt, pk))
	prev := funding.TxOut[0]
	sig, err := script.SignInput(tx, 0, nil, prev.Value, prev.PkScript, b.key)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = script.P2WPKHWitness(sig, b.key.PubKey())
	if _, err := c.Broadcast(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	b.op = wire.OutPoint{Hash: tx.TxHash()}
	return b
}

// TestOneOfferPerBond: a bond key can bind its bond to any number of
// origins; while one origin's offer is live the bond backs no other (one
// bond, one offer in the book); the holder's refresh passes; after its
// removal another origin may use the bond.
func TestOneOfferPerBond(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	v := NewValidator(c, script.DefaultBondParams(), nil)
	m := &maker{t: t, c: c, b: newBond(t, c, 1_000_000), addr: onion(1), max: 5_000_000}
	first, _ := btcec.NewPrivateKey()
	second, _ := btcec.NewPrivateKey()
	ctx := context.Background()
	verdict := func(origin *btcec.PrivateKey, removal bool) (pool.Verdict, error) {
		return v.Validate(ctx, offerEnvelope(t, origin, m, func(e *protocol.PoolEnvelope, _ *protocol.MarketOffer) {
			if removal {
				e.Flags = protocol.PoolFlagRemoval
			}
		}))
	}
	if got, err := verdict(first, false); got != pool.Accept {
		t.Fatalf("first origin: %v %v", got, err)
	}
	if got, err := verdict(second, false); got != pool.Ignore || !errors.Is(err, ErrBondInUse) {
		t.Fatalf("second origin with the same bond: %v %v", got, err)
	}
	if got, err := verdict(first, false); got != pool.Accept {
		t.Fatalf("the holder's refresh: %v %v", got, err)
	}
	if got, err := verdict(first, true); got != pool.Accept {
		t.Fatalf("the holder's removal: %v %v", got, err)
	}
	if got, err := verdict(second, false); got != pool.Accept {
		t.Fatalf("second origin after the removal: %v %v", got, err)
	}
}
