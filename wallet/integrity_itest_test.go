//go:build itest

package wallet

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/onionswap/onionswap/wallet/chain/regtest"
	"github.com/onionswap/onionswap/wallet/script"
)

// TestIntegrityRegtest: a top-up payment and a chain payment on btcd
// regtest; each proof is checked against the real chain as a verifier
// does (BlockHash(Height) == Block, the header's merkle root is
// merkle.Root of the branch, the key's signature, every witness under
// BIP143 with the claimed input values). The node accepting each payment
// is the other half of the check: it verified the witnesses against the
// real prevouts, whose values are the ones the proof claims.
func TestIntegrityRegtest(t *testing.T) {
	ctx := itestCtx(t)
	w, _, _ := newItestWallet(t)
	b := node.Backend()
	fund(t, w, 10_000_000, 1_000_000, 1_000_000)

	p1, err := w.PayIntegrityFee(ctx, 3_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, st, err := b.Tx(ctx, p1.OutPoint.Hash); err != nil || !st.InMempool {
		t.Fatalf("payment not in the mempool: %+v %v", st, err)
	}
	if len(p1.Tx.TxIn) != 1 || p1.InputValues[0] != 1_000_000 || p1.Fee != 3_000 || txFee(p1.Tx, p1.InputValues) != 3_000 {
		t.Fatalf("top-up payment: inputs %v, fee %d", p1.InputValues, p1.Fee)
	}
	t.Logf("top-up payment: %d in, %d out, %d vB, %d bytes, fee %d", len(p1.Tx.TxIn), len(p1.Tx.TxOut),
		script.TxVSize(p1.Tx), p1.Tx.SerializeSize(), p1.Fee)
	digest := sha256.Sum256([]byte("regtest origin"))
	if _, err := w.IntegrityProof(ctx, p1, digest); !errors.Is(err, ErrIntegrityUnconfirmed) {
		t.Fatalf("proof while unconfirmed: %v", err)
	}
	// Other transactions in the same block, so the branch has more than
	// one level.
	for range 2 {
		if _, err := w.Send(ctx, regtest.FaucetAddress(), 100_000, testFeeRate); err != nil {
			t.Fatal(err)
		}
	}
	hs := mine(t, 1)
	mustSync(t, w)
	latest, err := w.LatestIntegrityPayment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if latest.OutPoint != p1.OutPoint || latest.Block != hs[0] || latest.Height == 0 {
		t.Fatalf("latest %+v, mined %v", latest, hs[0])
	}
	pr, err := w.IntegrityProof(ctx, latest, digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Branch) < 2 {
		t.Fatalf("branch of %d hashes for a block of 4 transactions", len(pr.Branch))
	}
	checkProof(t, b, pr, digest)

	p2, err := w.PayIntegrityFee(ctx, 3_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Tx.TxIn) != 1 || p2.Tx.TxIn[0].PreviousOutPoint != p1.OutPoint || len(p2.Tx.TxOut) != 1 ||
		p2.Fee != 3_000 || txFee(p2.Tx, p2.InputValues) != 3_000 || p2.Value != p1.Value-3_000 {
		t.Fatalf("chain payment %+v", p2)
	}
	t.Logf("chain payment: %d in, %d out, %d vB, %d bytes, fee %d", len(p2.Tx.TxIn), len(p2.Tx.TxOut),
		script.TxVSize(p2.Tx), p2.Tx.SerializeSize(), p2.Fee)
	hs = mine(t, 1)
	mustSync(t, w)
	pr2, err := w.IntegrityProof(ctx, p2, digest)
	if err != nil {
		t.Fatal(err)
	}
	if pr2.Block != hs[0] || pr2.TxIndex != 1 {
		t.Fatalf("proof in block %v at %d, mined %v", pr2.Block, pr2.TxIndex, hs[0])
	}
	checkProof(t, b, pr2, digest)
	if bal := balance(t, w, Integrity); bal.Confirmed != p2.Value {
		t.Fatalf("integrity balance %+v, want %d", bal, p2.Value)
	}
}
