// Package maker runs the maker side of onionswap's CoinSwap, as a node
// service (node/service): it keeps a fidelity bond and its registration
// with the directories, serves its Offer on the connections the node's
// inbound server hands it (ServeConn), handles the swap messages
// of the design (SetupHop → SetupHopReply, FundHop → FundingBroadcast,
// Preimage → PrivKeyHandover, the taker's PrivKeyHandover, Abort,
// WaitingFundingConfirmation), reserves liquidity per swap (the held
// funding txs of the wallet), and drives every non-final swap from disk:
// continue, abandon (nothing funded) or recover (node/swap's engine).
//
// Phases (committed before the action they enable): reserved →
// incoming_confirmed → funding_broadcast → preimage_known → keys_sent →
// incoming_keys_known → swept → complete; abandoned; recovering →
// recovered.
package maker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

// Defaults.
const (
	// DefaultMaxConns bounds concurrent connections: each costs two
	// goroutines and a Tor circuit; 32 is far above the swaps a Raspberry
	// Pi maker's liquidity can serve at once (the reference caps 30).
	DefaultMaxConns = 32
	// DefaultIdleTimeout: a swap with no message (keep-alives included)
	// for this long is abandoned (nothing funded) or recovered. The
	// reference's IDLE_CONNECTION_TIMEOUT (15 min); takers send keep-alives
	// every KeepAliveInterval (node/taker), well below it.
	DefaultIdleTimeout = 15 * time.Minute
	// DefaultReleaseAfterDisconnect: a swap to which nobody has funded
	// anything yet is released this long after its taker's connection
	// closed. The
	// taker re-dials once at once when a connection breaks (node/taker
	// peer.go) and a new onion circuit takes seconds; 2 min covers that
	// with room, while a taker that crashed or walked away before funding
	// no longer holds our liquidity for the whole idle timeout.
	DefaultReleaseAfterDisconnect = 2 * time.Minute
	// DefaultUnfundedLifetime: a reservation whose incoming funding has
	// not appeared on our node this long after the setup is released,
	// whatever keep-alives say (keep-alives reset the idle timeout only).
	// The incoming hop of the k-th maker is funded once the k−1 hops
	// before it confirmed: with the default 1 confirmation per hop and up
	// to 4 makers that is ~3 blocks (~30 min, an hour with unlucky block
	// times); two hours bounds how long a locker holds coins that it
	// never funds, and leaves an honest deep route room.
	DefaultUnfundedLifetime = 2 * time.Hour
	// DefaultMaxUnfundedPercent: reservations whose incoming funding is
	// not on our node yet may together hold at most this share of the
	// liquidity (spendable + so reserved); a single one may be as large
	// as the offer allows. Each must be backed by coins of the asker
	// (funding proofs, one reservation per coin: swap.CheckFundingProof);
	// this cap bounds what a rich asker, with any number of connections,
	// can lock: one offer's worth or half of the liquidity, each
	// reservation for at most DefaultUnfundedLifetime (issue 10 item 1).
	DefaultMaxUnfundedPercent = 50
	// DefaultRecoveryInterval: how often non-final swaps are driven
	// (deadlines, recovery passes). A block is ~600 s; 10 s is ample.
	DefaultRecoveryInterval = 10 * time.Second
	// DefaultFundHopWait: how long FundHop waits for our own node to show
	// the incoming funding with the required confirmations (the taker's
	// node may be a block ahead of ours).
	DefaultFundHopWait = 2 * time.Minute
	// DefaultMinSize: smaller swaps cost more in fees than they hide.
	DefaultMinSize = 3 * swap.MinOutputValue
	// DefaultBondLockBlocks: a new bond locks for ~100 days (inside the
	// 90–180 day window takers accept by default).
	DefaultBondLockBlocks = 100 * 144
	// DefaultBondAmount: 0.005 BTC, five times the default acceptance
	// floor (script.DefaultMinBondAmount), so a new maker is listed.
	DefaultBondAmount = 500_000
	// DefaultBondPoll: how often the maker checks for its bond's funds and
	// confirmation before registering. The wallet watcher polls every few
	// seconds, so 2 s adds little delay and no load.
	DefaultBondPoll = 2 * time.Second
	// liquidityHeadroomPercent: MaxSize advertises 90% of the spendable
	// liquidity; the rest pays the funding txs' fees.
	liquidityHeadroomPercent = 90
	// fundHopPoll: how often FundHop re-checks confirmations.
	fundHopPoll = 250 * time.Millisecond
)

