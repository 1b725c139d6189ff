package coinjoin

import (
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/onionswap/onionswap/wallet"
)

// SplitRequest asks for a premix: Count coins a round of the node's
// terms (or Denomination) takes, cut from the wallet's From coins.
type SplitRequest struct {
	Count        int    `json:"count"`
	Denomination int64  `json:"denomination,omitempty"`
	From         string `json:"from,omitempty"` // regular (default) or swept
}

// SplitReply is the premix transaction.
type SplitReply struct {
	Txid  string `json:"txid"`
	Fee   int64  `json:"fee"`
	Count int    `json:"count"`
	// Value of each new coin: the denomination plus a round of T's fee
	// share, which fits every round of T to 2T (InputRange).
	Value int64 `json:"value"`
}

// ErrSplit: a premix that cannot be made as asked.
var ErrSplit = errors.New("coinjoin: split")

// Split cuts coins of any size into coins a round takes (a premix, as
// Whirlpool's Tx0): Count outputs of the denomination plus a round of T's
// fee share, paid to ourselves, plus change. They are traceable (the
// wallet records an anonymity set of 1 for outputs of a transaction all
// of whose inputs are ours) until each is mixed, one per round, by
// `coinjoin start` or automatic mode, once confirmed.
func (s *Service) Split(ctx context.Context, req SplitRequest) (SplitReply, error) {
	terms := Terms{Denomination: s.cfg.Denomination, T: s.cfg.T, FeeRate: s.cfg.FeeRate}
	if req.Denomination != 0 {
		terms.Denomination = req.Denomination
	}
	p := Params{Denomination: terms.Denomination, FeeRate: terms.FeeRate}
	if err := p.check(terms.T); err != nil {
		return SplitReply{}, err
	}
	cat := wallet.Regular
	switch req.From {
	case "", string(wallet.Regular):
	case string(wallet.Swept):
		cat = wallet.Swept
	default:
		return SplitReply{}, fmt.Errorf("%w: from %q: regular or swept", ErrSplit, req.From)
	}
	if req.Count < 1 || req.Count > wallet.MaxSplit {
		return SplitReply{}, fmt.Errorf("%w: count %d: 1 to %d", ErrSplit, req.Count, wallet.MaxSplit)
	}
	// The share of the smallest round (T) is the largest: a coin that
	// pays it fits every round of T to 2T (the band covers the
	// difference: splitFits).
	value := p.Denomination + p.Share(terms.T)
	sent, err := s.cfg.Wallet.Split(ctx, cat, req.Count, btcutil.Amount(value), 0)
	if err != nil {
		return SplitReply{}, fmt.Errorf("coinjoin: split: %w", err)
	}
	s.cfg.Logger.Info("coinjoin: premix", "txid", sent.Txid, "coins", req.Count, "value", value)
	return SplitReply{Txid: sent.Txid.String(), Fee: int64(sent.Fee), Count: req.Count, Value: value}, nil
}
