package directory

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet/script"
)

func TestRegisterAndList(t *testing.T) {
	testutil.LeakCheck(t)
	d := startDir(t, "", newFakeChain(), newFakeClock(), nil)
	ctx := testCtx(t)
	tr := tor.NewLoopback()
	b := newTestBond(t)
	p := b.proof(t, onion(1))
	ttl, err := Register(ctx, tr, d.Addr(), p, testSigner, clientCfg(t))
	if err != nil {
		t.Fatal(err)
	}
	if ttl != EntryTTL {
		t.Fatalf("ttl %v, want %v", ttl, EntryTTL)
	}
	es, err := List(ctx, tr, d.Addr(), clientCfg(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Addr != onion(1) || !reflect.DeepEqual(es[0].Proof, p) {
		t.Fatalf("list %+v", es)
	}
	if got := time.Unix(int64(es[0].LastSeen), 0); !got.Equal(d.clock.Now().Truncate(time.Second)) {
		t.Fatalf("last seen %v", got)
	}
}

// TestRefusals: every bond refusal is a Nack with its own code, matched
// on the client by errors.Is with the script sentinel; a forged
// certificate also ends the connection, the others keep it.
func TestRefusals(t *testing.T) {
	testutil.LeakCheck(t)
	chain := newFakeChain()
	d := startDir(t, "", chain, newFakeClock(), nil)
	other := newTestBond(t)
	tests := []struct {
		name    string
		verdict error // fake chain verdict for the bond
		mutate  func(b *testBond, m *protocol.Register)
		code    protocol.ErrorCode
		want    error
		fatal   bool
	}{
		{name: "forged by another key", code: protocol.CodeBondForged, want: script.ErrBondBadSignature, fatal: true,
			mutate: func(b *testBond, m *protocol.Register) {
				forged := (&testBond{key: other.key, op: b.op}).proof(t, m.Addr)
				m.Proof.CertSig = forged.CertSig
			}},
		{name: "certificate for another onion", code: protocol.CodeBondOnionMismatch, want: script.ErrBondOnionMismatch,
			mutate: func(b *testBond, m *protocol.Register) { m.Addr = onion(99) }},
		{name: "certificate edited to another onion", code: protocol.CodeBondForged, want: script.ErrBondBadSignature, fatal: true,
			mutate: func(b *testBond, m *protocol.Register) { m.Addr, m.Proof.Addr = onion(98), onion(98) }},
		{name: "certificate expired", verdict: script.ErrBondCertExpired, code: protocol.CodeBondCertExpired, want: script.ErrBondCertExpired},
		{name: "spent", verdict: script.ErrBondSpent, code: protocol.CodeBondSpent, want: script.ErrBondSpent},
		{name: "too small", verdict: script.ErrBondTooSmall, code: protocol.CodeBondTooSmall, want: script.ErrBondTooSmall},
		{name: "unconfirmed", verdict: script.ErrBondUnconfirmed, code: protocol.CodeBondUnconfirmed, want: script.ErrBondUnconfirmed},
		{name: "lock window", verdict: script.ErrBondLockWindow, code: protocol.CodeBondLockWindow, want: script.ErrBondLockWindow},
		{name: "not found", verdict: script.ErrBondNotFound, code: protocol.CodeBondNotFound, want: script.ErrBondNotFound},
		{name: "lock expired", verdict: script.ErrBondExpired, code: protocol.CodeBondExpired, want: script.ErrBondExpired},
		{name: "amount mismatch", verdict: script.ErrBondAmountMismatch, code: protocol.CodeBondMismatch, want: script.ErrBondAmountMismatch},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBond(t)
			if tc.verdict != nil {
				chain.set(b.op, tc.verdict)
			}
			m := &protocol.Register{Addr: onion(i), Proof: b.proof(t, onion(i))}
			if tc.mutate != nil {
				tc.mutate(b, m)
			}
			pc := rawSession(t, d.Addr())
			ctx := testCtx(t)
			if err := pc.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
			reply, err := pc.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			nack, ok := reply.(*protocol.Nack)
			if !ok || nack.Code != tc.code {
				t.Fatalf("reply %T %+v, want Nack %v", reply, reply, tc.code)
			}
			if err := (&NackError{Code: nack.Code, Text: nack.Text}); !errors.Is(err, tc.want) || !errors.Is(err, ErrRefused) {
				t.Fatalf("NackError %v does not match %v", err, tc.want)
			}
			// The session goes on after an honest refusal, ends after a forgery.
			_ = pc.Send(ctx, &protocol.ListRequest{})
			reply, err = pc.Receive(ctx)
			var pe *protocol.PeerError
			if tc.fatal {
				if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidSignature {
					t.Fatalf("after forgery: %T %v, want Error InvalidSignature", reply, err)
				}
			} else if _, ok := reply.(*protocol.ListReply); err != nil || !ok {
				t.Fatalf("after refusal: %T %v, want ListReply", reply, err)
			}
		})
	}
	es, err := d.Entries(testCtx(t))
	if err != nil || len(es) != 0 {
		t.Fatalf("refused bonds listed: %v %v", es, err)
	}
}