// Config configures a Maker.
type Config struct {
	Wallet  *wallet.Wallet
	Backend swap.Chain
	Network protocol.Network
	// Addr is the node's onion address "host:port": what the bond
	// certificate binds and the directories list.
	Addr string

	// Directories to register with, through Dialer (none: the maker is
	// only reached by takers who know its address).
	Directories []string
	Dialer      directory.Dialer
	// Bondless: the maker has no fidelity bond; its offer goes to the
	// pool's book backed by an integrity fee (node/market), its Offer
	// carries no certificate, and it does not register with directories
	// (they list bonded makers). Takers find it in the book only.
	Bondless bool
	// BondAmount and BondLockBlocks: the bond created when the wallet has
	// none (DefaultBondAmount, DefaultBondLockBlocks when 0).
	BondAmount     btcutil.Amount
	BondLockBlocks uint32
	// BondPoll: how often the wallet is checked for the bond's funds and
	// confirmation (DefaultBondPoll when 0).
	BondPoll time.Duration

	Terms            swap.Terms
	MinSize          int64  // sat (DefaultMinSize when 0)
	MaxSize          int64  // sat; 0 = from spendable liquidity
	MinLocktime      uint16 // least incoming CSV accepted (DefaultLastHopLocktime+ReactionBlocks when 0)
	RequiredConfirms uint32 // on incoming funding (swap.DefaultRequiredConfirms when 0)
	ReactionBlocks   uint16 // required incoming−outgoing CSV gap (swap.DefaultReactionBlocks when 0)
	// SwapTimeoutBlocks: liveness deadline after the incoming funding
	// confirmed (swap.DefaultMakerSwapTimeoutBlocks when 0).
	SwapTimeoutBlocks int32
	IdleTimeout       time.Duration
	// ReleaseAfterDisconnect (min(DefaultReleaseAfterDisconnect,
	// IdleTimeout) when 0).
	ReleaseAfterDisconnect time.Duration
	// UnfundedLifetime and MaxUnfundedPercent bound reservations whose
	// incoming funding has not appeared (DefaultUnfundedLifetime,
	// DefaultMaxUnfundedPercent when 0).
	UnfundedLifetime   time.Duration
	MaxUnfundedPercent int
	RecoveryInterval   time.Duration
	FundHopWait        time.Duration
	MaxConns           int
	CertValidityBlocks uint32 // bond certificate lifetime (script.DefaultCertValidityBlocks when 0)
	ConnConfig         protocol.ConnConfig
	UserAgent          string
	Faults             *swap.FaultPlan
	Logger             *slog.Logger
}

func (c *Config) check() error {
	if c.Wallet == nil || c.Backend == nil || c.Addr == "" {
		return fmt.Errorf("%w: maker needs a wallet, a chain backend and its onion address", swap.ErrConfig)
	}
	if len(c.Directories) > 0 && c.Dialer == nil {
		return fmt.Errorf("%w: maker needs a dialer to reach its directories", swap.ErrConfig)
	}
	return c.checkValues()
}

