//go:build itest

package taker_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

var testTerms = swap.Terms{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000}

// bondPolicy accepts regtest-sized bonds.
var bondPolicy = wallet.BondPolicy{MinAmount: 100_000, MinLockBlocks: 10, MaxLockBlocks: 5000, MinConfirmations: 1,
	MaxCertValidityBlocks: 5000}

func testLogger(name string) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("SWAP_LOG") != "" {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("node", name)
}

func tctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newWallet(t testing.TB, name string) *wallet.Wallet {
	t.Helper()
	ctx := tctx(t, time.Minute)
	cfg := walletConfig(name, filepath.Join(t.TempDir(), name+".db"))
	w, _, err := wallet.Create(ctx, cfg, wallet.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

func walletConfig(name, path string) wallet.Config {
	return wallet.Config{Path: path, Params: &chaincfg.RegressionNetParams, Backend: node.Backend(),
		PollInterval: 100 * time.Millisecond, Logger: testLogger(name).With("subsystem", "wallet")}
}

// reopenWallet opens the wallet file at path as a restarted process does:
// sync first, then the watcher; swap handlers come later (takerOn), so
// the events of this first sync reach none.
func reopenWallet(t testing.TB, name, path string) *wallet.Wallet {
	t.Helper()
	ctx := tctx(t, time.Minute)
	w, err := wallet.Open(ctx, walletConfig(name, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

func fund(t testing.TB, w *wallet.Wallet, amounts ...btcutil.Amount) {
	t.Helper()
	ctx := tctx(t, time.Minute)
	for _, a := range amounts {
		addr, err := w.NewAddress(ctx, keys.BranchExternal)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, addr, a); err != nil {
			t.Fatal(err)
		}
	}
	mine(t, 1)
	syncAll(t, w)
}

func mine(t testing.TB, n int) {
	t.Helper()
	for i := 0; ; i++ {
		_, err := node.Mine(tctx(t, time.Minute), n)
		if err == nil {
			return
		}
		if i == 50 || !strings.Contains(err.Error(), "already CPU mining") {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func syncAll(t testing.TB, ws ...*wallet.Wallet) {
	t.Helper()
	for _, w := range ws {
		if err := w.Sync(tctx(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
}

// spendable is Regular + Swept (confirmed and unconfirmed).
func spendable(t testing.TB, w *wallet.Wallet) int64 {
	t.Helper()
	b, err := w.Balances(tctx(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return int64(b[wallet.Regular].Total() + b[wallet.Swept].Total())
}

func category(t testing.TB, w *wallet.Wallet, c wallet.Category) int64 {
	t.Helper()
	b, err := w.Balance(tctx(t, time.Minute), c)
	if err != nil {
		t.Fatal(err)
	}
	return int64(b.Total())
}

// autoMiner mines a block whenever the mempool is not empty, until stop.
func autoMiner(t testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			ids, err := node.Backend().MempoolTxids(ctx)
			if err == nil && len(ids) > 0 {
				// Not ctx: an abandoned generate call keeps btcd busy and
				// the next one would be refused.
				mctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, _ = node.Mine(mctx, 1)
				cancel()
			}
			select {
			case <-ctx.Done():
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

type testMaker struct {
	m *maker.Maker
	w *wallet.Wallet
}

type makerOpts struct {
	faults  []string
	utxos   int
	utxo    btcutil.Amount
	idle    time.Duration
	release time.Duration // ReleaseAfterDisconnect (0: the maker's default)
	confs   uint32
	timeout int32
}

func newMaker(t testing.TB, name string, o makerOpts) *testMaker {
	t.Helper()
	ctx := tctx(t, 2*time.Minute)
	if o.utxos == 0 {
		o.utxos = 4
	}
	if o.utxo == 0 {
		o.utxo = 50_000_000
	}
	if o.idle == 0 {
		o.idle = 30 * time.Second
	}
	w := newWallet(t, name)
	amts := make([]btcutil.Amount, o.utxos+1)
	for i := range amts {
		amts[i] = o.utxo
	}
	amts[o.utxos] = 1_000_000 // for the bond
	fund(t, w, amts...)
	plan, err := swap.ParseFaultPlan(o.faults, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	// As the node does: the listener first (the bond certificate binds its
	// address), then the maker, then the inbound server in front of it.
	lis, err := tor.NewLoopback().Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := maker.New(maker.Config{Wallet: w, Backend: node.Backend(), Addr: lis.Addr().String(), Network: protocol.Regtest,
		Terms: testTerms, RequiredConfirms: o.confs, IdleTimeout: o.idle, ReleaseAfterDisconnect: o.release, RecoveryInterval: 200 * time.Millisecond,
		FundHopWait: 20 * time.Second, CertValidityBlocks: 1000, SwapTimeoutBlocks: o.timeout, Faults: plan,
		Logger: testLogger(name).With("subsystem", "maker")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.EnsureBond(ctx, 500_000, 500); err != nil {
		t.Fatal(err)
	}
	mine(t, 1)
	syncAll(t, w)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := service.NewServer(service.ServerConfig{Network: protocol.Regtest,
		Logger: testLogger(name).With("subsystem", "inbound")}, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(lis); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(); m.Stop() })
	return &testMaker{m: m, w: w}
}

func newTaker(t testing.TB, name string, src taker.MakerSource, faults ...string) (*taker.Taker, *wallet.Wallet) {
	t.Helper()
	w := newWallet(t, name)
	fund(t, w, 30_000_000, 30_000_000, 30_000_000, 30_000_000)
	plan, err := swap.ParseFaultPlan(faults, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return takerOn(t, name, w, src, plan), w
}

// takerOn returns a taker on an existing wallet (a restarted process).
func takerOn(t testing.TB, name string, w *wallet.Wallet, src taker.MakerSource, plan *swap.FaultPlan) *taker.Taker {
	t.Helper()
	tk, err := taker.New(taker.Config{Wallet: w, Backend: node.Backend(), Transport: tor.NewLoopback(), Network: protocol.Regtest,
		Source: src, BondPolicy: bondPolicy, KeepAliveInterval: 500 * time.Millisecond, PollInterval: 100 * time.Millisecond,
		StepTimeout: 30 * time.Second, Faults: plan, Logger: testLogger(name).With("subsystem", "taker")})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func source(ms ...*testMaker) taker.StaticSource {
	var s taker.StaticSource
	for _, m := range ms {
		s = append(s, taker.Candidate{Addr: m.m.Addr()})
	}
	return s
}

// waitMaker polls until every swap of the maker is final.
func waitMakerFinal(t testing.TB, m *testMaker, d time.Duration) []*swap.MakerSwap {
	t.Helper()
	ctx := tctx(t, d)
	for {
		ss, err := m.m.Swaps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all := len(ss) > 0
		for _, s := range ss {
			all = all && s.Phase.Final()
		}
		if all {
			return ss
		}
		select {
		case <-ctx.Done():
			for _, s := range ss {
				t.Logf("maker swap %s phase %s", s.ID, s.Phase)
			}
			t.Fatal("maker swaps not final in time")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func txFee(t testing.TB, w *wallet.Wallet, txid chainhash.Hash) int64 {
	t.Helper()
	f, err := w.TxFee(tctx(t, time.Minute), txid)
	if err != nil && !errors.Is(err, wallet.ErrUnknownTx) {
		t.Fatal(err)
	}
	return int64(f)
}

var _ = script.DustP2WPKH
