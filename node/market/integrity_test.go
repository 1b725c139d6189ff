package market

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/market/markettest"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

// chainPayer is the maker's wallet for the publisher's integrity fee:
// real payments on the test chain (markettest.Payer).
type chainPayer struct {
	t testing.TB
	c *chaintest.Chain
	p *markettest.Payer

	mu   sync.Mutex
	fail error // PayIntegrity fails with it
}

// testChain is the in-memory chain as markettest wants it.
type testChain struct{ *chaintest.Chain }

func (c testChain) Fund(_ context.Context, pk []byte, value int64) (wire.OutPoint, error) {
	return wire.OutPoint{Hash: c.Chain.Fund(pk, value).TxHash()}, nil
}

func newChainPayer(t testing.TB, c *chaintest.Chain) *chainPayer {
	return &chainPayer{t: t, c: c, p: &markettest.Payer{C: testChain{c}}}
}

func (p *chainPayer) LatestIntegrity(ctx context.Context) (*IntegrityPayment, error) {
	ps, err := p.p.Payments(ctx)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	last := ps[len(ps)-1]
	return &IntegrityPayment{OutPoint: last.OutPoint, Fee: last.Fee, VSize: last.VSize, Height: last.Height}, nil
}

func (p *chainPayer) PayIntegrity(ctx context.Context, fee, topUp int64) (*IntegrityPayment, error) {
	p.mu.Lock()
	fail := p.fail
	p.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	q, err := p.p.Pay(ctx, fee, topUp)
	if err != nil {
		return nil, err
	}
	return &IntegrityPayment{OutPoint: q.OutPoint, Fee: q.Fee, VSize: q.VSize}, nil
}

