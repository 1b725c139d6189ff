package coinjoin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/keys"
)

// The service (issue 14, items 1–3): it mixes one coin at a time, by hand
// (Start) or automatically (Config.Auto: the wallet's traceable coins of
// the right size). For a coin it runs attempts until one completes: each
// attempt opens a fresh ephemeral onion, announces fresh round keys on
// the pool, and either takes an invite from another announcer or, when
// it is the leader of enough announcements, sends one. A failed attempt
// avoids the peers it blamed (their round keys and onions, and their
// inputs for BanFor) and the next starts afresh.

// Defaults and intervals, with their derivation.
const (
	// DefaultT: the T, the least participants of a round (and
	// the anonymity target of wallet.DefaultAnonTarget).
	DefaultT = wallet.DefaultAnonTarget
	// DefaultDenomination: 0.001 BTC, a coin small enough that most
	// wallets have one to mix and large enough (≥ 35× the fee of a P2WPKH
	// spend at 20 sat/vB) to be worth spending later.
	DefaultDenomination = 100_000
	// DefaultFeeRate: sat/vB; the most a round may ask of us. 2 sat/vB
	// confirms within a day on most days of 2024–2026; a user in a hurry
	// sets more.
	DefaultFeeRate = 2
	// DefaultPatience: a leader with at least T announcements (but fewer
	// than StartAt) starts after waiting this long, two announcement
	// intervals, rather than waiting for 3T forever.
	DefaultPatience = 2 * AnnounceInterval
	// electInterval: how often an announcer looks at the board; far below
	// the announcement interval, cheap (a scan of ≤ 2,000 pool entries).
	electInterval = 2 * time.Second
	// retryPause: between a failed attempt and the next, so that a peer
	// that keeps failing cannot make us spin.
	retryPause = 3 * time.Second
	// autoInterval: how often the automatic mode looks for a coin to mix.
	autoInterval = time.Minute
	// boardWait: how long an invitee waits for every invited peer's
	// announcement to reach its own pool (one pool hop takes ~1 s).
	boardWait = 15 * time.Second
	// maxInbound: streams one attempt's onion serves at once: one per
	// other participant of the largest round, and a few for strangers.
	maxInbound = 2*MaxParticipants + 8
	// firstMsgTimeout: a stream's first message after its handshake.
	firstMsgTimeout = 30 * time.Second
	// redialPause: between dials of a participant's onion that failed;
	// a fresh onion is usually reachable within a few seconds of its
	// publication.
	redialPause = time.Second
	// minConfirmations: a round's inputs must be confirmed (a mempool
	// coin can be replaced under the round).
	minConfirmations = 1
)

// Pool is what the service needs of the message pool (*pool.Pool).
type Pool interface {
	Lister
	PublishRaw(ctx context.Context, raw []byte) (protocol.PoolID, error)
	RemoveWith(ctx context.Context, key *btcec.PrivateKey, topic string, item protocol.PoolItem) (protocol.PoolID, error)
}

// NodeWallet is what the service needs of the wallet (*wallet.Wallet).
type NodeWallet interface {
	Wallet
	ListCoins(ctx context.Context, cat wallet.Category, unspentOnly bool) ([]wallet.Coin, error)
	HoldCoin(ctx context.Context, op wire.OutPoint, holder string, until time.Time) (wallet.Coin, error)
	ReleaseCoin(ctx context.Context, op wire.OutPoint, holder string) error
	PurposeAddress(ctx context.Context, purpose string) (btcutil.Address, error)
	NewAddress(ctx context.Context, b keys.Branch) (btcutil.Address, error)
	Split(ctx context.Context, cat wallet.Category, count int, value btcutil.Amount, feeRate int64) (*wallet.SentTx, error)
}

