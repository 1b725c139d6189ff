//go:build itest

package script

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/onionswap/onionswap/wallet/chain"
)

// testFeeRate is 2 sat/vB, above btcd's 1 sat/vB relay floor.
const testFeeRate = 2000

func itestCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func tip(ctx context.Context, t *testing.T) int32 {
	t.Helper()
	h, _, err := node.Backend().Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mine(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	if _, err := node.Mine(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// coin is a spendable output and what is needed to spend it.
type coin struct {
	op    wire.OutPoint
	value int64
	pk    []byte
}

// fundP2WPKH pays amount from the faucet to key's P2WPKH address and mines
// it, returning the coin.
func fundP2WPKH(ctx context.Context, t *testing.T, key *btcec.PrivateKey, amount int64) coin {
	t.Helper()
	pk := P2WPKHPkScript(key.PubKey())
	addr, err := btcutil.NewAddressWitnessPubKeyHash(pk[2:], &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := node.Fund(ctx, addr, btcutil.Amount(amount))
	if err != nil {
		t.Fatal(err)
	}
	mine(ctx, t, 1)
	for i, o := range tx.TxOut {
		if o.Value == amount && string(o.PkScript) == string(pk) {
			return coin{op: wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}, value: amount, pk: pk}
		}
	}
	t.Fatal("faucet tx does not pay the test key")
	return coin{}
}

// payTo spends a P2WPKH coin of key entirely (minus the fee) to pkScript,
// verifies and broadcasts it, and returns the new coin.
func payTo(ctx context.Context, t *testing.T, c coin, key *btcec.PrivateKey, pkScript []byte) coin {
	t.Helper()
	tx := wire.NewMsgTx(TxVersion)
	tx.AddTxIn(wire.NewTxIn(&c.op, nil, nil))
	fee := FeeForVSize(EstimateVSize([]InputKind{InputP2WPKH}, [][]byte{pkScript}), testFeeRate)
	tx.AddTxOut(wire.NewTxOut(c.value-fee, pkScript))
	sig, err := SignInput(tx, 0, nil, c.value, c.pk, key)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = P2WPKHWitness(sig, key.PubKey())
	if err := Verify(tx, prevMap(c.op, c.value, c.pk)); err != nil {
		t.Fatal(err)
	}
	broadcast(ctx, t, tx)
	return coin{op: wire.OutPoint{Hash: tx.TxHash(), Index: 0}, value: tx.TxOut[0].Value, pk: pkScript}
}

func broadcast(ctx context.Context, t *testing.T, tx *wire.MsgTx) {
	t.Helper()
	if ok, reason, err := node.Backend().TestAccept(ctx, tx); err != nil || !ok {
		t.Fatalf("testmempoolaccept %s: ok=%v reason=%q err=%v", tx.TxHash(), ok, reason, err)
	}
	if _, err := node.Backend().Broadcast(ctx, tx); err != nil {
		t.Fatalf("broadcast: %v", err)
	}
}

// mustReject checks the node refuses tx, both in testmempoolaccept and in
// sendrawtransaction, with a reason containing want.
func mustReject(ctx context.Context, t *testing.T, tx *wire.MsgTx, want string) {
	t.Helper()
	ok, reason, err := node.Backend().TestAccept(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Fatalf("tip %d: node accepts %s, want rejection (%s)", tip(ctx, t), tx.TxHash(), want)
	}
	if !strings.Contains(reason, want) {
		t.Errorf("reject reason %q does not contain %q", reason, want)
	}
	if _, err := node.Backend().Broadcast(ctx, tx); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("broadcast of a rejected tx: %v", err)
	}
}

// confirm mines one block and checks tx is in it, returning its height.
func confirm(ctx context.Context, t *testing.T, txid chainhash.Hash) int32 {
	t.Helper()
	mine(ctx, t, 1)
	_, st, err := node.Backend().Tx(ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	if st.InMempool || st.Height != tip(ctx, t) {
		t.Fatalf("tx %s not confirmed in the new block: %+v", txid, st)
	}
	return st.Height
}

// swap is a confirmed 2-of-2 funding output and its signed contract tx.
type swap struct {
	keyA, keyB         *btcec.PrivateKey
	hashlock, timelock *btcec.PrivateKey
	preimage           [32]byte
	ms, contract       []byte
	funding            coin
	contractTx         *wire.MsgTx
	contractOut        coin
}

// newSwap funds a 2-of-2 through a P2WPKH test coin, confirms it, and builds
// the contract tx signed by both parties (not broadcast).
func newSwap(ctx context.Context, t *testing.T, name string, csv uint16) *swap {
	t.Helper()
	s := &swap{
		keyA: testKey(name + "/a"), keyB: testKey(name + "/b"),
		hashlock: testKey(name + "/hashlock"), timelock: testKey(name + "/timelock"),
		preimage: testPreimage(name),
	}
	var err error
	if s.ms, err = MultisigScript(s.keyA.PubKey(), s.keyB.PubKey()); err != nil {
		t.Fatal(err)
	}
	c := &Contract{Hash: PreimageHash(s.preimage), HashlockKey: s.hashlock.PubKey(),
		TimelockKey: s.timelock.PubKey(), CSV: csv}
	if s.contract, err = c.Script(); err != nil {
		t.Fatal(err)
	}
	wallet := testKey(name + "/wallet")
	src := fundP2WPKH(ctx, t, wallet, 1_000_000)
	s.funding = payTo(ctx, t, src, wallet, WitnessScriptHash(s.ms))
	confirm(ctx, t, s.funding.op.Hash)

	fee := FeeForVSize(EstimateVSize([]InputKind{InputMultisig}, [][]byte{WitnessScriptHash(s.contract)}), testFeeRate)
	tx, err := NewContractTx(s.funding.op, s.funding.value, s.contract, fee)
	if err != nil {
		t.Fatal(err)
	}
	sigA, err := SignInput(tx, 0, s.ms, s.funding.value, s.funding.pk, s.keyA)
	if err != nil {
		t.Fatal(err)
	}
	sigB, err := SignInput(tx, 0, s.ms, s.funding.value, s.funding.pk, s.keyB)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		pub *btcec.PublicKey
		sig []byte
	}{{s.keyA.PubKey(), sigA}, {s.keyB.PubKey(), sigB}} {
		if err := VerifyInputSig(tx, 0, s.ms, s.funding.value, s.funding.pk, v.pub, v.sig); err != nil {
			t.Fatal(err)
		}
	}
	if tx.TxIn[0].Witness, err = MultisigWitness(s.ms, s.keyA.PubKey(), sigA, s.keyB.PubKey(), sigB); err != nil {
		t.Fatal(err)
	}
	if err := Verify(tx, prevMap(s.funding.op, s.funding.value, s.funding.pk)); err != nil {
		t.Fatal(err)
	}
	s.contractTx = tx
	s.contractOut = coin{op: wire.OutPoint{Hash: tx.TxHash(), Index: 0}, value: tx.TxOut[0].Value, pk: tx.TxOut[0].PkScript}
	return s
}

func (s *swap) hashlockSpend(t *testing.T, dest []byte) *wire.MsgTx {
	t.Helper()
	fee := FeeForVSize(EstimateVSize([]InputKind{InputHashlock}, [][]byte{dest}), testFeeRate)
	tx, err := HashlockSpendTx(s.contractOut.op, s.contractOut.value, s.contract, s.preimage, s.hashlock, dest, fee)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestRegtestHashlockSpend(t *testing.T) {
	ctx := itestCtx(t)
	s := newSwap(ctx, t, "hashlock", 20)
	dest := p2wpkh("hashlock/dest")
	claim := s.hashlockSpend(t, dest)

	// Contract not yet broadcast: the input is unknown.
	if ok, _, err := node.Backend().TestAccept(ctx, claim); err != nil || ok {
		t.Fatalf("claim accepted before the contract exists: %v %v", ok, err)
	}
	// Contract in the mempool: the hashlock branch has no CSV, so the
	// claim is accepted as its child (child pays for parent).
	broadcast(ctx, t, s.contractTx)
	broadcast(ctx, t, claim)

	// The counterparty learns the preimage from the mempool.
	spender, err := node.Backend().MempoolSpender(ctx, s.contractOut.op)
	if err != nil || spender == nil || *spender != claim.TxHash() {
		t.Fatalf("mempool spender: %v %v", spender, err)
	}
	seen, st, err := node.Backend().Tx(ctx, *spender)
	if err != nil || !st.InMempool {
		t.Fatalf("mempool tx: %+v %v", st, err)
	}
	hash := PreimageHash(s.preimage)
	if p, ok := PreimageFromWitness(seen.TxIn[0].Witness, hash); !ok || p != s.preimage {
		t.Fatal("preimage not read back from the mempool spend")
	}

	// ... and from the block.
	h := confirm(ctx, t, claim.TxHash())
	if confHeight := confirmedAt(ctx, t, s.contractOut.op.Hash); h != confHeight {
		t.Errorf("claim confirmed at %d, contract at %d: not in the same block", h, confHeight)
	}
	bh, err := node.Backend().BlockHash(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := node.Backend().Block(ctx, bh)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tx := range blk.Transactions {
		for _, in := range tx.TxIn {
			if in.PreviousOutPoint != s.contractOut.op {
				continue
			}
			if p, ok := PreimageFromWitness(in.Witness, hash); ok && p == s.preimage {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("preimage not read back from the block")
	}
	if _, _, err := node.Backend().UTXO(ctx, wire.OutPoint{Hash: claim.TxHash()}); err != nil {
		t.Fatalf("claim output: %v", err)
	}
}

func TestRegtestTimelockSpend(t *testing.T) {
	ctx := itestCtx(t)
	const csv = 6
	s := newSwap(ctx, t, "timelock", csv)
	dest := p2wpkh("timelock/dest")
	fee := FeeForVSize(EstimateVSize([]InputKind{InputTimelock}, [][]byte{dest}), testFeeRate)
	refund, err := TimelockSpendTx(s.contractOut.op, s.contractOut.value, s.contract, s.timelock, dest, fee)
	if err != nil {
		t.Fatal(err)
	}
	broadcast(ctx, t, s.contractTx)
	mustReject(ctx, t, refund, "sequence lock")
	c := confirm(ctx, t, s.contractOut.op.Hash)

	// BIP68: the refund may enter block c+csv, so the mempool (which checks
	// for the next block) accepts it exactly when the tip is c+csv−1.
	for tip(ctx, t) < c+csv-1 {
		mustReject(ctx, t, refund, "sequence lock")
		mine(ctx, t, 1)
	}
	if got := tip(ctx, t); got != c+csv-1 {
		t.Fatalf("tip %d", got)
	}
	broadcast(ctx, t, refund)
	if h := confirm(ctx, t, refund.TxHash()); h != c+csv {
		t.Errorf("refund confirmed at %d, want %d", h, c+csv)
	}
	if vs := TxVSize(refund); vs > TimelockInputVSize+P2WPKHOutputVSize+TxOverheadVSize {
		t.Errorf("refund vsize %d above estimate", vs)
	}
}

func TestRegtestCooperativeSpend(t *testing.T) {
	ctx := itestCtx(t)
	s := newSwap(ctx, t, "coop", 20)
	dest := p2wpkh("coop/dest")
	fee := FeeForVSize(EstimateVSize([]InputKind{InputMultisig}, [][]byte{dest}), testFeeRate)
	sweep, err := CooperativeSpendTx(s.funding.op, s.funding.value, s.ms, s.keyA, s.keyB, dest, fee)
	if err != nil {
		t.Fatal(err)
	}
	broadcast(ctx, t, sweep)
	confirm(ctx, t, sweep.TxHash())
	// The contract tx now conflicts with a confirmed spend.
	if ok, _, err := node.Backend().TestAccept(ctx, s.contractTx); err != nil || ok {
		t.Fatalf("contract tx accepted after the sweep: %v %v", ok, err)
	}
}

func TestRegtestBond(t *testing.T) {
	ctx := itestCtx(t)
	key := testKey("bond/key")
	wallet := testKey("bond/wallet")
	src := fundP2WPKH(ctx, t, wallet, 2_000_000)
	lockHeight := uint32(tip(ctx, t) + 6)
	bs, err := BondScript(key.PubKey(), lockHeight)
	if err != nil {
		t.Fatal(err)
	}
	bond := payTo(ctx, t, src, wallet, WitnessScriptHash(bs))
	confHeight := confirm(ctx, t, bond.op.Hash)

	// The directory's checks against what the chain says.
	out, confs, err := node.Backend().UTXO(ctx, bond.op)
	if err != nil || confs != 1 {
		t.Fatalf("bond utxo: %v confs %d", err, confs)
	}
	cert := &BondCert{OutPoint: bond.op, PubKey: key.PubKey(), LockHeight: lockHeight,
		Amount: bond.value, Onion: "bondmaker.onion:6102", ExpiryHeight: lockHeight}
	sig, err := cert.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	params := BondParams{MinAmount: 1_000_000, MinLockBlocks: 1, MaxLockBlocks: 100, MinConfirmations: 1}
	if err := CheckBond(cert, sig, params, tip(ctx, t), confHeight, out.Value, out.PkScript); err != nil {
		t.Fatalf("CheckBond: %v", err)
	}
	hdrHash, err := node.Backend().BlockHash(ctx, confHeight)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := node.Backend().BlockHeader(ctx, hdrHash)
	if err != nil {
		t.Fatal(err)
	}
	if v := BondValueAt(bond.value, hdr.Timestamp, lockHeight, confHeight, hdr.Timestamp); v <= 0 {
		t.Errorf("bond value %v", v)
	}

	dest := p2wpkh("bond/dest")
	fee := FeeForVSize(EstimateVSize([]InputKind{InputBond}, [][]byte{dest}), testFeeRate)
	redeem, err := BondRedeemTx(bond.op, bond.value, bs, key, dest, fee)
	if err != nil {
		t.Fatal(err)
	}
	// nLockTime = lockHeight is final in block lockHeight+1: the mempool
	// accepts it exactly when the tip reaches lockHeight.
	for uint32(tip(ctx, t)) < lockHeight {
		mustReject(ctx, t, redeem, "not finalized")
		mine(ctx, t, 1)
	}
	// At the lock height the bond has expired for the directory.
	if err := CheckBond(cert, sig, params, tip(ctx, t), confHeight, out.Value, out.PkScript); !errors.Is(err, ErrBondCertExpired) && !errors.Is(err, ErrBondExpired) {
		t.Fatalf("expired bond accepted: %v", err)
	}
	broadcast(ctx, t, redeem)
	if h := confirm(ctx, t, redeem.TxHash()); h != int32(lockHeight)+1 {
		t.Errorf("redeem confirmed at %d, want %d", h, lockHeight+1)
	}
}

// TestRegtestBondCheatRejected: a redemption with nLockTime below the CLTV
// height is refused by the script even when the chain is past the lock.
func TestRegtestBondCheatRejected(t *testing.T) {
	ctx := itestCtx(t)
	key := testKey("bondcheat/key")
	wallet := testKey("bondcheat/wallet")
	src := fundP2WPKH(ctx, t, wallet, 1_000_000)
	lockHeight := uint32(tip(ctx, t) + 2)
	bs, err := BondScript(key.PubKey(), lockHeight)
	if err != nil {
		t.Fatal(err)
	}
	bond := payTo(ctx, t, src, wallet, WitnessScriptHash(bs))
	confirm(ctx, t, bond.op.Hash)
	mine(ctx, t, 3)
	dest := p2wpkh("bondcheat/dest")
	redeem, err := BondRedeemTx(bond.op, bond.value, bs, key, dest, 1000)
	if err != nil {
		t.Fatal(err)
	}
	cheat := redeem.Copy()
	cheat.LockTime = 0
	sig, err := SignInput(cheat, 0, bs, bond.value, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	cheat.TxIn[0].Witness[0] = sig
	if err := Verify(cheat, prevMap(bond.op, bond.value, WitnessScriptHash(bs))); !errors.Is(err, ErrVerify) {
		t.Fatalf("cheat verified locally: %v", err)
	}
	mustReject(ctx, t, cheat, "")
	broadcast(ctx, t, redeem)
	confirm(ctx, t, redeem.TxHash())
}

// confirmedAt returns the height of the block that confirmed txid.
func confirmedAt(ctx context.Context, t *testing.T, txid chainhash.Hash) int32 {
	t.Helper()
	_, st, err := node.Backend().Tx(ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	if st.InMempool || st.Height <= 0 {
		t.Fatalf("tx %s not confirmed: %+v", txid, st)
	}
	return st.Height
}
