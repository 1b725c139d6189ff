package wallet

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/merkle"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/chain/chaintest"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// fundFake pays each value to a fresh receive address of w on the
// in-memory chain (one block each) and syncs.
func fundFake(t *testing.T, w *Wallet, c *chaintest.Chain, values ...int64) {
	t.Helper()
	ctx := context.Background()
	for _, v := range values {
		addr, err := w.NewAddress(ctx, keys.BranchExternal)
		if err != nil {
			t.Fatal(err)
		}
		pk, _ := txscript.PayToAddrScript(addr)
		c.Fund(pk, v)
	}
	syncFake(t, w)
}

func syncFake(t *testing.T, w *Wallet) {
	t.Helper()
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// txFee is Σ InputValues − Σ outputs.
func txFee(tx *wire.MsgTx, values []int64) int64 {
	var fee int64
	for _, v := range values {
		fee += v
	}
	for _, o := range tx.TxOut {
		fee -= o.Value
	}
	return fee
}

// verifyWitnesses checks every input as an integrity verifier does: each
// input is P2WPKH, its prevout script is the witness key's P2WPKH script,
// its value the claimed one, and BIP143 makes the signature commit to it.
func verifyWitnesses(tx *wire.MsgTx, values []int64) error {
	if len(values) != len(tx.TxIn) {
		return fmt.Errorf("%d values for %d inputs", len(values), len(tx.TxIn))
	}
	prev := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range tx.TxIn {
		if len(in.Witness) != 2 || len(in.SignatureScript) != 0 {
			return fmt.Errorf("input %d is not a P2WPKH spend", i)
		}
		pk := append([]byte{txscript.OP_0, txscript.OP_DATA_20}, btcutil.Hash160(in.Witness[1])...)
		prev.AddPrevOut(in.PreviousOutPoint, wire.NewTxOut(values[i], pk))
	}
	hashes := txscript.NewTxSigHashes(tx, prev)
	for i, in := range tx.TxIn {
		out := prev.FetchPrevOutput(in.PreviousOutPoint)
		vm, err := txscript.NewEngine(out.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, out.Value, prev)
		if err != nil {
			return err
		}
		if err := vm.Execute(); err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
	}
	return nil
}

// checkProof checks a proof against the chain as a verifier would.
func checkProof(t *testing.T, b chain.Backend, pr *protocol.IntegrityProof, digest [32]byte) {
	t.Helper()
	ctx := context.Background()
	if h, err := b.BlockHash(ctx, int32(pr.Height)); err != nil || h != pr.Block {
		t.Fatalf("block at %d is %v (%v), proof says %v", pr.Height, h, err, pr.Block)
	}
	hdr, err := b.BlockHeader(ctx, pr.Block)
	if err != nil {
		t.Fatal(err)
	}
	if root := merkle.Root(pr.Tx.TxHash(), pr.TxIndex, pr.Branch); root != hdr.MerkleRoot {
		t.Fatalf("branch leads to %v, header root %v", root, hdr.MerkleRoot)
	}
	sig, err := ecdsa.ParseDERSignature(pr.Sig)
	if err != nil || !sig.Verify(digest[:], pr.Key) {
		t.Fatalf("signature does not verify: %v", err)
	}
	if got := pr.Tx.TxOut[pr.Vout].PkScript; string(got) != string(script.P2WPKHPkScript(pr.Key)) {
		t.Fatal("Key does not pay the integrity output")
	}
	if err := verifyWitnesses(pr.Tx, pr.InputValues); err != nil {
		t.Fatalf("witnesses: %v", err)
	}
	bad := append([]int64(nil), pr.InputValues...)
	bad[0]++
	if err := verifyWitnesses(pr.Tx, bad); err == nil {
		t.Fatal("a wrong input value verifies")
	}
	// Within the protocol's bounds.
	if len(pr.Tx.TxIn) > protocol.MaxIntegrityInputs || pr.Tx.SerializeSize() > protocol.MaxIntegrityTxSize ||
		len(pr.Branch) > protocol.MaxMerkleBranch || len(pr.InputValues) != len(pr.Tx.TxIn) {
		t.Fatalf("proof out of bounds: %d inputs, %d bytes, %d hashes", len(pr.Tx.TxIn), pr.Tx.SerializeSize(), len(pr.Branch))
	}
}

// TestIntegrityPayments: the first payment tops up from one ordinary coin,
// the next spends the previous integrity output alone, a payment whose
// previous output is too small spends it with a top-up; fees are exact;
// proofs are refused while unconfirmed and verify once confirmed; the
// integrity output is spendable by nothing else.
func TestIntegrityPayments(t *testing.T) {
	ctx := context.Background()
	c := newFake()
	cfg := testConfig(t, "")
	cfg.Backend = c
	w, _ := createWallet(t, cfg)
	defer w.Close()
	fundFake(t, w, c, 500_000, 2_000_000)

	if _, err := w.LatestIntegrityPayment(ctx); !errors.Is(err, ErrNoIntegrityPayment) {
		t.Fatalf("latest before any payment: %v", err)
	}
	if _, err := w.PayIntegrityFee(ctx, 5_000, 30_000); err == nil {
		t.Fatal("top-up below 7 payments accepted")
	}
	p1, err := w.PayIntegrityFee(ctx, 5_000, 50_000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("top-up payment: %d inputs, %d outputs, %d vB, %d bytes, fee %d",
		len(p1.Tx.TxIn), len(p1.Tx.TxOut), script.TxVSize(p1.Tx), p1.Tx.SerializeSize(), p1.Fee)
	if len(p1.Tx.TxIn) != 1 || p1.InputValues[0] != 500_000 || len(p1.Tx.TxOut) != 2 {
		t.Fatalf("first payment: %d inputs %v, %d outputs; want the smallest coin and change", len(p1.Tx.TxIn), p1.InputValues, len(p1.Tx.TxOut))
	}
	if p1.Fee != 5_000 || txFee(p1.Tx, p1.InputValues) != 5_000 || p1.Value != 50_000 || p1.KeyIndex != 0 || p1.OutPoint.Index != 0 {
		t.Fatalf("first payment %+v", p1)
	}
	if err := verifyWitnesses(p1.Tx, p1.InputValues); err != nil {
		t.Fatal(err)
	}
	if c.MempoolSize() != 1 {
		t.Fatal("not broadcast")
	}
	if bal, _ := w.Balance(ctx, Integrity); bal.Unconfirmed != 50_000 {
		t.Fatalf("integrity balance %+v", bal)
	}
	// Not twice in a row unconfirmed, and no proof yet.
	if _, err := w.PayIntegrityFee(ctx, 5_000, 0); !errors.Is(err, ErrIntegrityUnconfirmed) {
		t.Fatalf("payment on an unconfirmed one: %v", err)
	}
	var digest [32]byte = sha256.Sum256([]byte("origin"))
	if _, err := w.IntegrityProof(ctx, p1, digest); !errors.Is(err, ErrIntegrityUnconfirmed) {
		t.Fatalf("proof while unconfirmed: %v", err)
	}

	tip := c.MineN(1)
	syncFake(t, w)
	latest, err := w.LatestIntegrityPayment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tipHash, _ := c.BlockHash(ctx, tip)
	if latest.OutPoint != p1.OutPoint || latest.Height != tip || latest.Block != tipHash || latest.Fee != p1.Fee ||
		len(latest.InputValues) != 1 || latest.InputValues[0] != 500_000 || latest.Tx.TxHash() != p1.Tx.TxHash() {
		t.Fatalf("latest %+v", latest)
	}
	pr, err := w.IntegrityProof(ctx, p1, digest)
	if err != nil {
		t.Fatal(err)
	}
	checkProof(t, c, pr, digest)

	// The daily payment: the previous output alone.
	p2, err := w.PayIntegrityFee(ctx, 5_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chain payment: %d inputs, %d outputs, %d vB, %d bytes, fee %d",
		len(p2.Tx.TxIn), len(p2.Tx.TxOut), script.TxVSize(p2.Tx), p2.Tx.SerializeSize(), p2.Fee)
	if len(p2.Tx.TxIn) != 1 || p2.Tx.TxIn[0].PreviousOutPoint != p1.OutPoint || len(p2.Tx.TxOut) != 1 ||
		p2.InputValues[0] != 50_000 || p2.Value != 45_000 || p2.Fee != 5_000 || txFee(p2.Tx, p2.InputValues) != 5_000 ||
		p2.KeyIndex != 1 {
		t.Fatalf("chain payment %+v", p2)
	}
	if script.TxVSize(p2.Tx) > integrityChainVSize {
		t.Fatalf("chain payment %d vB > estimate %d", script.TxVSize(p2.Tx), integrityChainVSize)
	}
	c.MineN(1)
	syncFake(t, w)
	pr2, err := w.IntegrityProof(ctx, p2, digest)
	if err != nil {
		t.Fatal(err)
	}
	checkProof(t, c, pr2, digest)

	// Below the relay floor, the fee is the floor.
	floor := script.FeeForVSize(integrityChainVSize, MinFeeRate)
	p3, err := w.PayIntegrityFee(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p3.Tx.TxIn) != 1 || int64(p3.Fee) != floor || txFee(p3.Tx, p3.InputValues) != floor {
		t.Fatalf("fee below the floor: paid %d, floor %d", p3.Fee, floor)
	}
	c.MineN(1)
	syncFake(t, w)

	// The previous output cannot pay this fee and keep IntegrityMinOutput:
	// it is spent with a top-up, and carried into the new output.
	big := btcutil.Amount(p3.Value) - IntegrityMinOutput + 1
	p4, err := w.PayIntegrityFee(ctx, big, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p4.Tx.TxIn) != 2 || p4.Tx.TxIn[0].PreviousOutPoint != p3.OutPoint || p4.Fee != big ||
		txFee(p4.Tx, p4.InputValues) != int64(big) || p4.Value != p3.Value+big*IntegrityTopUpDays {
		t.Fatalf("top-up of a small chain: %d inputs, fee %d, value %d", len(p4.Tx.TxIn), p4.Fee, p4.Value)
	}
	if err := verifyWitnesses(p4.Tx, p4.InputValues); err != nil {
		t.Fatal(err)
	}
	c.MineN(1)
	syncFake(t, w)

	// Nothing but PayIntegrityFee spends the integrity output.
	all, _ := w.Balances(ctx)
	if all[Integrity].Confirmed != p4.Value || all[Integrity].Unconfirmed != 0 {
		t.Fatalf("integrity balance %+v, want %d", all[Integrity], p4.Value)
	}
	dest, _ := w.NewAddress(ctx, keys.BranchExternal)
	destPk, _ := txscript.PayToAddrScript(dest)
	if _, err := w.SendMax(ctx, dest, Regular, 1000); err != nil {
		t.Fatal(err)
	}
	c.MineN(1)
	syncFake(t, w)
	// SendMax paid our own address: the coin is back; lock it for an
	// offer so that the wallet has no free ordinary coin left.
	if _, _, err := w.LockOfferCoins(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Send(ctx, dest, 1_000, 1000); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("send with only integrity coins free: %v", err)
	}
	if _, _, err := w.CreateBond(ctx, 1_000, uint32(c.Height())+100, 1000); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("bond with only integrity coins free: %v", err)
	}
	if _, err := w.SendMax(ctx, dest, Integrity, 1000); !errors.Is(err, ErrNotSpendable) {
		t.Fatalf("send-max of integrity coins: %v", err)
	}
	if _, err := w.FundOutputs(ctx, []*wire.TxOut{wire.NewTxOut(1_000, destPk)}, 1000, Integrity); !errors.Is(err, ErrNotSpendable) {
		t.Fatalf("funding from integrity coins: %v", err)
	}
	if _, err := w.NewAddress(ctx, keys.BranchIntegrity); err == nil {
		t.Fatal("an integrity address was handed out")
	}
	// A top-up may not use offer-locked coins either.
	if _, err := w.PayIntegrityFee(ctx, btcutil.Amount(p4.Value), 0); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("top-up from offer-locked coins: %v", err)
	}
	coins, _ := w.ListCoins(ctx, Integrity, true)
	if len(coins) != 1 || coins[0].OutPoint != p4.OutPoint {
		t.Fatalf("integrity coins %+v", coins)
	}
}