// Config of the service.
type Config struct {
	DBPath  string
	Network protocol.Network
	Wallet  NodeWallet
	Chain   Chain
	Pool    Pool
	// Listen opens a fresh ephemeral onion service (tor's
	// ListenEphemeral); Dialer reaches the others'.
	Listen func(ctx context.Context) (net.Listener, error)
	Dialer protocol.StreamDialer
	Conn   protocol.ConnConfig

	Denomination int64 // sat (0: DefaultDenomination)
	T            int   // (0: DefaultT)
	// StartAt: a leader starts when this many announcements agree (0:
	// 3T, the rule, so a round's 2T are a sample of its board).
	StartAt int
	// Patience: after this long, T announcements are enough (0:
	// DefaultPatience).
	Patience time.Duration
	FeeRate  int64 // the most we pay, sat/vB (0: DefaultFeeRate)
	// Auto joins traceable coins by itself; AnonTarget is its target
	// (0: wallet.DefaultAnonTarget).
	Auto       bool
	AnonTarget int
	// StampBits: the announcements' proof of work (0: the network's).
	StampBits int

	// Phase and Link override PhaseTimeout and LinkTimeout (tests).
	Phase, Link time.Duration
	// Fault: a misbehaviour to inject (tests); Crash kills the process.
	Fault  string
	Crash  func()
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Denomination == 0 {
		c.Denomination = DefaultDenomination
	}
	if c.T == 0 {
		c.T = DefaultT
	}
	if c.StartAt == 0 {
		c.StartAt = 3 * c.T
	}
	if c.Patience == 0 {
		c.Patience = DefaultPatience
	}
	if c.FeeRate == 0 {
		c.FeeRate = DefaultFeeRate
	}
	if c.AnonTarget == 0 {
		c.AnonTarget = wallet.DefaultAnonTarget
	}
	if c.Phase == 0 {
		c.Phase = PhaseTimeout
	}
	if c.Link == 0 {
		c.Link = LinkTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors of the service's API.
var (
	ErrBusy   = errors.New("coinjoin: a coin is being mixed already")
	ErrNoCoin = errors.New("coinjoin: no coin to mix")
	ErrIdle   = errors.New("coinjoin: nothing is being mixed")
	ErrNoPool = errors.New("coinjoin: needs the message pool and tor (the node runs with --pool-off)")
)

// Service is the CoinJoin of a node.
type Service struct {
	cfg   Config
	st    *store
	board *Board

	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	sess    *session
	avoid   map[[32]byte]bool // blamed round keys
	avoidAt map[string]bool   // blamed contacts
	// seen: every announcement the board showed us, until it expires
	// (an invite's peers may have withdrawn theirs since).
	seen    map[[32]byte]Announcement
	started bool
	stopped bool
}

// session is the mixing of one coin.
type session struct {
	coin     wallet.Coin
	terms    Terms
	began    time.Time
	cancel   context.CancelFunc
	attempts int
	// now: the current attempt's live round, nil between rounds.
	round *round
	phase string
	last  string // how the last attempt ended
}

// New opens the service's database.
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg.defaults()
	if err := (Params{Denomination: cfg.Denomination, FeeRate: cfg.FeeRate}).check(cfg.T); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg.DBPath)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, st: st, avoid: map[[32]byte]bool{}, avoidAt: map[string]bool{}, seen: map[[32]byte]Announcement{}}
	if cfg.Pool != nil {
		s.board = NewBoard(cfg.Pool)
	}
	s.life, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Name implements service.Service.
func (s *Service) Name() string { return "coinjoin" }

// Start resumes what a restart interrupted and starts the automatic mode.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return nil
	}
	s.started = true
	s.mu.Unlock()
	if err := s.resume(ctx); err != nil {
		return err
	}
	if s.cfg.Auto {
		s.wg.Add(1)
		go s.autoLoop()
	}
	return nil
}

// resume: a round cut by a restart cannot go on (its streams and keys are
// gone); one we completed is broadcast again (idempotent).
func (s *Service) resume(ctx context.Context) error {
	rs, err := s.st.rounds(ctx, 0, StateLinking, StateShuffling, StateSigning, StateBroadcast)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.State == StateBroadcast && r.Tx != nil {
			fee := btcutil.Amount(r.CoinValue - r.Denomination)
			if err := s.cfg.Wallet.PublishTx(ctx, r.Tx, fee, "coinjoin"); err != nil {
				s.cfg.Logger.Warn("coinjoin: rebroadcast after restart", "txid", r.Tx.TxHash(), "err", err)
			}
			continue
		}
		// Our coin stays held until the round's deadline (wallet); a
		// transaction we signed completes only if every other signer
		// got every signature, and then pays us as agreed.
		if err := s.st.update(ctx, r.ID, StateFailed, nil, "interrupted by a restart", r.Traffic, true); err != nil {
			return err
		}
	}
	return nil
}

// Stop ends the session (a round in progress is left; the others blame
// us) and closes the database.
func (s *Service) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	_ = s.st.close()
}

// Readiness: always ready; without the pool or tor it only lists coins
// (StartMix says why it cannot mix).
func (s *Service) Readiness(context.Context) service.Readiness { return service.ReadyNow }

