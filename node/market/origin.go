package market

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/protocol"
)

// OriginTag tags the digest a bond key signs to bind its bond to one pool
// origin key.
const OriginTag = "onionswap/offer-origin"

// OfferItem is the pool item of every maker's offer: one offer per
// origin, so a maker cannot fill the book with copies of itself.
var OfferItem = func() protocol.PoolItem {
	var it protocol.PoolItem
	h := sha256.Sum256([]byte("onionswap/offer"))
	copy(it[:], h[:])
	return it
}()

// OriginDigest is what the bond key signs for an offer published by
// origin: the origin key and the certificate's expiry height, so that the
// binding lapses with the certificate.
func OriginDigest(origin [protocol.XOnlyKeySize]byte, certExpiry uint32) [32]byte {
	var b [protocol.XOnlyKeySize + 4]byte
	copy(b[:], origin[:])
	binary.BigEndian.PutUint32(b[protocol.XOnlyKeySize:], certExpiry)
	return *chainhash.TaggedHash([]byte(OriginTag), b[:])
}
