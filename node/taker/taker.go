// Package taker runs the taker side of onionswap's CoinSwap: it picks
// makers at random weighted by their verified fidelity-bond value, splits
// the amount into tx_count random funding outputs per hop, drives the
// whole route over ONE connection per maker (keep-alives while it waits
// for confirmations), replaces a maker that fails before anything is
// funded (Abort → spare → retry; bad makers remembered in SQLite), settles
// in route order, sweeps, and reports. Every step is committed before it
// is acted on, so Recover resumes or recovers any swap from disk.
//
// Per maker the flow is 4 request/response round trips on one connection,
// the first riding on the handshake: Hello+OfferRequest/Offer,
// SetupHop/SetupHopReply, FundHop/FundingBroadcast,
// Preimage/PrivKeyHandover (+ our one-way PrivKeyHandover). A maker whose
// offer is already known (Candidate.Offer, from the pool's offer book)
// costs 3: its offer is checked without dialing, and the connection is
// opened when its hop is set up, with SetupHop pipelined behind the Hello
// (maker i's SetupHop needs maker i−1's reply, so each connection opens
// as its turn comes). SetupHop names the offer's terms; a maker that
// changed them since answers with its current offer, and the taker
// re-checks it and sets the route up again with it — no blame, once per
// maker per attempt. A known-offer maker unreachable when its turn comes
// is left out like a candidate that could not be dialed (one retry).
// 2 makers: 6 round trips from the book, 8 from a directory.
//
// Phases: negotiating → setup_done → hop0_broadcast → funded (per hop) →
// settling → privkeys_sent (per maker) → sweeping → complete;
// failed (nothing funded); recovering → recovered.
package taker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

// Candidate is a maker to consider: its address and the fidelity-bond
// proof a directory or the offer book listed for it (verified by the
// taker itself), or, for a maker without a bond, the integrity fee its
// book offer paid (verified by the book on our node).
type Candidate struct {
	Addr         string
	Proof        *protocol.FidelityProof
	IntegrityFee int64 // sat; 0 unless the maker has no bond
	// Trust: what the source knows of the maker's record (the offer book
	// fills it from our own swaps with it and the proofs it showed us;
	// negative after failures by its fault; 0: nothing known). It scales
	// the bond's weight in the automatic choice (RouteWeight).
	Trust float64
	// Offer is the maker's offer when it is known before dialing (the
	// pool's offer book); nil for a directory's candidates, whose offer is
	// asked for on connecting. A known offer saves that round trip: the
	// taker checks it, dials only when it sets the maker's hop up, and
	// names its terms in SetupHop (a maker whose terms changed answers
	// with its current offer).
	Offer *protocol.Offer
}

// MakerSource supplies candidates (the directory client implements it).
type MakerSource interface {
	Makers(ctx context.Context) ([]Candidate, error)
}

// StaticSource is a fixed candidate list.
type StaticSource []Candidate

// Makers implements MakerSource.
func (s StaticSource) Makers(context.Context) ([]Candidate, error) { return s, nil }

// Defaults.
const (
	// DefaultKeepAliveInterval: a WaitingFundingConfirmation to every
	// maker this often while waiting; a quarter of the makers' default
	// idle timeout (15 min) so three can be lost before one idles out.
	DefaultKeepAliveInterval = 15 * time.Minute / 4
	// DefaultPollInterval: chain polling while waiting for confirmations.
	DefaultPollInterval = 2 * time.Second
	// DefaultStepTimeout bounds one request/response over Tor (a FundHop
	// may wait for the maker's node to see the confirmation: makers wait
	// up to 2 min).
	DefaultStepTimeout = 3 * time.Minute
	// DefaultMaxAttempts: setups tried (each replacing failed makers).
	DefaultMaxAttempts = 4
	// DefaultReconnectWindow: how long a maker whose connection broke
	// mid-swap may stay unreachable before the taker gives up on it (and
	// recovers once something is funded). A restart of a maker (process,
	// tor bootstrap, descriptor republished) takes seconds to a minute on
	// Tor; the swap's timelocks count hours, and the makers' idle timeout
	// (15 min) is far longer.
	DefaultReconnectWindow = 90 * time.Second
	// DefaultFundingTimeoutBlocks: blocks a maker's funding may take to
	// reach the required confirmations after it said it broadcast it,
	// before the taker recovers: required confirmations + 6 blocks of
	// fee-pressure slack.
	DefaultFundingTimeoutBlocks = 6
)

