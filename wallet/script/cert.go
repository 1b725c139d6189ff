package script

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/wire"
)

// CertDomain prefixes every certificate message. The tag (with a version)
// separates bond certificates from anything else a bond key could ever sign:
// a transaction sighash preimage starts with a 4-byte version, never with
// this ASCII string, so a certificate signature can never be replayed as a
// transaction signature or vice versa.
const CertDomain = "onionswap-fidelity-bond-cert/v1"

// Bond refusal reasons: CheckBond returns exactly one of these (wrapped with
// details) so the directory and the taker can say why a bond is refused.
var (
	ErrBondCertInvalid    = errors.New("bond: malformed certificate")
	ErrBondBadSignature   = errors.New("bond: certificate signature invalid")
	ErrBondCertExpired    = errors.New("bond: certificate expired")
	ErrBondCertLifetime   = errors.New("bond: certificate expiry too far in the future")
	ErrBondScriptMismatch = errors.New("bond: output does not pay the bond script")
	ErrBondAmountMismatch = errors.New("bond: output value differs from the certificate")
	ErrBondUnconfirmed    = errors.New("bond: not confirmed deeply enough")
	ErrBondLockWindow     = errors.New("bond: lock period outside the accepted window")
	ErrBondTooSmall       = errors.New("bond: amount below the minimum")
	ErrBondExpired        = errors.New("bond: locktime reached, coins are spendable")
	// ErrBondSpent and ErrBondNotFound are for the caller's chain lookups
	// (package wallet): the output is spent, or the tx/output is unknown.
	ErrBondSpent    = errors.New("bond: output already spent")
	ErrBondNotFound = errors.New("bond: output not found on chain")
	// ErrBondOnionMismatch: the certificate binds another address than the
	// one the maker is reached at.
	ErrBondOnionMismatch = errors.New("bond: certificate is for another address")
)

// maxOnionLen bounds the address field (a v3 onion with port is 62 bytes;
// 255 leaves room for test transports without allowing huge messages).
const maxOnionLen = 255

// BondCert binds a fidelity bond to the address a maker is reachable at,
// until ExpiryHeight. It is signed by the bond key, so only the bond's owner
// can advertise it, and a copied certificate is useless at another address.
type BondCert struct {
	OutPoint     wire.OutPoint    // the bond output
	PubKey       *btcec.PublicKey // the bond key (in the bond script)
	LockHeight   uint32           // the bond script's CLTV height
	Amount       int64            // the bond output value, sat
	Onion        string           // the maker's address ("<56 chars>.onion:<port>")
	ExpiryHeight uint32           // the certificate is valid while tip < ExpiryHeight
}

// Validate checks the fields are well formed (not that they are true).
func (c *BondCert) Validate() error {
	switch {
	case c.PubKey == nil:
		return fmt.Errorf("%w: no public key", ErrBondCertInvalid)
	case c.LockHeight == 0 || c.LockHeight >= LockTimeThreshold:
		return fmt.Errorf("%w: lock height %d", ErrBondCertInvalid, c.LockHeight)
	case c.Amount <= 0:
		return fmt.Errorf("%w: amount %d", ErrBondCertInvalid, c.Amount)
	case c.ExpiryHeight == 0:
		return fmt.Errorf("%w: no expiry", ErrBondCertInvalid)
	case len(c.Onion) == 0 || len(c.Onion) > maxOnionLen:
		return fmt.Errorf("%w: address length %d", ErrBondCertInvalid, len(c.Onion))
	}
	for i := 0; i < len(c.Onion); i++ {
		if ch := c.Onion[i]; ch <= ' ' || ch > '~' || ch == '|' {
			return fmt.Errorf("%w: address byte %#x", ErrBondCertInvalid, ch)
		}
	}
	return nil
}

