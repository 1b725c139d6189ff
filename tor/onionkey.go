package tor

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cretz/bine/torutil"
	"github.com/cretz/bine/torutil/ed25519"
	"github.com/onionswap/onionswap/internal/securefile"
)

// The key file is byte-for-byte Tor's own hs_ed25519_secret_key: a 32-byte
// header and the 64-byte expanded ed25519 secret key, the same blob tor's
// ADD_ONION "ED25519-V3:" takes. So a key can be moved to or from a
// HiddenServiceDir, and the format is checkable.
const (
	keyFileHeader = "== ed25519v1-secret: type0 ==\x00\x00\x00"
	keyFileSize   = len(keyFileHeader) + 64
	// keyFileMode: the key is the node's identity; nobody else may read it.
	keyFileMode fs.FileMode = 0o600
)

// OnionKey is the ed25519 key of a v3 onion service.
type OnionKey struct {
	kp ed25519.KeyPair
}

// GenerateOnionKey makes a new random key.
func GenerateOnionKey() (*OnionKey, error) {
	kp, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("tor: generating onion key: %w", err)
	}
	return &OnionKey{kp: kp}, nil
}

// ServiceID is the 56-character base32 service id (address without ".onion").
func (k *OnionKey) ServiceID() string { return torutil.OnionServiceIDFromPrivateKey(k.kp) }

// LoadOrCreateOnionKey loads the key at path, or creates and stores a new
// one if there is no file. created reports which happened.
func LoadOrCreateOnionKey(path string) (key *OnionKey, created bool, err error) {
	key, err = LoadOnionKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if key, err = GenerateOnionKey(); err != nil {
		return nil, false, err
	}
	if err := SaveOnionKey(path, key); err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// LoadOnionKey reads a key file. It refuses a file that group or others
// may read (the key would already be exposed: fix the mode or make a new
// identity) and a file of the wrong size or header, instead of silently
// making a new key and changing the node's address.
func LoadOnionKey(path string) (*OnionKey, error) {
	if err := checkKeyFile(path); err != nil {
		return nil, fmt.Errorf("tor: onion key: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tor: onion key: %w", err)
	}
	return parseOnionKey(path, b)
}

// checkKeyFile refuses a key file that is not a regular file or that
// group or others may read or write.
func checkKeyFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrKeyFormat, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o, readable or writable by group or others; "+
			"run `chmod 600 %s` if it was never exposed", ErrKeyPermissions, path, perm, path)
	}
	return nil
}

func parseOnionKey(path string, b []byte) (*OnionKey, error) {
	if len(b) != keyFileSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrKeyFormat, path, len(b), keyFileSize)
	}
	if !bytes.Equal(b[:len(keyFileHeader)], []byte(keyFileHeader)) {
		return nil, fmt.Errorf("%w: %s lacks the %q header", ErrKeyFormat, path, keyFileHeader[:29])
	}
	sk := b[len(keyFileHeader):]
	// An expanded ed25519 secret is a clamped scalar: low 3 bits clear,
	// top bit clear, second-highest set. Anything else is not a key.
	if sk[0]&7 != 0 || sk[31]&0x80 != 0 || sk[31]&0x40 == 0 {
		return nil, fmt.Errorf("%w: %s does not hold a clamped ed25519 scalar", ErrKeyFormat, path)
	}
	return &OnionKey{kp: ed25519.PrivateKey(append([]byte(nil), sk...)).KeyPair()}, nil
}

// SaveOnionKey stores key at path atomically: a crash leaves either no
// file or the complete key, never a torn one. It refuses to replace an
// existing file: that would change the node's address for good.
func SaveOnionKey(path string, key *OnionKey) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("tor: onion key %s already exists; not replacing it", path)
	}
	data := append([]byte(keyFileHeader), key.kp.PrivateKey()...)
	if err := securefile.WriteAtomic(path, data, keyFileMode); err != nil {
		return fmt.Errorf("tor: saving onion key: %w", err)
	}
	return nil
}
