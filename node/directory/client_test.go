package directory

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet/script"
)

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// TestRegistrar: registers with every directory, refreshes before the
// TTL runs out, retries a dead directory with back-off, re-registers at
// once on Refresh, and Start/Stop are idempotent.
func TestRegistrar(t *testing.T) {
	testutil.LeakCheck(t)
	const ttl = 2 * time.Second
	short := func(c *ServerConfig) { c.EntryTTL = ttl }
	// Real clocks (nil): the registrar sleeps for real.
	d1 := startDir(t, "", newFakeChain(), nil, short)
	d2 := startDir(t, "", newFakeChain(), nil, short)
	dead := deadAddr(t)

	b := newTestBond(t)
	var mu sync.Mutex
	addr := onion(1)
	r, err := NewRegistrar(RegistrarConfig{
		Dialer:      tor.NewLoopback(),
		Directories: []string{d1.Addr(), dead, d2.Addr()},
		Proof: func(ctx context.Context) (protocol.FidelityProof, error) {
			mu.Lock()
			defer mu.Unlock()
			return b.proof(t, addr), nil
		},
		Sign:     testSigner,
		Client:   clientCfg(t),
		RetryMin: 50 * time.Millisecond,
		RetryMax: 200 * time.Millisecond,
		Logger:   testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	r.Start()
	defer r.Stop()
	ctx := testCtx(t)
	listed := func(d *testDir, want string) bool {
		es, err := d.Entries(ctx)
		return err == nil && len(es) == 1 && es[0].Addr == want
	}
	testutil.Eventually(t, 5*time.Second, "registered at both", testutil.Holds(func() bool { return listed(d1, onion(1)) && listed(d2, onion(1)) }))
	// Past two TTLs the entries are still there: refreshed at ~TTL/2.
	time.Sleep(2*ttl + ttl/2)
	if !listed(d1, onion(1)) || !listed(d2, onion(1)) {
		t.Fatal("entries expired despite the registrar")
	}
	st := r.Status()
	if !st[0].Registered || !st[2].Registered || st[0].Attempts < 4 || st[0].TTL != ttl {
		t.Fatalf("status of live directories: %+v", st)
	}
	if st[1].Registered || st[1].Failures < 3 || st[1].LastErr == nil {
		t.Fatalf("status of the dead directory: %+v", st[1])
	}
	// A new address is pushed at once on Refresh.
	mu.Lock()
	addr = onion(2)
	mu.Unlock()
	r.Refresh()
	testutil.Eventually(t, ttl/4, "new address listed", testutil.Holds(func() bool { return listed(d1, onion(2)) && listed(d2, onion(2)) }))
	r.Stop()
	r.Stop()
}

// TestRegistrarRefused: a refused proof is reported in Status and retried.
func TestRegistrarRefused(t *testing.T) {
	testutil.LeakCheck(t)
	chain := newFakeChain()
	d := startDir(t, "", chain, newFakeClock(), nil)
	b := newTestBond(t)
	chain.set(b.op, script.ErrBondUnconfirmed)
	r, err := NewRegistrar(RegistrarConfig{
		Dialer: tor.NewLoopback(), Directories: []string{d.Addr()},
		Proof: StaticProof(b.proof(t, onion(1))), Sign: testSigner, Client: clientCfg(t),
		RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	defer r.Stop()
	testutil.Eventually(t, 5*time.Second, "refusal", testutil.Holds(func() bool {
		st := r.Status()[0]
		return st.Failures >= 2 && errors.Is(st.LastErr, script.ErrBondUnconfirmed)
	}))
	chain.set(b.op, nil) // the bond confirms
	testutil.Eventually(t, 5*time.Second, "registered", testutil.Holds(func() bool { return r.Status()[0].Registered }))
}

// TestSource: entries from two directories are merged by bond; the
// taker's own verification drops a spent bond; a stale address of a
// moved maker loses to its newer certificate; one dead directory does
// not fail the fetch, all dead does.
func TestSource(t *testing.T) {
	testutil.LeakCheck(t)
	ctx := testCtx(t)
	d1 := startDir(t, "", newFakeChain(), newFakeClock(), nil)
	d2 := startDir(t, "", newFakeChain(), newFakeClock(), nil)
	tr := tor.NewLoopback()
	a, spent, moved, c := newTestBond(t), newTestBond(t), newTestBond(t), newTestBond(t)
	reg := func(d *testDir, p protocol.FidelityProof) {
		t.Helper()
		if _, err := Register(ctx, tr, d.Addr(), p, testSigner, clientCfg(t)); err != nil {
			t.Fatal(err)
		}
	}
	reg(d1, a.proof(t, onion(1)))
	reg(d2, a.proof(t, onion(1)))
	reg(d1, spent.proof(t, onion(2)))
	reg(d1, moved.proof(t, onion(3)))
	newer := moved.proof(t, onion(4))
	{ // re-signed later: higher expiry
		cert, _ := CertFromProof(&newer)
		cert.ExpiryHeight++
		sig, err := cert.Sign(moved.key)
		if err != nil {
			t.Fatal(err)
		}
		newer = ProofFromCert(cert, sig)
	}
	reg(d2, newer)
	reg(d2, c.proof(t, onion(5)))

	taker := newFakeChain()
	taker.set(spent.op, script.ErrBondSpent)
	taker.value[c.op] = 3e6
	dead := deadAddr(t)
	src, err := NewSource(SourceConfig{Dialer: tr, Directories: []string{d1.Addr(), dead, d2.Addr()},
		Client: clientCfg(t), Verify: taker.verify, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cands, err := src.Candidates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range cands {
		got[c.Proof.BondOutPoint.String()] = c.Addr
	}
	want := map[string]string{a.op.String(): onion(1), moved.op.String(): onion(4), c.op.String(): onion(5)}
	if len(got) != len(want) {
		t.Fatalf("candidates %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("candidates %v, want %v", got, want)
		}
	}
	if cands[0].Proof.BondOutPoint != c.op || cands[0].BondValue != 3e6 {
		t.Fatalf("not sorted by value: %+v", cands[0])
	}
	for _, cd := range cands {
		if cd.Proof.BondOutPoint == a.op && cd.Directories != 2 {
			t.Fatalf("bond listed twice counted %d", cd.Directories)
		}
	}

	src2, _ := NewSource(SourceConfig{Dialer: tr, Directories: []string{dead}, Client: clientCfg(t), Verify: taker.verify})
	if _, err := src2.Candidates(ctx); !errors.Is(err, ErrNoDirectory) {
		t.Fatalf("all directories dead: %v", err)
	}
}