// flakyBackend is the in-memory chain with a broadcast that can be lost
// (the node unreachable) and a hook at broadcast time; Block can be
// forbidden and is counted.
type flakyBackend struct {
	*chaintest.Chain
	lose    atomic.Bool
	noBlock atomic.Bool
	blocks  atomic.Int32
	check   func(*wire.MsgTx)
}

func (f *flakyBackend) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	if f.check != nil {
		f.check(tx)
	}
	if f.lose.Load() {
		return chainhash.Hash{}, fmt.Errorf("%w: connection refused", chain.ErrUnreachable)
	}
	return f.Chain.Broadcast(ctx, tx)
}

func (f *flakyBackend) Block(ctx context.Context, h chainhash.Hash) (*wire.MsgBlock, error) {
	f.blocks.Add(1)
	if f.noBlock.Load() {
		return nil, errors.New("Block called")
	}
	return f.Chain.Block(ctx, h)
}

// TestIntegrityPersistBeforeBroadcast: the payment is stored when it is
// broadcast; a lost broadcast leaves it stored, and the next Sync after a
// restart sends it; its proof's merkle branch is cached across a restart;
// a restored wallet finds the chain again.
func TestIntegrityPersistBeforeBroadcast(t *testing.T) {
	ctx := context.Background()
	c := newFake()
	fb := &flakyBackend{Chain: c}
	cfg := testConfig(t, "")
	cfg.Backend = fb
	w, m := createWallet(t, cfg)
	fundFake(t, w, c, 1_000_000)
	var checked bool
	fb.check = func(tx *wire.MsgTx) {
		checked = true
		txid := tx.TxHash()
		var status string
		if err := w.store.db.QueryRow(`SELECT status FROM transactions WHERE txid = ?`, txid[:]).Scan(&status); err != nil || status != "publish" {
			t.Errorf("at broadcast: stored status %q, %v", status, err)
		}
		if p, err := w.LatestIntegrityPayment(ctx); err != nil || p.OutPoint.Hash != txid {
			t.Errorf("at broadcast: latest payment %v, %v", p, err)
		}
	}
	fb.lose.Store(true)
	p1, err := w.PayIntegrityFee(ctx, 2_000, 0)
	if !errors.Is(err, chain.ErrUnreachable) || p1 == nil || !checked {
		t.Fatalf("lost broadcast: %v, %v", p1, err)
	}
	if c.MempoolSize() != 0 {
		t.Fatal("reached the chain")
	}
	w.Close()
	fb.lose.Store(false)
	fb.check = nil
	w, err = Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	syncFake(t, w)
	if c.MempoolSize() != 1 {
		t.Fatal("not rebroadcast after the restart")
	}
	c.MineN(1)
	syncFake(t, w)
	latest, err := w.LatestIntegrityPayment(ctx)
	if err != nil || latest.OutPoint != p1.OutPoint || latest.Height == 0 {
		t.Fatalf("latest %+v %v", latest, err)
	}
	digest := sha256.Sum256([]byte("origin 2"))
	fb.blocks.Store(0) // the watcher fetches blocks too
	pr, err := w.IntegrityProof(ctx, latest, digest)
	if err != nil {
		t.Fatal(err)
	}
	checkProof(t, c, pr, digest)
	if fb.blocks.Load() != 1 {
		t.Fatalf("%d block fetches for one proof", fb.blocks.Load())
	}
	if _, err := w.IntegrityProof(ctx, latest, digest); err != nil || fb.blocks.Load() != 1 {
		t.Fatalf("second proof: %d block fetches, %v", fb.blocks.Load(), err)
	}
	w.Close()
	fb.noBlock.Store(true)
	w, err = Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pr2, err := w.IntegrityProof(ctx, p1, digest)
	if err != nil {
		t.Fatalf("proof after a restart: %v", err)
	}
	if pr2.TxIndex != pr.TxIndex || len(pr2.Branch) != len(pr.Branch) {
		t.Fatal("cached branch differs")
	}
	fb.noBlock.Store(false)
	p2, err := w.PayIntegrityFee(ctx, 2_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.MineN(1)
	syncFake(t, w)

	// A refused payment is abandoned: not stored, its coin free again.
	fb.check = func(*wire.MsgTx) {}
	rb := &recordingBackend{Chain: c, refuse: true}
	w.backend = rb
	if _, err := w.PayIntegrityFee(ctx, 2_000, 0); !errors.Is(err, ErrBroadcast) {
		t.Fatalf("refused payment: %v", err)
	}
	w.backend = fb
	if latest, err := w.LatestIntegrityPayment(ctx); err != nil || latest.OutPoint != p2.OutPoint {
		t.Fatalf("after a refusal the latest is %+v, %v", latest, err)
	}
	if coins, _ := w.ListCoins(ctx, Integrity, true); len(coins) != 1 || coins[0].OutPoint != p2.OutPoint {
		t.Fatalf("integrity coins after a refusal %+v", coins)
	}

	// The words find the chain again.
	rcfg := testConfig(t, "")
	rcfg.Backend = c
	r, err := Restore(ctx, rcfg, RestoreOptions{Mnemonic: m.Words(), Birthday: w.Birthday()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	syncFake(t, r)
	got, err := r.LatestIntegrityPayment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.OutPoint != p2.OutPoint || got.KeyIndex != p2.KeyIndex || got.Fee != p2.Fee || got.Value != p2.Value ||
		len(got.InputValues) != 1 || got.InputValues[0] != p2.InputValues[0] || got.Height == 0 {
		t.Fatalf("restored latest %+v, want %+v", got, p2)
	}
	want, _ := w.Balances(ctx)
	have, _ := r.Balances(ctx)
	if have[Integrity] != want[Integrity] || have[Regular] != want[Regular] {
		t.Fatalf("restored balances %+v, want %+v", have, want)
	}
	rpr, err := r.IntegrityProof(ctx, got, digest)
	if err != nil {
		t.Fatal(err)
	}
	checkProof(t, c, rpr, digest)
	// And extends it.
	p3, err := r.PayIntegrityFee(ctx, 2_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p3.Tx.TxIn) != 1 || p3.Tx.TxIn[0].PreviousOutPoint != p2.OutPoint || p3.KeyIndex != p2.KeyIndex+1 {
		t.Fatalf("restored wallet's payment %+v", p3)
	}
}

// TestIntegrityMinOutput: the documented derivation holds.
func TestIntegrityMinOutput(t *testing.T) {
	if integrityChainVSize != 110 {
		t.Fatalf("chain payment estimate %d vB", integrityChainVSize)
	}
	if need := script.DustP2WPKH + script.FeeForVSize(integrityChainVSize, MinFeeRate); int64(IntegrityMinOutput) < need {
		t.Fatalf("IntegrityMinOutput %d < dust + one floor-fee payment %d", IntegrityMinOutput, need)
	}
}

// TestIntegrityBranchOnOpen: a wallet file from before the integrity
// branch gets its watched window when it is opened.
func TestIntegrityBranchOnOpen(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, "")
	w, _ := createWallet(t, cfg)
	count := func(w *Wallet) (n int) {
		t.Helper()
		if err := w.store.db.QueryRow(`SELECT COUNT(*) FROM addresses WHERE branch = ?`, keys.BranchIntegrity).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(w); n != GapLimit {
		t.Fatalf("new wallet watches %d integrity addresses", n)
	}
	if _, err := w.store.db.Exec(`DELETE FROM addresses WHERE branch = ?`, keys.BranchIntegrity); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n := count(w); n != GapLimit {
		t.Fatalf("opened wallet watches %d integrity addresses", n)
	}
}

// TestIntegrityReorg: a proof follows its payment into another block; a
// payment reorganised back into the mempool has no proof and no successor
// until it confirms again.
func TestIntegrityReorg(t *testing.T) {
	ctx := context.Background()
	c := newFake()
	cfg := testConfig(t, "")
	cfg.Backend = c
	w, _ := createWallet(t, cfg)
	defer w.Close()
	fundFake(t, w, c, 1_000_000)
	p, err := w.PayIntegrityFee(ctx, 1_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.MineN(1)
	syncFake(t, w)
	digest := sha256.Sum256([]byte("reorg"))
	before, err := w.IntegrityProof(ctx, p, digest)
	if err != nil {
		t.Fatal(err)
	}
	c.Reorg(1)
	// The watcher has not seen the reorg yet: the backend's hash at the
	// height tells.
	if _, err := w.IntegrityProof(ctx, p, digest); !errors.Is(err, ErrIntegrityUnconfirmed) {
		t.Fatalf("proof for a reorganised block: %v", err)
	}
	syncFake(t, w)
	after, err := w.IntegrityProof(ctx, p, digest)
	if err != nil {
		t.Fatal(err)
	}
	if after.Block == before.Block {
		t.Fatal("proof still names the old block")
	}
	checkProof(t, c, after, digest)
	c.Disconnect(2) // the reorg's two blocks: the payment is in the mempool again
	syncFake(t, w)
	if _, err := w.IntegrityProof(ctx, p, digest); !errors.Is(err, ErrIntegrityUnconfirmed) {
		t.Fatalf("proof for a payment back in the mempool: %v", err)
	}
	if _, err := w.PayIntegrityFee(ctx, 1_000, 0); !errors.Is(err, ErrIntegrityUnconfirmed) {
		t.Fatalf("payment on a reorganised one: %v", err)
	}
	c.MineN(1)
	syncFake(t, w)
	again, err := w.IntegrityProof(ctx, p, digest)
	if err != nil {
		t.Fatal(err)
	}
	checkProof(t, c, again, digest)
}
