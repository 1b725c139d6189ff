package market

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

// countingChain counts the chain calls of bond verification (the cache
// must save them).
type countingChain struct {
	*chaintest.Chain
	calls atomic.Int64
}

func (c *countingChain) Tx(ctx context.Context, h chainhash.Hash) (*wire.MsgTx, chain.TxStatus, error) {
	c.calls.Add(1)
	return c.Chain.Tx(ctx, h)
}

var _ wallet.BondChain = (*countingChain)(nil)

// bond is a real fidelity bond on the test chain.
type bond struct {
	key  *btcec.PrivateKey
	op   wire.OutPoint
	lock uint32
	amt  int64
}

// newBond funds a bond of amt sat locked 100 days past its confirmation
// and confirms it.
func newBond(t testing.TB, c *chaintest.Chain, amt int64) *bond {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	lock := uint32(c.Height()) + 1 + 100*144
	pk, err := script.BondPkScript(key.PubKey(), lock)
	if err != nil {
		t.Fatal(err)
	}
	tx := c.Fund(pk, amt)
	return &bond{key: key, op: wire.OutPoint{Hash: tx.TxHash()}, lock: lock, amt: amt}
}

// proof is b's certificate for addr, valid for 100 blocks.
func (b *bond) proof(t testing.TB, c *chaintest.Chain, addr string) protocol.FidelityProof {
	t.Helper()
	cert := &script.BondCert{OutPoint: b.op, PubKey: b.key.PubKey(), LockHeight: b.lock, Amount: b.amt,
		Onion: addr, ExpiryHeight: uint32(c.Height()) + 100}
	sig, err := cert.Sign(b.key)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.FidelityProof{BondOutPoint: cert.OutPoint, BondValue: cert.Amount, LockHeight: cert.LockHeight,
		BondPubKey: cert.PubKey, CertExpiry: cert.ExpiryHeight, Addr: cert.Onion, CertSig: sig}
}

// maker is a fake maker for the publisher: settable terms on a real bond.
type maker struct {
	t    testing.TB
	c    *chaintest.Chain
	b    *bond
	addr string
	mu   sync.Mutex
	max  int64
	err  error
}

func (m *maker) Offer(context.Context) (*protocol.Offer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	return &protocol.Offer{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 100_000, MaxSize: m.max,
		MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: m.b.key.PubKey(), Fidelity: m.b.proof(m.t, m.c, m.addr)}, nil
}

func (m *maker) SignWithBondKey(_ context.Context, op wire.OutPoint, d [32]byte) ([]byte, error) {
	if op != m.b.op {
		return nil, fmt.Errorf("not our bond")
	}
	return ecdsa.Sign(m.b.key, d[:]).Serialize(), nil
}

func (m *maker) set(max int64, err error) {
	m.mu.Lock()
	m.max, m.err = max, err
	m.mu.Unlock()
}

func onion(n int) string { return fmt.Sprintf("%056d.onion:80", n) }

// poolNode is one in-process pool on the loopback transport with the
// real inbound server, relaying the offer topic with v.
type poolNode struct {
	pool *pool.Pool
	addr string
}

func newPoolNode(t testing.TB, v *Validator, bootstrap ...string) *poolNode {
	t.Helper()
	lb := tor.NewLoopback()
	lis, err := lb.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn := protocol.ConnConfig{PingInterval: -1}
	p, err := pool.New(pool.Config{Network: protocol.Regtest, ListenAddr: lis.Addr().String(), Dialer: lb,
		// One protected outbound slot: a node dials its bootstrap peer
		// only, so the topology is the test's (no peer exchange links).
		Bootstrap: bootstrap, Topics: []pool.Topic{v.Topic()}, Outbound: 1, MaxPeers: 8, ProtectedOutbound: 1,
		TrickleOutbound: 20 * time.Millisecond, TrickleInbound: 20 * time.Millisecond,
		DialInterval: 50 * time.Millisecond, Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.NewServer(service.ServerConfig{Network: protocol.Regtest, Conn: conn}, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(lis); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		srv.Stop()
		_ = lb.Close()
	})
	return &poolNode{pool: p, addr: lis.Addr().String()}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, what, testutil.Holds(cond))
}

// locker is a CoinLocker that counts: locked while the offer is up.
type locker struct {
	mu      sync.Mutex
	locked  bool
	locks   int
	unlocks int
	broken  []wire.OutPoint
}

func (l *locker) LockOfferCoins(context.Context) (int, btcutil.Amount, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.locked = true
	l.locks++
	return 2, 500_000, nil
}

func (l *locker) UnlockOfferCoins(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.locked = false
	l.unlocks++
	return nil
}

func (l *locker) OfferLockBroken(context.Context) ([]wire.OutPoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.broken, nil
}

func (l *locker) isLocked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.locked
}