// checkValues applies defaults and refuses unsafe values.
func (c *Config) checkValues() error {
	c.MinSize = cmp.Or(c.MinSize, DefaultMinSize)
	c.ReactionBlocks = cmp.Or(c.ReactionBlocks, swap.DefaultReactionBlocks)
	c.MinLocktime = cmp.Or(c.MinLocktime, swap.DefaultLastHopLocktime+c.ReactionBlocks)
	c.RequiredConfirms = cmp.Or(c.RequiredConfirms, swap.DefaultRequiredConfirms)
	c.SwapTimeoutBlocks = cmp.Or(c.SwapTimeoutBlocks, swap.DefaultMakerSwapTimeoutBlocks)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.ReleaseAfterDisconnect = cmp.Or(c.ReleaseAfterDisconnect, min(DefaultReleaseAfterDisconnect, c.IdleTimeout))
	c.UnfundedLifetime = cmp.Or(c.UnfundedLifetime, DefaultUnfundedLifetime)
	c.MaxUnfundedPercent = cmp.Or(c.MaxUnfundedPercent, DefaultMaxUnfundedPercent)
	c.RecoveryInterval = cmp.Or(c.RecoveryInterval, DefaultRecoveryInterval)
	c.FundHopWait = cmp.Or(c.FundHopWait, DefaultFundHopWait)
	c.MaxConns = cmp.Or(c.MaxConns, DefaultMaxConns)
	c.BondAmount = cmp.Or(c.BondAmount, DefaultBondAmount)
	c.BondLockBlocks = cmp.Or(c.BondLockBlocks, DefaultBondLockBlocks)
	c.BondPoll = cmp.Or(c.BondPoll, DefaultBondPoll)
	c.CertValidityBlocks = cmp.Or(c.CertValidityBlocks, script.DefaultCertValidityBlocks)
	c.UserAgent = cmp.Or(c.UserAgent, "onionswap-maker")
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "maker")
	}
	switch {
	case c.ReactionBlocks < swap.MinReactionBlocks:
		return fmt.Errorf("%w: reaction time %d blocks < MinReactionBlocks %d", swap.ErrConfig, c.ReactionBlocks, swap.MinReactionBlocks)
	case c.MinLocktime < swap.MinReactionBlocks+c.ReactionBlocks:
		return fmt.Errorf("%w: minimum locktime %d < MinReactionBlocks + reaction time (%d)", swap.ErrConfig, c.MinLocktime, swap.MinReactionBlocks+c.ReactionBlocks)
	case c.MinLocktime > swap.MaxLocktime:
		return fmt.Errorf("%w: minimum locktime %d > %d", swap.ErrConfig, c.MinLocktime, swap.MaxLocktime)
	case c.RequiredConfirms > swap.MaxRequiredConfirms:
		return fmt.Errorf("%w: required confirmations %d > %d", swap.ErrConfig, c.RequiredConfirms, swap.MaxRequiredConfirms)
	case c.SwapTimeoutBlocks < 1 || c.SwapTimeoutBlocks > swap.MaxLocktime:
		return fmt.Errorf("%w: swap timeout %d blocks", swap.ErrConfig, c.SwapTimeoutBlocks)
	case c.Terms.BaseFee < 0:
		return fmt.Errorf("%w: negative base fee", swap.ErrConfig)
	case c.MinSize < swap.MinOutputValue || (c.MaxSize != 0 && c.MaxSize < c.MinSize):
		return fmt.Errorf("%w: size bounds [%d, %d]", swap.ErrConfig, c.MinSize, c.MaxSize)
	case c.IdleTimeout < 0 || c.MaxConns < 1:
		return fmt.Errorf("%w: idle timeout / max connections", swap.ErrConfig)
	}
	if c.Faults != nil && c.Faults.Has(swap.FaultTakerVanish) {
		return fmt.Errorf("%w: taker fault given to a maker", swap.ErrConfig)
	}
	return nil
}

