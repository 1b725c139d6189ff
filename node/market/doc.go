// Package market is onionswap's swap marketplace on the message pool
// (seed 002; issue 12): makers publish their CoinSwap offers on the
// pool's offer topic, every node checks each offer's anti-spam proof on
// its own chain backend before it relays it, and a taker reads the whole
// book from its pool and chooses makers from it.
//
// # Offers
//
// A maker's offer is a pool envelope on pool.TopicOffer, item OfferItem
// (one offer per origin), whose body is a protocol.MarketOffer: the
// maker's terms and fidelity certificate as in its direct Offer reply,
// and the bond key's signature over OriginDigest(origin, cert expiry),
// which binds the bond to the envelope's origin key. The Publisher
// refreshes it every RefreshInterval (TTL OfferTTL), republishes it when
// its terms change (liquidity, fees), no more often than
// MinRepublishInterval, and withdraws it by a signed removal when the
// maker stops, its liquidity is gone or its bond no longer proves.
//
// # Validation
//
// The Validator is the offer topic's pool.Validator, run after the
// pool's own checks (signature, sequence, limits): decode → item →
// terms → the origin binding (one signature check) → the bond on our
// own chain backend, cached per certificate for BondCacheTTL. Provably
// false offers are rejected (the relaying peer pays score); offers that
// our node cannot confirm yet (an unconfirmed or unknown bond, a policy
// stricter than the publisher's, our backend down) are ignored: not
// relayed, nobody blamed.
//
// # Book
//
// The Book lists the live offers the pool holds, with their bond value,
// and is the taker's MakerSource: a swap picks makers from it (the
// taker still verifies each maker's bond and terms over its direct
// connection before it sets anything up).
package market
