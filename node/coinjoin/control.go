package coinjoin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/wallet"
)

// StartRequest names the coin to mix ("" : a traceable one that fits) and
// the denomination (0: the configured one).
type StartRequest struct {
	Coin         string `json:"coin,omitempty"`
	Denomination int64  `json:"denomination,omitempty"`
}

// SessionInfo is the coin being mixed.
type SessionInfo struct {
	Coin         string    `json:"coin"`
	Value        int64     `json:"value"`
	Denomination int64     `json:"denomination"`
	T            int       `json:"t"`
	Began        time.Time `json:"began"`
	Attempts     int       `json:"attempts"`
	// Phase: "announcing" (waiting for a round) or "in a round".
	Phase string `json:"phase"`
	// Round: the live round's id and size, when in one.
	Round        string `json:"round,omitempty"`
	Participants int    `json:"participants,omitempty"`
	// Last: how the previous attempt ended.
	Last string `json:"last,omitempty"`
}

// StatusReply summarises the CoinJoin.
type StatusReply struct {
	Auto         bool  `json:"auto"`
	Denomination int64 `json:"denomination"`
	T            int   `json:"t"`
	StartAt      int   `json:"start_at"`
	FeeRate      int64 `json:"fee_rate"`
	// Announced: live announcements of our terms on our pool.
	Announced int          `json:"announced"`
	Session   *SessionInfo `json:"session,omitempty"`
	// Imprisoned: peers' inputs refused for spoiling a round.
	Imprisoned int `json:"imprisoned"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
}

// RoundInfo is one round as `coinjoin rounds` lists it.
type RoundInfo struct {
	ID           string    `json:"id"`
	Started      time.Time `json:"started"`
	Ended        time.Time `json:"ended,omitzero"`
	Initiator    bool      `json:"initiator"`
	Participants int       `json:"participants"`
	Denomination int64     `json:"denomination"`
	FeeRate      int64     `json:"fee_rate"`
	Coin         string    `json:"coin"`
	CoinValue    int64     `json:"coin_value"`
	// Fee: what our coin paid (its value less the denomination).
	Fee       int64  `json:"fee"`
	State     string `json:"state"`
	Txid      string `json:"txid,omitempty"`
	Reason    string `json:"reason,omitempty"`
	MsgsSent  int    `json:"msgs_sent"`
	MsgsRecv  int    `json:"msgs_recv"`
	BytesSent int64  `json:"bytes_sent"`
	BytesRecv int64  `json:"bytes_recv"`
}

// CoinInfo is one of the wallet's coins with its anonymity set.
type CoinInfo struct {
	Coin          string `json:"coin"`
	Value         int64  `json:"value"`
	Category      string `json:"category"`
	Confirmations int32  `json:"confirmations"`
	AnonSet       int    `json:"anon_set"`
	Traceable     bool   `json:"traceable"`
	// Fits: a round of the configured terms takes it as it is.
	Fits     bool `json:"fits"`
	Reserved bool `json:"reserved"`
}

func (s *Service) sessionInfo(sess *session) SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	si := SessionInfo{Coin: sess.coin.OutPoint.String(), Value: int64(sess.coin.Value), Denomination: sess.terms.Denomination,
		T: sess.terms.T, Began: sess.began.UTC(), Attempts: sess.attempts, Phase: sess.phase, Last: sess.last}
	if r := sess.round; r != nil {
		si.Round, si.Participants = hex.EncodeToString(r.hold[:]), r.size()
	}
	return si
}

// Status summarises the CoinJoin.
func (s *Service) Status(ctx context.Context) (StatusReply, error) {
	st := StatusReply{Auto: s.cfg.Auto, Denomination: s.cfg.Denomination, T: s.cfg.T, StartAt: s.cfg.StartAt, FeeRate: s.cfg.FeeRate}
	if s.board != nil {
		as, err := s.board.Announcements(ctx, s.cfg.Denomination)
		if err != nil {
			return st, err
		}
		for _, a := range as {
			if a.T == s.cfg.T {
				st.Announced++
			}
		}
	}
	s.mu.Lock()
	sess := s.sess
	s.mu.Unlock()
	if sess != nil {
		si := s.sessionInfo(sess)
		st.Session = &si
	}
	var err error
	if st.Imprisoned, err = s.st.prisoners(ctx, time.Now()); err != nil {
		return st, err
	}
	n, err := s.st.counts(ctx)
	if err != nil {
		return st, err
	}
	st.Completed, st.Failed = n[StateBroadcast], n[StateFailed]
	return st, nil
}

// Rounds lists the newest rounds first (limit ≤ 0: all).
func (s *Service) Rounds(ctx context.Context, limit int) ([]RoundInfo, error) {
	rs, err := s.st.rounds(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]RoundInfo, 0, len(rs))
	for _, r := range rs {
		ri := RoundInfo{ID: hex.EncodeToString(r.ID[:]), Started: r.Started, Ended: r.Ended, Initiator: r.Initiator,
			Participants: r.Peers, Denomination: r.Denomination, FeeRate: r.FeeRate, Coin: r.Coin.String(),
			CoinValue: r.CoinValue, Fee: r.CoinValue - r.Denomination, State: r.State, Reason: r.Reason,
			MsgsSent: r.Traffic.MsgsSent, MsgsRecv: r.Traffic.MsgsRecv, BytesSent: r.Traffic.BytesSent, BytesRecv: r.Traffic.BytesRecv}
		if r.Tx != nil && r.State == StateBroadcast {
			ri.Txid = r.Tx.TxHash().String()
		}
		out = append(out, ri)
	}
	return out, nil
}

// Coins lists the wallet's spendable coins with their anonymity sets.
func (s *Service) Coins(ctx context.Context) ([]CoinInfo, error) {
	cs, err := s.cfg.Wallet.ListCoins(ctx, "", true)
	if err != nil {
		return nil, err
	}
	terms := Terms{Denomination: s.cfg.Denomination, T: s.cfg.T, FeeRate: s.cfg.FeeRate}
	fit, err := s.candidates(ctx, terms)
	if err != nil {
		return nil, err
	}
	out := []CoinInfo{}
	for _, c := range cs {
		out = append(out, CoinInfo{Coin: c.OutPoint.String(), Value: int64(c.Value), Category: string(c.Category),
			Confirmations: c.Confirmations, AnonSet: c.AnonSet, Traceable: c.Traceable(s.cfg.AnonTarget),
			Reserved: c.Reserved, Fits: containsCoin(fit, c.OutPoint.String())})
	}
	return out, nil
}

// RoundsRequest bounds the rounds listed (0: all).
type RoundsRequest struct {
	Limit int `json:"limit,omitempty"`
}

// RegisterControl implements service.Controlled:
//
//	POST /v1/coinjoin/start   StartRequest → SessionInfo
//	POST /v1/coinjoin/stop    → {}
//	GET  /v1/coinjoin/status  → StatusReply
//	POST /v1/coinjoin/rounds  RoundsRequest → []RoundInfo
//	GET  /v1/coinjoin/coins   → []CoinInfo
//	POST /v1/coinjoin/split   SplitRequest → SplitReply
func (s *Service) RegisterControl(r *control.Router) {
	control.Post(r, "/v1/coinjoin/split", func(ctx context.Context, req SplitRequest) (SplitReply, error) {
		rep, err := s.Split(ctx, req)
		return rep, badRequest(err)
	})
	control.Post(r, "/v1/coinjoin/start", func(ctx context.Context, req StartRequest) (SessionInfo, error) {
		si, err := s.StartMix(ctx, req)
		return si, badRequest(err)
	})
	control.Post(r, "/v1/coinjoin/stop", func(ctx context.Context, _ struct{}) (struct{}, error) {
		return struct{}{}, badRequest(s.StopMix(ctx))
	})
	control.Get(r, "/v1/coinjoin/status", func(ctx context.Context, _ control.Request) (StatusReply, error) {
		return s.Status(ctx)
	})
	control.Post(r, "/v1/coinjoin/rounds", func(ctx context.Context, req RoundsRequest) ([]RoundInfo, error) {
		return s.Rounds(ctx, req.Limit)
	})
	control.Get(r, "/v1/coinjoin/coins", func(ctx context.Context, _ control.Request) ([]CoinInfo, error) {
		return s.Coins(ctx)
	})
}

func containsCoin(cs []wallet.Coin, op string) bool {
	for _, c := range cs {
		if c.OutPoint.String() == op {
			return true
		}
	}
	return false
}

// badRequest maps the caller's mistakes to the control API's bad request.
func badRequest(err error) error {
	if errors.Is(err, ErrBusy) || errors.Is(err, ErrNoCoin) || errors.Is(err, ErrIdle) || errors.Is(err, ErrParams) || errors.Is(err, ErrNoPool) ||
		errors.Is(err, ErrSplit) || errors.Is(err, wallet.ErrInsufficientFunds) {
		return fmt.Errorf("%w: %w", control.ErrBadRequest, err)
	}
	return err
}
