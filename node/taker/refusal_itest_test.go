//go:build itest

package taker_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet/script"
)

// TestMakerRefusesCheats sends hand-made SetupHops to a live maker: each
// cheat is refused with an explicit Error (the right code), nothing is
// signed or stored, and the maker keeps serving (a valid request after
// all of them is accepted). A taker that disconnects after its setup,
// before anything is funded, has its reservation released after
// ReleaseAfterDisconnect, not the whole idle timeout.
func TestMakerRefusesCheats(t *testing.T) {
	const release = time.Second
	m := newMaker(t, "m", makerOpts{release: release})
	ctx := tctx(t, time.Minute)
	lb := tor.NewLoopback()
	defer lb.Close()
	dial := func() *protocol.Conn {
		nc, err := lb.Dial(ctx, m.m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c := protocol.NewConn(nc, protocol.ConnConfig{})
		if _, err := c.Handshake(ctx, protocol.NewHello(protocol.Regtest, "test")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	if err := c.Send(ctx, &protocol.OfferRequest{}); err != nil {
		t.Fatal(err)
	}
	msg, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	P := msg.(*protocol.Offer).TweakablePoint
	sender, _ := btcec.NewPrivateKey()
	senderTL, _ := btcec.NewPrivateKey()
	var pre [32]byte
	_, _ = rand.Read(pre[:])
	hash := script.PreimageHash(pre)
	const cfr = 4000

	// build returns a valid SetupHop for 2 outputs; mutate breaks it.
	type knobs struct {
		msgValue   int64    // value claimed in the message (0 = the real one)
		hash       [20]byte // hash in the contract (zero = the message's)
		noMakerKey bool     // 2-of-2 without the maker's key
		badSig     bool
		outLock    uint16
		reimb      int64
		samePoint  bool // both outputs on one outpoint
	}
	build := func(k knobs) *protocol.SetupHop {
		h := &protocol.SetupHop{Hash: hash, InLocktime: 60, OutLocktime: 40, FundingFeeRate: 2000, ContractFeeRate: cfr,
			Reimbursement: swap.Reimbursement(2, 2000)}
		_, _ = rand.Read(h.SwapID[:])
		if k.outLock != 0 {
			h.OutLocktime = k.outLock
		}
		if k.reimb != 0 {
			h.Reimbursement = k.reimb
		}
		for i := 0; i < 2; i++ {
			mn, _ := script.NewNonce()
			hn, _ := script.NewNonce()
			makerMS := script.TweakPubKey(P, mn)
			if k.noMakerKey {
				other, _ := btcec.NewPrivateKey()
				makerMS = other.PubKey()
			}
			ms, err := script.MultisigScript(sender.PubKey(), makerMS)
			if err != nil {
				t.Fatal(err)
			}
			value := int64(100_000)
			op, proof := provenFunding(t, ctx, ms, value)
			if k.samePoint && i == 1 {
				op, proof = h.Incoming[0].FundingOutPoint, h.Incoming[0].Proof
			}
			ch := hash
			if k.hash != ([20]byte{}) {
				ch = k.hash
			}
			cs, err := swap.ContractFor(ch, script.TweakPubKey(P, hn), senderTL.PubKey(), h.InLocktime)
			if err != nil {
				t.Fatal(err)
			}
			ctx, err := script.NewContractTx(op, value, cs, swap.ContractFee(cfr))
			if err != nil {
				t.Fatal(err)
			}
			sig, err := swap.SignContract(ctx, ms, value, sender)
			if err != nil {
				t.Fatal(err)
			}
			if k.badSig {
				sig, _ = swap.SignContract(ctx, ms, value+1, sender)
			}
			if k.msgValue != 0 {
				value = k.msgValue
			}
			nmn, _ := script.NewNonce()
			nhn, _ := script.NewNonce()
			h.Incoming = append(h.Incoming, protocol.IncomingOutput{FundingOutPoint: op, FundingValue: value, MultisigScript: ms,
				MultisigNonce: mn, HashlockNonce: hn, TimelockPubKey: senderTL.PubKey(), ContractTx: ctx, SenderSig: sig,
				Proof: proof})
			h.Outgoing = append(h.Outgoing, protocol.NextHopKeys{MultisigPubKey: script.TweakPubKey(P, nmn),
				HashlockPubKey: script.TweakPubKey(P, nhn)})
		}
		return h
	}
	var other [20]byte
	other[0] = 1
	tests := []struct {
		name string
		k    knobs
		code protocol.ErrorCode
		want error
	}{
		{"forged amount", knobs{msgValue: 150_000}, protocol.CodeInvalidRequest, swap.ErrContractTx},
		{"wrong hash value", knobs{hash: other}, protocol.CodeInvalidRequest, swap.ErrContractTx},
		{"multisig without the maker's key", knobs{noMakerKey: true}, protocol.CodeInvalidRequest, swap.ErrKeyNotMine},
		{"bad sender signature", knobs{badSig: true}, protocol.CodeInvalidSignature, swap.ErrSignature},
		{"locktime gap below reaction time", knobs{outLock: 45}, protocol.CodeInvalidRequest, swap.ErrReactionTime},
		{"reimbursement not the formula", knobs{reimb: 5000}, protocol.CodeInvalidRequest, swap.ErrReimbursement},
		{"funding outpoint used twice", knobs{samePoint: true}, protocol.CodeInvalidRequest, swap.ErrDuplicate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial()
			h := build(tc.k)
			if err := c.Send(ctx, h); err != nil {
				t.Fatal(err)
			}
			_, err := c.Receive(ctx)
			var pe *protocol.PeerError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got %v, want peer error %s", err, tc.code)
			}
			t.Logf("refused: %s", pe.Text)
			if _, err := m.m.Swap(context.Background(), h.SwapID); !errors.Is(err, swap.ErrUnknownSwap) {
				t.Fatalf("refused swap stored: %v", err)
			}
		})
	}
	// Still serving: a valid SetupHop is accepted (then aborted).
	c2 := dial()
	h := build(knobs{})
	if err := c2.Send(ctx, h); err != nil {
		t.Fatal(err)
	}
	reply, err := c2.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reply.(*protocol.SetupHopReply); !ok {
		t.Fatalf("got %T", reply)
	}
	first := reply.(*protocol.SetupHopReply)
	// Someone who learned the swap id asks again with other next-hop keys:
	// refused, the stored reply (outpoints, contracts, signatures) is not
	// handed out for another request (issue 10 item 5).
	forged := *h
	forged.Outgoing = append([]protocol.NextHopKeys(nil), h.Outgoing...)
	fk, _ := btcec.NewPrivateKey()
	forged.Outgoing[0].MultisigPubKey = fk.PubKey()
	cf := dial()
	if err := cf.Send(ctx, &forged); err != nil {
		t.Fatal(err)
	}
	if _, err := cf.Receive(ctx); !errors.As(err, new(*protocol.PeerError)) {
		t.Fatalf("a different request under a reserved swap id got %v, want an Error", err)
	}
	// The same request again (a taker that re-dialed) gets the same reply.
	cr := dial()
	if err := cr.Send(ctx, h); err != nil {
		t.Fatal(err)
	}
	again, err := cr.Receive(ctx)
	if err != nil {
		t.Fatalf("repeated request: %v", err)
	}
	if ar, ok := again.(*protocol.SetupHopReply); !ok || ar.Outgoing[0].FundingOutPoint != first.Outgoing[0].FundingOutPoint {
		t.Fatalf("repeated request answered %T, not the stored reply", again)
	}
	// The same outpoints in a second swap: bound to another contract.
	h2 := *h
	_, _ = rand.Read(h2.SwapID[:])
	c3 := dial()
	if err := c3.Send(ctx, &h2); err != nil {
		t.Fatal(err)
	}
	_, err = c3.Receive(ctx)
	var pe *protocol.PeerError
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidRequest {
		t.Fatalf("outpoint bound twice: %v", err)
	}
	if err := c2.Send(ctx, &protocol.Abort{SwapID: h.SwapID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}

	// A taker gone after its setup: the reservation is released once
	// its connection has been closed for ReleaseAfterDisconnect.
	waitAbandoned(t, m, h.SwapID, time.Minute)
	liq0, _, err := m.w.Liquidity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c4 := dial()
	h4 := build(knobs{})
	if err := c4.Send(ctx, h4); err != nil {
		t.Fatal(err)
	}
	if _, err := c4.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, err := m.m.Swap(ctx, h4.SwapID); err != nil || rec.Phase != swap.MakerReserved {
		t.Fatalf("after setup: %+v, %v; want reserved", rec, err)
	}
	if liq, _, _ := m.w.Liquidity(ctx); liq >= liq0 {
		t.Fatalf("liquidity %d after a reservation, was %d", liq, liq0)
	}
	closed := time.Now()
	c4.Close()
	waitAbandoned(t, m, h4.SwapID, release+30*time.Second)
	took := time.Since(closed)
	if took < release {
		t.Fatalf("released %s after the disconnect, before ReleaseAfterDisconnect %s", took, release)
	}
	if liq, _, _ := m.w.Liquidity(ctx); liq != liq0 {
		t.Fatalf("liquidity %d after the release, want %d", liq, liq0)
	}
	t.Logf("reservation released %s after the taker disconnected", took.Round(time.Millisecond))
}

// waitAbandoned polls the maker's swap until it is abandoned.
func waitAbandoned(t *testing.T, m *testMaker, id protocol.SwapID, within time.Duration) {
	t.Helper()
	ctx := tctx(t, within)
	for {
		rec, err := m.m.Swap(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Phase == swap.PhaseAbandoned {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("swap still %s after %s", rec.Phase, within)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// provenFunding pays a new coin from the regtest faucet (not mined: a
// maker accepts mempool coins) and returns a funding outpoint paying
// value to ms from it, with its funding proof.
func provenFunding(t *testing.T, ctx context.Context, ms []byte, value int64) (wire.OutPoint, protocol.FundingProof) {
	t.Helper()
	key, _ := btcec.NewPrivateKey()
	pk := script.P2WPKHPkScript(key.PubKey())
	tx, err := node.FundScript(ctx, pk, btcutil.Amount(value+10_000))
	if err != nil {
		t.Fatal(err)
	}
	coin := wire.OutPoint{Hash: tx.TxHash()}
	for i, o := range tx.TxOut {
		if string(o.PkScript) == string(pk) {
			coin.Index = uint32(i)
		}
	}
	return swaptest.FundingProof(coin, key, ms, value)
}
