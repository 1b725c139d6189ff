// Package swaptest runs CoinSwaps in one process for unit tests: makers
// and takers, each with its own SQLite wallet, on one in-memory chain
// (wallet/chain/chaintest), the makers served by node/service's inbound
// server on loopback TCP listeners (tor.NewLoopback), the takers dialing
// them through the same transport. It is wireguard-go's genTestPair for
// the swap core: the real maker, taker, engine, wallet and watcher, with
// the chain and Tor replaced, so a whole swap (or a cheat and its
// recovery) runs in about a second.
//
// Blocks come from the test: Net.AutoMine mines a block shortly after a
// transaction enters the mempool (a swap then runs unattended), Net.Mine
// mines on demand (timelock tests count blocks). Every wallet, maker,
// server and miner is stopped by t.Cleanup, and New registers a check
// that the test leaves no goroutine behind.
package swaptest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/keys"
)

// Test timings: short, so a swap runs in about a second. They are test
// settings; the production defaults are untouched.
const (
	// PollInterval of every wallet's watcher and of the taker's
	// confirmation waits.
	PollInterval = 20 * time.Millisecond
	// RecoveryInterval of the makers' drive loop.
	RecoveryInterval = 50 * time.Millisecond
	// MineDelay: how long AutoMine lets the mempool fill after a
	// transaction arrived before it mines a block (a burst of funding
	// transactions lands in one block, as on a real chain).
	MineDelay = 10 * time.Millisecond
	// Timeout bounds every wait of the helpers.
	Timeout = 30 * time.Second
)

// Terms are the makers' fee terms unless MakerOpts says otherwise.
var Terms = swap.Terms{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000}

// BondPolicy is the takers' policy: regtest-sized bonds.
var BondPolicy = wallet.BondPolicy{MinAmount: 100_000, MinLockBlocks: 10, MaxLockBlocks: 5000, MinConfirmations: 1,
	MaxCertValidityBlocks: 5000}

// Net is one test's chain and the nodes on it.
type Net struct {
	T     testing.TB
	Chain *chaintest.Chain

	mu    sync.Mutex
	miner *miner
}

// New returns a Net on a fresh regtest chain. Its cleanup checks, after
// every other cleanup of the test, that no goroutine started during the
// test is left.
func New(t testing.TB) *Net {
	t.Helper()
	testutil.LeakCheck(t)
	return &Net{T: t, Chain: chaintest.New(chaintest.Options{})}
}

// Logger is a logger for node name: quiet (warnings and errors) unless
// SWAP_LOG is set.
func Logger(name string) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("SWAP_LOG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("node", name)
}

