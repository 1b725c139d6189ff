package protocol

import (
	"fmt"
)

// CheckHello decides whether a peer's hello is acceptable to us and
// returns the negotiated version: the highest version both support,
// min(local.Max, peer.Max), provided it is ≥ both minimums. On refusal it
// returns the ErrorCode to send to the peer and an error wrapping
// ErrSelfConnection, ErrNetwork, ErrVersion or ErrFeature. Checks run in
// that order: a self-connection is not a version problem, and a network
// mismatch is the most useful thing to tell an operator.
func CheckHello(local, peer *Hello, known Features) (uint16, ErrorCode, error) {
	if peer.Nonce == local.Nonce {
		return 0, CodeRefused, fmt.Errorf("%w: nonce %x", ErrSelfConnection, peer.Nonce[:4])
	}
	if peer.Network != local.Network {
		return 0, CodeWrongNetwork, fmt.Errorf("%w: we are on %s, peer on %s", ErrNetwork, local.Network, peer.Network)
	}
	lo := max(local.MinVersion, peer.MinVersion)
	hi := min(local.MaxVersion, peer.MaxVersion)
	if hi < lo || peer.MinVersion > peer.MaxVersion {
		return 0, CodeUnsupportedVersion, fmt.Errorf("%w: we speak %d–%d, peer %d–%d",
			ErrVersion, local.MinVersion, local.MaxVersion, peer.MinVersion, peer.MaxVersion)
	}
	if unk := peer.Features.UnknownRequired(known); len(unk) > 0 {
		return 0, CodeUnsupportedFeature, fmt.Errorf("%w: required bits %v", ErrFeature, unk)
	}
	return hi, 0, nil
}

// NewHello returns the hello this code sends: versions ProtocolVersion to
// ProtocolVersion, a zero nonce (Handshake draws a random one) and no
// features.
func NewHello(net Network, userAgent string) *Hello {
	return &Hello{MinVersion: ProtocolVersion, MaxVersion: ProtocolVersion, Network: net, UserAgent: userAgent}
}

func validNetwork(n Network) bool { return n >= Mainnet && n <= Regtest }