// TestChainDown: when the directory cannot reach its node it says so
// (Internal, retry later) instead of refusing the bond.
func TestChainDown(t *testing.T) {
	chain := newFakeChain()
	chain.down = true
	d := startDir(t, "", chain, newFakeClock(), nil)
	_, err := Register(testCtx(t), tor.NewLoopback(), d.Addr(), newTestBond(t).proof(t, onion(1)), testSigner, clientCfg(t))
	var ne *NackError
	if !errors.As(err, &ne) || ne.Code != protocol.CodeInternal {
		t.Fatalf("got %v, want Nack Internal", err)
	}
}

func TestReplaceAddress(t *testing.T) {
	testutil.LeakCheck(t)
	d := startDir(t, "", newFakeChain(), newFakeClock(), nil)
	ctx := testCtx(t)
	tr := tor.NewLoopback()
	b := newTestBond(t)
	other := newTestBond(t)
	for _, reg := range []struct {
		b    *testBond
		addr string
	}{{b, onion(1)}, {other, onion(2)}, {b, onion(3)}} {
		if _, err := Register(ctx, tr, d.Addr(), reg.b.proof(t, reg.addr), testSigner, clientCfg(t)); err != nil {
			t.Fatal(err)
		}
		d.clock.Advance(time.Second)
	}
	es, err := List(ctx, tr, d.Addr(), clientCfg(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range es {
		got[e.Proof.BondOutPoint.String()] = e.Addr
	}
	want := map[string]string{b.op.String(): onion(3), other.op.String(): onion(2)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

// TestExpiry: an entry older than the TTL is invisible at once (lazy) and
// removed by the sweep; a refresh keeps it alive.
func TestExpiry(t *testing.T) {
	testutil.LeakCheck(t)
	d := startDir(t, "", newFakeChain(), newFakeClock(), func(c *ServerConfig) { c.EntryTTL = time.Minute })
	ctx := testCtx(t)
	tr := tor.NewLoopback()
	stale, fresh := newTestBond(t), newTestBond(t)
	for _, b := range []*testBond{stale, fresh} {
		if _, err := Register(ctx, tr, d.Addr(), b.proof(t, onion(int(b.op.Hash[0]))), testSigner, clientCfg(t)); err != nil {
			t.Fatal(err)
		}
	}
	d.clock.Advance(40 * time.Second)
	if _, err := Register(ctx, tr, d.Addr(), fresh.proof(t, onion(int(fresh.op.Hash[0]))), testSigner, clientCfg(t)); err != nil {
		t.Fatal(err)
	}
	d.clock.Advance(21 * time.Second) // stale: 61 s old, fresh: 21 s
	es, err := List(ctx, tr, d.Addr(), clientCfg(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Proof.BondOutPoint != fresh.op {
		t.Fatalf("after TTL: %+v", es)
	}
	if n, _ := d.store.count(ctx); n != 2 {
		t.Fatalf("rows before sweep %d, want 2 (lazy expiry)", n)
	}
	d.sweep()
	if n, _ := d.store.count(ctx); n != 1 {
		t.Fatalf("rows after sweep %d, want 1", n)
	}
}

// TestPersistence: entries survive a restart; those that expired while
// the directory was down are dropped on load.
func TestPersistence(t *testing.T) {
	testutil.LeakCheck(t)
	db := filepath.Join(t.TempDir(), "dir.db")
	clock := newFakeClock()
	chain := newFakeChain()
	ttl := func(c *ServerConfig) { c.EntryTTL = time.Minute }
	d := startDir(t, db, chain, clock, ttl)
	ctx := testCtx(t)
	tr := tor.NewLoopback()
	old, young := newTestBond(t), newTestBond(t)
	if _, err := Register(ctx, tr, d.Addr(), old.proof(t, onion(1)), testSigner, clientCfg(t)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	pYoung := young.proof(t, onion(2))
	if _, err := Register(ctx, tr, d.Addr(), pYoung, testSigner, clientCfg(t)); err != nil {
		t.Fatal(err)
	}
	d.stop()
	clock.Advance(31 * time.Second) // old: 61 s, young: 31 s
	d2 := startDir(t, db, chain, clock, ttl)
	if n, _ := d2.store.count(ctx); n != 1 {
		t.Fatalf("rows after restart %d, want 1 (expired dropped on load)", n)
	}
	es, err := List(ctx, tr, d2.Addr(), clientCfg(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || !reflect.DeepEqual(es[0].Proof, pYoung) {
		t.Fatalf("after restart: %+v", es)
	}
}

// TestReverify: a bond that stops verifying (spent) disappears at the
// next re-verification; a chain outage removes nothing.
func TestReverify(t *testing.T) {
	testutil.LeakCheck(t)
	chain := newFakeChain()
	d := startDir(t, "", chain, newFakeClock(), nil)
	ctx := testCtx(t)
	spent, kept := newTestBond(t), newTestBond(t)
	for i, b := range []*testBond{spent, kept} {
		if _, err := Register(ctx, tor.NewLoopback(), d.Addr(), b.proof(t, onion(i)), testSigner, clientCfg(t)); err != nil {
			t.Fatal(err)
		}
	}
	chain.set(spent.op, script.ErrBondSpent)
	chain.mu.Lock()
	chain.down = true
	chain.mu.Unlock()
	if err := d.Reverify(ctx); err != nil {
		t.Fatal(err)
	}
	if es, _ := d.Entries(ctx); len(es) != 2 {
		t.Fatalf("chain down removed entries: %d left", len(es))
	}
	chain.mu.Lock()
	chain.down = false
	chain.mu.Unlock()
	if err := d.Reverify(ctx); err != nil {
		t.Fatal(err)
	}
	es, _ := d.Entries(ctx)
	if len(es) != 1 || es[0].Proof.BondOutPoint != kept.op {
		t.Fatalf("after re-verification: %+v", es)
	}
}

// TestRateLimit: registrations beyond the per-connection burst end that
// connection with RateLimited; other connections are served.
func TestRateLimit(t *testing.T) {
	testutil.LeakCheck(t)
	d := startDir(t, "", newFakeChain(), newFakeClock(), nil)
	ctx := testCtx(t)
	b := newTestBond(t)
	m := &protocol.Register{Addr: onion(1), Proof: b.proof(t, onion(1))}
	pc := rawSession(t, d.Addr())
	for i := 0; i < DefaultRegisterBurst; i++ {
		if r, err := rawRegister(ctx, pc, m); err != nil {
			t.Fatal(err)
		} else if _, ok := r.(*protocol.RegisterAck); !ok {
			t.Fatalf("register %d: %T", i, r)
		}
	}
	_ = pc.Send(ctx, m)
	_, err := pc.Receive(ctx)
	var pe *protocol.PeerError
	if !errors.As(err, &pe) || pe.Code != protocol.CodeRateLimited {
		t.Fatalf("over the burst: %v, want Error RateLimited", err)
	}
	// The bucket refills with the (injected) clock.
	pc2 := rawSession(t, d.Addr())
	for i := 0; i < DefaultRegisterBurst; i++ {
		if _, err := rawRegister(ctx, pc2, m); err != nil {
			t.Fatal(err)
		}
	}
	d.clock.Advance(time.Duration(float64(time.Second) / DefaultRegisterRate))
	if r, err := rawRegister(ctx, pc2, m); err != nil {
		t.Fatalf("after refill: %v", err)
	} else if _, ok := r.(*protocol.RegisterAck); !ok {
		t.Fatalf("after refill: %T", r)
	}
	// Lists have their own bucket.
	pc3 := rawSession(t, d.Addr())
	for i := 0; i <= DefaultListBurst; i++ {
		_ = pc3.Send(ctx, &protocol.ListRequest{})
		_, err = pc3.Receive(ctx)
	}
	if !errors.As(err, &pe) || pe.Code != protocol.CodeRateLimited {
		t.Fatalf("list over the burst: %v", err)
	}
	if _, err := List(ctx, tor.NewLoopback(), d.Addr(), clientCfg(t)); err != nil {
		t.Fatalf("another connection: %v", err)
	}
}

// TestGlobalRateLimit: over the global registration rate the directory
// answers Busy and keeps the session.
func TestGlobalRateLimit(t *testing.T) {
	d := startDir(t, "", newFakeChain(), newFakeClock(), func(c *ServerConfig) {
		c.GlobalRegisterBurst = 1
		c.GlobalRegisterRate = 0.001
	})
	ctx := testCtx(t)
	tr := tor.NewLoopback()
	if _, err := Register(ctx, tr, d.Addr(), newTestBond(t).proof(t, onion(1)), testSigner, clientCfg(t)); err != nil {
		t.Fatal(err)
	}
	_, err := Register(ctx, tr, d.Addr(), newTestBond(t).proof(t, onion(2)), testSigner, clientCfg(t))
	var ne *NackError
	if !errors.As(err, &ne) || ne.Code != protocol.CodeBusy {
		t.Fatalf("got %v, want Nack Busy", err)
	}
}

// TestMalformed: garbage, an unexpected message type and a wrong network
// each get an explicit Error and a disconnect; the server keeps serving.
func TestMalformed(t *testing.T) {
	testutil.LeakCheck(t)
	d := startDir(t, "", newFakeChain(), newFakeClock(), nil)
	ctx := testCtx(t)
	tests := []struct {
		name string
		run  func(t *testing.T) error
		code protocol.ErrorCode
	}{
		{name: "unexpected message", code: protocol.CodeProtocolViolation, run: func(t *testing.T) error {
			pc := rawSession(t, d.Addr())
			_ = pc.Send(ctx, &protocol.RegisterAck{TTLSeconds: 1})
			_, err := pc.Receive(ctx)
			return err
		}},
		{name: "swap message", code: protocol.CodeProtocolViolation, run: func(t *testing.T) error {
			pc := rawSession(t, d.Addr())
			_ = pc.Send(ctx, &protocol.OfferRequest{})
			_, err := pc.Receive(ctx)
			return err
		}},
		{name: "undecodable register", code: protocol.CodeProtocolViolation, run: func(t *testing.T) error {
			nc, err := tor.NewLoopback().Dial(ctx, d.Addr())
			if err != nil {
				t.Fatal(err)
			}
			pc := protocol.NewConn(nc, protocol.ConnConfig{})
			if _, err := pc.Handshake(ctx, protocol.NewHello(testNet, "test")); err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			// A Register frame whose payload is 3 junk bytes.
			if _, err := nc.Write([]byte{0, 0, 0, 5, 0x02, 0x00, 1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			_, err = pc.Receive(ctx)
			return err
		}},
		{name: "wrong network", code: protocol.CodeWrongNetwork, run: func(t *testing.T) error {
			_, err := session(ctx, tor.NewLoopback(), d.Addr(), ClientConfig{Network: protocol.Mainnet})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(t)
			var pe *protocol.PeerError
			if tc.code == protocol.CodeWrongNetwork && errors.Is(err, protocol.ErrNetwork) {
				return // our side noticed first; the directory sent its Error too
			}
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got %v, want Error %v", err, tc.code)
			}
		})
	}
	if _, err := List(ctx, tor.NewLoopback(), d.Addr(), clientCfg(t)); err != nil {
		t.Fatalf("server stopped serving: %v", err)
	}
}

// TestMaxConns: at the cap a newcomer is served and the oldest idle
// session is evicted with an explicit Busy (a peer cannot lock honest
// takers out by holding idle sessions).
func TestMaxConns(t *testing.T) {
	testutil.LeakCheck(t)
	d := startDir(t, "", newFakeChain(), newFakeClock(), func(c *ServerConfig) { c.MaxConns = 1 })
	ctx := testCtx(t)
	held := rawSession(t, d.Addr())
	if err := held.Send(ctx, &protocol.ListRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := held.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := List(ctx, tor.NewLoopback(), d.Addr(), clientCfg(t)); err != nil {
		t.Fatalf("newcomer at the cap: %v", err)
	}
	_, err := held.Receive(ctx)
	var pe *protocol.PeerError
	if !errors.As(err, &pe) || pe.Code != protocol.CodeBusy {
		t.Fatalf("idle session at the cap: %v, want Error Busy", err)
	}
}

// TestCapacity: when full, a more valuable bond evicts the least valuable
// one and a less valuable bond is refused with DirectoryFull.
func TestCapacity(t *testing.T) {
	chain := newFakeChain()
	d := startDir(t, "", chain, newFakeClock(), func(c *ServerConfig) { c.MaxEntries = 2 })
	ctx := testCtx(t)
	tr := tor.NewLoopback()
	bonds := []*testBond{newTestBond(t), newTestBond(t), newTestBond(t), newTestBond(t)}
	for i, v := range []float64{10, 20, 5, 30} {
		chain.value[bonds[i].op] = v
	}
	for i := 0; i < 2; i++ {
		if _, err := Register(ctx, tr, d.Addr(), bonds[i].proof(t, onion(i)), testSigner, clientCfg(t)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Register(ctx, tr, d.Addr(), bonds[2].proof(t, onion(2)), testSigner, clientCfg(t))
	var ne *NackError
	if !errors.As(err, &ne) || ne.Code != protocol.CodeDirectoryFull {
		t.Fatalf("less valuable bond when full: %v", err)
	}
	if _, err := Register(ctx, tr, d.Addr(), bonds[3].proof(t, onion(3)), testSigner, clientCfg(t)); err != nil {
		t.Fatal(err)
	}
	// A listed bond can always refresh, full or not.
	if _, err := Register(ctx, tr, d.Addr(), bonds[1].proof(t, onion(1)), testSigner, clientCfg(t)); err != nil {
		t.Fatal(err)
	}
	es, _ := d.Entries(ctx)
	if len(es) != 2 || es[0].Proof.BondOutPoint != bonds[3].op || es[1].Proof.BondOutPoint != bonds[1].op {
		t.Fatalf("entries %+v", es)
	}
}

func TestStartStopIdempotent(t *testing.T) {
	testutil.LeakCheck(t)
	d := startDir(t, "", newFakeChain(), newFakeClock(), nil)
	if err := d.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	d.Stop()
	if err := d.Start(testCtx(t)); !errors.Is(err, ErrServerStopped) {
		t.Fatalf("start after stop: %v", err)
	}
	if _, err := d.Entries(testCtx(t)); !errors.Is(err, ErrServerStopped) {
		t.Fatalf("entries after stop: %v", err)
	}
}

func TestClip(t *testing.T) {
	long := ""
	for len(long) < 2*protocol.MaxErrorTextLen {
		long += "é"
	}
	tests := []struct {
		name string
		in   string
	}{
		{"short", "spent"},
		{"long multibyte", long},
		{"long odd offset", "x" + long},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := protocol.Clip(tc.in)
			if len(got) > protocol.MaxErrorTextLen {
				t.Fatalf("len %d", len(got))
			}
			if _, err := protocol.EncodeMessage(&protocol.Nack{Code: 1, Text: got}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReplayedRegistrationRefused: the attack of issue 10 item 6. A
// maker's registration is public (every ListReply carries its proof);
// a third party re-sending it to keep a departed maker listed is
// challenged to sign with the bond key, cannot, is refused with
// BondNotHeld and disconnected, and the entry is not refreshed.
func TestReplayedRegistrationRefused(t *testing.T) {
	clock := newFakeClock()
	d := startDir(t, "", newFakeChain(), clock, nil)
	ctx := testCtx(t)
	tr := tor.NewLoopback()
	b := newTestBond(t)
	if _, err := Register(ctx, tr, d.Addr(), b.proof(t, onion(1)), testSigner, clientCfg(t)); err != nil {
		t.Fatal(err)
	}
	listed, err := List(ctx, tr, d.Addr(), clientCfg(t))
	if err != nil || len(listed) != 1 {
		t.Fatalf("list: %v, %v", listed, err)
	}
	seen := listed[0].LastSeen
	clock.Advance(10 * time.Minute)

	// The attacker has the listed proof, not the key.
	impostor, _ := btcec.NewPrivateKey()
	forge := func(_ context.Context, _ protocol.FidelityProof, digest [32]byte) ([]byte, error) {
		return ecdsa.Sign(impostor, digest[:]).Serialize(), nil
	}
	_, err = Register(ctx, tr, d.Addr(), listed[0].Proof, forge, clientCfg(t))
	var ne *NackError
	if !errors.As(err, &ne) || ne.Code != protocol.CodeBondNotHeld {
		t.Fatalf("replayed registration: %v, want Nack BondNotHeld", err)
	}
	// Not answering at all is refused the same way (after the timeout,
	// here cut short by the raw session's own end).
	pc := rawSession(t, d.Addr())
	if err := pc.Send(ctx, &protocol.Register{Addr: listed[0].Addr, Proof: listed[0].Proof}); err != nil {
		t.Fatal(err)
	}
	if r, err := pc.Receive(ctx); err != nil {
		t.Fatal(err)
	} else if _, ok := r.(*protocol.RegisterChallenge); !ok {
		t.Fatalf("got %T, want a challenge", r)
	}
	if err := pc.Send(ctx, &protocol.ListRequest{}); err != nil {
		t.Fatal(err)
	}
	if r, err := pc.Receive(ctx); err == nil {
		if n, ok := r.(*protocol.Nack); !ok || n.Code != protocol.CodeBondNotHeld {
			t.Fatalf("a list request instead of the answer: %T %v", r, r)
		}
	}
	again, err := List(ctx, tr, d.Addr(), clientCfg(t))
	if err != nil || len(again) != 1 || again[0].LastSeen != seen {
		t.Fatalf("after the replays: %+v, %v; want the entry unrefreshed (last seen %d)", again, err, seen)
	}
	// The maker itself refreshes as before.
	if _, err := Register(ctx, tr, d.Addr(), b.proof(t, onion(1)), testSigner, clientCfg(t)); err != nil {
		t.Fatalf("the key holder's refresh: %v", err)
	}
}
