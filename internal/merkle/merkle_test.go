package merkle

import (
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestBranchMatchesBtcd: for trees of 1 to 13 leaves (odd levels on
// every depth) every leaf's branch leads to btcd's merkle root, and a
// wrong index or a wrong leaf does not.
func TestBranchMatchesBtcd(t *testing.T) {
	for n := 1; n <= 13; n++ {
		txs := make([]*btcutil.Tx, n)
		leaves := make([]chainhash.Hash, n)
		for i := range txs {
			tx := wire.NewMsgTx(2)
			tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: uint32(i)}})
			tx.AddTxOut(&wire.TxOut{Value: int64(n*100 + i)})
			txs[i] = btcutil.NewTx(tx)
			leaves[i] = tx.TxHash()
		}
		want := blockchain.CalcMerkleRoot(txs, false)
		for i := range leaves {
			br, err := Branch(leaves, i)
			if err != nil {
				t.Fatal(err)
			}
			if got := Root(leaves[i], uint32(i), br); got != want {
				t.Fatalf("n=%d leaf %d: root %v, want %v", n, i, got, want)
			}
			if n > 1 {
				// (The last leaf of an odd level is its own sibling: its
				// position there cannot be told.)
				if got := Root(leaves[i], uint32(i^1), br); got == want && i^1 < n {
					t.Fatalf("n=%d leaf %d: a wrong index gives the root", n, i)
				}
				if got := Root(leaves[(i+1)%n], uint32(i), br); got == want {
					t.Fatalf("n=%d leaf %d: another leaf gives the root", n, i)
				}
			}
		}
	}
	if _, err := Branch(nil, 0); err != ErrIndex {
		t.Fatalf("empty tree: %v", err)
	}
}

// TestGenesis: the genesis block's one transaction is its own root.
func TestGenesis(t *testing.T) {
	g := chaincfg.RegressionNetParams.GenesisBlock
	leaf := g.Transactions[0].TxHash()
	br, err := Branch([]chainhash.Hash{leaf}, 0)
	if err != nil || len(br) != 0 {
		t.Fatalf("branch %v, %v", br, err)
	}
	if Root(leaf, 0, br) != g.Header.MerkleRoot {
		t.Fatal("genesis root mismatch")
	}
}