// Maker is a running maker service.
type Maker struct {
	cfg Config
	log *slog.Logger
	eng *swap.Engine
	st  *swap.Store

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// conns: live connections and the swaps each carried.
	conns map[*protocol.Conn]map[protocol.SwapID]struct{}
	// bondNeeded says what the bond waits for ("" once confirmed); reg
	// keeps us registered once it is.
	bondNeeded string
	reg        *directory.Registrar
	locks      map[protocol.SwapID]*swapLock
	activity   map[protocol.SwapID]time.Time
	// detached: when the connection that last carried a swap's message
	// closed (or the process started: no taker is connected then).
	detached map[protocol.SwapID]time.Time
	vanished map[protocol.SwapID]bool
	wake     chan struct{}
	// setupMu guards the reservation itself (the held funding txs of one
	// setup: two concurrent SetupHops could each reserve part of the
	// coins and both fail) and inflight, the incoming outpoints of setups
	// in progress. Chain calls, checks and signing run outside it, so
	// concurrent takers cost about one setup each, not the sum.
	setupMu  sync.Mutex
	inflight map[wire.OutPoint]struct{}
	// pending: the outgoing totals of setups between their reservation
	// and their record's commit (counted against MaxUnfundedPercent).
	pending int64
	// funded: reserved swaps whose incoming funding the recovery pass saw
	// on our node. The share check reads it instead of asking the chain
	// under setupMu; a swap not checked yet counts as unfunded (for at
	// most one RecoveryInterval).
	funded map[protocol.SwapID]bool
	// origin: our pool identity, what trust proofs bind (SetOrigin).
	origin [protocol.XOnlyKeySize]byte
}

// New checks cfg (unsafe timelock settings are refused) and returns a
// Maker; Start runs it.
func New(cfg Config) (*Maker, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	m := &Maker{cfg: cfg, log: cfg.Logger, conns: map[*protocol.Conn]map[protocol.SwapID]struct{}{},
		bondNeeded: "bond not checked yet",
		locks:      map[protocol.SwapID]*swapLock{}, activity: map[protocol.SwapID]time.Time{},
		detached: map[protocol.SwapID]time.Time{}, inflight: map[wire.OutPoint]struct{}{}, funded: map[protocol.SwapID]bool{}, vanished: map[protocol.SwapID]bool{}, wake: make(chan struct{}, 1)}
	m.eng = swap.NewEngine(cfg.Wallet, cfg.Backend, cfg.Logger.With("component", "engine"))
	m.eng.OnSignal = func(protocol.SwapID) { m.poke() }
	m.st = m.eng.Store
	cfg.Wallet.AddEventHandler(m.eng.HandleEvent)
	return m, nil
}

// Engine exposes the swap engine (tests, inspection).
func (m *Maker) Engine() *swap.Engine { return m.eng }

// Start starts the recovery loop (non-final swaps from disk are driven by
// it) and the bond-and-registration loop; connections arrive through
// ServeConn. Idempotent.
func (m *Maker) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return nil
	}
	if m.stopped {
		return errors.New("maker: stopped")
	}
	if _, err := m.eng.ReleaseOrphanHeld(ctx); err != nil {
		return fmt.Errorf("maker: %w", err)
	}
	live, err := m.st.Live(ctx, swap.RoleMaker)
	if err != nil {
		return err
	}
	life, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.started = true
	now := time.Now()
	for _, id := range live {
		m.activity[id] = now // the idle clock restarts with the process
		m.detached[id] = now // and no taker is connected yet
	}
	m.wg.Add(2)
	go m.recoveryLoop(life)
	go m.bondAndRegister(life)
	m.log.Info("maker started", "swaps_loaded", len(live), "min_locktime", m.cfg.MinLocktime,
		"reaction_blocks", m.cfg.ReactionBlocks, "required_confirms", m.cfg.RequiredConfirms)
	return nil
}

// Addr is the node's onion address the maker is reached at.
func (m *Maker) Addr() string { return m.cfg.Addr }

