// Package sealbox encrypts a message to one X25519 public key under a
// fresh ephemeral key: X25519, then HKDF-SHA256 (salted with both public
// keys, with the caller's info) to an XChaCha20-Poly1305 key and nonce.
// The sender keeps no secret; only the holder of the recipient's private
// key opens the box, and a stolen long-term key of the sender opens
// nothing. The chat seals its messages with it (node/chat) and the
// CoinJoin its layered outputs (node/coinjoin).
package sealbox

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// KeySize is an X25519 key's size; Overhead what a box adds to its
// message besides the ephemeral key (the AEAD tag).
const (
	KeySize  = 32
	Overhead = chacha20poly1305.Overhead
)

// ErrOpen: the box is not for this key, or it was altered.
var ErrOpen = errors.New("sealbox: cannot open (not for this key, or altered)")

// Key is an X25519 key pair.
type Key struct {
	Priv, Pub [KeySize]byte
}

// NewKey makes a random key pair.
func NewKey() (Key, error) {
	var k Key
	if _, err := io.ReadFull(rand.Reader, k.Priv[:]); err != nil {
		return k, err
	}
	pub, err := curve25519.X25519(k.Priv[:], curve25519.Basepoint)
	if err != nil {
		return k, err
	}
	copy(k.Pub[:], pub)
	return k, nil
}

// derive is the AEAD key and nonce of one box. curve25519.X25519 refuses
// a low-order point (an all-zero secret), so nobody can force a known key.
func derive(secret []byte, eph, to [KeySize]byte, info string) (key [32]byte, nonce [chacha20poly1305.NonceSizeX]byte, err error) {
	salt := append(append(make([]byte, 0, 2*KeySize), eph[:]...), to[:]...)
	r := hkdf.New(sha256.New, secret, salt, []byte(info))
	if _, err = io.ReadFull(r, key[:]); err == nil {
		_, err = io.ReadFull(r, nonce[:])
	}
	return key, nonce, err
}

// Seal encrypts plain to the public key to, binding ad. It returns the
// ephemeral public key, the ciphertext and the box's key (which the caller
// may derive names from: both ends know it).
func Seal(plain []byte, to [KeySize]byte, info string, ad []byte) (eph [KeySize]byte, ct []byte, key [32]byte, err error) {
	e, err := NewKey()
	if err != nil {
		return eph, nil, key, err
	}
	secret, err := curve25519.X25519(e.Priv[:], to[:])
	if err != nil {
		return eph, nil, key, fmt.Errorf("sealbox: recipient key: %w", err)
	}
	key, nonce, err := derive(secret, e.Pub, to, info)
	if err != nil {
		return eph, nil, key, err
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return eph, nil, key, err
	}
	return e.Pub, aead.Seal(nil, nonce[:], plain, ad), key, nil
}

// Open decrypts a box sealed to the public key to, whose private key is
// priv.
func Open(eph [KeySize]byte, ct []byte, priv, to [KeySize]byte, info string, ad []byte) ([]byte, [32]byte, error) {
	secret, err := curve25519.X25519(priv[:], eph[:])
	if err != nil {
		return nil, [32]byte{}, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	key, nonce, err := derive(secret, eph, to, info)
	if err != nil {
		return nil, key, err
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, key, err
	}
	plain, err := aead.Open(nil, nonce[:], ct, ad)
	if err != nil {
		return nil, key, ErrOpen
	}
	return plain, key, nil
}