// Message returns the canonical certificate message:
//
//	onionswap-fidelity-bond-cert/v1|<txid>:<vout>|<pubkey hex, compressed>|<lock height>|<amount sat>|<address>|<expiry height>
//
// in decimal and lowercase hex; the address may not contain '|' or
// whitespace (Validate), so the encoding is unambiguous.
func (c *BondCert) Message() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(CertDomain)
	b.WriteByte('|')
	b.WriteString(c.OutPoint.Hash.String())
	b.WriteByte(':')
	b.WriteString(strconv.FormatUint(uint64(c.OutPoint.Index), 10))
	b.WriteByte('|')
	b.WriteString(hex.EncodeToString(c.PubKey.SerializeCompressed()))
	b.WriteByte('|')
	b.WriteString(strconv.FormatUint(uint64(c.LockHeight), 10))
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(c.Amount, 10))
	b.WriteByte('|')
	b.WriteString(c.Onion)
	b.WriteByte('|')
	b.WriteString(strconv.FormatUint(uint64(c.ExpiryHeight), 10))
	return b.Bytes(), nil
}

// Digest returns sha256d(Message()), the 32 bytes that are signed. We use a
// plain double SHA-256 of the domain-separated message rather than the
// "Bitcoin Signed Message" framing: the signature is DER (not the compact
// recoverable form signmessage tools produce), so that framing would buy no
// tool compatibility.
func (c *BondCert) Digest() ([32]byte, error) {
	msg, err := c.Message()
	if err != nil {
		return [32]byte{}, err
	}
	first := sha256.Sum256(msg)
	return sha256.Sum256(first[:]), nil
}

// Sign signs the certificate with the bond key and returns a low-S DER
// signature (no sighash byte). key must be the certificate's PubKey.
func (c *BondCert) Sign(key *btcec.PrivateKey) ([]byte, error) {
	if key == nil {
		return nil, ErrNilKey
	}
	if c.PubKey == nil || !key.PubKey().IsEqual(c.PubKey) {
		return nil, fmt.Errorf("%w: signing key is not the bond key", ErrBondCertInvalid)
	}
	d, err := c.Digest()
	if err != nil {
		return nil, err
	}
	return ecdsa.Sign(key, d[:]).Serialize(), nil
}

// VerifySig checks sig (strict low-S DER) is the bond key's signature of
// the certificate.
func (c *BondCert) VerifySig(sig []byte) error {
	d, err := c.Digest()
	if err != nil {
		return err
	}
	parsed, err := ecdsa.ParseDERSignature(sig)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBondBadSignature, err)
	}
	if !bytes.Equal(parsed.Serialize(), sig) {
		return fmt.Errorf("%w: not canonical low-S DER", ErrBondBadSignature)
	}
	if !parsed.Verify(d[:], c.PubKey) {
		return ErrBondBadSignature
	}
	return nil
}

// CheckOnion returns ErrBondOnionMismatch unless the certificate is for addr.
func (c *BondCert) CheckOnion(addr string) error {
	if c.Onion != addr {
		return fmt.Errorf("%w: %q", ErrBondOnionMismatch, addr)
	}
	return nil
}

// BondParams is the acceptance policy for other makers' bonds.
type BondParams struct {
	// MinAmount is the smallest accepted bond value in sat.
	MinAmount int64
	// MinLockBlocks and MaxLockBlocks bound LockHeight − confirmation height.
	MinLockBlocks, MaxLockBlocks uint32
	// MinConfirmations the bond output must have (tip − conf + 1).
	MinConfirmations int32
	// MaxCertValidityBlocks bounds ExpiryHeight − tip (0 = no bound), so a
	// certificate must be re-signed regularly and a leaked old one dies.
	MaxCertValidityBlocks uint32
}

// Default bond policy (mainnet figures; regtest tests pass their own).
const (
	// DefaultMinBondLockBlocks: 90 days × 144 blocks/day = 12,960 (citadel HEAD).
	DefaultMinBondLockBlocks = 90 * 144
	// DefaultMaxBondLockBlocks: 180 days × 144 = 25,920 (citadel HEAD): longer
	// locks add value the formula caps anyway and tie up coins needlessly.
	DefaultMaxBondLockBlocks = 180 * 144
	// DefaultMinBondAmount: 0.001 BTC. A policy floor that makes a bond
	// several orders of magnitude above dust; the value formula, not this
	// floor, ranks makers.
	DefaultMinBondAmount = 100_000
	// DefaultMaxCertValidityBlocks: two weeks (14 × 144). Makers sign certs
	// for DefaultCertValidityBlocks and renew at half-life.
	DefaultMaxCertValidityBlocks = 14 * 144
	// DefaultCertValidityBlocks: one week (7 × 144), half the accepted maximum.
	DefaultCertValidityBlocks = 7 * 144
)