// Stop ends every connection, the registrations and the loops, and waits
// for the goroutines. Swaps stay on disk. Idempotent.
func (m *Maker) Stop() {
	m.mu.Lock()
	if m.stopped || !m.started {
		m.stopped = true
		m.mu.Unlock()
		return
	}
	m.stopped = true
	m.cancel()
	reg := m.reg
	conns := make([]*protocol.Conn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	m.wg.Wait()
	if reg != nil {
		reg.Stop()
	}
	m.log.Info("maker stopped")
}

func (m *Maker) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Maker) lock(id protocol.SwapID) func() {
	m.mu.Lock()
	l, ok := m.locks[id]
	if !ok {
		l = &swapLock{}
		m.locks[id] = l
	}
	l.refs++
	m.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		m.mu.Lock()
		// The entry lives while someone holds or waits for it: a peer
		// naming random swap ids cannot grow the map.
		if l.refs--; l.refs == 0 {
			delete(m.locks, id)
		}
		m.mu.Unlock()
	}
}

// swapLock serializes the handlers and recovery of one swap.
type swapLock struct {
	mu   sync.Mutex
	refs int // holders and waiters, under Maker.mu
}

// forget drops the in-memory bookkeeping of swaps that are no longer
// live (final, or never stored: a refused request).
func (m *Maker) forget(live []protocol.SwapID) {
	keep := make(map[protocol.SwapID]bool, len(live))
	for _, id := range live {
		keep[id] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.activity {
		if !keep[id] {
			delete(m.activity, id)
		}
	}
	for id := range m.detached {
		if !keep[id] {
			delete(m.detached, id)
		}
	}
	for id := range m.vanished {
		if !keep[id] {
			delete(m.vanished, id)
		}
	}
}

func (m *Maker) touch(id protocol.SwapID) {
	m.mu.Lock()
	m.activity[id] = time.Now()
	delete(m.detached, id)
	m.mu.Unlock()
}

// detach records that the connection carrying ids closed.
func (m *Maker) detach(ids map[protocol.SwapID]struct{}) {
	if len(ids) == 0 {
		return
	}
	now := time.Now()
	m.mu.Lock()
	for id := range ids {
		m.detached[id] = now
	}
	m.mu.Unlock()
}

// detachedFor is how long no connection has carried the swap (0 while
// one does).
func (m *Maker) detachedFor(id protocol.SwapID) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.detached[id]
	if !ok {
		return 0
	}
	return time.Since(t)
}

func (m *Maker) idle(id protocol.SwapID) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.activity[id]
	if !ok {
		m.activity[id] = time.Now()
		return 0
	}
	return time.Since(t)
}

// Swap returns a maker swap record (inspection, tests).
func (m *Maker) Swap(ctx context.Context, id protocol.SwapID) (*swap.MakerSwap, error) {
	return m.st.LoadMaker(ctx, id)
}

// Swaps returns every maker swap record, oldest first.
func (m *Maker) Swaps(ctx context.Context) ([]*swap.MakerSwap, error) { return m.st.MakerSwaps(ctx) }

// EnsureBond adopts the wallet's best unredeemed bond or creates one of
// amount locked for lockBlocks (DefaultBondLockBlocks when 0). When the
// wallet is short, the wallet's *InsufficientFundsError (amount missing
// and an address to send it to) is returned as is.
func (m *Maker) EnsureBond(ctx context.Context, amount btcutil.Amount, lockBlocks uint32) (*wallet.Bond, error) {
	if b, err := m.Bond(ctx); err == nil {
		return b, nil
	}
	lockBlocks = cmp.Or(lockBlocks, DefaultBondLockBlocks)
	tip, _, err := m.cfg.Backend.Tip(ctx)
	if err != nil {
		return nil, err
	}
	b, _, err := m.cfg.Wallet.CreateBond(ctx, amount, uint32(tip)+lockBlocks, 0)
	if err != nil {
		return nil, err
	}
	m.log.Info("fidelity bond created", "outpoint", b.OutPoint, "amount", int64(b.Amount), "lock_height", b.LockHeight)
	return b, nil
}

// ErrNoBond: the wallet has no usable fidelity bond.
var ErrNoBond = errors.New("maker: no fidelity bond")