func (s *Service) autoLoop() {
	defer s.wg.Done()
	t := time.NewTicker(autoInterval)
	defer t.Stop()
	for {
		if _, err := s.StartMix(s.life, StartRequest{}); err != nil && !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNoCoin) {
			s.cfg.Logger.Warn("coinjoin: automatic mode", "err", err)
		}
		select {
		case <-t.C:
		case <-s.life.Done():
			return
		}
	}
}

// candidates are our coins that a round of terms takes: regular or swept
// (a CoinSwap's outputs go through a CoinJoin afterwards), confirmed,
// free, traceable, and inside the input band of a round of T to 2T.
func (s *Service) candidates(ctx context.Context, terms Terms) ([]wallet.Coin, error) {
	cs, err := s.cfg.Wallet.ListCoins(ctx, "", true)
	if err != nil {
		return nil, err
	}
	p := Params{Denomination: terms.Denomination, FeeRate: terms.FeeRate}
	lo, _ := p.InputRange(2 * terms.T)
	_, hi := p.InputRange(terms.T)
	var out []wallet.Coin
	for _, c := range cs {
		if (c.Category == wallet.Regular || c.Category == wallet.Swept) && c.Confirmations >= minConfirmations &&
			!c.Reserved && !c.Coinbase && isP2WPKH(c.PkScript) && int64(c.Value) >= lo && int64(c.Value) <= hi {
			out = append(out, c)
		}
	}
	return out, nil
}

// StartMix starts mixing one coin: the one named, or a traceable one that
// fits the denomination.
func (s *Service) StartMix(ctx context.Context, req StartRequest) (SessionInfo, error) {
	terms := Terms{Denomination: s.cfg.Denomination, T: s.cfg.T, FeeRate: s.cfg.FeeRate}
	if req.Denomination != 0 {
		terms.Denomination = req.Denomination
	}
	if err := (Params{Denomination: terms.Denomination, FeeRate: terms.FeeRate}).check(terms.T); err != nil {
		return SessionInfo{}, err
	}
	if s.cfg.Pool == nil || s.cfg.Listen == nil {
		return SessionInfo{}, ErrNoPool
	}
	s.mu.Lock()
	busy := s.sess != nil
	s.mu.Unlock()
	if busy {
		return SessionInfo{}, ErrBusy
	}
	cs, err := s.candidates(ctx, terms)
	if err != nil {
		return SessionInfo{}, err
	}
	var coin *wallet.Coin
	for i := range cs {
		c := &cs[i]
		if req.Coin != "" {
			if c.OutPoint.String() == req.Coin {
				coin = c
			}
		} else if c.Traceable(s.cfg.AnonTarget) {
			coin = c
			break
		}
	}
	if coin == nil {
		p := Params{Denomination: terms.Denomination, FeeRate: terms.FeeRate}
		lo, _ := p.InputRange(2 * terms.T)
		_, hi := p.InputRange(terms.T)
		if req.Coin != "" {
			return SessionInfo{}, fmt.Errorf("%w: %s is not a free confirmed coin of %d to %d sat", ErrNoCoin, req.Coin, lo, hi)
		}
		return SessionInfo{}, fmt.Errorf("%w: no traceable confirmed coin of %d to %d sat", ErrNoCoin, lo, hi)
	}
	ctx, cancel := context.WithCancel(s.life)
	sess := &session{coin: *coin, terms: terms, began: time.Now(), cancel: cancel, phase: "announcing"}
	s.mu.Lock()
	if s.sess != nil || s.stopped {
		s.mu.Unlock()
		cancel()
		return SessionInfo{}, ErrBusy
	}
	s.sess = sess
	s.mu.Unlock()
	s.wg.Add(1)
	go s.runSession(ctx, sess)
	s.cfg.Logger.Info("coinjoin: mixing a coin", "value", int64(coin.Value), "denomination", terms.Denomination, "T", terms.T)
	return s.sessionInfo(sess), nil
}

// StopMix ends the current session.
func (s *Service) StopMix(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return ErrIdle
	}
	s.sess.cancel()
	return nil
}

func (s *Service) runSession(ctx context.Context, sess *session) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.sess = nil
		s.mu.Unlock()
		sess.cancel()
	}()
	for ctx.Err() == nil {
		if done, why := s.coinGone(ctx, sess); done {
			s.setLast(sess, why)
			return
		}
		s.mu.Lock()
		sess.attempts++
		s.mu.Unlock()
		out, err := s.attempt(ctx, sess)
		if err != nil {
			s.setLast(sess, err.Error())
			if ctx.Err() == nil {
				s.cfg.Logger.Warn("coinjoin: attempt failed", "err", err)
			}
		}
		if out.Tx != nil {
			s.cfg.Logger.Info("coinjoin: round complete", "txid", out.Tx.TxHash(), "participants", len(out.Tx.TxOut))
			s.setLast(sess, "complete: "+out.Tx.TxHash().String())
			return
		}
		if out.Faulted {
			return // the tests' disruptor spoils one round, then leaves
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryPause):
		}
	}
}