// DefaultBondParams returns the default acceptance policy.
func DefaultBondParams() BondParams {
	return BondParams{
		MinAmount:             DefaultMinBondAmount,
		MinLockBlocks:         DefaultMinBondLockBlocks,
		MaxLockBlocks:         DefaultMaxBondLockBlocks,
		MinConfirmations:      1,
		MaxCertValidityBlocks: DefaultMaxCertValidityBlocks,
	}
}

// CheckBond runs every check of a bond that needs no chain access, given
// what the caller looked up on its own node: the tip height, the bond
// output's confirmation height (0 or less = unconfirmed), and the output's
// value and pkScript. The caller separately checks the output exists and is
// unspent (ErrBondNotFound, ErrBondSpent) and that cert.Onion is the maker's
// address (CheckOnion). It returns nil or one wrapped sentinel error.
func CheckBond(cert *BondCert, sig []byte, p BondParams, tipHeight, confHeight int32,
	outputValue int64, outputPkScript []byte) error {

	if cert == nil {
		return ErrBondCertInvalid
	}
	if err := cert.Validate(); err != nil {
		return err
	}
	if tipHeight < 0 {
		return fmt.Errorf("%w: tip height %d", ErrBondCertInvalid, tipHeight)
	}
	tip := uint32(tipHeight)
	if tip >= cert.ExpiryHeight {
		return fmt.Errorf("%w: at height %d (tip %d)", ErrBondCertExpired, cert.ExpiryHeight, tip)
	}
	if p.MaxCertValidityBlocks > 0 && cert.ExpiryHeight-tip > p.MaxCertValidityBlocks {
		return fmt.Errorf("%w: %d blocks > %d", ErrBondCertLifetime, cert.ExpiryHeight-tip, p.MaxCertValidityBlocks)
	}
	if err := cert.VerifySig(sig); err != nil {
		return err
	}
	want, err := BondPkScript(cert.PubKey, cert.LockHeight)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBondCertInvalid, err)
	}
	if !bytes.Equal(want, outputPkScript) {
		return ErrBondScriptMismatch
	}
	if outputValue != cert.Amount {
		return fmt.Errorf("%w: output %d, certificate %d", ErrBondAmountMismatch, outputValue, cert.Amount)
	}
	if confHeight <= 0 || confHeight > tipHeight {
		return fmt.Errorf("%w: confirmation height %d", ErrBondUnconfirmed, confHeight)
	}
	if confs := tipHeight - confHeight + 1; confs < p.MinConfirmations {
		return fmt.Errorf("%w: %d < %d confirmations", ErrBondUnconfirmed, confs, p.MinConfirmations)
	}
	if cert.LockHeight <= uint32(confHeight) {
		return fmt.Errorf("%w: lock height %d not after confirmation %d", ErrBondLockWindow, cert.LockHeight, confHeight)
	}
	if lock := cert.LockHeight - uint32(confHeight); lock < p.MinLockBlocks || lock > p.MaxLockBlocks {
		return fmt.Errorf("%w: %d blocks not in [%d, %d]", ErrBondLockWindow, lock, p.MinLockBlocks, p.MaxLockBlocks)
	}
	if cert.Amount < p.MinAmount {
		return fmt.Errorf("%w: %d < %d", ErrBondTooSmall, cert.Amount, p.MinAmount)
	}
	// A redeem tx with nLockTime = LockHeight is final in block LockHeight+1,
	// i.e. spendable as soon as the tip reaches LockHeight.
	if tip >= cert.LockHeight {
		return fmt.Errorf("%w: lock height %d, tip %d", ErrBondExpired, cert.LockHeight, tip)
	}
	return nil
}
