package chaintest_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/script"
)

var bg = context.Background()

func newKey(t *testing.T) *btcec.PrivateKey {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// coin is a P2WPKH output the test holds the key of.
type coin struct {
	op    wire.OutPoint
	value int64
	key   *btcec.PrivateKey
}

func fund(t *testing.T, c *chaintest.Chain, value int64) coin {
	t.Helper()
	k := newKey(t)
	tx := c.Fund(script.P2WPKHPkScript(k.PubKey()), value)
	return coin{op: wire.OutPoint{Hash: tx.TxHash(), Index: 0}, value: value, key: k}
}

// spend signs a v2 transaction spending in with sequence seq and
// nLockTime lock to outs; signer signs (in.key when nil), sigValue is the
// amount committed to (in.value when 0).
func spend(t *testing.T, in coin, outs []*wire.TxOut, seq, lock uint32, signer *btcec.PrivateKey, sigValue int64) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	tx.LockTime = lock
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: in.op, Sequence: seq})
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	if signer == nil {
		signer = in.key
	}
	if sigValue == 0 {
		sigValue = in.value
	}
	sig, err := script.SignInput(tx, 0, nil, sigValue, script.P2WPKHPkScript(signer.PubKey()), signer)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = script.P2WPKHWitness(sig, signer.PubKey())
	return tx
}

func payTo(t *testing.T, value int64) *wire.TxOut {
	return wire.NewTxOut(value, script.P2WPKHPkScript(newKey(t).PubKey()))
}