// coinGone: our coin was spent meanwhile, by a round's transaction we
// signed (another participant completed it after the round gave up: it
// pays us as agreed, and the round is marked complete) or by something
// else. Either way there is nothing left to mix.
func (s *Service) coinGone(ctx context.Context, sess *session) (bool, string) {
	cs, err := s.cfg.Wallet.ListCoins(ctx, "", true)
	if err != nil {
		return false, ""
	}
	for _, c := range cs {
		if c.OutPoint == sess.coin.OutPoint {
			return false, ""
		}
	}
	rs, err := s.st.rounds(ctx, 0, StateFailed)
	if err == nil {
		for _, r := range rs {
			if r.Coin != sess.coin.OutPoint || r.Tx == nil {
				continue
			}
			if _, _, err := s.cfg.Chain.UTXO(ctx, wire.OutPoint{Hash: r.Tx.TxHash(), Index: 0}); err == nil {
				_ = s.st.update(ctx, r.ID, StateBroadcast, nil, "completed by another participant after the round ended", r.Traffic, true)
				return true, "complete: " + r.Tx.TxHash().String()
			}
		}
	}
	return true, "our coin was spent"
}

func (s *Service) setLast(sess *session, why string) {
	s.mu.Lock()
	sess.last = why
	s.mu.Unlock()
}

func (s *Service) setPhase(sess *session, r *round, phase string) {
	s.mu.Lock()
	sess.round, sess.phase = r, phase
	s.mu.Unlock()
}

// attempt is one try: a fresh onion and fresh keys, announced until a
// round forms, and that round.
func (s *Service) attempt(ctx context.Context, sess *session) (Outcome, error) {
	if s.cfg.Pool == nil || s.cfg.Listen == nil {
		return Outcome{}, errors.New("coinjoin: needs the message pool and tor")
	}
	lis, err := s.cfg.Listen(ctx)
	if err != nil {
		return Outcome{}, fmt.Errorf("coinjoin: ephemeral onion: %w", err)
	}
	a := &attemptState{s: s, sess: sess, lis: lis, contact: lis.Addr().String(), invites: make(chan *inbound, 1),
		sem: make(chan struct{}, maxInbound)}
	a.ctx, a.cancel = context.WithCancel(ctx)
	defer a.close()
	a.wg.Add(1)
	go a.acceptLoop()
	s.setPhase(sess, nil, "announcing")
	return a.run()
}

// attemptState is one attempt's onion, announcements and round.
type attemptState struct {
	s       *Service
	sess    *session
	lis     net.Listener
	contact string
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	invites chan *inbound
	sem     chan struct{}

	mu    sync.Mutex
	keys  []RoundKeys // our live announcements, newest last
	round *round
}

type inbound struct {
	c   *protocol.Conn
	inv *protocol.CJInvite
	at  time.Time
}

func (a *attemptState) close() {
	a.cancel()
	_ = a.lis.Close()
	a.withdraw()
	a.wg.Wait()
	select { // an invite that came while we were in a round
	case in := <-a.invites:
		_ = in.c.CloseWithError(protocol.CodeBusy, "coinjoin: in another round")
	default:
	}
}

// withdraw removes our live announcements from the pool.
func (a *attemptState) withdraw() {
	a.mu.Lock()
	ks := a.keys
	a.keys = nil
	a.mu.Unlock()
	for _, k := range ks {
		if _, err := a.s.cfg.Pool.RemoveWith(context.WithoutCancel(a.ctx), k.Sign, TopicAnnounce, k.Item); err != nil {
			a.s.cfg.Logger.Debug("coinjoin: withdrawing an announcement", "err", err)
		}
	}
}

func (a *attemptState) announce() error {
	for {
		raw, keys, err := NewAnnouncement(a.s.cfg.Network, a.sess.terms, a.contact, a.s.cfg.StampBits)
		if err != nil {
			return err
		}
		if _, err := a.s.cfg.Pool.PublishRaw(a.ctx, raw); err != nil {
			return fmt.Errorf("coinjoin: announcing: %w", err)
		}
		a.mu.Lock()
		a.keys = append(a.keys, keys)
		if len(a.keys) > 2 { // older ones have expired (AnnounceTTL = 2 intervals)
			a.keys = a.keys[len(a.keys)-2:]
		}
		a.mu.Unlock()
		return nil
	}
}

