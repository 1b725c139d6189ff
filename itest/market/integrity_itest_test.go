//go:build itest

package market

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/market/markettest"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// clusterChain is the regtest chain as markettest wants it.
type clusterChain struct{ *cluster.Cluster }

func (c clusterChain) Fund(ctx context.Context, pk []byte, value int64) (wire.OutPoint, error) {
	addr, err := btcutil.NewAddressWitnessPubKeyHash(pk[2:], c.Params())
	if err != nil {
		return wire.OutPoint{}, err
	}
	txid, err := c.FundAddress(ctx, addr.EncodeAddress(), btcutil.Amount(value))
	if err != nil {
		return wire.OutPoint{}, err
	}
	tx, _, err := c.Backend().Tx(ctx, txid)
	if err != nil {
		return wire.OutPoint{}, err
	}
	for i, o := range tx.TxOut {
		if string(o.PkScript) == string(pk) {
			return wire.OutPoint{Hash: txid, Index: uint32(i)}, nil
		}
	}
	return wire.OutPoint{}, fmt.Errorf("funding %v pays no %x", txid, pk)
}

func (c clusterChain) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	return c.Backend().Broadcast(ctx, tx)
}
func (c clusterChain) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	return c.Backend().Tip(ctx)
}
func (c clusterChain) BlockHash(ctx context.Context, h int32) (chainhash.Hash, error) {
	return c.Backend().BlockHash(ctx, h)
}
func (c clusterChain) Block(ctx context.Context, h chainhash.Hash) (*wire.MsgBlock, error) {
	return c.Backend().Block(ctx, h)
}

// TestIntegrityOffersOverTor: a maker without a bond pays its integrity
// fee from its own wallet and publishes; a taker joining the pool sees it
// beside a bonded maker's offer (proof kind and level), and swaps with
// it (exact balances). An outside peer then offers hand-made integrity
// offers to the bonded maker's node: a good one is relayed to the
// taker's book; forged, too small, unconfirmed and reused ones are
// refused with their reason (pool stats) and never reach the taker.
func TestIntegrityOffersOverTor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	stopMine := clu.AutoMine(ctx, cluster.AutoMineOptions{})
	defer stopMine()

	// The test's own tor bootstraps while the nodes start.
	outside := make(chan *tor.TorTransport, 1)
	go func() {
		tr, err := clu.OutsideTransport(ctx, "integrity-outside-tor")
		if err != nil {
			t.Errorf("outside tor: %v", err)
		}
		outside <- tr
	}()

	if _, err := clu.Spawn(ctx, cluster.Spec{Name: "idir", Role: cluster.RoleDirectory}); err != nil {
		t.Fatal(err)
	}
	mb, err := clu.Spawn(ctx, cluster.Spec{Name: "mbond", Role: cluster.RoleMaker, Fund: 20_000_000, FundCoins: 5, Args: lineArgs})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := clu.Spawn(ctx, cluster.Spec{Name: "mfee", Role: cluster.RoleMaker, Fund: 20_000_000, FundCoins: 5,
		Args: append([]string{"--pool-peer", mb.Onion(), "--offer-proof", "integrity", "--integrity-level", "normal"}, lineArgs...)})
	if err != nil {
		t.Fatal(err)
	}
	tk := spawnTaker(t, ctx, "itaker", mb.Onion())
	took := bookHolds(t, ctx, tk, "the bonded and the integrity offer", mb.Onion(), mi.Onion())
	t.Logf("the taker's book holds both offers %s after it was ready", took.Round(10*time.Millisecond))

	es, err := offers(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	var fee market.Entry
	for _, e := range es {
		if e.Addr == mi.Onion() {
			fee = e
		}
	}
	if fee.Proof != market.ProofIntegrity || fee.IntegrityLevel != "normal" || fee.IntegrityFee <= 0 || fee.BondValue != 0 {
		t.Fatalf("the integrity offer in the taker's book: %+v", fee)
	}
	st, err := control.Call[market.StatusReply](ctx, mi.Client(), http.MethodGet, "/v1/market/status", nil)
	if err != nil || st.Offer == nil || st.Offer.Proof != market.ProofIntegrity || st.Offer.IntegrityFee != fee.IntegrityFee {
		t.Fatalf("the integrity maker's market status %+v %v", st.Offer, err)
	}
	t.Logf("integrity offer: %d sat paid to miners (level %s), valid to height %d; max %d sat",
		fee.IntegrityFee, fee.IntegrityLevel, st.Offer.IntegrityExpiry, fee.MaxSize)
	if only, err := control.Call[[]market.Entry](ctx, tk.Client(), http.MethodGet, "/v1/market/offers?proof=integrity", nil); err != nil ||
		len(only) != 1 || only[0].Addr != mi.Onion() {
		t.Fatalf("offers?proof=integrity: %v %v", addrs(only), err)
	}

	waitFunded(t, ctx, tk)
	rep := swapExact(t, ctx, tk, control.TakerSwapRequest{Amount: 1_000_000, Makers: 1, TxCount: 1,
		Offers: []string{mi.Onion()}}, mi)
	t.Logf("swap with the bondless maker: %s, %d round trips", rep.Duration, rep.RoundTrips)

	testIntegrityRefusals(t, ctx, <-outside, mb, tk)
}

