package market

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

// lookups counts the chain calls of a bond check, by method.
type lookups struct {
	*chaintest.Chain
	tips, headers atomic.Int64
}

func (l *lookups) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	l.tips.Add(1)
	return l.Chain.Tip(ctx)
}

func (l *lookups) BlockHeader(ctx context.Context, h chainhash.Hash) (*wire.BlockHeader, error) {
	l.headers.Add(1)
	return l.Chain.BlockHeader(ctx, h)
}

// TestCachedChain: offers checked one after the other ask each block
// header once, and the tip every time; the verdicts are the chain's own,
// a bond confirmed in a new block included.
func TestCachedChain(t *testing.T) {
	ctx := context.Background()
	c := chaintest.New(chaintest.Options{})
	l := &lookups{Chain: c}
	v := NewValidator(CachedChain(l), script.DefaultBondParams(), nil)
	const n = 5
	var makers []*maker
	for i := range n { // each bond confirmed in its own block
		makers = append(makers, &maker{t: t, c: c, b: newBond(t, c, 1_000_000+int64(i)), addr: onion(i + 1), max: 5_000_000})
	}
	check := func(m *maker) {
		t.Helper()
		origin, _ := btcec.NewPrivateKey()
		if got, err := v.Validate(ctx, offerEnvelope(t, origin, m, nil)); got != pool.Accept {
			t.Fatalf("offer of %s: %v %v", m.addr, got, err)
		}
	}
	for _, m := range makers {
		check(m)
	}
	// n confirmation blocks, the last of them the tip.
	if tips, hdrs := l.tips.Load(), l.headers.Load(); tips != n || hdrs != n {
		t.Fatalf("%d tip and %d header lookups for %d offers, want %d each", tips, hdrs, n, n)
	}
	check(&maker{t: t, c: c, b: newBond(t, c, 2_000_000), addr: onion(n + 1), max: 5_000_000})
	if hdrs := l.headers.Load(); hdrs != n+1 { // the new block's, tip and confirmation
		t.Fatalf("%d header lookups after a new block, want %d", hdrs, n+1)
	}
}