// Bond returns the bond the maker advertises: the largest unredeemed one
// (confirmed ones first).
func (m *Maker) Bond(ctx context.Context) (*wallet.Bond, error) {
	bonds, err := m.cfg.Wallet.Bonds(ctx)
	if err != nil {
		return nil, err
	}
	var best *wallet.Bond
	for i := range bonds {
		b := &bonds[i]
		if b.Status == "redeemed" || b.RedeemTxid != nil {
			continue
		}
		if best == nil || (b.Status == "confirmed" && best.Status != "confirmed") ||
			(b.Status == best.Status && b.Amount > best.Amount) {
			best = b
		}
	}
	if best == nil {
		return nil, ErrNoBond
	}
	return best, nil
}

// BondProof signs a certificate binding the maker's bond to onion (its
// own address when ""), valid for CertValidityBlocks, for directory
// registration and offers.
func (m *Maker) BondProof(ctx context.Context, onion string) (*protocol.FidelityProof, error) {
	onion = cmp.Or(onion, m.Addr())
	b, err := m.Bond(ctx)
	if err != nil {
		return nil, err
	}
	tip, _, err := m.cfg.Backend.Tip(ctx)
	if err != nil {
		return nil, err
	}
	cert, sig, err := m.cfg.Wallet.BondProof(ctx, b.OutPoint, onion, uint32(tip)+m.cfg.CertValidityBlocks)
	if err != nil {
		return nil, err
	}
	return &protocol.FidelityProof{BondOutPoint: cert.OutPoint, BondValue: cert.Amount, LockHeight: cert.LockHeight,
		BondPubKey: cert.PubKey, CertExpiry: cert.ExpiryHeight, Addr: cert.Onion, CertSig: sig}, nil
}

// maxSize is the largest incoming total we accept now.
func (m *Maker) maxSize(ctx context.Context) (int64, error) {
	liq, _, err := m.cfg.Wallet.Liquidity(ctx)
	if err != nil {
		return 0, err
	}
	max := int64(liq) * liquidityHeadroomPercent / 100
	if m.cfg.MaxSize > 0 && m.cfg.MaxSize < max {
		max = m.cfg.MaxSize
	}
	return max, nil
}

// Offer returns the maker's current offer.
func (m *Maker) Offer(ctx context.Context) (*protocol.Offer, error) {
	maxSize, err := m.maxSize(ctx)
	if err != nil {
		return nil, err
	}
	var proof protocol.FidelityProof
	if !m.cfg.Bondless {
		p, err := m.BondProof(ctx, "")
		if err != nil {
			return nil, err
		}
		proof = *p
	}
	o, err := m.terms()
	if err != nil {
		return nil, err
	}
	o.MaxSize, o.Fidelity = max(maxSize, 0), proof
	return o, nil
}

// terms is the offer without MaxSize and Fidelity: what
// protocol.Offer.TermsHash covers, cheap enough to compute at every
// SetupHop (no wallet balance, no certificate signature).
func (m *Maker) terms() (*protocol.Offer, error) {
	tp, err := m.cfg.Wallet.Keys().TweakablePoint()
	if err != nil {
		return nil, err
	}
	defer tp.Zero()
	return &protocol.Offer{BaseFee: m.cfg.Terms.BaseFee, AmountFeePPB: m.cfg.Terms.AmountFeePPB, TimeFeePPB: m.cfg.Terms.TimeFeePPB,
		MinSize: m.cfg.MinSize, MinLocktime: m.cfg.MinLocktime, RequiredConfirms: m.cfg.RequiredConfirms,
		TweakablePoint: tp.PubKey()}, nil
}

func outpointOf(tx *wire.MsgTx, pk []byte) (wire.OutPoint, bool) {
	for i, o := range tx.TxOut {
		if string(o.PkScript) == string(pk) {
			return wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}, true
		}
	}
	return wire.OutPoint{}, false
}
