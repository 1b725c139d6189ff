package market

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/directory"
	mk "github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
)

// TrustAskTimeout bounds one `market trust` ask: a Tor dial and handshake
// take seconds, the maker signs its proofs at once; two minutes covers a
// slow circuit.
const TrustAskTimeout = 2 * time.Minute

// Prover is the maker's side of trust proofs (node/maker trust.go).
type Prover interface {
	ProofSwaps(ctx context.Context) ([]mk.ProofSwap, error)
	ShareProof(ctx context.Context, id protocol.SwapID, share bool) error
}

// TrustConfig wires `market trust` and `market proofs`.
type TrustConfig struct {
	// Dialer reaches makers (the node's tor transport).
	Dialer     directory.Dialer
	Network    protocol.Network
	ConnConfig protocol.ConnConfig
	// Chain verifies proofs on our own node.
	Chain TrustChain
	// Wallet holds our own history: taker swap records and the blacklist.
	Wallet *wallet.Wallet
	// Prover: the node's maker (nil on a taker: no `market proofs`).
	Prover Prover
	// Trusts remembers what `market trust` verified, for the taker's
	// automatic choice (nil: a new one over Wallet).
	Trusts *Trusts
	Logger *slog.Logger
}

// SetTrust enables the trust endpoints (before RegisterControl).
func (s *Service) SetTrust(cfg TrustConfig) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("subsystem", "market")
	}
	if cfg.Trusts == nil {
		cfg.Trusts = NewTrusts(cfg.Wallet, nil)
	}
	s.trust = &cfg
}

// ProofCheck is the verdict on one proof.
type ProofCheck struct {
	OutPoint string `json:"outpoint"`
	Value    int64  `json:"value"`
	OK       bool   `json:"ok"`
	Reason   string `json:"reason,omitempty"`
}

// TrustReply is GET /v1/market/trust.
type TrustReply struct {
	Addr   string  `json:"addr"`
	Origin string  `json:"origin,omitempty"`
	Score  float64 `json:"score"`
	// Bound: the maker's onion has an offer in our book signed by the
	// proofs' origin. Unbound proofs do not count: another maker's
	// proofs could be replayed under any onion.
	Bound   bool         `json:"bound"`
	Proofs  []ProofCheck `json:"proofs"`
	History History      `json:"history"`
	// Error: the maker could not be asked (the history still counts).
	Error string `json:"error,omitempty"`
}

// ShareRequest is POST /v1/market/proofs/publish.
type ShareRequest struct {
	ID protocol.SwapID `json:"id"`
	// Unshare withdraws the choice.
	Unshare bool `json:"unshare,omitempty"`
}

// registerTrust: `onionswap market trust ONION` on every node with a
// transport, `market proofs list|publish` on a maker.
func (s *Service) registerTrust(r *control.Router) {
	t := s.trust
	if t == nil {
		return
	}
	control.Get(r, "/v1/market/trust", func(ctx context.Context, q control.Request) (TrustReply, error) {
		addr := q.Query.Get("addr")
		if addr == "" {
			return TrustReply{}, fmt.Errorf("%w: addr (the maker's onion) is required", control.ErrBadRequest)
		}
		return s.Trust(ctx, addr)
	})
	if t.Prover == nil {
		return
	}
	control.Get(r, "/v1/market/proofs", func(ctx context.Context, _ control.Request) ([]mk.ProofSwap, error) {
		return t.Prover.ProofSwaps(ctx)
	})
	control.Post(r, "/v1/market/proofs/publish", func(ctx context.Context, in ShareRequest) ([]mk.ProofSwap, error) {
		if err := t.Prover.ShareProof(ctx, in.ID, !in.Unshare); err != nil {
			switch {
			case errors.Is(err, swap.ErrUnknownSwap):
				err = fmt.Errorf("%w: %w", control.ErrNotFound, err)
			case errors.Is(err, mk.ErrNotShareable):
				err = fmt.Errorf("%w: %w", control.ErrBadRequest, err)
			}
			return nil, err
		}
		return t.Prover.ProofSwaps(ctx)
	})
}

// Trust asks the maker at addr for its proofs, verifies them and scores
// it with our own history.
func (s *Service) Trust(ctx context.Context, addr string) (TrustReply, error) {
	t := s.trust
	if t == nil {
		return TrustReply{}, errors.New("market: trust checks not configured")
	}
	now := time.Now()
	reply := TrustReply{Addr: addr, Proofs: []ProofCheck{}}
	// The book binds the onion to an origin: the offer's certificate
	// names the onion, the envelope is signed by the origin.
	var origin [protocol.XOnlyKeySize]byte
	if s.book != nil {
		es, err := s.book.Offers(ctx, Query{})
		if err != nil {
			return reply, err
		}
		for _, e := range es {
			if e.Addr == addr || (!strings.Contains(addr, ":") && strings.HasPrefix(e.Addr, addr+":")) {
				if b, err := hex.DecodeString(e.Origin); err == nil && len(b) == len(origin) {
					copy(origin[:], b)
					reply.Bound, reply.Addr = true, e.Addr
				}
				break
			}
		}
	}
	hs, err := t.Trusts.Histories(ctx)
	if err != nil {
		return reply, err
	}
	h := hs[reply.Addr]
	reply.History = h
	tp, err := s.askProofs(ctx, reply.Addr)
	if err != nil {
		reply.Error = err.Error()
		reply.Score = Score(nil, h, now)
		return reply, nil
	}
	reply.Origin = hex.EncodeToString(tp.Origin[:])
	var ok []VerifiedProof
	for i := range tp.Proofs {
		p := &tp.Proofs[i]
		pc := ProofCheck{OutPoint: p.FundingOutPoint.String(), Value: p.Value}
		switch {
		case !reply.Bound:
			pc.Reason = "the maker's onion has no offer in our book: its origin is not bound to it"
		case tp.Origin != origin:
			pc.Reason = "the maker answers with another origin than its offer's"
		default:
			v, err := VerifySwapProof(ctx, t.Chain, p, origin, now)
			if err != nil {
				pc.Reason = err.Error()
			} else {
				pc.OK = true
				ok = append(ok, *v)
			}
		}
		reply.Proofs = append(reply.Proofs, pc)
	}
	reply.Score = Score(ok, h, now)
	if reply.Bound {
		t.Trusts.Remember(reply.Addr, ok) // for the taker's automatic choice
	}
	t.Logger.Info("maker trust checked", "addr", reply.Addr, "proofs", len(tp.Proofs), "verified", len(ok), "score", reply.Score)
	return reply, nil
}

// askProofs dials the maker, asks TrustRequest (pipelined behind our
// Hello) and reads its TrustProofs.
func (s *Service) askProofs(ctx context.Context, addr string) (*protocol.TrustProofs, error) {
	t := s.trust
	if t.Dialer == nil {
		return nil, errors.New("no transport to reach makers")
	}
	ctx, cancel := context.WithTimeout(ctx, TrustAskTimeout)
	defer cancel()
	c, err := protocol.DialPeer(ctx, t.Dialer, addr, t.ConnConfig, protocol.NewHello(t.Network, "onionswap"), "maker",
		&protocol.TrustRequest{})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	msg, err := c.Receive(ctx)
	if err != nil {
		return nil, fmt.Errorf("maker's proofs: %w", err)
	}
	switch v := msg.(type) {
	case *protocol.TrustProofs:
		return v, nil
	case *protocol.Error:
		return nil, fmt.Errorf("maker refused: %s", v.Text)
	}
	return nil, fmt.Errorf("maker answered %s", msg.Type())
}
