// Package hashcash is a proof of work for messages whose sender nobody
// can charge otherwise (Back's hashcash, as Bitmessage uses it): the
// sender finds a nonce such that SHA-256(prefix ‖ nonce) starts with a
// number of zero bits, where the prefix is a tagged digest of what the
// work is bound to. The chat's mailbox stamps use it (node/chat), and so
// will CoinJoin announcements.
//
// A try is one SHA-256 compression (the prefix is a 32-byte digest, the
// nonce 8 bytes), so the cost of b bits is 2^b compressions on average and
// a check is one.
package hashcash

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Prefix is the BIP340-tagged SHA-256 of parts, concatenated: what a
// nonce's work is bound to.
func Prefix(tag string, parts ...[]byte) [32]byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	buf := make([]byte, 0, n)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	return *chainhash.TaggedHash([]byte(tag), buf)
}

// Work is the number of leading zero bits of SHA-256(prefix ‖ nonce),
// the nonce big-endian.
func Work(prefix [32]byte, nonce uint64) int {
	var buf [40]byte
	copy(buf[:], prefix[:])
	binary.BigEndian.PutUint64(buf[32:], nonce)
	h := sha256.Sum256(buf[:])
	n := 0
	for i := 0; i < len(h); i += 8 {
		w := binary.BigEndian.Uint64(h[i:])
		n += bits.LeadingZeros64(w)
		if w != 0 {
			break
		}
	}
	return n
}

// Mint finds a nonce with at least want bits of work, starting from a
// random one (two senders of the same prefix do not race to the same
// nonce).
func Mint(prefix [32]byte, want int) uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	for n := binary.BigEndian.Uint64(b[:]); ; n++ {
		if Work(prefix, n) >= want {
			return n
		}
	}
}

// Check reports whether nonce carries at least want bits of work.
func Check(prefix [32]byte, nonce uint64, want int) bool { return Work(prefix, nonce) >= want }
