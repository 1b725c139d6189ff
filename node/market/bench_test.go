package market

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

// BenchmarkValidateOffer: the cost of checking one offer before it is
// relayed, cold (its certificate not seen before: decode, origin
// signature, certificate signature and the chain lookups on the
// in-memory chain; over RPC each lookup adds a local round trip) and
// cached (decode and origin signature only).
//
//	go test -run '^$' -bench ValidateOffer ./node/market/
func BenchmarkValidateOffer(b *testing.B) {
	c := chaintest.New(chaintest.Options{})
	m := &maker{t: b, c: c, b: newBond(b, c, 1_000_000), addr: onion(1), max: 5_000_000}
	origin, _ := btcec.NewPrivateKey()
	e := offerEnvelopeB(b, origin, m)
	benchValidate(b, c, e)
}

// BenchmarkValidateIntegrityOffer: the same for an offer backed by an
// integrity fee (a one-input payment): cold, the origin signature, the
// input's BIP143 signature, the merkle branch and two chain lookups;
// cached, decode and the tip's window.
//
//	go test -run '^$' -bench ValidateIntegrityOffer ./node/market/
func BenchmarkValidateIntegrityOffer(b *testing.B) {
	c := chaintest.New(chaintest.Options{})
	pp := newChainPayer(b, c)
	q := pp.paid(20_000)
	origin, _ := btcec.NewPrivateKey()
	e := integrityEnvelope(b, origin, pp, q, 5_000_000, nil)
	benchValidate(b, c, e)
}

// benchValidate: e checked by a new validator each time (cold) and by one
// validator again and again (cached).
func benchValidate(b *testing.B, c Chain, e *protocol.PoolEnvelope) {
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		for range b.N {
			v := NewValidator(c, script.DefaultBondParams(), nil)
			if got, err := v.Validate(ctx, e); got != pool.Accept {
				b.Fatal(got, err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		v := NewValidator(c, script.DefaultBondParams(), nil)
		for range b.N {
			if got, err := v.Validate(ctx, e); got != pool.Accept {
				b.Fatal(got, err)
			}
		}
	})
}
