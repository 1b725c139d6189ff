package maker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet/script"
)

func testOrigin(b byte) [protocol.XOnlyKeySize]byte {
	var o [protocol.XOnlyKeySize]byte
	for i := range o {
		o[i] = b
	}
	return o
}

// resign signs p again with the maker's key of the incoming output o
// (a maker lying about its own swap).
func resign(t *testing.T, m *swaptest.Maker, o *swap.Output, p *protocol.SwapProof) {
	t.Helper()
	priv, err := o.MyKey.Priv(m.W.Keys())
	if err != nil {
		t.Fatal(err)
	}
	d := p.Digest()
	p.Sig = ecdsa.Sign(priv, d[:]).Serialize()
}

// TestTrustProofOfCompletedSwap: a completed swap is proven only once its
// operator shares it; its proof verifies on our chain; a forged
// signature, a stale or future timestamp, another origin and a wrong
// amount are refused with their reasons.
func TestTrustProofOfCompletedSwap(t *testing.T) {
	net := swaptest.New(t)
	m := net.NewMaker("m", swaptest.MakerOpts{})
	tk, tw := net.NewTaker("taker", swaptest.Source(m), swaptest.TakerOpts{})
	net.AutoMine()
	if _, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 5_000_000, TxCount: 2, Makers: 1}); err != nil {
		t.Fatal(err)
	}
	ss := swaptest.MakerFinal(t, m)
	net.StopMining()
	net.Mine(1, m.W)
	ctx := swaptest.Ctx(t, swaptest.Timeout)
	origin := testOrigin(7)
	m.SetOrigin(origin)
	now := time.Now()

	if tp, err := m.TrustProofs(ctx, now); err != nil || len(tp.Proofs) != 0 {
		t.Fatalf("unshared swap: %d proofs, %v", len(tp.Proofs), err)
	}
	list, err := m.ProofSwaps(ctx)
	if err != nil || len(list) != 1 || list[0].Shared || list[0].Amount != ss[0].InTotal {
		t.Fatalf("proof swaps %+v, %v", list, err)
	}
	if err := m.ShareProof(ctx, ss[0].ID, true); err != nil {
		t.Fatal(err)
	}
	tp, err := m.TrustProofs(ctx, now)
	if err != nil || len(tp.Proofs) != 1 || tp.Origin != origin {
		t.Fatalf("shared swap: %+v, %v", tp, err)
	}
	// The proof crosses the wire as any message does.
	frame, err := protocol.EncodeMessage(tp)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := protocol.DecodePayload(protocol.TypeTrustProofs, frame[protocol.HeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	good := msg.(*protocol.TrustProofs).Proofs[0]
	// The blocks come from the wallet's own records (no txindex needed).
	fb, sb, err := m.W.CoinBlocks(ctx, good.FundingOutPoint)
	if err != nil || fb == nil || sb == nil || *fb != good.FundingBlock || *sb != good.SpendBlock {
		t.Fatalf("wallet's blocks of the funding output: %v %v %v", fb, sb, err)
	}
	v, err := market.VerifySwapProof(ctx, net.Chain, &good, origin, now)
	if err != nil {
		t.Fatalf("valid proof refused: %v", err)
	}
	if v.Value != ss[0].In[0].Value || v.OutPoint != ss[0].In[0].FundingOutPoint {
		t.Fatalf("verified %+v", v)
	}
	if s := market.Score([]market.VerifiedProof{*v}, market.History{}, now); s <= 0 {
		t.Fatalf("score %v", s)
	}

	// Over the wire, as `market trust` asks: without an offer in a book
	// the maker's origin is not bound to its onion, so its proofs do not
	// count; our own completed swap with it does.
	lb := tor.NewLoopback()
	defer lb.Close()
	svc := market.NewService(nil, nil, nil)
	svc.SetTrust(market.TrustConfig{Dialer: lb, Network: protocol.Regtest, Chain: net.Chain, Wallet: tw})
	r, err := svc.Trust(ctx, m.Addr())
	if err != nil || r.Error != "" || len(r.Proofs) != 1 || r.Proofs[0].OK || r.Bound ||
		r.History.Completed != 1 || r.Score != market.TrustCompletedPoints {
		t.Fatalf("trust over the wire: %+v, %v", r, err)
	}

	other, _ := btcec.NewPrivateKey()
	cases := []struct {
		name   string
		mutate func(p *protocol.SwapProof)
		now    time.Time
		origin [protocol.XOnlyKeySize]byte
		want   string
	}{
		{"forged signature", func(p *protocol.SwapProof) {
			d := p.Digest()
			p.Sig = ecdsa.Sign(other, d[:]).Serialize()
		}, now, origin, "bad signature"},
		{"changed amount", func(p *protocol.SwapProof) { p.Value++ }, now, origin, "bad signature"},
		{"stale timestamp", func(*protocol.SwapProof) {}, now.Add(market.TrustProofMaxAge + time.Minute), origin, "stale"},
		{"future timestamp", func(*protocol.SwapProof) {}, now.Add(-market.TrustClockSkew - time.Minute), origin, "future"},
		{"another origin", func(*protocol.SwapProof) {}, now, testOrigin(8), "origin"},
		{"wrong amount, signed", func(p *protocol.SwapProof) {
			p.Value += 1000
			resign(t, m, ss[0].In[0], p)
		}, now, origin, "holds"},
		{"spend block for funding block", func(p *protocol.SwapProof) { p.FundingBlock = p.SpendBlock }, now, origin, "not in block"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := good
			c.mutate(&p)
			_, err := market.VerifySwapProof(ctx, net.Chain, &p, c.origin, c.now)
			if !errors.Is(err, market.ErrProof) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

// TestTrustProofOfContestedSwapRefused: a swap whose incoming output went
// to its contract (the taker broadcast the contracts; the maker claimed
// by hashlock) cannot be shared, and a proof built for it anyway, signed
// by the maker's key, is refused as not cooperative.
func TestTrustProofOfContestedSwapRefused(t *testing.T) {
	net := swaptest.New(t)
	m := net.NewMaker("m", swaptest.MakerOpts{})
	tk, _ := net.NewTaker("taker", swaptest.Source(m), swaptest.TakerOpts{Faults: []string{swap.FaultTakerBroadcastContracts}})
	net.AutoMine()
	if _, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: 5_000_000, TxCount: 2, Makers: 1}); !errors.Is(err, swap.ErrFundedRecovering) {
		t.Fatalf("swap: %v, want ErrFundedRecovering", err)
	}
	if err := tk.Recover(swaptest.Ctx(t, swaptest.Timeout)); err != nil {
		t.Fatal(err)
	}
	ss := swaptest.MakerFinal(t, m)
	net.StopMining()
	net.Mine(1, m.W)
	ctx := swaptest.Ctx(t, swaptest.Timeout)
	if err := m.ShareProof(ctx, ss[0].ID, true); !errors.Is(err, maker.ErrNotShareable) {
		t.Fatalf("share of a %s swap: %v", ss[0].Phase, err)
	}
	o := ss[0].In[0]
	_, fst, err := net.Chain.Tx(ctx, o.FundingOutPoint.Hash)
	if err != nil || fst.BlockHash == nil {
		t.Fatalf("funding tx: %v", err)
	}
	_, cst, err := net.Chain.Tx(ctx, o.ContractTxid())
	if err != nil || cst.BlockHash == nil {
		t.Fatalf("contract tx: %v", err)
	}
	lo, hi, err := script.ParseMultisig(o.MultisigScript)
	if err != nil {
		t.Fatal(err)
	}
	origin := testOrigin(7)
	now := time.Now()
	p := protocol.SwapProof{FundingOutPoint: o.FundingOutPoint, Value: o.Value, PubKeys: [2]*btcec.PublicKey{lo, hi},
		Role: protocol.ProofRoleReceiver, FundingBlock: *fst.BlockHash, SpendBlock: *cst.BlockHash,
		Origin: origin, Timestamp: uint64(now.Unix())}
	mine, _ := o.MyKey.Pub(m.W.Keys())
	if hi.IsEqual(mine) {
		p.Signer = 1
	}
	resign(t, m, o, &p)
	_, err = market.VerifySwapProof(context.Background(), net.Chain, &p, origin, now)
	if !errors.Is(err, market.ErrProof) || !strings.Contains(err.Error(), "contract") {
		t.Fatalf("proof of a contested swap: %v", err)
	}
}

// BenchmarkVerifySwapProof: one proof checked on the in-memory chain
// (signature, two blocks fetched and scanned, two main-chain checks);
// on a real node each block fetch is a getblock RPC on top.
func BenchmarkVerifySwapProof(b *testing.B) {
	net := swaptest.New(b)
	m := net.NewMaker("m", swaptest.MakerOpts{})
	tk, _ := net.NewTaker("taker", swaptest.Source(m), swaptest.TakerOpts{})
	net.AutoMine()
	if _, err := tk.Swap(swaptest.Ctx(b, swaptest.Timeout), taker.Request{Amount: 5_000_000, TxCount: 1, Makers: 1}); err != nil {
		b.Fatal(err)
	}
	ss := swaptest.MakerFinal(b, m)
	net.StopMining()
	net.Mine(1, m.W)
	ctx := context.Background()
	origin := testOrigin(7)
	m.SetOrigin(origin)
	if err := m.ShareProof(ctx, ss[0].ID, true); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tp, err := m.TrustProofs(ctx, now)
	if err != nil || len(tp.Proofs) != 1 {
		b.Fatalf("%d proofs, %v", len(tp.Proofs), err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := market.VerifySwapProof(ctx, net.Chain, &tp.Proofs[0], origin, now); err != nil {
			b.Fatal(err)
		}
	}
}
