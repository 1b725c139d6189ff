package market

import "time"

// Offer lifetimes and the verification cache, with their derivation.
const (
	// OfferTTL: an offer expires this long after it was published unless
	// refreshed. market-reference §6 proposes 20 minutes (Bisq uses 9,
	// Haveno 11): a maker that vanished without its removal is out of
	// every book within 20 minutes.
	OfferTTL = 20 * time.Minute
	// RefreshInterval: TTL/2, as Bisq and Haveno refresh, so one lost
	// refresh does not let the offer lapse. One envelope per maker every
	// 10 minutes, against the seed's (and MWC's) republishing every 2.
	RefreshInterval = OfferTTL / 2
	// MinRepublishInterval: a change of terms (every swap changes the
	// liquidity) is published at most this often; 30 s keeps a busy
	// maker well inside the pool's per-origin budget (one message per
	// 15 s, burst 10) while a book is never more than 30 s stale.
	MinRepublishInterval = 30 * time.Second
	// CheckInterval: how often the publisher looks at its maker's terms.
	// Reading them costs two SQLite queries; 5 s makes MinRepublishInterval
	// the effective bound.
	CheckInterval = 5 * time.Second
	// BondCacheTTL: a verified (or refused) certificate is trusted this
	// long before the chain is asked again. A bond can only be spent
	// after its lock expires, so a result goes stale only at that height
	// or when the certificate expires; 10 minutes (a block) bounds both
	// and costs a node with 1,000 offers ~2 lookups a second.
	BondCacheTTL = 10 * time.Minute
	// MaxCachedProofs: the pool holds at most 10,000 envelopes
	// (pool.DefaultMaxMessages); a cache entry is ~100 bytes.
	MaxCachedProofs = 10_000
)
