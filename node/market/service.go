package market

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/wallet"
)

var (
	_ service.Controlled = (*Service)(nil)
	_ service.Drainer    = (*Service)(nil)
)

// Service is the marketplace of one node: the book (every node) and, on a
// maker, the publisher of its offer.
type Service struct {
	book *Book      // nil on a node without a pool
	pub  *Publisher // nil on a node that makes no offers
	bl   *Blacklist // nil: none
	// trust: `market trust` and `market proofs` (SetTrust; nil: off).
	trust *TrustConfig
}

// NewService returns the service over book (nil: the node runs no pool),
// publishing with pub (nil: a taker's node, which only reads the book),
// with the blacklist bl.
func NewService(book *Book, pub *Publisher, bl *Blacklist) *Service {
	return &Service{book: book, pub: pub, bl: bl}
}

// ErrNoPool: the node runs no message pool (--pool-off), so no book.
var ErrNoPool = errors.New("market: this node runs no message pool (--pool-off)")

// Book returns the offer book.
func (s *Service) Book() *Book { return s.book }

// Name implements service.Service.
func (s *Service) Name() string { return "market" }

// Start implements service.Service.
func (s *Service) Start(ctx context.Context) error {
	if s.pub != nil {
		return s.pub.Start(ctx)
	}
	return nil
}

// Drain implements service.Drainer: a maker's offer is withdrawn while
// the pool still has its peers (the pool drains after us and sends the
// removal at once).
func (s *Service) Drain(context.Context) {
	if s.pub != nil {
		s.pub.Stop()
	}
}

// Stop implements service.Service: a maker's offer is withdrawn.
func (s *Service) Stop() {
	if s.pub != nil {
		s.pub.Stop()
	}
}

// Readiness implements service.Service: the market never holds the node
// back (an offer is published once the maker can honour it).
func (s *Service) Readiness(context.Context) service.Readiness { return service.ReadyNow }

// StatusReply is GET /v1/market/status.
type StatusReply struct {
	Offers int `json:"offers"` // in the book
	// Offer is the node's own offer (makers only).
	Offer *PublishStatus `json:"offer,omitempty"`
}

// RegisterControl implements service.Controlled: `onionswap market
// offers [--amount A] [--sort bond|fee|age] [--min-bond V] [--proof K]
// [--min-integrity L]` and `market status`.
func (s *Service) RegisterControl(r *control.Router) {
	control.Get(r, "/v1/market/offers", func(ctx context.Context, q control.Request) ([]Entry, error) {
		var mq Query
		var err error
		if v := q.Query.Get("amount"); v != "" {
			if mq.Amount, err = strconv.ParseInt(v, 10, 64); err != nil || mq.Amount <= 0 {
				return nil, fmt.Errorf("%w: amount %q", control.ErrBadRequest, v)
			}
		}
		if v := q.Query.Get("min_bond"); v != "" {
			if mq.MinBondValue, err = strconv.ParseFloat(v, 64); err != nil || mq.MinBondValue < 0 {
				return nil, fmt.Errorf("%w: min_bond %q", control.ErrBadRequest, v)
			}
		}
		mq.Sort, mq.Proof = q.Query.Get("sort"), q.Query.Get("proof")
		if v := q.Query.Get("min_integrity"); v != "" {
			if mq.MinIntegrityLevel, err = ParseIntegrityLevel(v); err != nil {
				return nil, fmt.Errorf("%w: %v", control.ErrBadRequest, err)
			}
		}
		if s.book == nil {
			return nil, fmt.Errorf("%w: %w", control.ErrBadRequest, ErrNoPool)
		}
		es, err := s.book.Offers(ctx, mq)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", control.ErrBadRequest, err)
		}
		return es, nil
	})
	control.Post(r, "/v1/market/withdraw", func(ctx context.Context, _ struct{}) (StatusReply, error) {
		if s.pub == nil {
			return StatusReply{}, fmt.Errorf("%w: this node makes no offer (not a maker)", control.ErrBadRequest)
		}
		if err := s.pub.Withdraw(ctx); err != nil {
			return StatusReply{}, err
		}
		return s.status(ctx)
	})
	control.Post(r, "/v1/market/publish", func(ctx context.Context, _ struct{}) (StatusReply, error) {
		if s.pub == nil {
			return StatusReply{}, fmt.Errorf("%w: this node makes no offer (not a maker)", control.ErrBadRequest)
		}
		s.pub.Publish()
		return s.status(ctx)
	})
	control.Get(r, "/v1/market/status", func(ctx context.Context, _ control.Request) (StatusReply, error) {
		return s.status(ctx)
	})
	if s.bl != nil {
		s.registerBlacklist(r)
	}
	s.registerTrust(r)
}

