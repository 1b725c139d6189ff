package keys

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Argon2id parameters for new blobs, sized for a Raspberry Pi 4 (4 cores,
// 1-8 GiB): 64 MiB so a GPU/ASIC guesser pays in memory, 3 passes, 4 lanes
// (one per Pi core). Measured by TestEncryptRoundTrip: 0.16 s on the 2-core
// amd64 build machine; expect about 1 s on a Pi 4, paid once per wallet open.
// The parameters are written into each blob so they can be raised later
// without breaking old wallets.
const (
	Argon2Time    = 3
	Argon2MemKiB  = 64 * 1024
	Argon2Threads = 4

	// Upper bounds accepted when decrypting, so a corrupted or hostile blob
	// cannot make Open allocate unbounded memory or spin for hours:
	// 1 GiB (a Pi 4 with 2 GiB still copes) and 64 passes.
	maxArgon2MemKiB = 1024 * 1024
	maxArgon2Time   = 64

	saltLen = 16 // 128-bit salt, RFC 9106's recommendation
	keyLen  = chacha20poly1305.KeySize
)

// Blob layout, version 1 (all integers big-endian):
//
//	[4]  magic "OSWK"
//	[1]  version = 1
//	[4]  argon2id time
//	[4]  argon2id memory (KiB)
//	[1]  argon2id threads
//	[16] salt
//	[24] XChaCha20-Poly1305 nonce
//	[..] ciphertext || 16-byte tag; additional data = every byte above
const (
	blobMagic   = "OSWK"
	blobVersion = 1
	headerLen   = 4 + 1 + 4 + 4 + 1 + saltLen + chacha20poly1305.NonceSizeX
)

var (
	// ErrWrongPassphrase means the AEAD tag did not verify: the passphrase
	// is wrong (or, far less likely, the ciphertext was altered).
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrBadBlob means the bytes are not an encrypted seed of a known version.
	ErrBadBlob = errors.New("not a valid encrypted seed blob")
)

// EncryptSecret seals secret under passphrase with argon2id + XChaCha20-Poly1305,
// a random salt and a random nonce.
func EncryptSecret(secret, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("encrypt: empty passphrase")
	}
	hdr := make([]byte, headerLen, headerLen+len(secret)+chacha20poly1305.Overhead)
	copy(hdr, blobMagic)
	hdr[4] = blobVersion
	binary.BigEndian.PutUint32(hdr[5:], Argon2Time)
	binary.BigEndian.PutUint32(hdr[9:], Argon2MemKiB)
	hdr[13] = Argon2Threads
	if _, err := rand.Read(hdr[14:headerLen]); err != nil { // salt and nonce
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	salt := hdr[14 : 14+saltLen]
	nonce := hdr[14+saltLen : headerLen]
	key := argon2.IDKey(passphrase, salt, Argon2Time, Argon2MemKiB, Argon2Threads, keyLen)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return aead.Seal(hdr, nonce, secret, hdr), nil
}

// DecryptSecret opens a blob from EncryptSecret. A wrong passphrase gives
// ErrWrongPassphrase; malformed bytes give ErrBadBlob.
func DecryptSecret(blob, passphrase []byte) ([]byte, error) {
	if len(blob) < headerLen+chacha20poly1305.Overhead || string(blob[:4]) != blobMagic {
		return nil, ErrBadBlob
	}
	if blob[4] != blobVersion {
		return nil, fmt.Errorf("%w: version %d is unknown", ErrBadBlob, blob[4])
	}
	t := binary.BigEndian.Uint32(blob[5:])
	mem := binary.BigEndian.Uint32(blob[9:])
	threads := blob[13]
	if t == 0 || t > maxArgon2Time || mem < 8*uint32(threads) || mem > maxArgon2MemKiB || threads == 0 {
		return nil, fmt.Errorf("%w: argon2id parameters out of range", ErrBadBlob)
	}
	hdr := blob[:headerLen]
	salt := hdr[14 : 14+saltLen]
	nonce := hdr[14+saltLen:]
	key := argon2.IDKey(passphrase, salt, t, mem, threads, keyLen)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	out, err := aead.Open(nil, nonce, blob[headerLen:], hdr)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return out, nil
}