// Chain is what a taker asks of its chain backend: the swap engine's
// questions plus what verifying makers' bonds needs.
type Chain interface {
	swap.Chain
	wallet.BondChain
}

// Config configures a Taker.
type Config struct {
	Wallet    *wallet.Wallet
	Backend   Chain
	Transport tor.Transport
	Network   protocol.Network
	Source    MakerSource
	// BondPolicy for VerifyBondOnChain (script.DefaultBondParams when zero).
	BondPolicy       wallet.BondPolicy
	LastHopLocktime  uint16 // swap.DefaultLastHopLocktime when 0
	LocktimeStep     uint16 // swap.DefaultLocktimeStep when 0
	RequiredConfirms uint32 // on our incoming hop (1 when 0)

	KeepAliveInterval    time.Duration
	PollInterval         time.Duration
	StepTimeout          time.Duration
	MaxAttempts          int
	ReconnectWindow      time.Duration
	FundingTimeoutBlocks int32
	ConnConfig           protocol.ConnConfig
	UserAgent            string
	Faults               *swap.FaultPlan
	Logger               *slog.Logger
}

func (c *Config) check() error {
	if c.Wallet == nil || c.Backend == nil || c.Transport == nil {
		return fmt.Errorf("%w: taker needs a wallet, a chain backend and a transport", swap.ErrConfig)
	}
	if c.BondPolicy == (wallet.BondPolicy{}) {
		c.BondPolicy = script.DefaultBondParams()
	}
	c.LastHopLocktime = cmp.Or(c.LastHopLocktime, swap.DefaultLastHopLocktime)
	c.LocktimeStep = cmp.Or(c.LocktimeStep, swap.DefaultLocktimeStep)
	c.RequiredConfirms = cmp.Or(c.RequiredConfirms, 1)
	c.KeepAliveInterval = cmp.Or(c.KeepAliveInterval, DefaultKeepAliveInterval)
	c.PollInterval = cmp.Or(c.PollInterval, DefaultPollInterval)
	c.StepTimeout = cmp.Or(c.StepTimeout, DefaultStepTimeout)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.ReconnectWindow = cmp.Or(c.ReconnectWindow, DefaultReconnectWindow)
	c.FundingTimeoutBlocks = cmp.Or(c.FundingTimeoutBlocks, DefaultFundingTimeoutBlocks)
	c.UserAgent = cmp.Or(c.UserAgent, "onionswap-taker")
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "taker")
	}
	if err := swap.CheckSchedule(1, c.LastHopLocktime, c.LocktimeStep); err != nil {
		return err
	}
	if c.RequiredConfirms > swap.MaxRequiredConfirms {
		return fmt.Errorf("%w: required confirmations %d", swap.ErrConfig, c.RequiredConfirms)
	}
	return nil
}

// Taker runs swaps. Swap and Resume calls are meant to run one at a time;
// RecoverStep may run alongside either: it leaves alone the swaps they
// drive (claimed), so a long swap never delays the recovery of another.
type Taker struct {
	cfg    Config
	log    *slog.Logger
	eng    *swap.Engine
	st     *swap.Store
	claims claims
}

// claims is the set of swaps a Swap or Resume call drives right now;
// recovery passes skip them.
type claims struct {
	mu     sync.Mutex
	active map[protocol.SwapID]struct{}
}

// claim marks id; false when it was already claimed.
func (c *claims) claim(id protocol.SwapID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.active[id]; ok {
		return false
	}
	c.active[id] = struct{}{}
	return true
}

func (c *claims) release(id protocol.SwapID) {
	c.mu.Lock()
	delete(c.active, id)
	c.mu.Unlock()
}

func (c *claims) has(id protocol.SwapID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.active[id]
	return ok
}

// New checks cfg and returns a Taker.
func New(cfg Config) (*Taker, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	t := &Taker{cfg: cfg, log: cfg.Logger, claims: claims{active: map[protocol.SwapID]struct{}{}}}
	t.eng = swap.NewEngine(cfg.Wallet, cfg.Backend, cfg.Logger.With("component", "engine"))
	t.st = t.eng.Store
	cfg.Wallet.AddEventHandler(t.eng.HandleEvent)
	return t, nil
}

// Engine exposes the swap engine (tests, inspection).
func (t *Taker) Engine() *swap.Engine { return t.eng }

// Swaps returns every taker swap record, oldest first.
func (t *Taker) Swaps(ctx context.Context) ([]*swap.TakerSwap, error) { return t.st.TakerSwaps(ctx) }

