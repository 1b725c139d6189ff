package market

import (
	"context"
	"sync"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// A joining node checks every offer of the pool on its chain backend, one
// after the other on the connection that delivers them (BenchmarkBook1000:
// 1,000 offers). Two of a bond check's lookups ask for block headers,
// which never change once we know their hash: the tip's (the same for
// every offer until a block comes) and the confirmation block's. Answered
// from memory, a check costs four backend round trips instead of six.
// The tip itself is always asked: a tip even seconds stale would find a
// bond confirmed in a newer block unconfirmed, and the validator keeps
// that verdict for BondCacheTTL.

// maxCachedHeaders: block headers kept (80 bytes each). 2,016 blocks cover
// two weeks, a certificate's longest life (script.DefaultMaxCertValidityBlocks):
// the confirmation blocks of every bond in a pool confirmed that recently,
// in 160 KiB.
const maxCachedHeaders = 2016

// cachedChain is a Chain that answers BlockHeader from memory (bond and
// integrity checks both read headers).
type cachedChain struct {
	Chain

	mu      sync.Mutex
	headers map[chainhash.Hash]wire.BlockHeader
}

// CachedChain wraps c for the offer validator.
func CachedChain(c Chain) Chain {
	return &cachedChain{Chain: c, headers: map[chainhash.Hash]wire.BlockHeader{}}
}

// BlockHeader implements Chain: a header by hash never changes.
func (c *cachedChain) BlockHeader(ctx context.Context, hash chainhash.Hash) (*wire.BlockHeader, error) {
	c.mu.Lock()
	h, ok := c.headers[hash]
	c.mu.Unlock()
	if ok {
		return &h, nil
	}
	hdr, err := c.Chain.BlockHeader(ctx, hash)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.headers) >= maxCachedHeaders {
		clear(c.headers) // rare: bonds from more blocks than two weeks have
	}
	c.headers[hash] = *hdr
	c.mu.Unlock()
	return hdr, nil
}
