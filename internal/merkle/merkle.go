// Package merkle builds and checks the merkle branch that links a
// transaction to its block header (Bitcoin's txid tree: double SHA-256,
// an odd level's last hash paired with itself), so that a node can prove
// to another that a transaction is in a block without either of them
// needing a transaction index: the verifier only reads the header.
package merkle

import (
	"errors"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// ErrIndex: the leaf index is outside the tree.
var ErrIndex = errors.New("merkle: leaf index out of range")

// Branch returns the sibling hashes from leaf index up to (not including)
// the root of the tree over leaves (a block's txids in order).
func Branch(leaves []chainhash.Hash, index int) ([]chainhash.Hash, error) {
	if index < 0 || index >= len(leaves) {
		return nil, ErrIndex
	}
	level := append([]chainhash.Hash(nil), leaves...)
	var branch []chainhash.Hash
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		branch = append(branch, level[index^1])
		next := make([]chainhash.Hash, len(level)/2)
		for i := range next {
			next[i] = parent(&level[2*i], &level[2*i+1])
		}
		level, index = next, index/2
	}
	return branch, nil
}

// Root returns the root that leaf at index with branch leads to. A block
// whose header has this root contains the leaf at that position.
//
// Bitcoin's tree lets a 64-byte transaction pose as an inner node
// (CVE-2017-12842); the callers here prove transactions with inputs,
// outputs and witnesses, which are never 64 bytes without witnesses, and
// they check the branch length against the block's depth bound.
func Root(leaf chainhash.Hash, index uint32, branch []chainhash.Hash) chainhash.Hash {
	h := leaf
	for _, s := range branch {
		if index&1 == 1 {
			h = parent(&s, &h)
		} else {
			h = parent(&h, &s)
		}
		index >>= 1
	}
	return h
}

func parent(l, r *chainhash.Hash) chainhash.Hash {
	var b [2 * chainhash.HashSize]byte
	copy(b[:], l[:])
	copy(b[chainhash.HashSize:], r[:])
	return chainhash.DoubleHashH(b[:])
}