// ListAddRequest is POST /v1/market/blacklist/add.
type ListAddRequest struct {
	Kind   string `json:"kind"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
	// For: how long ("" or "0": for good), a Go duration.
	For string `json:"for,omitempty"`
}

// ListRemoveRequest is POST /v1/market/blacklist/remove.
type ListRemoveRequest struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// ListRemoveReply says whether the party was listed.
type ListRemoveReply struct {
	Removed bool `json:"removed"`
}

// ListImportReply is POST /v1/market/blacklist/import.
type ListImportReply struct {
	Imported int    `json:"imported"`
	Signer   string `json:"signer"`
}

// registerBlacklist: `onionswap market blacklist add|remove|list|export|import`.
func (s *Service) registerBlacklist(r *control.Router) {
	control.Get(r, "/v1/market/blacklist", func(ctx context.Context, _ control.Request) ([]wallet.BlacklistEntry, error) {
		es, err := s.bl.List(ctx)
		if es == nil {
			es = []wallet.BlacklistEntry{}
		}
		return es, err
	})
	control.Post(r, "/v1/market/blacklist/add", func(ctx context.Context, in ListAddRequest) ([]wallet.BlacklistEntry, error) {
		var d time.Duration
		if in.For != "" {
			var err error
			if d, err = time.ParseDuration(in.For); err != nil || d < 0 {
				return nil, fmt.Errorf("%w: for %q: a duration such as 72h", control.ErrBadRequest, in.For)
			}
		}
		if err := s.bl.Add(ctx, in.Kind, in.Value, in.Reason, d); err != nil {
			if errors.Is(err, ErrList) {
				err = fmt.Errorf("%w: %w", control.ErrBadRequest, err)
			}
			return nil, err
		}
		return s.bl.List(ctx)
	})
	control.Post(r, "/v1/market/blacklist/remove", func(ctx context.Context, in ListRemoveRequest) (ListRemoveReply, error) {
		ok, err := s.bl.Remove(ctx, in.Kind, in.Value)
		return ListRemoveReply{Removed: ok}, err
	})
	control.Get(r, "/v1/market/blacklist/export", func(ctx context.Context, _ control.Request) (*ListFile, error) {
		return s.bl.Export(ctx)
	})
	control.Post(r, "/v1/market/blacklist/import", func(ctx context.Context, f ListFile) (ListImportReply, error) {
		if err := VerifyListFile(&f); err != nil {
			return ListImportReply{}, fmt.Errorf("%w: %w", control.ErrBadRequest, err)
		}
		n, err := s.bl.Import(ctx, &f)
		return ListImportReply{Imported: n, Signer: f.Signer}, err
	})
}

func (s *Service) status(ctx context.Context) (StatusReply, error) {
	var st StatusReply
	if s.book != nil {
		es, err := s.book.Offers(ctx, Query{})
		if err != nil {
			return StatusReply{}, err
		}
		st.Offers = len(es)
	}
	if s.pub != nil {
		ps := s.pub.Status()
		st.Offer = &ps
	}
	return st, nil
}
