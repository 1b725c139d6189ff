package coinjoin

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// A fast in-process test bed for rounds: services over loopback TCP (the
// "onions"), one in-memory pool standing for the relays of the
// announcements, one fake chain of unspent outputs, and a fake wallet per
// participant that holds one coin and signs with its key. The proof over
// Tor on a real chain is itest/coinjoin.

// fakeChain is a set of unspent outputs and the transactions published.
type fakeChain struct {
	mu   sync.Mutex
	utxo map[wire.OutPoint]*wire.TxOut
	txs  map[chainhash.Hash]*wire.MsgTx
}

func newFakeChain() *fakeChain {
	return &fakeChain{utxo: map[wire.OutPoint]*wire.TxOut{}, txs: map[chainhash.Hash]*wire.MsgTx{}}
}

func (c *fakeChain) UTXO(_ context.Context, op wire.OutPoint) (*wire.TxOut, int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.utxo[op]
	if !ok {
		return nil, 0, chain.ErrNotFound
	}
	return o, 6, nil
}

// publish spends the inputs of a valid transaction (idempotent).
func (c *fakeChain) publish(tx *wire.MsgTx) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	txid := tx.TxHash()
	if c.txs[txid] != nil {
		return nil
	}
	prev := map[wire.OutPoint]*wire.TxOut{}
	for _, in := range tx.TxIn {
		o, ok := c.utxo[in.PreviousOutPoint]
		if !ok {
			return fmt.Errorf("fake chain: %v missing or spent", in.PreviousOutPoint)
		}
		prev[in.PreviousOutPoint] = o
	}
	if err := script.Verify(tx, prev); err != nil {
		return err
	}
	for _, in := range tx.TxIn {
		delete(c.utxo, in.PreviousOutPoint)
	}
	for i, o := range tx.TxOut {
		c.utxo[wire.OutPoint{Hash: txid, Index: uint32(i)}] = o
	}
	c.txs[txid] = tx
	return nil
}

func (c *fakeChain) published() []*wire.MsgTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*wire.MsgTx
	for _, tx := range c.txs {
		out = append(out, tx)
	}
	return out
}

// fund creates a confirmed P2WPKH coin of value for key.
func (c *fakeChain) fund(key *btcec.PrivateKey, value int64) wire.OutPoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	var h chainhash.Hash
	copy(h[:], chainhash.DoubleHashB(append(key.PubKey().SerializeCompressed(), byte(len(c.utxo)))))
	op := wire.OutPoint{Hash: h, Index: 1}
	c.utxo[op] = &wire.TxOut{Value: value, PkScript: script.P2WPKHPkScript(key.PubKey())}
	return op
}

// fakeWallet holds one coin and one output key.
type fakeWallet struct {
	chain  *fakeChain
	coin   *btcec.PrivateKey
	out    *btcec.PrivateKey
	op     wire.OutPoint
	value  int64
	mu     sync.Mutex
	holder string
	until  time.Time
	splits []string
}

func newFakeWallet(t testing.TB, c *fakeChain, value int64) *fakeWallet {
	t.Helper()
	w := &fakeWallet{chain: c, coin: newKey(t), out: newKey(t), value: value}
	w.op = c.fund(w.coin, value)
	return w
}

// Split records the premix asked for (the wallet's own Split is tested in
// package wallet).
func (w *fakeWallet) Split(_ context.Context, cat wallet.Category, count int, value btcutil.Amount, _ int64) (*wallet.SentTx, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.splits = append(w.splits, fmt.Sprintf("%s %d×%d", cat, count, value))
	return &wallet.SentTx{Tx: wire.NewMsgTx(2), Fee: 500}, nil
}

func (w *fakeWallet) outScript() []byte { return script.P2WPKHPkScript(w.out.PubKey()) }

func (w *fakeWallet) ListCoins(_ context.Context, _ wallet.Category, _ bool) ([]wallet.Coin, error) {
	if _, _, err := w.chain.UTXO(context.Background(), w.op); err != nil {
		return nil, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return []wallet.Coin{{OutPoint: w.op, Value: btcutil.Amount(w.value), PkScript: script.P2WPKHPkScript(w.coin.PubKey()),
		Category: wallet.Regular, Height: 1, Confirmations: 6, AnonSet: 1,
		Reserved: w.holder != "" && time.Now().Before(w.until)}}, nil
}

func (w *fakeWallet) HoldCoin(_ context.Context, op wire.OutPoint, holder string, until time.Time) (wallet.Coin, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if op != w.op || (w.holder != "" && w.holder != holder && time.Now().Before(w.until)) {
		return wallet.Coin{}, wallet.ErrCoinUnavailable
	}
	w.holder, w.until = holder, until
	return wallet.Coin{OutPoint: op}, nil
}

func (w *fakeWallet) ReleaseCoin(_ context.Context, op wire.OutPoint, holder string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if op == w.op && w.holder == holder {
		w.holder = ""
	}
	return nil
}

func (w *fakeWallet) held() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.holder != "" && time.Now().Before(w.until)
}

