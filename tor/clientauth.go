package tor

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/cretz/bine/torutil"
	"github.com/onionswap/onionswap/internal/securefile"
	"golang.org/x/crypto/curve25519"
)

// Tor v3 client authorization (rend-spec-v3 "Client authorization"): the
// service encrypts the inner layer of its descriptor to each authorized
// client's x25519 public key, so only a holder of one of the private keys
// can read the introduction points, i.e. connect at all.
//
// Keys travel in three encodings, and tor insists on each:
//   - the service's ADD_ONION ClientAuthV3= and its authorized_clients/
//     <name>.auth files: base32 public key (RFC 4648, upper case, no
//     padding: 52 characters for 32 bytes), files prefixed
//     "descriptor:x25519:";
//   - a client's ClientOnionAuthDir/<name>.auth_private file (Tor Browser,
//     a system tor): "<56-char service id>:descriptor:x25519:<base32
//     private key>";
//   - a client's control command ONION_CLIENT_AUTH_ADD: base64 private key.

// clientAuthB32 is tor's base32 for keys: RFC 4648, no padding.
var clientAuthB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

const (
	// clientAuthKeyLen: x25519 keys are 32 bytes, 52 base32 characters.
	clientAuthKeyLen = curve25519.PointSize
	// clientAuthPrefix precedes a key in tor's .auth and .auth_private
	// files: the only auth type and key type tor knows.
	clientAuthPrefix = "descriptor:x25519:"
)

// ClientAuthKey is a client's x25519 public key, what the service needs
// (AuthorizedService.ClientAuth) to let that client in.
type ClientAuthKey [clientAuthKeyLen]byte

// String is the key as tor's ADD_ONION ClientAuthV3 takes it: 52
// upper-case base32 characters.
func (k ClientAuthKey) String() string { return clientAuthB32.EncodeToString(k[:]) }

// AuthLine is the content of a service's authorized_clients/<name>.auth
// file, for an operator who configures a system tor's HiddenServiceDir by
// hand: "descriptor:x25519:<base32 public key>".
func (k ClientAuthKey) AuthLine() string { return clientAuthPrefix + k.String() }

// ParseClientAuthKey reads a public key in either form: the bare base32 key
// or a .auth file's line (AuthLine). Case and surrounding space are
// ignored, as tor ignores them.
func ParseClientAuthKey(s string) (ClientAuthKey, error) {
	var k ClientAuthKey
	s = strings.TrimSpace(s)
	if rest, ok := cutPrefixFold(s, clientAuthPrefix); ok {
		s = rest
	}
	b, err := decodeKeyB32(s)
	if err != nil {
		return k, fmt.Errorf("%w: client auth public key: %w", ErrKeyFormat, err)
	}
	copy(k[:], b)
	if k == (ClientAuthKey{}) {
		return k, fmt.Errorf("%w: client auth public key is all zero", ErrKeyFormat)
	}
	return k, nil
}

// ClientAuthPair is a client's x25519 key pair for Tor v3 client
// authorization. The private key is what lets a browser in: hand it only
// to the person the dashboard is for, over a channel you trust.
type ClientAuthPair struct {
	priv [clientAuthKeyLen]byte
	pub  ClientAuthKey
}

// GenerateClientAuth makes a new random key pair.
func GenerateClientAuth() (*ClientAuthPair, error) {
	var priv [clientAuthKeyLen]byte
	if _, err := rand.Read(priv[:]); err != nil {
		return nil, fmt.Errorf("tor: generating client auth key: %w", err)
	}
	return clientAuthFromPrivate(priv[:])
}