func (p *chainPayer) ProveIntegrity(ctx context.Context, op wire.OutPoint, digest [32]byte) (*protocol.IntegrityProof, error) {
	ps, err := p.p.Payments(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range ps {
		if q.OutPoint == op {
			return p.p.Proof(ctx, q, digest)
		}
	}
	return nil, errors.New("no such payment")
}

// paid makes one confirmed payment of fee and returns it.
func (p *chainPayer) paid(fee int64) *IntegrityPayment {
	p.t.Helper()
	if _, err := p.PayIntegrity(context.Background(), fee, 7*fee); err != nil {
		p.t.Fatal(err)
	}
	p.c.MineN(1)
	q, err := p.LatestIntegrity(context.Background())
	if err != nil || q.Height == 0 {
		p.t.Fatalf("payment not confirmed: %+v %v", q, err)
	}
	return q
}

func (p *chainPayer) payments() []*markettest.Payment {
	ps, err := p.p.Payments(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return ps
}

// integrityEnvelope is an integrity offer envelope by origin for
// payment q of pp, broken as mutate says.
func integrityEnvelope(t testing.TB, origin *btcec.PrivateKey, pp *chainPayer, q *IntegrityPayment, max int64,
	mutate func(*protocol.PoolEnvelope, *protocol.MarketOffer)) *protocol.PoolEnvelope {
	t.Helper()
	tp, _ := btcec.NewPrivateKey()
	e := &protocol.PoolEnvelope{Network: protocol.Regtest, Topic: pool.TopicOffer, Item: OfferItem, Seq: 1,
		Created: uint64(time.Now().Unix()), Expiry: uint64(time.Now().Add(OfferTTL).Unix())}
	if err := e.Sign(origin); err != nil {
		t.Fatal(err)
	}
	proof, err := pp.ProveIntegrity(context.Background(), q.OutPoint, IntegrityDigest(e.Origin, IntegrityExpiry(q.Height)))
	if err != nil {
		t.Fatal(err)
	}
	mo := &protocol.MarketOffer{ProofKind: protocol.OfferProofIntegrity, Addr: validOnion(t), Integrity: proof,
		Offer: protocol.Offer{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 100_000, MaxSize: max,
			MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: tp.PubKey()}}
	if mutate != nil {
		mutate(e, mo)
	}
	if e.Body == nil && !e.IsRemoval() {
		if e.Body, err = protocol.EncodeMarketOffer(mo); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// validOnion is a v3 onion address (the test makers' onion(n) are not).
func validOnion(t testing.TB) string {
	k, err := tor.GenerateOnionKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.ServiceID() + ".onion:80"
}

func TestRequiredIntegrityFee(t *testing.T) {
	for _, tc := range []struct {
		level        IntegrityLevel
		max, vsize   int64
		want         int64
		wantLevelFor IntegrityLevel
	}{
		{IntegrityLow, 100_000_000, 110, 10_000, IntegrityLow},                    // 0.01 % of 1 BTC
		{IntegrityNormal, 100_000_000, 110, 100_000, IntegrityNormal},             // 0.1 %
		{IntegrityHigh, 100_000_000, 110, 500_000, IntegrityHigh},                 // 0.5 %
		{IntegrityLow, 1_000_000, 110, 550, IntegrityLow},                         // the floor: 5 sat/vB × 110 vB
		{IntegrityNormal, 1_000_000, 300, 1500, IntegrityNormal},                  // floor again
		{IntegrityHigh, 1_000_000, 110, 5000, IntegrityHigh},                      // 0.5 % of 0.01 BTC
		{IntegrityNormal, 10_000_000, 110, 10_000, IntegrityNormal},               // 0.1 % of 0.1 BTC
		{IntegrityLow, 2_100_000_000_000_000, 110, 210_000_000_000, IntegrityLow}, // no overflow at 21M BTC
	} {
		got := RequiredIntegrityFee(tc.level, tc.max, tc.vsize)
		if got != tc.want {
			t.Errorf("%v of %d (%d vB): %d, want %d", tc.level, tc.max, tc.vsize, got, tc.want)
		}
		if l := levelOf(got, tc.max, tc.vsize); l != tc.wantLevelFor {
			t.Errorf("level of %d for %d: %v, want %v", got, tc.max, l, tc.wantLevelFor)
		}
	}
	if l := levelOf(549, 1_000_000, 110); l != IntegrityNone {
		t.Errorf("below the floor: %v", l)
	}
	for _, s := range []string{"low", "normal", "high"} {
		if l, err := ParseIntegrityLevel(s); err != nil || l.String() != s {
			t.Errorf("%s: %v %v", s, l, err)
		}
	}
	if _, err := ParseIntegrityLevel("huge"); err == nil {
		t.Error("unknown level parsed")
	}
}

// TestIntegrityVerdicts: a real payment on the test chain backs an offer;
// forged, too small, unconfirmed, expired and reused proofs are refused
// with their reason, provably false ones rejected (the relayer pays),
// the others ignored; the chain is asked once per proof.
func TestIntegrityVerdicts(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	cc := &countingChain{Chain: c}
	v := NewValidator(cc, script.DefaultBondParams(), nil)
	pp := newChainPayer(t, c)
	q := pp.paid(5_000)
	origin, _ := btcec.NewPrivateKey()
	other, _ := btcec.NewPrivateKey()
	const max = 5_000_000 // 0.05 BTC: low needs 500 sat, high 25,000
	tests := []struct {
		name   string
		max    int64
		mutate func(*protocol.PoolEnvelope, *protocol.MarketOffer)
		want   pool.Verdict
		err    error
	}{
		{"good offer", max, nil, pool.Accept, nil},
		{"fee below the low level for the maximum", 100_000_000, nil, pool.Reject, ErrIntegrityTooSmall},
		{"origin signed by another key", max, func(e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			d := IntegrityDigest(e.Origin, IntegrityExpiry(q.Height))
			mo.Integrity.Sig = ecdsa.Sign(other, d[:]).Serialize()
		}, pool.Reject, ErrIntegrityForged},
		{"signature for a later expiry", max, func(e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			mo.Integrity.Height++ // as if confirmed later: the signed expiry no longer matches
		}, pool.Reject, ErrIntegrityForged},
		{"input value inflated", max, func(_ *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			mo.Integrity.InputValues[0] += 100_000 // a bigger fee: the BIP143 signature says otherwise
		}, pool.Reject, ErrIntegrityForged},
		{"integrity key not the output's", max, func(e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			mo.Integrity.Key = other.PubKey()
			d := IntegrityDigest(e.Origin, IntegrityExpiry(q.Height))
			mo.Integrity.Sig = ecdsa.Sign(other, d[:]).Serialize()
		}, pool.Reject, ErrIntegrityForged},
		{"not in the block", max, func(_ *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			mo.Integrity.Branch = append(mo.Integrity.Branch, chainhash.Hash{1})
		}, pool.Reject, ErrIntegrityForged},
		{"block not in our main chain", max, func(_ *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			mo.Integrity.Block[0] ^= 1
		}, pool.Ignore, ErrIntegrityUnconfirmed},
		{"not an onion address", max, func(_ *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			mo.Addr = "example.com:80"
		}, pool.Reject, ErrOfferAddr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := integrityEnvelope(t, origin, pp, q, tc.max, tc.mutate)
			got, err := v.Validate(context.Background(), e)
			if got != tc.want || (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("verdict %v (%v), want %v (%v)", got, err, tc.want, tc.err)
			}
			if err != nil && RefusalWhy(err) == "other" {
				t.Fatalf("refusal %v has no name for pool stats", err)
			}
		})
	}

	before := cc.calls.Load()
	if got, err := v.Validate(context.Background(), integrityEnvelope(t, origin, pp, q, max, nil)); got != pool.Accept {
		t.Fatalf("again: %v %v", got, err)
	}
	if n := cc.calls.Load() - before; n != 0 {
		t.Fatalf("%d chain calls for a cached proof", n)
	}

	t.Run("unconfirmed payment", func(t *testing.T) {
		u, err := pp.p.Pay(context.Background(), 5_000, 35_000) // in the mempool only
		if err != nil {
			t.Fatal(err)
		}
		e := integrityEnvelope(t, origin, pp, q, max, func(e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
			// A proof claiming the next block, which does not exist yet.
			h := uint32(c.Height()) + 1
			mo.Integrity = markettest.UnminedProof(u, h, IntegrityDigest(e.Origin, IntegrityExpiry(h)))
		})
		if got, err := v.Validate(context.Background(), e); got != pool.Ignore || !errors.Is(err, ErrIntegrityUnconfirmed) {
			t.Fatalf("verdict %v (%v)", got, err)
		}
	})

	t.Run("expired after 144 blocks", func(t *testing.T) {
		c2 := chaintest.New(chaintest.Options{})
		v2 := NewValidator(c2, script.DefaultBondParams(), nil)
		pp2 := newChainPayer(t, c2)
		q2 := pp2.paid(5_000)
		c2.MineN(IntegrityValidBlocks - 1) // the 144th block since: still valid
		if got, err := v2.Validate(context.Background(), integrityEnvelope(t, origin, pp2, q2, max, nil)); got != pool.Accept {
			t.Fatalf("at the last valid height: %v %v", got, err)
		}
		c2.MineN(1)
		v2.mu.Lock()
		v2.tipAt = time.Time{} // the tip is cached for 10 s
		v2.mu.Unlock()
		if got, err := v2.Validate(context.Background(), integrityEnvelope(t, origin, pp2, q2, max, nil)); got != pool.Ignore ||
			!errors.Is(err, ErrIntegrityExpired) {
			t.Fatalf("one block later: %v %v", got, err)
		}
	})
}

// TestOneOfferPerIntegrityPayment: one payment backs one live offer; the
// holder's refresh passes; another origin may take it over only after
// the holder has held it for IntegrityGrace (the seed's 15-minute
// switch), and then the holder cannot take it straight back.
func TestOneOfferPerIntegrityPayment(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v := NewValidator(c, script.DefaultBondParams(), clock)
	pp := newChainPayer(t, c)
	q := pp.paid(5_000)
	first, _ := btcec.NewPrivateKey()
	second, _ := btcec.NewPrivateKey()
	ctx := context.Background()
	verdict := func(origin *btcec.PrivateKey) (pool.Verdict, error) {
		return v.Validate(ctx, integrityEnvelope(t, origin, pp, q, 5_000_000, nil))
	}
	if got, err := verdict(first); got != pool.Accept {
		t.Fatalf("first origin: %v %v", got, err)
	}
	if got, err := verdict(second); got != pool.Ignore || !errors.Is(err, ErrIntegrityInUse) {
		t.Fatalf("second origin within the grace: %v %v", got, err)
	}
	mu.Lock()
	now = now.Add(IntegrityGrace)
	mu.Unlock()
	if got, err := verdict(first); got != pool.Accept {
		t.Fatalf("the holder's refresh: %v %v", got, err)
	}
	if got, err := verdict(second); got != pool.Accept {
		t.Fatalf("second origin after the grace: %v %v", got, err)
	}
	if got, err := verdict(first); got != pool.Ignore || !errors.Is(err, ErrIntegrityInUse) {
		t.Fatalf("first origin straight back: %v %v", got, err)
	}
}

// TestIntegrityBlacklistInheritance: a listed integrity output's next
// payment (which spends it) is listed too, with the parent's reason and
// expiry, and its offer is hidden and not relayed.
func TestIntegrityBlacklistInheritance(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	bl := NewBlacklist(testWallet(t, c), nil)
	v := NewValidator(c, script.DefaultBondParams(), nil)
	v.UseBlacklist(bl)
	pp := newChainPayer(t, c)
	ctx := context.Background()
	q1 := pp.paid(5_000)
	origin, _ := btcec.NewPrivateKey()
	if got, err := v.Validate(ctx, integrityEnvelope(t, origin, pp, q1, 5_000_000, nil)); got != pool.Accept {
		t.Fatalf("before listing: %v %v", got, err)
	}
	if err := bl.Add(ctx, wallet.ListIntegrity, q1.OutPoint.String(), "spam offers", 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	q2 := pp.paid(5_000) // spends q1's integrity output
	newOrigin, _ := btcec.NewPrivateKey()
	got, err := v.Validate(ctx, integrityEnvelope(t, newOrigin, pp, q2, 5_000_000, nil))
	if got != pool.Ignore || !errors.Is(err, ErrListed) || !strings.Contains(err.Error(), "spam offers") {
		t.Fatalf("next payment: %v %v", got, err)
	}
	es, err := bl.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var child *wallet.BlacklistEntry
	for i := range es {
		if es[i].Value == q2.OutPoint.String() {
			child = &es[i]
		}
	}
	if child == nil || child.Kind != wallet.ListIntegrity || child.Until.IsZero() ||
		!strings.Contains(child.Reason, q1.OutPoint.String()) {
		t.Fatalf("inherited entry %+v in %+v", child, es)
	}
	// And the payment after that, from the inherited listing.
	q3 := pp.paid(5_000)
	if got, err := v.Validate(ctx, integrityEnvelope(t, newOrigin, pp, q3, 5_000_000, nil)); got != pool.Ignore ||
		!errors.Is(err, ErrListed) {
		t.Fatalf("third payment: %v %v", got, err)
	}
	// A payment our chain has not confirmed, spending the third one's
	// listed output, passes nothing on: made-up transactions cannot make
	// the list grow.
	forged, err := pp.p.Pay(ctx, 5_000, 35_000) // broadcast, never mined
	if err != nil {
		t.Fatal(err)
	}
	before, _ := bl.List(ctx)
	e := integrityEnvelope(t, newOrigin, pp, q3, 5_000_000, func(e *protocol.PoolEnvelope, mo *protocol.MarketOffer) {
		h := uint32(c.Height()) + 1
		mo.Integrity = markettest.UnminedProof(forged, h, IntegrityDigest(e.Origin, IntegrityExpiry(h)))
	})
	if got, err := v.Validate(ctx, e); got != pool.Ignore || !errors.Is(err, ErrIntegrityUnconfirmed) {
		t.Fatalf("unconfirmed spend of a listed output: %v %v", got, err)
	}
	if after, _ := bl.List(ctx); len(after) != len(before) {
		t.Fatalf("an unproven payment was listed: %d entries, were %d", len(after), len(before))
	}
}

// bondlessMaker is a maker without a bond: its offer carries no
// certificate.
type bondlessMaker struct {
	tp  *btcec.PublicKey
	max int64
}

func (m *bondlessMaker) Offer(context.Context) (*protocol.Offer, error) {
	return &protocol.Offer{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 100_000, MaxSize: m.max,
		MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: m.tp}, nil
}

func (m *bondlessMaker) SignWithBondKey(context.Context, wire.OutPoint, [32]byte) ([]byte, error) {
	return nil, errors.New("no bond")
}

// TestPublishIntegrity: a maker without a bond pays its integrity fee,
// publishes once it confirms, and the other node's book shows the offer
// with its proof kind and level (and filters by them); before the payment
// stops backing offers a new one, spending the old integrity output, is
// paid and the offer moves to it without a gap.
func TestPublishIntegrity(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	policy := script.DefaultBondParams()
	va, vb := NewValidator(c, policy, nil), NewValidator(c, policy, nil)
	a := newPoolNode(t, va)
	b := newPoolNode(t, vb, a.addr)
	tp, _ := btcec.NewPrivateKey()
	pp := newChainPayer(t, c)
	addr := validOnion(t)
	pub := NewPublisher(PublisherConfig{Pool: a.pool, Maker: &bondlessMaker{tp: tp.PubKey(), max: 5_000_000},
		Locks: &locker{}, CheckInterval: 20 * time.Millisecond, MinRepublish: 50 * time.Millisecond,
		Integrity: &IntegrityConfig{Payer: pp, Level: IntegrityNormal, Addr: addr,
			Tip: func(context.Context) (int32, error) { return c.Height(), nil }}})
	svc := NewService(NewBook(a.pool, va), pub, nil)
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	eventually(t, "the first payment", func() bool { return len(pp.payments()) == 1 })
	time.Sleep(100 * time.Millisecond)
	if st := pub.Status(); st.Published || !strings.Contains(st.Why, "confirm") {
		t.Fatalf("published before its payment confirmed: %+v", st)
	}
	c.MineN(1)
	book := NewBook(b.pool, vb)
	eventually(t, "the integrity offer in the other node's book", func() bool { return len(bookOf(t, book, Query{})) == 1 })
	e := bookOf(t, book, Query{})[0]
	// Normal (0.1 %) of 5,000,000 sat with 25 % headroom: 6,250 sat.
	if e.Addr != addr || e.Proof != ProofIntegrity || e.IntegrityLevel != "normal" || e.IntegrityFee != 6_250 ||
		e.BondValue != 0 || e.MaxSize != 5_000_000 {
		t.Fatalf("entry %+v", e)
	}
	for _, tc := range []struct {
		q    Query
		want int
	}{
		{Query{Proof: ProofIntegrity}, 1},
		{Query{Proof: ProofBond}, 0},
		{Query{MinIntegrityLevel: IntegrityNormal}, 1},
		{Query{MinIntegrityLevel: IntegrityHigh}, 0},
		{Query{MinBondValue: 1}, 0},
	} {
		if got := len(bookOf(t, book, tc.q)); got != tc.want {
			t.Errorf("%+v: %d offers, want %d", tc.q, got, tc.want)
		}
	}
	if st := pub.Status(); !st.Published || st.Proof != ProofIntegrity || st.IntegrityFee != 6_250 ||
		st.IntegrityOutput != pp.payments()[0].OutPoint.String() {
		t.Fatalf("status %+v", st)
	}
	if cs, _ := book.Makers(context.Background()); len(cs) != 1 || cs[0].Addr != addr || cs[0].Proof != nil ||
		cs[0].IntegrityFee != 6_250 {
		t.Fatalf("candidates %+v", cs)
	}

	// A day later: renewed IntegrityRenewBlocks before the old one lapses.
	first := pp.payments()[0]
	c.MineN(IntegrityValidBlocks - IntegrityRenewBlocks - 1)
	time.Sleep(100 * time.Millisecond)
	if n := len(pp.payments()); n != 1 {
		t.Fatalf("%d payments before the renewal is due", n)
	}
	c.MineN(1)
	eventually(t, "the renewal", func() bool { return len(pp.payments()) == 2 })
	second := pp.payments()[1]
	if in := second.Tx.TxIn; len(in) != 1 || in[0].PreviousOutPoint != first.OutPoint {
		t.Fatalf("the renewal does not spend the integrity output alone: %v", in)
	}
	c.MineN(1)
	eventually(t, "the offer on the new payment", func() bool {
		es := bookOf(t, book, Query{})
		return len(es) == 1 && es[0].backing == second.OutPoint
	})
	c.MineN(IntegrityRenewBlocks + 1) // past the first payment's last height
	vb.mu.Lock()
	vb.tipAt = time.Time{}
	vb.mu.Unlock()
	if es := bookOf(t, book, Query{}); len(es) != 1 {
		t.Fatalf("offer gone after the first payment lapsed: %+v", es)
	}
}