// ourKeys finds the live announcement keys of peer p.
func (a *attemptState) ourKeys(p ShufflePeer) (RoundKeys, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.keys {
		if k.Peer == p {
			return k, true
		}
	}
	return RoundKeys{}, false
}

func (a *attemptState) run() (Outcome, error) {
	if err := a.announce(); err != nil {
		return Outcome{}, err
	}
	announced := time.Now()
	elect := time.NewTicker(electInterval)
	defer elect.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return Outcome{}, a.ctx.Err()
		case in := <-a.invites:
			if a.s.cfg.Fault == FaultAlterOutput {
				// The tests' disruptor only spoils rounds it leads.
				_ = in.c.CloseWithError(protocol.CodeBusy, "coinjoin: busy")
				continue
			}
			out, ok, err := a.join(in)
			if ok {
				return out, err
			}
		case <-elect.C:
			if time.Since(announced) >= AnnounceInterval {
				if err := a.announce(); err != nil {
					return Outcome{}, err
				}
				announced = time.Now()
			}
			if out, ok, err := a.lead(); ok {
				return out, err
			}
		}
	}
}

// acceptLoop serves the attempt's onion: invites go to run, links to the
// round they name.
func (a *attemptState) acceptLoop() {
	defer a.wg.Done()
	for {
		nc, err := a.lis.Accept()
		if err != nil {
			return
		}
		select {
		case a.sem <- struct{}{}:
		default:
			_ = nc.Close()
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer func() { <-a.sem }()
			a.serve(nc)
		}()
	}
}

