package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// Dialer opens a stream to a peer's onion address (tor.Transport is one,
// isolating each peer's streams).
type Dialer interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// ErrUnexpectedReply: the directory answered with a message that is not
// a reply to our request.
var ErrUnexpectedReply = errors.New("unexpected reply from directory")

// ClientConfig is what Register and List need besides the transport.
type ClientConfig struct {
	// Network of our node, checked in the handshake.
	Network protocol.Network
	// UserAgent in our Hello; empty means "onionswap".
	UserAgent string
	// Conn tunes the protocol connection (defaults: protocol's).
	Conn protocol.ConnConfig
	// Logger; nil means slog.Default().With("subsystem", "directory").
	Logger *slog.Logger
}

func (c ClientConfig) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default().With("subsystem", "directory")
	}
	return c.Logger
}

// session dials addr and completes the handshake.
func session(ctx context.Context, tr Dialer, addr string, cfg ClientConfig) (*protocol.Conn, error) {
	if cfg.Network == 0 {
		return nil, errors.New("directory client: no Network")
	}
	nc, err := tr.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("directory: dial: %w", err)
	}
	cc := cfg.Conn
	if cc.Logger == nil {
		cc.Logger = cfg.logger()
	}
	pc := protocol.NewConn(nc, cc)
	ua := cfg.UserAgent
	ua = cmp.Or(ua, "onionswap")
	if _, err := pc.Handshake(ctx, protocol.NewHello(cfg.Network, ua)); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return pc, nil
}

// ChallengeSigner signs a registration challenge's digest
// (protocol.RegisterChallengeDigest) with the key of proof's bond: the
// maker's wallet holds it.
type ChallengeSigner func(ctx context.Context, proof protocol.FidelityProof, digest [32]byte) ([]byte, error)

// Register lists proof.Addr with the directory at dirAddr and returns how
// long the entry lives without a refresh. The directory challenges us to
// sign a fresh nonce with the bond key (sign). A refusal is a *NackError
// (errors.Is(err, ErrRefused); bond refusals also match their
// script.ErrBond* sentinel).
func Register(ctx context.Context, tr Dialer, dirAddr string, proof protocol.FidelityProof, sign ChallengeSigner, cfg ClientConfig) (time.Duration, error) {
	pc, err := session(ctx, tr, dirAddr, cfg)
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	if err := pc.Send(ctx, &protocol.Register{Addr: proof.Addr, Proof: proof}); err != nil {
		return 0, fmt.Errorf("directory: send register: %w", err)
	}
	challenged := false
	for {
		reply, err := pc.Receive(ctx)
		if err != nil {
			return 0, fmt.Errorf("directory: register: %w", err)
		}
		switch m := reply.(type) {
		case *protocol.RegisterChallenge:
			if challenged {
				_ = pc.CloseWithError(protocol.CodeProtocolViolation, "second challenge")
				return 0, fmt.Errorf("%w: a second RegisterChallenge", ErrUnexpectedReply)
			}
			challenged = true
			sig, err := sign(ctx, proof, protocol.RegisterChallengeDigest(m.Nonce, proof.BondOutPoint, proof.Addr))
			if err != nil {
				return 0, fmt.Errorf("directory: signing the challenge: %w", err)
			}
			if err := pc.Send(ctx, &protocol.RegisterResponse{Sig: sig}); err != nil {
				return 0, fmt.Errorf("directory: send challenge response: %w", err)
			}
		case *protocol.RegisterAck:
			return time.Duration(m.TTLSeconds) * time.Second, nil
		case *protocol.Nack:
			return 0, &NackError{Code: m.Code, Text: m.Text}
		default:
			_ = pc.CloseWithError(protocol.CodeProtocolViolation, "expected RegisterChallenge, RegisterAck or Nack")
			return 0, fmt.Errorf("%w: %s to a Register", ErrUnexpectedReply, reply.Type())
		}
	}
}

// List fetches the directory's entries (with their proofs, unverified:
// see Source).
func List(ctx context.Context, tr Dialer, dirAddr string, cfg ClientConfig) ([]protocol.DirEntry, error) {
	pc, err := session(ctx, tr, dirAddr, cfg)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	if err := pc.Send(ctx, &protocol.ListRequest{}); err != nil {
		return nil, fmt.Errorf("directory: send list request: %w", err)
	}
	reply, err := pc.Receive(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory: list: %w", err)
	}
	switch m := reply.(type) {
	case *protocol.ListReply:
		return m.Entries, nil
	case *protocol.Nack:
		return nil, &NackError{Code: m.Code, Text: m.Text}
	default:
		_ = pc.CloseWithError(protocol.CodeProtocolViolation, "expected ListReply")
		return nil, fmt.Errorf("%w: %s to a ListRequest", ErrUnexpectedReply, reply.Type())
	}
}
