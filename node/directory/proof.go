package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

// VerifyFunc checks a bond certificate and its signature for the address
// onion and returns the bond's value. Refusals wrap one script.ErrBond*
// sentinel; anything else (chain unreachable) is a failure to check, not
// a verdict on the bond.
type VerifyFunc func(ctx context.Context, cert *script.BondCert, sig []byte, onion string) (float64, error)

// ChainVerifier returns the VerifyFunc that checks bonds on b with
// wallet.VerifyBondOnChain under policy.
func ChainVerifier(b wallet.BondChain, policy wallet.BondPolicy) VerifyFunc {
	return func(ctx context.Context, cert *script.BondCert, sig []byte, onion string) (float64, error) {
		return wallet.VerifyBondOnChain(ctx, b, cert, sig, onion, policy)
	}
}

// ProofFromCert builds the wire proof for a signed certificate.
func ProofFromCert(cert *script.BondCert, sig []byte) protocol.FidelityProof {
	return protocol.FidelityProof{
		BondOutPoint: cert.OutPoint,
		BondValue:    cert.Amount,
		LockHeight:   cert.LockHeight,
		BondPubKey:   cert.PubKey,
		CertExpiry:   cert.ExpiryHeight,
		Addr:         cert.Onion,
		CertSig:      append([]byte(nil), sig...),
	}
}

// CertFromProof returns the certificate and signature a wire proof
// carries (the inverse of ProofFromCert).
func CertFromProof(p *protocol.FidelityProof) (*script.BondCert, []byte) {
	return &script.BondCert{
		OutPoint:     p.BondOutPoint,
		PubKey:       p.BondPubKey,
		LockHeight:   p.LockHeight,
		Amount:       p.BondValue,
		Onion:        p.Addr,
		ExpiryHeight: p.CertExpiry,
	}, p.CertSig
}

// reasons maps each bond refusal sentinel to its Nack code. The order is
// irrelevant: VerifyBondOnChain wraps exactly one of them.
var reasons = []struct {
	err  error
	code protocol.ErrorCode
}{
	{script.ErrBondBadSignature, protocol.CodeBondForged},
	{script.ErrBondOnionMismatch, protocol.CodeBondOnionMismatch},
	{script.ErrBondCertExpired, protocol.CodeBondCertExpired},
	{script.ErrBondCertLifetime, protocol.CodeBondCertLifetime},
	{script.ErrBondSpent, protocol.CodeBondSpent},
	{script.ErrBondNotFound, protocol.CodeBondNotFound},
	{script.ErrBondScriptMismatch, protocol.CodeBondMismatch},
	{script.ErrBondAmountMismatch, protocol.CodeBondMismatch},
	{script.ErrBondUnconfirmed, protocol.CodeBondUnconfirmed},
	{script.ErrBondLockWindow, protocol.CodeBondLockWindow},
	{script.ErrBondTooSmall, protocol.CodeBondTooSmall},
	{script.ErrBondExpired, protocol.CodeBondExpired},
	{script.ErrBondCertInvalid, protocol.CodeInvalidFidelityProof},
}

// ReasonCode returns the Nack code for a bond verification error, and
// false when err is not a verdict on the bond (e.g. the node is down).
func ReasonCode(err error) (protocol.ErrorCode, bool) {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code, true
		}
	}
	return 0, false
}

// ErrRefused matches every *NackError: the directory refused the request.
var ErrRefused = errors.New("directory refused the request")

// NackError is a directory's Nack as an error. errors.Is matches
// ErrRefused and, for bond refusals, the script.ErrBond* sentinel of the
// code (e.g. script.ErrBondSpent for CodeBondSpent).
type NackError struct {
	Code protocol.ErrorCode
	Text string
}

func (e *NackError) Error() string {
	return fmt.Sprintf("directory refused: %s: %q", e.Code, e.Text)
}

// Is matches ErrRefused.
func (e *NackError) Is(target error) bool { return target == ErrRefused }

// Unwrap returns the bond sentinels matching Code (CodeBondMismatch
// stands for two), if any.
func (e *NackError) Unwrap() []error {
	var out []error
	for _, r := range reasons {
		if r.code == e.Code {
			out = append(out, r.err)
		}
	}
	return out
}
