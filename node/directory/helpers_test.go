package directory

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet/script"
)

// testLogger logs through t at Info (Debug with ONIONSWAP_DIR_DEBUG=1).
func testLogger(t testing.TB) *slog.Logger { return baseLogger(t).With("subsystem", "directory") }

func baseLogger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("ONIONSWAP_DIR_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeChain verifies certificates for real (structure, address,
// signature) and returns chain verdicts from its maps.
type fakeChain struct {
	mu      sync.Mutex
	verdict map[wire.OutPoint]error
	value   map[wire.OutPoint]float64
	down    bool
	calls   int
}

func newFakeChain() *fakeChain {
	return &fakeChain{verdict: map[wire.OutPoint]error{}, value: map[wire.OutPoint]float64{}}
}

func (f *fakeChain) set(op wire.OutPoint, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verdict[op] = err
}

func (f *fakeChain) verify(ctx context.Context, cert *script.BondCert, sig []byte, onion string) (float64, error) {
	f.mu.Lock()
	f.calls++
	down := f.down
	verdict, value := f.verdict[cert.OutPoint], f.value[cert.OutPoint]
	f.mu.Unlock()
	if err := cert.Validate(); err != nil {
		return 0, err
	}
	if err := cert.CheckOnion(onion); err != nil {
		return 0, err
	}
	if err := cert.VerifySig(sig); err != nil {
		return 0, err
	}
	if down {
		return 0, fmt.Errorf("fake chain: %w", context.DeadlineExceeded)
	}
	if verdict != nil {
		return 0, fmt.Errorf("%w: fake chain says so", verdict)
	}
	if value == 0 {
		value = float64(cert.Amount)
	}
	return value, nil
}

// testBond is a bond key and outpoint.
type testBond struct {
	key *btcec.PrivateKey
	op  wire.OutPoint
}

func newTestBond(t testing.TB) *testBond {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	var op wire.OutPoint
	_, _ = rand.Read(op.Hash[:])
	testKeys.Store(string(k.PubKey().SerializeCompressed()), k)
	return &testBond{key: k, op: op}
}

// testKeys holds every test bond's key, by compressed public key.
var testKeys sync.Map

// testSigner answers a registration challenge with the key of the proof's
// bond, as a maker's wallet does (wallet.SignWithBondKey).
func testSigner(_ context.Context, p protocol.FidelityProof, digest [32]byte) ([]byte, error) {
	k, ok := testKeys.Load(string(p.BondPubKey.SerializeCompressed()))
	if !ok {
		return nil, errors.New("test signer: not a test bond's key")
	}
	return ecdsa.Sign(k.(*btcec.PrivateKey), digest[:]).Serialize(), nil
}

// proof signs a certificate of b for addr.
func (b *testBond) proof(t testing.TB, addr string) protocol.FidelityProof {
	t.Helper()
	cert := &script.BondCert{OutPoint: b.op, PubKey: b.key.PubKey(), LockHeight: 10_000, Amount: 1_000_000,
		Onion: addr, ExpiryHeight: 5_000}
	sig, err := cert.Sign(b.key)
	if err != nil {
		t.Fatal(err)
	}
	return ProofFromCert(cert, sig)
}

func onion(n int) string {
	return fmt.Sprintf("%056d.onion:80", n)
}

const testNet = protocol.Regtest

func clientCfg(t testing.TB) ClientConfig {
	return ClientConfig{Network: testNet, Logger: testLogger(t)}
}

// testDir is a directory server on the loopback transport.
type testDir struct {
	*Server
	tr    *tor.Loopback
	in    *service.Server
	addr  string
	chain *fakeChain
	clock *fakeClock
	cfg   ServerConfig
}

// Addr is where the directory is reached.
func (d *testDir) Addr() string { return d.addr }

func startDir(t *testing.T, dbPath string, chain *fakeChain, clock *fakeClock, tweak func(*ServerConfig)) *testDir {
	t.Helper()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "directory.db")
	}
	tr := tor.NewLoopback()
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	cfg := ServerConfig{
		DBPath:  dbPath,
		Network: testNet,
		Verify:  chain.verify,
		Now:     now,
		Logger:  testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	in, addr, err := service.Host(testCtx(t), tr, service.ServerConfig{Network: testNet, Logger: testLogger(t)}, s)
	if err != nil {
		t.Fatal(err)
	}
	d := &testDir{Server: s, tr: tr, in: in, addr: addr, chain: chain, clock: clock, cfg: cfg}
	t.Cleanup(d.stop)
	return d
}

func (d *testDir) stop() {
	d.in.Stop()
	d.Stop()
	d.tr.Close()
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawSession is a handshaken protocol connection to a directory.
func rawSession(t *testing.T, addr string) *protocol.Conn {
	t.Helper()
	pc, err := session(testCtx(t), tor.NewLoopback(), addr, clientCfg(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// rawRegister sends m on pc, answers the directory's challenge with the
// test bond's key and returns the directory's final answer.
func rawRegister(ctx context.Context, pc *protocol.Conn, m *protocol.Register) (protocol.Message, error) {
	if err := pc.Send(ctx, m); err != nil {
		return nil, err
	}
	r, err := pc.Receive(ctx)
	if err != nil {
		return nil, err
	}
	ch, ok := r.(*protocol.RegisterChallenge)
	if !ok {
		return r, nil
	}
	sig, err := testSigner(ctx, m.Proof, protocol.RegisterChallengeDigest(ch.Nonce, m.Proof.BondOutPoint, m.Proof.Addr))
	if err != nil {
		return nil, err
	}
	if err := pc.Send(ctx, &protocol.RegisterResponse{Sig: sig}); err != nil {
		return nil, err
	}
	return pc.Receive(ctx)
}
