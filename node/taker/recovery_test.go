package taker_test

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/wallet"
)

// TestRecoveryMakerVanishesAfterFunding: the maker funds its hop, then
// vanishes (its service and server stop) before the preimage. The taker
// fails the swap after funding and recovers on chain, blocks mined one at
// a time by the test: it broadcasts its hop-0 contracts and the maker's
// contracts of its incoming hop, claims the incoming ones by hashlock at
// once (CPFP), and refunds hop 0 by timelock exactly when the contracts
// have CSV confirmations, not a block before. Exact balances; exactly
// these transactions reach the chain; a second pass does nothing.
func TestRecoveryMakerVanishesAfterFunding(t *testing.T) {
	net := swaptest.New(t)
	m := net.NewMaker("m", swaptest.MakerOpts{})
	tk, tw := net.NewTaker("taker", swaptest.Source(m), swaptest.TakerOpts{})
	tb, mb := swaptest.Spendable(t, tw), swaptest.Spendable(t, m.W)
	accepted0 := len(net.Chain.Accepted())
	const amount, txCount = 6_000_000, 2

	done := make(chan error, 1)
	go func() {
		_, err := tk.Swap(swaptest.Ctx(t, swaptest.Timeout), taker.Request{Amount: amount, TxCount: txCount, Makers: 1})
		done <- err
	}()
	mempool := func(n int) func() (bool, string) {
		return func() (bool, string) {
			select {
			case err := <-done:
				t.Fatalf("swap ended early: %v", err)
			default:
			}
			return net.Chain.MempoolSize() == n, "mempool not at the expected size"
		}
	}
	swaptest.Eventually(t, swaptest.Timeout, "hop 0 broadcast", mempool(txCount))
	net.Mine(1)
	swaptest.Eventually(t, swaptest.Timeout, "maker funding broadcast", mempool(txCount))
	m.Stop()
	net.Mine(1)
	if err := <-done; !errors.Is(err, swap.ErrFundedRecovering) {
		t.Fatalf("swap: %v, want ErrFundedRecovering", err)
	}
	rec := takerSwap(t, tk)
	if rec.Phase != swap.PhaseRecovering {
		t.Fatalf("phase %s, want recovering", rec.Phase)
	}

	// First pass: every contract out, the incoming ones claimed at once.
	if n, err := tk.RecoverStep(swaptest.Ctx(t, swaptest.Timeout)); err != nil || n != 1 {
		t.Fatalf("first recovery pass: %d unfinished, %v", n, err)
	}
	rec = takerSwap(t, tk)
	for _, o := range rec.In {
		if o.Status != swap.StatusClaimed || net.Chain.Confirmations(o.ContractTxid()) != 0 {
			t.Fatalf("incoming %d: %s, contract confirmations %d; want claimed, contract in the mempool", o.Idx, o.Status,
				net.Chain.Confirmations(o.ContractTxid()))
		}
	}
	for _, o := range rec.Out {
		if o.Status != swap.StatusLive || net.Chain.Confirmations(o.ContractTxid()) != 0 {
			t.Fatalf("outgoing %d: %s; want live with its contract in the mempool", o.Idx, o.Status)
		}
	}
	net.Mine(1)
	csv := int32(rec.Locktimes[0])
	for confs := int32(1); ; confs++ {
		if n, err := tk.RecoverStep(swaptest.Ctx(t, swaptest.Timeout)); err != nil {
			t.Fatal(err)
		} else if n == 0 {
			break
		}
		for _, o := range takerSwap(t, tk).Out {
			if got := net.Chain.Confirmations(o.ContractTxid()); got != confs {
				t.Fatalf("contract confirmations %d, want %d", got, confs)
			}
			refunded := o.Status == swap.StatusRefunded
			if refunded != (confs >= csv) {
				t.Fatalf("outgoing %d at %d confirmations (CSV %d): status %s", o.Idx, confs, csv, o.Status)
			}
		}
		if confs > csv+1 {
			t.Fatal("recovery did not finish after the CSV")
		}
		net.Mine(1)
	}
	net.Mine(1, tw, m.W)
	if r := net.Chain.Refused(); len(r) != 0 {
		t.Fatalf("the chain refused %d broadcasts, first %v: %v", len(r), r[0].Tx.TxHash(), r[0].Err)
	}

	rec = takerSwap(t, tk)
	if rec.Phase != swap.PhaseRecovered {
		t.Fatalf("phase %s, want recovered", rec.Phase)
	}
	want := map[chainhash.Hash]bool{}
	var delta int64
	for _, o := range rec.Out {
		if o.Status != swap.StatusRefunded {
			t.Fatalf("outgoing %d %s, want refunded", o.Idx, o.Status)
		}
		want[*o.FundingTxid], want[o.ContractTxid()], want[*o.ResolveTxid] = true, true, true
		delta -= net.Fee(*o.FundingTxid) + net.Fee(o.ContractTxid()) + net.Fee(*o.ResolveTxid)
	}
	for _, o := range rec.In {
		if o.Status != swap.StatusClaimed {
			t.Fatalf("incoming %d %s, want claimed", o.Idx, o.Status)
		}
		want[o.FundingOutPoint.Hash], want[o.ContractTxid()], want[*o.ResolveTxid] = true, true, true
		delta += o.ContractValue() - net.Fee(*o.ResolveTxid)
	}
	accepted := net.Chain.Accepted()[accepted0:]
	if len(accepted) != len(want) || len(want) != 6*txCount {
		t.Fatalf("%d transactions reached the chain, want %d", len(accepted), 6*txCount)
	}
	for _, tx := range accepted {
		if !want[tx.TxHash()] || net.Chain.Confirmations(tx.TxHash()) < 1 {
			t.Fatalf("transaction %v unexpected or unconfirmed", tx.TxHash())
		}
	}
	// The taker kept its hop 0 (less mining fees) and took the maker's.
	if got := swaptest.Spendable(t, tw) - tb; got != delta {
		t.Fatalf("taker balance change %d, want %d", got, delta)
	}
	if got, lost := swaptest.Spendable(t, m.W)-mb, -rec.Makers[0].OutTotal; got > lost {
		t.Fatalf("vanished maker's balance change %d, want at most −%d (its outgoing hop is lost)", got, -lost)
	}
	for _, w := range []*wallet.Wallet{tw} {
		if c, s := swaptest.Balance(t, w, wallet.Contract), swaptest.Balance(t, w, wallet.SwapIncoming); c != 0 || s != 0 {
			t.Fatalf("contract balance %d, swap-incoming %d", c, s)
		}
	}
	// Idempotent: another pass finds nothing to do.
	if n, err := tk.RecoverStep(swaptest.Ctx(t, swaptest.Timeout)); err != nil || n != 0 {
		t.Fatalf("second recovery: %d unfinished, %v", n, err)
	}
	if len(net.Chain.Accepted()) != accepted0+len(want) {
		t.Fatal("a second recovery pass broadcast something")
	}
}

func takerSwap(t *testing.T, tk *taker.Taker) *swap.TakerSwap {
	t.Helper()
	recs, err := tk.Swaps(swaptest.Ctx(t, swaptest.Timeout))
	if err != nil || len(recs) != 1 {
		t.Fatalf("taker swaps: %d, %v", len(recs), err)
	}
	return recs[0]
}
