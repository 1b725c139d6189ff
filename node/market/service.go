package market

import (
	"context"
	"fmt"
	"strconv"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/service"
)

var _ service.Controlled = (*Service)(nil)

// Service is the marketplace of one node: the book (every node) and, on a
// maker, the publisher of its offer.
type Service struct {
	book *Book
	pub  *Publisher // nil on a node that makes no offers
}

// NewService returns the service over book, publishing with pub (nil: a
// taker's node, which only reads the book).
func NewService(book *Book, pub *Publisher) *Service { return &Service{book: book, pub: pub} }

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
// offers [--amount A] [--sort bond|fee|age] [--min-bond V]` and `market
// status`.
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
		mq.Sort = q.Query.Get("sort")
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
}

func (s *Service) status(ctx context.Context) (StatusReply, error) {
	es, err := s.book.Offers(ctx, Query{})
	if err != nil {
		return StatusReply{}, err
	}
	st := StatusReply{Offers: len(es)}
	if s.pub != nil {
		ps := s.pub.Status()
		st.Offer = &ps
	}
	return st, nil
}