// clientAuthFromPrivate clamps the scalar as tor does when it makes one
// (curve25519_secret_key_generate), so our keys and tor's look alike;
// X25519 clamps anyway, so a stored unclamped key still works.
func clientAuthFromPrivate(b []byte) (*ClientAuthPair, error) {
	p := &ClientAuthPair{}
	copy(p.priv[:], b)
	p.priv[0] &= 248
	p.priv[31] &= 127
	p.priv[31] |= 64
	pub, err := curve25519.X25519(p.priv[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("%w: client auth private key: %w", ErrKeyFormat, err)
	}
	copy(p.pub[:], pub)
	return p, nil
}

// Public is the key to give the service (AuthorizedService.ClientAuth).
func (p *ClientAuthPair) Public() ClientAuthKey { return p.pub }

// AuthPrivateLine is the content of the <name>.auth_private file a client
// puts in its tor's ClientOnionAuthDir (Tor Browser: the key it asks for,
// or its onion-auth directory) to reach service: "<service id>:descriptor:
// x25519:<base32 private key>". service is the service id or address,
// with or without ".onion" and a port.
func (p *ClientAuthPair) AuthPrivateLine(service string) (string, error) {
	id, err := serviceIDOf(service)
	if err != nil {
		return "", err
	}
	return id + ":" + clientAuthPrefix + clientAuthB32.EncodeToString(p.priv[:]), nil
}

// ControlPortKey is the private key as tor's control command
// ONION_CLIENT_AUTH_ADD takes it: "x25519:<base64 private key>" (base64
// there, unlike the files' base32).
func (p *ClientAuthPair) ControlPortKey() string {
	return "x25519:" + base64.StdEncoding.EncodeToString(p.priv[:])
}

// serviceIDOf accepts "<id>", "<id>.onion" or "<id>.onion:port" and
// returns the checked, lower-case 56-character service id.
func serviceIDOf(s string) (string, error) {
	host := strings.TrimSpace(s)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	id := strings.TrimSuffix(strings.ToLower(host), ".onion")
	if len(id) != 56 {
		return "", fmt.Errorf("%w: %q: want a 56-character v3 service id", ErrInvalidOnionAddress, s)
	}
	if _, err := torutil.PublicKeyFromV3OnionServiceID(id); err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidOnionAddress, s, err)
	}
	return id, nil
}

// The client's private key file holds one line, "descriptor:x25519:<base32
// private key>": the tail of the .auth_private line, which needs the
// service's id and so is made by AuthPrivateLine.

// LoadOrCreateClientAuth loads the key pair at path, or creates one and
// stores it (mode 0600 from the start) if there is no file. created
// reports which happened.
func LoadOrCreateClientAuth(path string) (pair *ClientAuthPair, created bool, err error) {
	pair, err = LoadClientAuth(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return pair, false, err
	}
	if pair, err = GenerateClientAuth(); err != nil {
		return nil, false, err
	}
	if err := SaveClientAuth(path, pair); err != nil {
		return nil, false, err
	}
	return pair, true, nil
}

// LoadClientAuth reads a key pair file. Like LoadOnionKey it refuses a
// file group or others may read, and a malformed one.
func LoadClientAuth(path string) (*ClientAuthPair, error) {
	if err := checkKeyFile(path); err != nil {
		return nil, fmt.Errorf("tor: client auth key: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tor: client auth key: %w", err)
	}
	s, ok := cutPrefixFold(strings.TrimSpace(string(b)), clientAuthPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: %s lacks the %q prefix", ErrKeyFormat, path, clientAuthPrefix)
	}
	priv, err := decodeKeyB32(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyFormat, path, err)
	}
	return clientAuthFromPrivate(priv)
}

// SaveClientAuth stores pair at path atomically with mode 0600. It
// refuses to replace an existing file: the clients holding that key would
// be locked out.
func SaveClientAuth(path string, pair *ClientAuthPair) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("tor: client auth key %s already exists; not replacing it", path)
	}
	data := clientAuthPrefix + clientAuthB32.EncodeToString(pair.priv[:]) + "\n"
	if err := securefile.WriteAtomic(path, []byte(data), keyFileMode); err != nil {
		return fmt.Errorf("tor: saving client auth key: %w", err)
	}
	return nil
}

// decodeKeyB32 decodes a 52-character base32 key, either case.
func decodeKeyB32(s string) ([]byte, error) {
	if len(s) != clientAuthB32.EncodedLen(clientAuthKeyLen) {
		return nil, fmt.Errorf("want %d base32 characters, got %d", clientAuthB32.EncodedLen(clientAuthKeyLen), len(s))
	}
	b, err := clientAuthB32.DecodeString(strings.ToUpper(s))
	if err != nil {
		return nil, fmt.Errorf("not base32: %w", err)
	}
	return b, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