// TestBroadcastPolicy: what a node refuses, with which sentinel, and what
// counts as success.
func TestBroadcastPolicy(t *testing.T) {
	const v = 100_000
	tests := []struct {
		name string
		// tx returns the transaction to broadcast (after any setup).
		tx     func(t *testing.T, c *chaintest.Chain) *wire.MsgTx
		want   error
		reason string
	}{
		{"valid spend", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v-500)}, wire.MaxTxInSequenceNum, 0, nil, 0)
		}, nil, ""},
		{"double spend of a mempool spend", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			in := fund(t, c, v)
			if _, err := c.Broadcast(bg, spend(t, in, []*wire.TxOut{payTo(t, v-500)}, wire.MaxTxInSequenceNum, 0, nil, 0)); err != nil {
				t.Fatal(err)
			}
			return spend(t, in, []*wire.TxOut{payTo(t, v-5000)}, wire.MaxTxInSequenceNum, 0, nil, 0)
		}, chain.ErrDoubleSpend, "txn-mempool-conflict"},
		{"spend of an output spent in the chain", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			in := fund(t, c, v)
			if _, err := c.Broadcast(bg, spend(t, in, []*wire.TxOut{payTo(t, v-500)}, wire.MaxTxInSequenceNum, 0, nil, 0)); err != nil {
				t.Fatal(err)
			}
			c.MineN(1)
			return spend(t, in, []*wire.TxOut{payTo(t, v-5000)}, wire.MaxTxInSequenceNum, 0, nil, 0)
		}, chain.ErrMissingInputs, "missingorspent"},
		{"unknown input", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			in := coin{op: wire.OutPoint{Hash: chainhash.Hash{1}}, value: v, key: newKey(t)}
			return spend(t, in, []*wire.TxOut{payTo(t, v-500)}, wire.MaxTxInSequenceNum, 0, nil, 0)
		}, chain.ErrMissingInputs, "missingorspent"},
		{"signed by another key", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			in := fund(t, c, v)
			tx := spend(t, in, []*wire.TxOut{payTo(t, v-500)}, wire.MaxTxInSequenceNum, 0, newKey(t), 0)
			return tx
		}, chain.ErrRejected, "script-verify"},
		{"signature over the wrong amount", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v-500)}, wire.MaxTxInSequenceNum, 0, nil, v+1)
		}, chain.ErrRejected, "script-verify"},
		{"outputs above inputs", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v+1)}, wire.MaxTxInSequenceNum, 0, nil, 0)
		}, chain.ErrRejected, "in-belowout"},
		{"fee below the relay floor", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v-100)}, wire.MaxTxInSequenceNum, 0, nil, 0)
		}, chain.ErrRejected, "min relay fee"},
		{"dust output", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v-1000), payTo(t, 100)}, wire.MaxTxInSequenceNum, 0, nil, 0)
		}, chain.ErrRejected, "dust"},
		{"nLockTime at the next block", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v-500)}, 0, uint32(c.Height()+1), nil, 0)
		}, chain.ErrRejected, "non-final"},
		{"nLockTime at the tip", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v-500)}, 0, uint32(c.Height()), nil, 0)
		}, nil, ""},
		{"relative lock of 2 blocks on a 1-confirmation input", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v-500)}, 2, 0, nil, 0)
		}, chain.ErrRejected, "non-BIP68-final"},
		{"relative lock of 2 blocks on a 2-confirmation input", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			in := fund(t, c, v)
			c.MineN(1)
			return spend(t, in, []*wire.TxOut{payTo(t, v-500)}, 2, 0, nil, 0)
		}, nil, ""},
		{"relative lock of 1 block on a mempool parent", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			in := fund(t, c, v)
			k := newKey(t)
			parent := spend(t, in, []*wire.TxOut{wire.NewTxOut(v-500, script.P2WPKHPkScript(k.PubKey()))}, wire.MaxTxInSequenceNum, 0, nil, 0)
			if _, err := c.Broadcast(bg, parent); err != nil {
				t.Fatal(err)
			}
			child := coin{op: wire.OutPoint{Hash: parent.TxHash()}, value: v - 500, key: k}
			return spend(t, child, []*wire.TxOut{payTo(t, v-1000)}, 1, 0, nil, 0)
		}, chain.ErrRejected, "non-BIP68-final"},
		{"child of a mempool parent", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			in := fund(t, c, v)
			k := newKey(t)
			parent := spend(t, in, []*wire.TxOut{wire.NewTxOut(v-500, script.P2WPKHPkScript(k.PubKey()))}, wire.MaxTxInSequenceNum, 0, nil, 0)
			if _, err := c.Broadcast(bg, parent); err != nil {
				t.Fatal(err)
			}
			child := coin{op: wire.OutPoint{Hash: parent.TxHash()}, value: v - 500, key: k}
			return spend(t, child, []*wire.TxOut{payTo(t, v-1000)}, wire.MaxTxInSequenceNum, 0, nil, 0)
		}, nil, ""},
		{"immature coinbase", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spendCoinbase(t, c, c.Height()-98) // 99 confirmations
		}, chain.ErrRejected, "premature-spend-of-coinbase"},
		{"mature coinbase", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			return spendCoinbase(t, c, c.Height()-99) // 100 confirmations
		}, nil, ""},
		{"already in the mempool", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			tx := spend(t, fund(t, c, v), []*wire.TxOut{payTo(t, v-500)}, wire.MaxTxInSequenceNum, 0, nil, 0)
			if _, err := c.Broadcast(bg, tx); err != nil {
				t.Fatal(err)
			}
			return tx
		}, nil, ""},
		{"already confirmed, outputs spent", func(t *testing.T, c *chaintest.Chain) *wire.MsgTx {
			k := newKey(t)
			tx := spend(t, fund(t, c, v), []*wire.TxOut{wire.NewTxOut(v-500, script.P2WPKHPkScript(k.PubKey()))}, wire.MaxTxInSequenceNum, 0, nil, 0)
			if _, err := c.Broadcast(bg, tx); err != nil {
				t.Fatal(err)
			}
			c.MineN(1)
			next := spend(t, coin{op: wire.OutPoint{Hash: tx.TxHash()}, value: v - 500, key: k}, []*wire.TxOut{payTo(t, v-1000)}, wire.MaxTxInSequenceNum, 0, nil, 0)
			if _, err := c.Broadcast(bg, next); err != nil {
				t.Fatal(err)
			}
			c.MineN(1)
			return tx
		}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := chaintest.New(chaintest.Options{})
			tx := tc.tx(t, c)
			ok, reason, err := c.TestAccept(bg, tx)
			if err != nil {
				t.Fatal(err)
			}
			known := c.Confirmations(tx.TxHash()) >= 0
			switch {
			case known && (ok || !strings.Contains(reason, "already")):
				t.Errorf("TestAccept of a known tx: %v %q, want false with an 'already' reason", ok, reason)
			case !known && ok != (tc.want == nil):
				t.Errorf("TestAccept %v %q, want %v", ok, reason, tc.want == nil)
			}
			txid, err := c.Broadcast(bg, tx)
			if txid != tx.TxHash() {
				t.Errorf("txid %v, want %v", txid, tx.TxHash())
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Confirmations(txid) < 0 {
					t.Fatal("accepted but unknown")
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want %v (%s)", err, tc.want, tc.reason)
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("TestAccept reason %q, want %q", reason, tc.reason)
			}
			if c.Confirmations(txid) >= 0 {
				t.Fatal("refused but known")
			}
			if r := c.Refused(); len(r) == 0 || r[len(r)-1].Tx.TxHash() != txid {
				t.Fatal("refusal not recorded")
			}
		})
	}
}