// Ctx returns a context ending after d or at the end of the test.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Wallet creates a started wallet (closed at cleanup).
func (n *Net) Wallet(name string) *wallet.Wallet {
	t := n.T
	t.Helper()
	ctx := Ctx(t, Timeout)
	cfg := wallet.Config{Path: filepath.Join(t.TempDir(), name+".db"), Params: &chaincfg.RegressionNetParams,
		Backend: n.Chain, PollInterval: PollInterval, Logger: Logger(name).With("subsystem", "wallet")}
	w, _, err := wallet.Create(ctx, cfg, wallet.CreateOptions{Words: 12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// Fund pays each amount to a new address of w in one confirmed
// transaction and syncs w.
func (n *Net) Fund(w *wallet.Wallet, amounts ...int64) *wire.MsgTx {
	t := n.T
	t.Helper()
	ctx := Ctx(t, Timeout)
	outs := make([]*wire.TxOut, len(amounts))
	for i, a := range amounts {
		addr, err := w.NewAddress(ctx, keys.BranchExternal)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := txscript.PayToAddrScript(addr)
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = wire.NewTxOut(a, pk)
	}
	tx := n.Chain.FundOutputs(outs...)
	n.Sync(w)
	return tx
}

// Mine mines k blocks (the first with the whole mempool) and syncs ws.
func (n *Net) Mine(k int, ws ...*wallet.Wallet) {
	n.T.Helper()
	n.Chain.MineN(k)
	n.Sync(ws...)
}

// Sync brings each wallet up to the chain now.
func (n *Net) Sync(ws ...*wallet.Wallet) {
	t := n.T
	t.Helper()
	for _, w := range ws {
		if err := w.Sync(Ctx(t, Timeout)); err != nil {
			t.Fatal(err)
		}
	}
}

// AutoMine starts a miner that mines one block MineDelay after a
// transaction enters the mempool, until the returned stop is called (also
// at cleanup; stop is idempotent).
func (n *Net) AutoMine() (stop func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.miner == nil {
		n.miner = startMiner(n.Chain)
		n.T.Cleanup(n.StopMining)
	}
	return n.StopMining
}

// StopMining stops AutoMine's miner and waits for it. Idempotent.
func (n *Net) StopMining() {
	n.mu.Lock()
	m := n.miner
	n.miner = nil
	n.mu.Unlock()
	if m != nil {
		m.stop()
	}
}

type miner struct {
	quit chan struct{}
	done chan struct{}
}

func startMiner(c *chaintest.Chain) *miner {
	m := &miner{quit: make(chan struct{}), done: make(chan struct{})}
	changed, unsubscribe := c.Subscribe()
	go func() {
		defer close(m.done)
		defer unsubscribe()
		for {
			if c.MempoolSize() > 0 {
				select {
				case <-m.quit:
					return
				case <-time.After(MineDelay):
				}
				c.MineN(1)
				continue
			}
			select {
			case <-m.quit:
				return
			case <-changed:
			}
		}
	}()
	return m
}

func (m *miner) stop() {
	close(m.quit)
	<-m.done
}

// MakerOpts configures NewMaker; the zero value is an honest maker with
// 4 coins of 0.5 BTC.
type MakerOpts struct {
	Faults []string
	// Coins are the maker's Regular coins (4 × 50,000,000 sat when nil).
	Coins []int64
	Terms *swap.Terms
	// MinSize of the maker's offer (maker default when 0).
	MinSize int64
	// IdleTimeout (30 s when 0), ReleaseAfterDisconnect (maker default).
	IdleTimeout, ReleaseAfterDisconnect time.Duration
	// UnfundedLifetime: the hard deadline of unfunded reservations
	// (maker default when 0).
	UnfundedLifetime time.Duration
	// RequiredConfirms on the incoming hop (1 when 0).
	RequiredConfirms uint32
	// SwapTimeoutBlocks (maker default when 0).
	SwapTimeoutBlocks int32
}

// Maker is a running maker: its service, wallet and inbound server.
type Maker struct {
	*maker.Maker
	W    *wallet.Wallet
	Name string

	srv      *service.Server
	stopOnce sync.Once
}

// NewMaker creates a funded maker with a confirmed fidelity bond, serving
// on a loopback listener, stopped at cleanup.
func (n *Net) NewMaker(name string, o MakerOpts) *Maker {
	t := n.T
	t.Helper()
	ctx := Ctx(t, Timeout)
	if o.Coins == nil {
		o.Coins = []int64{50_000_000, 50_000_000, 50_000_000, 50_000_000}
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 30 * time.Second
	}
	terms := Terms
	if o.Terms != nil {
		terms = *o.Terms
	}
	w := n.Wallet(name)
	n.Fund(w, append(append([]int64(nil), o.Coins...), 1_000_000)...) // the last coin pays for the bond
	plan, err := swap.ParseFaultPlan(o.Faults, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	// As the node does: the listener first (the bond certificate binds
	// its address), then the maker, then the inbound server in front.
	lb := tor.NewLoopback()
	t.Cleanup(func() { lb.Close() })
	lis, err := lb.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := maker.New(maker.Config{Wallet: w, Backend: n.Chain, Addr: lis.Addr().String(), Network: protocol.Regtest,
		Terms: terms, MinSize: o.MinSize, RequiredConfirms: o.RequiredConfirms, IdleTimeout: o.IdleTimeout,
		ReleaseAfterDisconnect: o.ReleaseAfterDisconnect, UnfundedLifetime: o.UnfundedLifetime, RecoveryInterval: RecoveryInterval, BondPoll: RecoveryInterval,
		FundHopWait: 10 * time.Second, CertValidityBlocks: 1000, SwapTimeoutBlocks: o.SwapTimeoutBlocks, Faults: plan,
		Logger: Logger(name).With("subsystem", "maker")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.EnsureBond(ctx, 500_000, 500); err != nil {
		t.Fatal(err)
	}
	n.Mine(1, w)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := service.NewServer(service.ServerConfig{Network: protocol.Regtest,
		Logger: Logger(name).With("subsystem", "inbound")}, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(lis); err != nil {
		t.Fatal(err)
	}
	mk := &Maker{Maker: m, W: w, Name: name, srv: srv}
	t.Cleanup(mk.Stop)
	return mk
}

// Stop stops the maker's server and service (its wallet stays open): a
// maker that vanished. Idempotent.
func (m *Maker) Stop() {
	m.stopOnce.Do(func() {
		m.srv.Stop()
		m.Maker.Stop()
	})
}

// Source lists makers for a taker.
func Source(ms ...*Maker) taker.StaticSource {
	var s taker.StaticSource
	for _, m := range ms {
		s = append(s, taker.Candidate{Addr: m.Addr()})
	}
	return s
}

// Book lists makers with their current offers, as a taker's offer book
// holds them (taker.Candidate.Offer): a swap from it skips the offer
// round trip.
func Book(t testing.TB, ms ...*Maker) taker.StaticSource {
	t.Helper()
	var s taker.StaticSource
	for _, m := range ms {
		o, err := m.Offer(Ctx(t, Timeout))
		if err != nil {
			t.Fatal(err)
		}
		s = append(s, taker.Candidate{Addr: m.Addr(), Proof: &o.Fidelity, Offer: o})
	}
	return s
}

// TakerOpts configures NewTaker; the zero value has 4 coins of 0.3 BTC.
type TakerOpts struct {
	Faults []string
	// Coins (4 × 30,000,000 sat when nil).
	Coins []int64
	// ReconnectWindow for a maker whose connection broke (1 ns when 0:
	// no patience, the tests that need it set it).
	ReconnectWindow time.Duration
}

// NewTaker creates a funded taker using src.
func (n *Net) NewTaker(name string, src taker.MakerSource, o TakerOpts) (*taker.Taker, *wallet.Wallet) {
	t := n.T
	t.Helper()
	if o.Coins == nil {
		o.Coins = []int64{30_000_000, 30_000_000, 30_000_000, 30_000_000}
	}
	if o.ReconnectWindow == 0 {
		o.ReconnectWindow = time.Nanosecond
	}
	w := n.Wallet(name)
	n.Fund(w, o.Coins...)
	plan, err := swap.ParseFaultPlan(o.Faults, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	lb := tor.NewLoopback()
	t.Cleanup(func() { lb.Close() })
	tk, err := taker.New(taker.Config{Wallet: w, Backend: n.Chain, Transport: lb, Network: protocol.Regtest,
		Source: src, BondPolicy: BondPolicy, KeepAliveInterval: 200 * time.Millisecond, PollInterval: PollInterval,
		StepTimeout: 15 * time.Second, ReconnectWindow: o.ReconnectWindow, Faults: plan,
		Logger: Logger(name).With("subsystem", "taker")})
	if err != nil {
		t.Fatal(err)
	}
	return tk, w
}

// Eventually polls cond every few milliseconds until it holds, failing the
// test after d with cond's last explanation.
func Eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testutil.Eventually(t, d, what, cond)
}

// MakerFinal waits until every swap of m is final and returns them.
func MakerFinal(t testing.TB, m *Maker) []*swap.MakerSwap {
	t.Helper()
	var ss []*swap.MakerSwap
	Eventually(t, Timeout, m.Name+" swaps final", func() (bool, string) {
		var err error
		ss, err = m.Swaps(Ctx(t, Timeout))
		if err != nil {
			t.Fatal(err)
		}
		var phases []string
		all := len(ss) > 0
		for _, s := range ss {
			all = all && s.Phase.Final()
			phases = append(phases, string(s.Phase))
		}
		return all, "phases " + strings.Join(phases, ",")
	})
	return ss
}

// Spendable is a wallet's Regular + Swept balance (confirmed or not).
func Spendable(t testing.TB, w *wallet.Wallet) int64 {
	t.Helper()
	b, err := w.Balances(Ctx(t, Timeout))
	if err != nil {
		t.Fatal(err)
	}
	return int64(b[wallet.Regular].Total() + b[wallet.Swept].Total())
}

// Balance of one category.
func Balance(t testing.TB, w *wallet.Wallet, c wallet.Category) int64 {
	t.Helper()
	b, err := w.Balance(Ctx(t, Timeout), c)
	if err != nil {
		t.Fatal(err)
	}
	return int64(b.Total())
}

// Fee is the fee of a transaction as the chain computes it from its
// inputs (the transaction must be in the mempool or the chain).
func (n *Net) Fee(txid chainhash.Hash) int64 {
	n.T.Helper()
	f, err := n.Chain.Fee(txid)
	if err != nil {
		n.T.Fatal(err)
	}
	return f
}