func (a *attemptState) serve(nc net.Conn) {
	c := protocol.NewConn(nc, a.s.cfg.Conn)
	ctx, cancel := context.WithTimeout(a.ctx, firstMsgTimeout)
	defer cancel()
	if _, err := c.Handshake(ctx, protocol.NewHello(a.s.cfg.Network, "onionswap")); err != nil {
		c.Close()
		return
	}
	first, err := c.Receive(ctx)
	if err != nil {
		c.Close()
		return
	}
	switch m := first.(type) {
	case *protocol.CJInvite:
		select {
		case a.invites <- &inbound{c: c, inv: m, at: time.Now()}:
		default:
			_ = c.CloseWithError(protocol.CodeBusy, "coinjoin: in another round")
		}
	case *protocol.CJAccept:
		// A participant links; the invite may reach us a moment after it.
		for {
			a.mu.Lock()
			r := a.round
			a.mu.Unlock()
			if r != nil && r.hold == m.Round {
				if i := r.identify(m); i >= 0 && r.attach(i, c, m) {
					return
				}
				_ = c.CloseWithError(protocol.CodeRefused, "coinjoin: not a participant of this round")
				return
			}
			select {
			case <-ctx.Done():
				_ = c.CloseWithError(protocol.CodeRefused, "coinjoin: unknown round")
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	default:
		_ = c.CloseWithError(protocol.CodeProtocolViolation, "coinjoin: unexpected "+first.Type().String())
	}
}

// eligible lists the board's announcements a round of ours may take.
func (a *attemptState) eligible() ([]Announcement, error) {
	as, err := a.s.board.Announcements(a.ctx, a.sess.terms.Denomination)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	a.s.mu.Lock()
	for k, x := range a.s.seen {
		if !x.Expires.After(now) {
			delete(a.s.seen, k)
		}
	}
	for _, x := range as {
		a.s.seen[x.Peer.Sign] = x
	}
	a.s.mu.Unlock()
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	seen := map[string]bool{}
	var out []Announcement
	for _, x := range as {
		if x.T != a.sess.terms.T || x.FeeRate < 1 || a.s.avoid[x.Peer.Sign] || a.s.avoidAt[x.Contact] || seen[x.Contact] {
			continue
		}
		seen[x.Contact] = true
		out = append(out, x)
	}
	return out, nil
}

// lead starts a round when we are the leader of enough announcements
// (leader). It reports ok when a round ran.
func (a *attemptState) lead() (Outcome, bool, error) {
	as, err := a.eligible()
	if err != nil {
		return Outcome{}, false, nil
	}
	T := a.sess.terms.T
	mineAt := -1
	for i, x := range as {
		if _, ok := a.ourKeys(x.Peer); ok && x.Contact == a.contact {
			mineAt = i
		}
	}
	enough := len(as) >= a.s.cfg.StartAt || (len(as) >= T && time.Since(a.sess.began) >= a.s.cfg.Patience)
	if mineAt < 0 || !enough {
		return Outcome{}, false, nil
	}
	// We lead when we are the leader now and were two ticks ago: at a
	// window's turn two peers could each think they lead.
	now := time.Now()
	if a.s.cfg.Fault != FaultAlterOutput && (leader(as, now) != mineAt || leader(as, now.Add(-2*electInterval)) != mineAt) {
		return Outcome{}, false, nil // another leads
	}
	me := as[mineAt]
	others := slices.Delete(slices.Clone(as), mineAt, mineAt+1)
	if err := shuffleSlice(others); err != nil {
		return Outcome{}, true, err
	}
	chosen := append(others[:min(len(others), 2*T-1)], me)
	if err := shuffleSlice(chosen); err != nil {
		return Outcome{}, true, err
	}
	if a.s.cfg.Fault == FaultAlterOutput {
		i := slices.IndexFunc(chosen, func(x Announcement) bool { return x.Peer == me.Peer })
		chosen[i], chosen[len(chosen)-1] = chosen[len(chosen)-1], chosen[i]
	}
	n := len(chosen)
	fee := a.sess.terms.FeeRate
	inv := &protocol.CJInvite{Denomination: a.sess.terms.Denomination, T: uint8(T),
		Deadline: uint64(time.Now().Add(roundDuration(n, a.s.cfg.Phase, a.s.cfg.Link)).Unix())}
	for _, x := range chosen {
		fee = min(fee, x.FeeRate)
		inv.Peers = append(inv.Peers, protocol.CJPeer{SignKey: x.Peer.Sign, EncKey: x.Peer.Enc, Contact: x.Contact})
	}
	inv.FeeRate = uint32(fee)
	inv.Round = inv.RoundID()
	keys, _ := a.ourKeys(me.Peer)
	if err := inv.Sign(keys.Sign); err != nil {
		return Outcome{}, true, err
	}
	pos := slices.IndexFunc(chosen, func(x Announcement) bool { return x.Peer == me.Peer })
	r, err := a.begin(inv, pos, pos, keys)
	if err != nil {
		return Outcome{}, true, err
	}
	a.s.cfg.Logger.Info("coinjoin: starting a round", "participants", n, "fee_rate", fee)
	// Invite everyone at once; each invite stream is that pair's link.
	for i := range inv.Peers {
		if i == pos {
			continue
		}
		a.wg.Add(1)
		r.dialing.Add(1)
		go func() {
			defer a.wg.Done()
			defer r.dialEnded()
			ctx, cancel := context.WithTimeout(a.ctx, a.s.cfg.Link)
			defer cancel()
			c, err := a.dial(ctx, inv.Peers[i].Contact, inv)
			if err != nil {
				a.s.cfg.Logger.Debug("coinjoin: inviting", "err", err)
				return
			}
			if !r.attach(i, c, nil) {
				c.Close()
			}
		}()
	}
	out, err := a.play(r, nil)
	return out, true, err
}

// join takes an invite if it is for us and acceptable; ok when a round
// ran.
func (a *attemptState) join(in *inbound) (Outcome, bool, error) {
	inv := in.inv
	refuse := func(why string) (Outcome, bool, error) {
		_ = in.c.CloseWithError(protocol.CodeRefused, "coinjoin: "+why)
		a.s.cfg.Logger.Debug("coinjoin: invite refused", "why", why)
		return Outcome{}, false, nil
	}
	if time.Since(in.at) > a.s.cfg.Link/2 {
		// It waited while we were in another round: its peers have
		// given up linking with us.
		return refuse("stale invite")
	}
	me := -1
	var keys RoundKeys
	for i, p := range inv.Peers {
		if k, ok := a.ourKeys(ShufflePeer{Sign: p.SignKey, Enc: p.EncKey}); ok && p.Contact == a.contact {
			me, keys = i, k
		}
	}
	if me < 0 {
		return refuse("not invited")
	}
	init := -1
	for i, p := range inv.Peers {
		if i != me && inv.Verify(p.SignKey) == nil {
			init = i
		}
	}
	terms := a.sess.terms
	n := len(inv.Peers)
	now := time.Now()
	deadline := time.Unix(int64(inv.Deadline), 0)
	switch {
	case init < 0:
		return refuse("invite not signed by a participant")
	case inv.Denomination != terms.Denomination || int(inv.T) != terms.T:
		return refuse("other terms")
	case int64(inv.FeeRate) > terms.FeeRate || inv.FeeRate < 1:
		return refuse("fee rate")
	case n < terms.T || n > 2*terms.T:
		return refuse("participants")
	case !deadline.After(now) || deadline.After(now.Add(roundDuration(n, a.s.cfg.Phase, a.s.cfg.Link)+time.Minute)):
		return refuse("deadline")
	}
	// No participant may be one we blamed, and at least T of them must
	// be announcements we saw on our own board: an initiator cannot make
	// a round of peers it made up without paying each one's stamp. (Not
	// all: an announcement withdrawn before it reached us is as real; its
	// peer is gone, and the confirmation drops it.)
	wait := time.Now().Add(boardWait)
	for {
		if _, err := a.eligible(); err != nil {
			return refuse("board")
		}
		known, avoided := 0, false
		a.s.mu.Lock()
		for _, p := range inv.Peers {
			x, ok := a.s.seen[p.SignKey]
			if ok && x.Peer.Enc == p.EncKey && x.Contact == p.Contact {
				known++
			}
			avoided = avoided || a.s.avoid[p.SignKey] || a.s.avoidAt[p.Contact]
		}
		a.s.mu.Unlock()
		if avoided {
			return refuse("a participant we blamed")
		}
		if known >= terms.T {
			break
		}
		if time.Now().After(wait) {
			return refuse("participants not announced")
		}
		select {
		case <-a.ctx.Done():
			return refuse("stopping")
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err := (Params{Denomination: inv.Denomination, FeeRate: int64(inv.FeeRate)}).CheckInput(a.input(), n); err != nil {
		return refuse("our coin does not fit a round of this size")
	}
	acc := &protocol.CJAccept{Round: inv.Round}
	if err := acc.Sign(keys.Sign); err != nil {
		_ = in.c.CloseWithError(protocol.CodeInternal, "coinjoin: internal error")
		return Outcome{}, true, err
	}
	r, err := a.begin(inv, me, init, keys)
	if err != nil {
		_ = in.c.CloseWithError(protocol.CodeInternal, "coinjoin: internal error")
		return Outcome{}, true, err
	}
	r.attach(init, in.c, nil) // a fresh round has no stream yet
	if err := in.c.Send(a.ctx, acc); err != nil {
		a.s.cfg.Logger.Debug("coinjoin: accept", "err", err)
	}
	out, err := a.play(r, func(ctx context.Context, i int) {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			ctx, cancel := context.WithTimeout(ctx, a.s.cfg.Link)
			defer cancel()
			c, err := a.dial(ctx, inv.Peers[i].Contact, acc)
			if err != nil {
				a.s.cfg.Logger.Debug("coinjoin: linking", "err", err)
				return
			}
			if !r.attach(i, c, nil) {
				c.Close()
			}
		}()
	})
	return out, true, err
}

// dial opens a stream to a participant's onion with first as its first
// message, again every redialPause until ctx ends: a fresh onion's
// descriptor may not have reached every HSDir, or this tor, yet.
func (a *attemptState) dial(ctx context.Context, contact string, first protocol.Message) (*protocol.Conn, error) {
	for {
		c, err := protocol.DialPeer(ctx, a.s.cfg.Dialer, contact, a.s.cfg.Conn,
			protocol.NewHello(a.s.cfg.Network, "onionswap"), "coinjoin peer", first)
		if err == nil || ctx.Err() != nil {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(redialPause):
		}
	}
}

func (a *attemptState) input() Input {
	c := a.sess.coin
	return Input{OutPoint: c.OutPoint, Value: int64(c.Value), PkScript: c.PkScript}
}

func holder(id [32]byte) string { return "coinjoin/" + hex.EncodeToString(id[:8]) }

// begin holds our coin until the round's deadline, records the round and
// makes it the attempt's: persist, then act.
func (a *attemptState) begin(inv *protocol.CJInvite, me, init int, rk RoundKeys) (*round, error) {
	s := a.s
	deadline := time.Unix(int64(inv.Deadline), 0)
	in := a.input()
	if _, err := s.cfg.Wallet.HoldCoin(a.ctx, in.OutPoint, holder(inv.Round), deadline.Add(s.cfg.Phase)); err != nil {
		return nil, err
	}
	addr, err := s.cfg.Wallet.PurposeAddress(a.ctx, "coinjoin")
	if err != nil {
		return nil, err
	}
	output, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	cfg := roundConfig{invite: inv, me: me, init: init, sign: rk.Sign, enc: rk.Enc.Priv, input: in, output: output,
		chain: s.cfg.Chain, wallet: s.cfg.Wallet, store: s.st, fault: s.cfg.Fault, crash: s.cfg.Crash,
		phase: s.cfg.Phase, link: s.cfg.Link, minConf: minConfirmations, log: s.cfg.Logger,
		imprisoned: func(ctx context.Context, op wire.OutPoint) bool {
			in, err := s.st.imprisoned(ctx, op, time.Now())
			return err == nil && in
		}}
	if s.cfg.Fault == FaultAlterOutput {
		if extra, err := s.cfg.Wallet.NewAddress(a.ctx, keys.BranchExternal); err == nil {
			cfg.extraOutput, _ = txscript.PayToAddrScript(extra)
		}
	}
	rec := &RoundRecord{ID: inv.Round, Started: time.Now(), Deadline: deadline, Initiator: me == init, Peers: len(inv.Peers),
		Denomination: inv.Denomination, FeeRate: int64(inv.FeeRate), Coin: in.OutPoint, CoinValue: in.Value,
		Output: output, State: StateLinking}
	if err := s.st.begin(a.ctx, rec); err != nil {
		_ = s.cfg.Wallet.ReleaseCoin(context.WithoutCancel(a.ctx), in.OutPoint, holder(inv.Round))
		return nil, err
	}
	cfg.confirmed = a.withdraw // in a round: off the board
	r := newRound(cfg)
	a.mu.Lock()
	a.round = r
	a.mu.Unlock()
	s.setPhase(a.sess, r, "in a round")
	return r, nil
}

// play runs the round and settles its outcome: the record, our coin, and
// the peers it blamed.
func (a *attemptState) play(r *round, dial func(context.Context, int)) (Outcome, error) {
	s := a.s
	out := r.run(a.ctx, dial)
	ctx := context.WithoutCancel(a.ctx)
	state, reason := StateBroadcast, ""
	if out.Tx == nil {
		state = StateFailed
		reason = "failed"
		if out.Err != nil {
			reason = out.Err.Error()
		}
	}
	for i, why := range out.Blamed {
		if i < 0 || i >= len(out.Peers) {
			continue
		}
		reason += fmt.Sprintf("; a participant %s", why)
		if !out.Prison[i] {
			// Silent or unreachable before the inputs were agreed: its
			// fresh onion may not have been reachable yet, or it was busy.
			// Not a fault to remember (the confirmation dropped it).
			continue
		}
		p := out.Peers[i]
		s.mu.Lock()
		s.avoid[p.SignKey], s.avoidAt[p.Contact] = true, true
		s.mu.Unlock()
		if in := out.Inputs[i]; in != nil {
			if err := s.st.imprison(ctx, in.OutPoint, time.Now().Add(BanFor(in.Value)), why); err != nil {
				s.cfg.Logger.Warn("coinjoin: prison", "err", err)
			}
		}
	}
	if err := s.st.update(ctx, r.hold, state, out.Tx, reason, out.Traffic, true); err != nil {
		s.cfg.Logger.Warn("coinjoin: recording a round", "err", err)
	}
	if err := s.cfg.Wallet.ReleaseCoin(ctx, r.cfg.input.OutPoint, holder(r.hold)); err != nil {
		s.cfg.Logger.Warn("coinjoin: releasing our coin", "err", err)
	}
	a.mu.Lock()
	a.round = nil
	a.mu.Unlock()
	if out.Tx == nil {
		s.cfg.Logger.Info("coinjoin: round failed", "participants", r.n, "blamed", len(out.Blamed))
		return out, fmt.Errorf("%w: %s", ErrRoundFailed, reason)
	}
	return out, nil
}

// electWindow: the leader of a board changes every electWindow, so that
// no announcer can make itself the leader for long by choosing its round
// key: a key chosen to rank first in one window ranks at random in the
// next. Several election ticks (electInterval) fit in one window.
const electWindow = 30 * time.Second

// leader is the position in as of the board's leader at now: the
// announcement whose round key hashes lowest with the current window.
func leader(as []Announcement, now time.Time) int {
	w := binary.BigEndian.AppendUint64(nil, uint64(now.Unix()/int64(electWindow/time.Second)))
	best, at := [32]byte{}, -1
	for i, x := range as {
		h := sha256.Sum256(append(x.Peer.Sign[:], w...))
		if at < 0 || bytes.Compare(h[:], best[:]) < 0 {
			best, at = h, i
		}
	}
	return at
}

// shuffleSlice permutes s uniformly (crypto/rand).
func shuffleSlice[T any](s []T) error {
	for i := len(s) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return err
		}
		s[i], s[j.Int64()] = s[j.Int64()], s[i]
	}
	return nil
}