// spendCoinbase spends the coinbase of the block at height h (it pays
// chaintest.MinerScript, P2WSH(OP_TRUE)).
func spendCoinbase(t *testing.T, c *chaintest.Chain, h int32) *wire.MsgTx {
	t.Helper()
	hash, err := c.BlockHash(bg, h)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Block(bg, hash)
	if err != nil {
		t.Fatal(err)
	}
	cb := b.Transactions[0]
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: cb.TxHash()}, nil, wire.TxWitness{{0x51}})
	tx.AddTxIn(in)
	tx.AddTxOut(payTo(t, cb.TxOut[0].Value-1000))
	return tx
}

// contractSetup confirms a 2-of-2 funding, and returns the signed
// contract tx (CSV csv) with the keys of both branches.
type contractSetup struct {
	tx             *wire.MsgTx
	cs             []byte
	value          int64
	hashKey, tlKey *btcec.PrivateKey
	preimage       [32]byte
}

func newContract(t *testing.T, c *chaintest.Chain, csv uint16) *contractSetup {
	t.Helper()
	a, b := newKey(t), newKey(t)
	ms, err := script.MultisigScript(a.PubKey(), b.PubKey())
	if err != nil {
		t.Fatal(err)
	}
	const value = 200_000
	ftx := c.Fund(script.WitnessScriptHash(ms), value)
	s := &contractSetup{hashKey: newKey(t), tlKey: newKey(t), value: value - 1000}
	_, _ = rand.Read(s.preimage[:])
	s.cs, err = (&script.Contract{Hash: script.PreimageHash(s.preimage), HashlockKey: s.hashKey.PubKey(),
		TimelockKey: s.tlKey.PubKey(), CSV: csv}).Script()
	if err != nil {
		t.Fatal(err)
	}
	s.tx, err = script.NewContractTx(wire.OutPoint{Hash: ftx.TxHash()}, value, s.cs, 1000)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := script.SignInput(s.tx, 0, ms, value, nil, a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := script.SignInput(s.tx, 0, ms, value, nil, b)
	if err != nil {
		t.Fatal(err)
	}
	s.tx.TxIn[0].Witness, err = script.MultisigWitness(ms, a.PubKey(), sa, b.PubKey(), sb)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *contractSetup) out() wire.OutPoint { return wire.OutPoint{Hash: s.tx.TxHash()} }

// TestContractTimelock: a contract's timelock refund is refused while the
// contract has fewer than CSV confirmations (and while it is in the
// mempool), accepted at CSV; the hashlock claim needs no confirmation.
func TestContractTimelock(t *testing.T) {
	const csv = 5
	c := chaintest.New(chaintest.Options{})
	s := newContract(t, c, csv)
	dest := script.P2WPKHPkScript(newKey(t).PubKey())
	refund, err := script.TimelockSpendTx(s.out(), s.value, s.cs, s.tlKey, dest, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Broadcast(bg, s.tx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Broadcast(bg, refund); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("refund of a mempool contract: %v", err)
	}
	// A refund signed with the hashlock key, or with a shorter sequence,
	// never passes.
	wrongKey, _ := script.TimelockSpendTx(s.out(), s.value, s.cs, s.tlKey, dest, 1000)
	wrongKey.TxIn[0].Sequence = csv - 1
	for confs := int32(1); confs < csv; confs++ {
		c.MineN(1)
		if got := c.Confirmations(s.tx.TxHash()); got != confs {
			t.Fatalf("contract confirmations %d, want %d", got, confs)
		}
		_, err := c.Broadcast(bg, refund)
		if !errors.Is(err, chain.ErrRejected) || !strings.Contains(err.Error(), "non-BIP68-final") {
			t.Fatalf("refund at %d confirmations: %v", confs, err)
		}
	}
	c.MineN(1)
	if _, err := c.Broadcast(bg, wrongKey); !errors.Is(err, chain.ErrRejected) || !strings.Contains(err.Error(), "script-verify") {
		t.Fatalf("refund whose sequence is below the CSV: %v", err)
	}
	if _, err := c.Broadcast(bg, refund); err != nil {
		t.Fatalf("refund at CSV confirmations: %v", err)
	}

	// Hashlock claim of a contract still in the mempool (CPFP).
	s2 := newContract(t, c, csv)
	if _, err := c.Broadcast(bg, s2.tx); err != nil {
		t.Fatal(err)
	}
	var wrong [32]byte
	bad, _ := script.HashlockSpendTx(s2.out(), s2.value, s2.cs, s2.preimage, s2.hashKey, dest, 2000)
	bad.TxIn[0].Witness[1] = wrong[:]
	if _, err := c.Broadcast(bg, bad); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("claim with a wrong preimage: %v", err)
	}
	claim, err := script.HashlockSpendTx(s2.out(), s2.value, s2.cs, s2.preimage, s2.hashKey, dest, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Broadcast(bg, claim); err != nil {
		t.Fatalf("claim: %v", err)
	}
	if sp, err := c.MempoolSpender(bg, s2.out()); err != nil || sp == nil || *sp != claim.TxHash() {
		t.Fatalf("mempool spender %v %v", sp, err)
	}
	if tx, confs := c.Spender(s2.out()); tx == nil || confs != 0 {
		t.Fatal("Spender does not see the claim")
	}
	pre, ok := script.PreimageFromWitness(claim.TxIn[0].Witness, script.PreimageHash(s2.preimage))
	if !ok || pre != s2.preimage {
		t.Fatal("preimage not readable from the claim")
	}
}

// TestBondLocktime: a bond (CLTV) redemption is non-final until the tip
// reaches the lock height.
func TestBondLocktime(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	k := newKey(t)
	lock := uint32(c.Height() + 4)
	bs, err := script.BondScript(k.PubKey(), lock)
	if err != nil {
		t.Fatal(err)
	}
	ftx := c.Fund(script.WitnessScriptHash(bs), 500_000)
	redeem, err := script.BondRedeemTx(wire.OutPoint{Hash: ftx.TxHash()}, 500_000, bs, k, script.P2WPKHPkScript(k.PubKey()), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for c.Height() < int32(lock) {
		if _, err := c.Broadcast(bg, redeem); !errors.Is(err, chain.ErrRejected) || !strings.Contains(err.Error(), "non-final") {
			t.Fatalf("redeem at tip %d (lock %d): %v", c.Height(), lock, err)
		}
		c.MineN(1)
	}
	if _, err := c.Broadcast(bg, redeem); err != nil {
		t.Fatalf("redeem at the lock height: %v", err)
	}
}

// TestUTXOAndTx: the answers of UTXO, MempoolSpender and Tx through a
// coin's life: confirmed, spent in the mempool, spent in a block.
func TestUTXOAndTx(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	in := fund(t, c, 100_000)
	c.MineN(2)
	out, confs, err := c.UTXO(bg, in.op)
	if err != nil || confs != 3 || out.Value != 100_000 {
		t.Fatalf("utxo %v %d %v", out, confs, err)
	}
	if sp, err := c.MempoolSpender(bg, in.op); sp != nil || err != nil {
		t.Fatalf("spender %v %v", sp, err)
	}
	k := newKey(t)
	tx := spend(t, in, []*wire.TxOut{wire.NewTxOut(99_000, script.P2WPKHPkScript(k.PubKey()))}, wire.MaxTxInSequenceNum, 0, nil, 0)
	if _, err := c.Broadcast(bg, tx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.UTXO(bg, in.op); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("utxo spent in the mempool: %v", err)
	}
	if sp, _ := c.MempoolSpender(bg, in.op); sp == nil || *sp != tx.TxHash() {
		t.Fatal("mempool spender")
	}
	newOut := wire.OutPoint{Hash: tx.TxHash()}
	if _, confs, err := c.UTXO(bg, newOut); err != nil || confs != 0 {
		t.Fatalf("mempool output: %d %v", confs, err)
	}
	if _, st, err := c.Tx(bg, tx.TxHash()); err != nil || !st.InMempool || st.Confirmations != 0 {
		t.Fatalf("tx in mempool: %+v %v", st, err)
	}
	if ids, _ := c.MempoolTxids(bg); len(ids) != 1 || ids[0] != tx.TxHash() {
		t.Fatalf("mempool %v", ids)
	}
	if fee, err := c.Fee(tx.TxHash()); err != nil || fee != 1000 {
		t.Fatalf("fee %d %v", fee, err)
	}
	hs, err := c.Mine(bg, 2)
	if err != nil || len(hs) != 2 {
		t.Fatal(err)
	}
	_, st, err := c.Tx(bg, tx.TxHash())
	if err != nil || st.InMempool || st.Confirmations != 2 || st.BlockHash == nil || *st.BlockHash != hs[0] || st.Height != c.Height()-1 {
		t.Fatalf("confirmed tx: %+v %v", st, err)
	}
	if sp, _ := c.MempoolSpender(bg, in.op); sp != nil {
		t.Fatal("mempool spender after mining")
	}
	if _, _, err := c.UTXO(bg, in.op); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("utxo spent in a block: %v", err)
	}
	if sp, confs := c.Spender(in.op); sp == nil || sp.TxHash() != tx.TxHash() || confs != 2 {
		t.Fatal("Spender in the chain")
	}
	if _, _, err := c.Tx(bg, chainhash.Hash{7}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown tx: %v", err)
	}
	if r, err := c.FeeRate(bg, 6); err != nil || r != chaintest.DefaultFeeRate {
		t.Fatalf("fee rate %d %v", r, err)
	}
}

// TestBlocks: real blocks: genesis of the network, prev links, merkle
// roots and witness commitments, timestamps, heights out of range.
func TestBlocks(t *testing.T) {
	c := chaintest.New(chaintest.Options{Height: 20})
	if h, err := c.BlockHash(bg, 0); err != nil || h != *chaincfg.RegressionNetParams.GenesisHash {
		t.Fatalf("genesis %v %v", h, err)
	}
	fund(t, c, 50_000)
	tip, tipHash, err := c.Tip(bg)
	if err != nil || tip != 21 {
		t.Fatalf("tip %d %v", tip, err)
	}
	prev := *chaincfg.RegressionNetParams.GenesisHash
	for h := int32(1); h <= tip; h++ {
		hash, err := c.BlockHash(bg, h)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Block(bg, hash)
		if err != nil {
			t.Fatal(err)
		}
		if b.BlockHash() != hash || b.Header.PrevBlock != prev {
			t.Fatalf("block %d: hash or prev link wrong", h)
		}
		ub := btcutil.NewBlock(b)
		ub.SetHeight(h)
		txs := ub.Transactions()
		if blockchain.CalcMerkleRoot(txs, false) != b.Header.MerkleRoot {
			t.Fatalf("block %d: merkle root", h)
		}
		if err := blockchain.ValidateWitnessCommitment(ub); err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		if got, err := blockchain.ExtractCoinbaseHeight(txs[0]); err != nil || got != h {
			t.Fatalf("block %d: coinbase height %d %v", h, got, err)
		}
		hdr, err := c.BlockHeader(bg, hash)
		if err != nil || hdr.BlockHash() != hash {
			t.Fatalf("header %d", h)
		}
		prev = hash
	}
	if prev != tipHash {
		t.Fatal("tip hash")
	}
	if _, err := c.BlockHash(bg, tip+1); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("above the tip: %v", err)
	}
	if _, err := c.Block(bg, chainhash.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown block: %v", err)
	}
	if _, err := c.Mine(bg, 0); err != nil {
		t.Fatal(err)
	}
	main := chaintest.New(chaintest.Options{Params: &chaincfg.MainNetParams, Height: -1})
	if _, err := main.Mine(bg, 1); !errors.Is(err, chain.ErrUnsupported) {
		t.Fatalf("mine on mainnet: %v", err)
	}
}

// TestReorg: disconnected transactions return to the mempool and confirm
// again on the new branch; the old blocks stay readable; a transaction
// whose relative lock no longer holds is dropped from the mempool.
func TestReorg(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	in := fund(t, c, 100_000)
	tx := spend(t, in, []*wire.TxOut{payTo(t, 99_000)}, wire.MaxTxInSequenceNum, 0, nil, 0)
	if _, err := c.Broadcast(bg, tx); err != nil {
		t.Fatal(err)
	}
	c.MineN(1)
	_, st, _ := c.Tx(bg, tx.TxHash())
	old := *st.BlockHash
	if dropped := c.Disconnect(1); len(dropped) != 0 {
		t.Fatalf("dropped %d", len(dropped))
	}
	if _, st, err := c.Tx(bg, tx.TxHash()); err != nil || !st.InMempool {
		t.Fatalf("after disconnect: %+v %v", st, err)
	}
	if _, err := c.Block(bg, old); err != nil {
		t.Fatalf("stale block unreadable: %v", err)
	}
	h := c.Reorg(1)
	_, st, err := c.Tx(bg, tx.TxHash())
	if err != nil || st.InMempool || *st.BlockHash == old || st.Confirmations != 2 || h != st.Height+1 {
		t.Fatalf("after reorg: %+v %v (tip %d)", st, err, h)
	}
	// A spend with a relative lock of 3 on a coin with exactly 3
	// confirmations: a reorg of the coin's own blocks invalidates it.
	in2 := fund(t, c, 100_000)
	c.MineN(2)
	locked := spend(t, in2, []*wire.TxOut{payTo(t, 99_000)}, 3, 0, nil, 0)
	if _, err := c.Broadcast(bg, locked); err != nil {
		t.Fatal(err)
	}
	dropped := c.Disconnect(1)
	if len(dropped) != 1 || dropped[0].TxHash() != locked.TxHash() {
		t.Fatalf("dropped %d transactions, want the locked spend", len(dropped))
	}
	if c.Confirmations(locked.TxHash()) != -1 {
		t.Fatal("locked spend still known")
	}
	// Drop takes descendants along.
	k := newKey(t)
	p := spend(t, fund(t, c, 50_000), []*wire.TxOut{wire.NewTxOut(49_000, script.P2WPKHPkScript(k.PubKey()))}, wire.MaxTxInSequenceNum, 0, nil, 0)
	ch := spend(t, coin{op: wire.OutPoint{Hash: p.TxHash()}, value: 49_000, key: k}, []*wire.TxOut{payTo(t, 48_000)}, wire.MaxTxInSequenceNum, 0, nil, 0)
	for _, tx := range []*wire.MsgTx{p, ch} {
		if _, err := c.Broadcast(bg, tx); err != nil {
			t.Fatal(err)
		}
	}
	if !c.Drop(p.TxHash()) || c.MempoolSize() != 0 {
		t.Fatalf("drop: mempool has %d", c.MempoolSize())
	}
}

// TestUnreachableAndClosed: the failure switches answer with the
// sentinels the RPC backend uses.
func TestUnreachableAndClosed(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	c.SetUnreachable(true)
	if _, _, err := c.Tip(bg); !errors.Is(err, chain.ErrUnreachable) {
		t.Fatalf("tip while down: %v", err)
	}
	c.SetUnreachable(false)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, _, err := c.Tip(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	c.Close()
	if _, err := c.MempoolTxids(bg); !errors.Is(err, chain.ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}

// TestWatcherOnChaintest: the wallet's watcher follows the fake like a
// node: a payment in the mempool, its confirmation, a reorg taking it
// back, and the spend.
func TestWatcherOnChaintest(t *testing.T) {
	c := chaintest.New(chaintest.Options{})
	k := newKey(t)
	pk := script.P2WPKHPkScript(k.PubKey())
	rec := &events{}
	w, err := chain.NewWatcher(chain.WatcherConfig{Backend: c, Store: &memStore{}, Handler: rec.handle, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(bg); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := w.Watch(bg, pk); err != nil {
		t.Fatal(err)
	}
	src := fund(t, c, 100_000)
	pay := spend(t, src, []*wire.TxOut{wire.NewTxOut(99_000, pk)}, wire.MaxTxInSequenceNum, 0, nil, 0)
	if _, err := c.Broadcast(bg, pay); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "received in the mempool", func(e chain.Event) bool { return e.Kind == chain.Received && e.Height == 0 })
	h := c.MineN(1)
	rec.wait(t, "received in a block", func(e chain.Event) bool { return e.Kind == chain.Received && e.Height == h })
	c.Reorg(1)
	rec.wait(t, "disconnected", func(e chain.Event) bool { return e.Kind == chain.Disconnected && e.Height == h })
	rec.wait(t, "received again", func(e chain.Event) bool { return e.Kind == chain.Received && e.Height == h && e.BlockHash != nil })
	back := spend(t, coin{op: wire.OutPoint{Hash: pay.TxHash()}, value: 99_000, key: k}, []*wire.TxOut{payTo(t, 98_000)}, wire.MaxTxInSequenceNum, 0, nil, 0)
	if _, err := c.Broadcast(bg, back); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "spent", func(e chain.Event) bool { return e.Kind == chain.Spent && e.Txid == back.TxHash() })
}

type events struct {
	mu  sync.Mutex
	evs []chain.Event
}

func (r *events) handle(_ context.Context, ev chain.Event) error {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	return nil
}

func (r *events) wait(t *testing.T, what string, match func(chain.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		for i, e := range r.evs {
			if match(e) {
				r.evs = r.evs[i+1:]
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no event: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type memStore struct {
	mu sync.Mutex
	st *chain.WatchState
}

func (m *memStore) LoadWatchState(context.Context) (*chain.WatchState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st, nil
}

func (m *memStore) SaveWatchState(_ context.Context, st *chain.WatchState) error {
	m.mu.Lock()
	m.st = st
	m.mu.Unlock()
	return nil
}
