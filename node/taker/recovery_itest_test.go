//go:build itest

package taker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/wallet"
)

// TestRecoveryMakerDropsAtPreimage: the maker funded its hop, then drops
// the connection when the preimage arrives (without taking it). The taker
// recovers: it claims its incoming hop by hashlock (CPFP with the contract
// tx) and broadcasts its outgoing contracts; the maker's watcher reads the
// preimage from the taker's claim and claims its incoming by hashlock
// before the taker's refund could. Exact balances for both; contract
// balances zero; Recover is idempotent.
func TestRecoveryMakerDropsAtPreimage(t *testing.T) {
	m := newMaker(t, "m", makerOpts{faults: []string{"maker:close-at=preimage"}})
	tk, tw := newTaker(t, "taker", source(m))
	tb, mb := spendable(t, tw), spendable(t, m.w)
	stop := autoMiner(t)
	defer stop()
	const amount = 6_000_000
	_, err := tk.Swap(tctx(t, 2*time.Minute), taker.Request{Amount: amount, TxCount: 2, Makers: 1})
	if !errors.Is(err, swap.ErrFundedRecovering) {
		t.Fatalf("err = %v, want ErrFundedRecovering", err)
	}
	if err := tk.Recover(tctx(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ms := waitMakerFinal(t, m, 2*time.Minute)
	stop()
	mine(t, 1)
	syncAll(t, tw, m.w)

	recs, err := tk.Swaps(tctx(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	rec := recs[0]
	if rec.Phase != swap.PhaseRecovered || ms[0].Phase != swap.PhaseRecovered {
		t.Fatalf("phases taker %s maker %s", rec.Phase, ms[0].Phase)
	}
	// Taker: −hop 0 − its funding fees + Σ(hop 1 value − contract fee − claim fee).
	var fundingFees, got int64
	for _, o := range rec.Out {
		fundingFees += txFee(t, tw, *o.FundingTxid)
		if o.Status != swap.StatusPeer {
			t.Fatalf("taker out %d status %s, want peer (maker claimed by preimage)", o.Idx, o.Status)
		}
	}
	for _, o := range rec.In {
		if o.Status != swap.StatusClaimed {
			t.Fatalf("taker in %d status %s, want claimed", o.Idx, o.Status)
		}
		got += o.ContractValue() - txFee(t, tw, *o.ResolveTxid)
	}
	if d, want := spendable(t, tw)-tb, -amount-fundingFees+got; d != want {
		t.Fatalf("taker balance change %d, want %d", d, want)
	}
	// Maker: −hop 1 − its funding fees + Σ(hop 0 contract value − claim fee).
	s := ms[0]
	var mf, mgot int64
	for _, o := range s.Out {
		mf += txFee(t, m.w, *o.FundingTxid)
	}
	for _, o := range s.In {
		if o.Status != swap.StatusClaimed {
			t.Fatalf("maker in %d status %s, want claimed", o.Idx, o.Status)
		}
		mgot += o.ContractValue() - txFee(t, m.w, *o.ResolveTxid)
	}
	if d, want := spendable(t, m.w)-mb, -s.OutTotal-mf+mgot; d != want {
		t.Fatalf("maker balance change %d, want %d", d, want)
	}
	for _, w := range []*wallet.Wallet{tw, m.w} {
		if c, si := category(t, w, wallet.Contract), category(t, w, wallet.SwapIncoming); c != 0 || si != 0 {
			t.Fatalf("contract balance %d, swap-incoming %d", c, si)
		}
	}
	// Recover again: nothing to do, nothing changes.
	after := spendable(t, tw)
	if err := tk.Recover(tctx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := tk.RecoverStep(tctx(t, time.Minute)); err != nil || n != 0 {
		t.Fatalf("RecoverStep: %d pending, %v", n, err)
	}
	syncAll(t, tw)
	if spendable(t, tw) != after {
		t.Fatal("a second Recover changed the balance")
	}
}