func (w *fakeWallet) PurposeAddress(context.Context, string) (btcutil.Address, error) {
	return btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(w.out.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
}

func (w *fakeWallet) NewAddress(context.Context, keys.Branch) (btcutil.Address, error) {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, err
	}
	return btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
}

func (w *fakeWallet) SignWalletInputs(_ context.Context, msg *wire.MsgTx, prev map[wire.OutPoint]*wire.TxOut) (int, error) {
	n := 0
	for i, in := range msg.TxIn {
		o, ok := prev[in.PreviousOutPoint]
		if !ok || in.PreviousOutPoint != w.op {
			continue
		}
		sig, err := script.SignInput(msg, i, nil, o.Value, o.PkScript, w.coin)
		if err != nil {
			return n, err
		}
		msg.TxIn[i].Witness = script.P2WPKHWitness(sig, w.coin.PubKey())
		n++
	}
	return n, nil
}

func (w *fakeWallet) PublishTx(_ context.Context, tx *wire.MsgTx, _ btcutil.Amount, _ string) error {
	return w.chain.publish(tx)
}

// testBed is the shared pool, chain and transport of a test's services.
type testBed struct {
	t     testing.TB
	pool  *pool.Pool
	chain *fakeChain
	lb    *tor.Loopback
}

func newTestBed(t testing.TB) *testBed {
	t.Helper()
	p, err := pool.New(pool.Config{Network: protocol.Regtest, Topics: []pool.Topic{AnnounceTopic(protocol.Regtest)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	lb := tor.NewLoopback()
	t.Cleanup(func() { _ = lb.Close() })
	return &testBed{t: t, pool: p, chain: newFakeChain(), lb: lb}
}

// testDenom and testFee: a round's terms in the unit tests; a coin of
// testCoin fits rounds of 2 to 12.
const (
	testDenom = 1_000_000
	testFee   = 2
	testCoin  = testDenom + 1_500
)

type testPeer struct {
	svc *Service
	w   *fakeWallet
	dir string
}

// peer starts a service with one coin of value; mod changes its config.
func (b *testBed) peer(value int64, mod func(*Config)) *testPeer {
	t := b.t
	t.Helper()
	w := newFakeWallet(t, b.chain, value)
	dir := t.TempDir()
	cfg := Config{DBPath: filepath.Join(dir, "coinjoin.db"), Network: protocol.Regtest, Wallet: w, Chain: b.chain,
		Pool: b.pool, Listen: b.lb.Listen, Dialer: b.lb, Conn: protocol.ConnConfig{PingInterval: -1},
		Denomination: testDenom, T: 3, StartAt: 4, FeeRate: testFee, Phase: 3 * time.Second, Link: 5 * time.Second}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("peer", dir[len(dir)-3:])
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return &testPeer{svc: s, w: w, dir: dir}
}

// mixAll starts every peer's session.
func mixAll(t *testing.T, ps []*testPeer) {
	t.Helper()
	for _, p := range ps {
		if _, err := p.svc.StartMix(context.Background(), StartRequest{}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idle reports whether the peer has no session.
func (p *testPeer) idle() bool {
	p.svc.mu.Lock()
	defer p.svc.mu.Unlock()
	return p.svc.sess == nil
}

// allIdle reports whether no peer of ps has a session.
func allIdle(ps []*testPeer) func() bool {
	return func() bool {
		for _, p := range ps {
			if !p.idle() {
				return false
			}
		}
		return true
	}
}

func (p *testPeer) rounds(t *testing.T) []RoundInfo {
	t.Helper()
	rs, err := p.svc.Rounds(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// mixedIn returns the published transaction paying p's output (nil: none).
func (b *testBed) mixedIn(p *testPeer) *wire.MsgTx {
	for _, tx := range b.chain.published() {
		if slices.ContainsFunc(tx.TxOut, func(o *wire.TxOut) bool { return string(o.PkScript) == string(p.w.outScript()) }) {
			return tx
		}
	}
	return nil
}

var _ net.Listener = (*net.TCPListener)(nil)