// BadMakers returns the makers this taker avoids now, and why.
func (t *Taker) BadMakers(ctx context.Context) (map[string]string, error) {
	return t.st.BadMakers(ctx, time.Now())
}

// RecoverStep runs one idempotent pass over every unfinished taker swap:
// a swap that broadcast nothing is failed cleanly (held funding dropped), a
// swap whose keys are all in hand is swept, any other funded swap is
// recovered (hashlock claim of our incoming hop, refund of hop 0 once CSV
// allows). A swap a Swap or Resume call drives right now is skipped (and
// counted as unfinished). It returns how many swaps are still unfinished.
func (t *Taker) RecoverStep(ctx context.Context) (int, error) {
	ids, err := t.st.Live(ctx, swap.RoleTaker)
	if err != nil {
		return 0, err
	}
	pending := 0
	for _, id := range ids {
		if t.claims.has(id) {
			pending++
			continue
		}
		rec, err := t.st.LoadTaker(ctx, id)
		if err != nil {
			return pending, err
		}
		if err := t.recoverOne(ctx, rec); err != nil {
			t.log.Warn("recovery step failed; retrying", "swap", id, "err", err)
		}
		if !rec.Phase.Final() {
			pending++
		}
	}
	return pending, nil
}

// Recover drives RecoverStep until every taker swap is finished or ctx
// ends. Idempotent: running it twice, or after a crash in the middle, does
// no harm (every broadcast is idempotent, every step persisted).
func (t *Taker) Recover(ctx context.Context) error {
	for {
		n, err := t.RecoverStep(ctx)
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recover: %d swaps unfinished: %w", n, ctx.Err())
		case <-time.After(t.cfg.PollInterval):
		}
	}
}

func (t *Taker) recoverOne(ctx context.Context, rec *swap.TakerSwap) error {
	kr := t.cfg.Wallet.Keys()
	switch rec.Phase {
	case swap.TakerNegotiating, swap.TakerSetupDone:
		return t.fail(ctx, rec, "interrupted before funding")
	case swap.TakerSweeping:
		return t.sweep(ctx, rec)
	case swap.PhaseRecovering:
	default:
		if rec.Phase.Final() {
			return nil
		}
		rec.Phase = swap.PhaseRecovering
		if err := t.st.Save(ctx, rec); err != nil {
			return err
		}
		t.cfg.Faults.AfterCommit(rec.Phase)
		t.log.Info("recovering swap", "swap", rec.ID)
	}
	pre := rec.Preimage
	if _, err := t.eng.Resolve(ctx, kr, rec.Outputs(), rec.Hash, &pre); err != nil {
		return err
	}
	done := true
	for _, o := range rec.Out {
		done = done && o.Resolved()
	}
	for _, o := range rec.In {
		if o.Resolved() {
			continue
		}
		if c, err := t.eng.TxConfs(ctx, o.FundingOutPoint.Hash); err != nil || c >= 0 {
			done = false // funded (or unknown): keep at it
		}
	}
	if done {
		rec.Phase = swap.PhaseRecovered
		t.log.Info("swap recovered", "swap", rec.ID)
	}
	return t.st.Save(ctx, rec)
}

// fail ends a swap that broadcast nothing: our held funding txs are
// dropped (coins free again).
func (t *Taker) fail(ctx context.Context, rec *swap.TakerSwap, why string) error {
	for _, o := range rec.Out {
		if o.FundingTxid != nil {
			if err := t.cfg.Wallet.AbandonTx(ctx, *o.FundingTxid); err != nil && !errors.Is(err, wallet.ErrUnknownTx) {
				return err
			}
		}
		o.Status = swap.StatusAbandoned
	}
	for _, o := range rec.In {
		o.Status = swap.StatusAbandoned
	}
	rec.Phase, rec.Error = swap.TakerFailed, why
	t.log.Info("swap failed before funding; nothing spent", "swap", rec.ID, "reason", why)
	return t.st.Save(ctx, rec)
}

// Sources asks each source in turn (the pool's offer book, then the
// directories) and returns every maker once, by address, in that order.
// A source that fails is skipped; all failing is an error.
type Sources []MakerSource

// Makers implements MakerSource.
func (ss Sources) Makers(ctx context.Context) ([]Candidate, error) {
	var out []Candidate
	seen := map[string]bool{}
	var errs []error
	for _, s := range ss {
		cs, err := s.Makers(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range cs {
			if !seen[c.Addr] {
				seen[c.Addr] = true
				out = append(out, c)
			}
		}
	}
	if len(errs) == len(ss) && len(ss) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