// testIntegrityRefusals: hand-made integrity offers from an outside peer
// of target, each with a real payment on the regtest chain.
func testIntegrityRefusals(t *testing.T, ctx context.Context, tr *tor.TorTransport, target, far *cluster.Proc) {
	if tr == nil {
		t.Fatal("no outside tor")
	}
	defer tr.Close()
	payer := &markettest.Payer{C: clusterChain{clu}}
	pay := func() *markettest.Payment {
		t.Helper()
		if _, err := payer.Pay(ctx, 20_000, 100_000); err != nil {
			t.Fatal(err)
		}
		var q *markettest.Payment
		err := cluster.Poll(ctx, 250*time.Millisecond, "the payment mined", func() (bool, string) {
			ps, err := payer.Payments(ctx)
			if err != nil {
				return false, err.Error()
			}
			q = ps[len(ps)-1]
			return q.Height > 0, "in the mempool"
		})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	good, reused, old := pay(), pay(), pay()
	holder, _ := btcec.NewPrivateKey()
	// Each offer names an address of its own, so the taker's book shows
	// which of them got through.
	goodAddr := unservedOnion(t)
	var refusedAddrs []string
	offer := func(key *btcec.PrivateKey, max int64, q *markettest.Payment, mod func(o *protocol.MarketOffer, origin [32]byte)) []byte {
		t.Helper()
		addr := goodAddr
		if len(refusedAddrs) > 0 || key != holder {
			addr = unservedOnion(t)
			refusedAddrs = append(refusedAddrs, addr)
		}
		now := uint64(time.Now().Unix())
		e := &protocol.PoolEnvelope{Network: protocol.Regtest, Topic: pool.TopicOffer, Item: market.OfferItem, Seq: now,
			Created: now, Expiry: now + uint64(market.OfferTTL/time.Second)}
		if err := e.Sign(key); err != nil { // sets the origin
			t.Fatal(err)
		}
		proof, err := payer.Proof(ctx, q, market.IntegrityDigest(e.Origin, market.IntegrityExpiry(q.Height)))
		if err != nil {
			t.Fatal(err)
		}
		tp, _ := btcec.NewPrivateKey()
		mo := &protocol.MarketOffer{ProofKind: protocol.OfferProofIntegrity, Addr: addr, Integrity: proof,
			Offer: protocol.Offer{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 100_000,
				MaxSize: max, MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: tp.PubKey()}}
		if mod != nil {
			mod(mo, e.Origin)
		}
		if e.Body, err = protocol.EncodeMarketOffer(mo); err != nil {
			t.Fatal(err)
		}
		if err := e.Sign(key); err != nil {
			t.Fatal(err)
		}
		raw, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	send := func(raw []byte) *cluster.Outsider {
		t.Helper()
		dctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		o, err := cluster.DialPool(dctx, tr, target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Conn.Close() })
		if err := o.Conn.Send(ctx, &protocol.PoolMsgs{Envelopes: [][]byte{raw}}); err != nil {
			t.Fatal(err)
		}
		return o
	}
	stats := func() pool.Stats {
		t.Helper()
		s, err := control.Call[pool.Stats](ctx, target.Client(), http.MethodGet, "/v1/pool/stats", nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// 20,000 sat is the normal level for up to 20,000,000 sat.
	send(offer(holder, 5_000_000, good, nil))
	bookHolds(t, ctx, far, "the outside integrity offer relayed", append(bookAddrs(t, ctx, far), goodAddr)...)

	other, _ := btcec.NewPrivateKey()
	for _, tc := range []struct {
		name, why string
		raw       []byte
	}{
		{"forged origin signature", "integrity-forged", offer(freshKey(t), 5_000_000, reused, func(o *protocol.MarketOffer, origin [32]byte) {
			d := market.IntegrityDigest(origin, market.IntegrityExpiry(o.Integrity.Height))
			o.Integrity.Sig = ecdsa.Sign(other, d[:]).Serialize()
		})},
		{"inflated input value", "integrity-forged", offer(freshKey(t), 5_000_000, reused, func(o *protocol.MarketOffer, _ [32]byte) {
			o.Integrity.InputValues[0] += 1_000_000
		})},
		{"too small for its maximum", "integrity-too-small", offer(freshKey(t), 1_000_000_000, reused, nil)},
		{"unconfirmed", "integrity-unconfirmed", offer(freshKey(t), 5_000_000, reused, func(o *protocol.MarketOffer, origin [32]byte) {
			tip, _ := clu.Tip(ctx)
			h := uint32(tip) + 5
			*o.Integrity = *markettest.UnminedProof(reused, h, market.IntegrityDigest(origin, market.IntegrityExpiry(h)))
		})},
		{"payment reused by another origin", "integrity-in-use", offer(freshKey(t), 5_000_000, good, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := pool.TopicOffer + ": " + tc.why
			before := stats().Refused[key]
			send(tc.raw)
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			err := cluster.Poll(pctx, 200*time.Millisecond, key+" counted", func() (bool, string) {
				s := stats()
				return s.Refused[key] > before, fmt.Sprintf("refused %v", s.Refused)
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("refused at %s: %s", target.Name, tc.why)
		})
	}
	// A payment older than 144 blocks: mined past its window (the target's
	// validator reads the tip at most every 10 s).
	t.Run("expired", func(t *testing.T) {
		tip, err := clu.Tip(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := clu.Mine(ctx, int(market.IntegrityExpiry(old.Height))-int(tip)+1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(11 * time.Second)
		key := pool.TopicOffer + ": integrity-expired"
		before := stats().Refused[key]
		send(offer(freshKey(t), 5_000_000, old, nil))
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := cluster.Poll(pctx, 200*time.Millisecond, key+" counted", func() (bool, string) {
			s := stats()
			return s.Refused[key] > before, fmt.Sprintf("refused %v", s.Refused)
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("refused at %s: integrity-expired", target.Name)
	})
	// None of them reached the taker behind the target: its book is the
	// two makers' offers (the integrity maker renewed its payment) and the
	// good outside one until it too is past its window.
	es, err := offers(ctx, far)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range refusedAddrs {
		if slices.Contains(addrs(es), a) {
			t.Fatalf("a refused offer reached the taker: %v", addrs(es))
		}
	}
	t.Logf("the taker's book after the refusals: %d offers, none refused", len(es))
}

func bookAddrs(t *testing.T, ctx context.Context, p *cluster.Proc) []string {
	t.Helper()
	es, err := offers(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return addrs(es)
}

// unservedOnion is a valid v3 onion address nobody serves.
func unservedOnion(t *testing.T) string {
	k, err := tor.GenerateOnionKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.ServiceID() + ".onion:80"
}

func freshKey(t *testing.T) *btcec.PrivateKey {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
