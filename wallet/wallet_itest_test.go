//go:build itest

package wallet

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/chain/regtest"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// testFeeRate: 2 sat/vB, above btcd's 1 sat/vB relay floor.
const testFeeRate = 2000

func itestCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func itestConfig(t *testing.T, b chain.Backend) Config {
	t.Helper()
	if b == nil {
		b = node.Backend()
	}
	return Config{Path: filepath.Join(t.TempDir(), "wallet.db"), Params: &chaincfg.RegressionNetParams, Backend: b}
}

func newItestWallet(t *testing.T) (*Wallet, Config, keys.Mnemonic) {
	t.Helper()
	cfg := itestConfig(t, nil)
	w, m, err := Create(itestCtx(t), cfg, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, cfg, m
}

func mine(t *testing.T, n int) []chainhash.Hash {
	t.Helper()
	hs, err := node.Mine(itestCtx(t), n)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func mustSync(t *testing.T, w *Wallet) {
	t.Helper()
	if err := w.Sync(itestCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func balance(t *testing.T, w *Wallet, cat Category) Balance {
	t.Helper()
	b, err := w.Balance(itestCtx(t), cat)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fund pays each amount to a fresh address of w, mines one block and syncs.
func fund(t *testing.T, w *Wallet, amounts ...btcutil.Amount) {
	t.Helper()
	ctx := itestCtx(t)
	for _, a := range amounts {
		addr, err := w.NewAddress(ctx, keys.BranchExternal)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, addr, a); err != nil {
			t.Fatal(err)
		}
	}
	mine(t, 1)
	mustSync(t, w)
}

// TestFundSendRestart: a payment shows unconfirmed then confirmed; a send
// returns change and pays the expected fee; a restarted wallet (the node
// keeps running) shows the same balances.
func TestFundSendRestart(t *testing.T) {
	ctx := itestCtx(t)
	w, cfg, _ := newItestWallet(t)
	addr, err := w.NewAddress(ctx, keys.BranchExternal)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, addr, btcutil.SatoshiPerBitcoin); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	mustSync(t, w)
	t.Logf("sync (mempool payment): %v", time.Since(start))
	if b := balance(t, w, Regular); b.Confirmed != 0 || b.Unconfirmed != btcutil.SatoshiPerBitcoin {
		t.Fatalf("after payment: %+v", b)
	}
	mine(t, 1)
	mustSync(t, w)
	if b := balance(t, w, Regular); b.Confirmed != btcutil.SatoshiPerBitcoin || b.Unconfirmed != 0 {
		t.Fatalf("after block: %+v", b)
	}

	dest := regtest.FaucetAddress()
	start = time.Now()
	sent, err := w.Send(ctx, dest, 30_000_000, testFeeRate)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("send (select + sign + testaccept + store + broadcast): %v", time.Since(start))
	if len(sent.Tx.TxIn) != 1 || len(sent.Tx.TxOut) != 2 {
		t.Fatalf("tx shape %d in %d out", len(sent.Tx.TxIn), len(sent.Tx.TxOut))
	}
	want := script.FeeForVSize(script.EstimateVSize([]script.InputKind{script.InputP2WPKH},
		[][]byte{sent.Tx.TxOut[0].PkScript, sent.Tx.TxOut[1].PkScript}), testFeeRate)
	vs := script.TxVSize(sent.Tx)
	if int64(sent.Fee) != want || int64(sent.Fee) < script.FeeForVSize(vs, testFeeRate) {
		t.Fatalf("fee %d, want %d (%d vB at %d sat/kvB)", sent.Fee, want, vs, testFeeRate)
	}
	if _, st, err := node.Backend().Tx(ctx, sent.Txid); err != nil || !st.InMempool {
		t.Fatalf("sent tx not in mempool: %+v %v", st, err)
	}
	change := btcutil.SatoshiPerBitcoin - 30_000_000 - sent.Fee
	mustSync(t, w)
	if b := balance(t, w, Regular); b.Confirmed != 0 || b.Unconfirmed != change {
		t.Fatalf("after send: %+v, want unconfirmed change %v", b, change)
	}
	mine(t, 1)
	mustSync(t, w)
	before, err := w.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before[Regular].Confirmed != change {
		t.Fatalf("after confirmation: %+v", before[Regular])
	}
	_, status, err := w.StoredTx(ctx, sent.Txid)
	if err != nil || status != "confirmed" {
		t.Fatalf("stored tx status %q %v", status, err)
	}

	// Restart: close and open the file again; the node keeps running.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	w2, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open (no passphrase): %v", time.Since(start))
	defer w2.Close()
	after, err := w2.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, w2)
	synced, _ := w2.Balances(ctx)
	for _, c := range Categories {
		if before[c] != after[c] || before[c] != synced[c] {
			t.Fatalf("%s: before %+v, reopened %+v, synced %+v", c, before[c], after[c], synced[c])
		}
	}
}

// dropBroadcast simulates a crash between persisting and broadcasting:
// Broadcast reports the node unreachable and sends nothing.
type dropBroadcast struct{ chain.Backend }

func (d dropBroadcast) Broadcast(context.Context, *wire.MsgTx) (chainhash.Hash, error) {
	return chainhash.Hash{}, chain.ErrUnreachable
}

// TestRebroadcastAfterRestart: a transaction stored but never broadcast is
// sent by the first Sync after Open.
func TestRebroadcastAfterRestart(t *testing.T) {
	ctx := itestCtx(t)
	cfg := itestConfig(t, dropBroadcast{node.Backend()})
	w, _, err := Create(ctx, cfg, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fund(t, w, 10_000_000)
	sent, err := w.Send(ctx, regtest.FaucetAddress(), 1_000_000, testFeeRate)
	if !errors.Is(err, chain.ErrUnreachable) || sent == nil {
		t.Fatalf("send with a lost broadcast: %v", err)
	}
	if _, _, err := node.Backend().Tx(ctx, sent.Txid); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("tx reached the node: %v", err)
	}
	w.Close()
	cfg.Backend = node.Backend()
	w2, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	mustSync(t, w2)
	if _, st, err := node.Backend().Tx(ctx, sent.Txid); err != nil || !st.InMempool {
		t.Fatalf("not rebroadcast: %+v %v", st, err)
	}
	mine(t, 1)
	mustSync(t, w2)
	if b := balance(t, w2, Regular); b.Confirmed != 10_000_000-1_000_000-sent.Fee {
		t.Fatalf("balance %+v", b)
	}
}

// p2wpkhSpend builds and signs a 1-in-1-out P2WPKH spend with key.
func p2wpkhSpend(t *testing.T, key *btcec.PrivateKey, prev wire.OutPoint, prevOut *wire.TxOut, dest []byte, fee int64, seq uint32) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&prev, nil, nil)
	in.Sequence = seq
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(prevOut.Value-fee, dest))
	sig, err := script.SignInput(tx, 0, nil, prevOut.Value, prevOut.PkScript, key)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = script.P2WPKHWitness(sig, key.PubKey())
	if err := script.Verify(tx, map[wire.OutPoint]*wire.TxOut{prev: prevOut}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// outsideCoin is a confirmed P2WPKH coin of value held by a fresh key
// outside the wallet.
func outsideCoin(t *testing.T, value btcutil.Amount) (*btcec.PrivateKey, wire.OutPoint, *wire.TxOut) {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pk := script.P2WPKHPkScript(key.PubKey())
	ftx, err := node.FundScript(itestCtx(t), pk, value)
	if err != nil {
		t.Fatal(err)
	}
	mine(t, 1)
	for i, o := range ftx.TxOut {
		if string(o.PkScript) == string(pk) {
			return key, wire.OutPoint{Hash: ftx.TxHash(), Index: uint32(i)}, o
		}
	}
	t.Fatal("funding tx does not pay the key")
	return nil, wire.OutPoint{}, nil
}

// TestReorgRemovesPayment: a payment confirmed in a block that is
// invalidated goes back to unconfirmed; when a conflicting transaction
// replaces it and confirms, it disappears from the balance.
func TestReorgRemovesPayment(t *testing.T) {
	ctx := itestCtx(t)
	w, _, _ := newItestWallet(t)
	b := node.Backend()

	// An outside payer whose payment can be double-spent (BIP125 signal).
	payer, prev, prevOut := outsideCoin(t, 5_000_000)
	payerPk := prevOut.PkScript
	addr, _ := w.NewAddress(ctx, keys.BranchExternal)
	walletPk, _ := txscript.PayToAddrScript(addr)
	pay := p2wpkhSpend(t, payer, prev, prevOut, walletPk, 1_000, wire.MaxTxInSequenceNum-2)
	if _, err := b.Broadcast(ctx, pay); err != nil {
		t.Fatal(err)
	}
	hs := mine(t, 1)
	mustSync(t, w)
	amount := btcutil.Amount(5_000_000 - 1_000)
	if bal := balance(t, w, Regular); bal.Confirmed != amount {
		t.Fatalf("before reorg: %+v", bal)
	}

	if err := node.InvalidateBlock(ctx, hs[0]); err != nil {
		t.Fatal(err)
	}
	mustSync(t, w)
	if bal := balance(t, w, Regular); bal.Confirmed != 0 || bal.Unconfirmed != amount {
		t.Fatalf("after invalidateblock: %+v (payment should be back in the mempool)", bal)
	}

	// The payer double-spends its payment with a higher fee.
	steal := p2wpkhSpend(t, payer, prev, prevOut, payerPk, 20_000, wire.MaxTxInSequenceNum-2)
	if _, err := b.Broadcast(ctx, steal); err != nil {
		t.Logf("btcd refused the replacement (%v); checking the re-confirmation path instead", err)
		mine(t, 2)
		mustSync(t, w)
		if bal := balance(t, w, Regular); bal.Confirmed != amount {
			t.Fatalf("after re-mining: %+v", bal)
		}
		return
	}
	mine(t, 2)
	mustSync(t, w)
	if bal := balance(t, w, Regular); bal.Total() != 0 {
		t.Fatalf("after the double spend confirmed: %+v, want empty", bal)
	}
	coins, _ := w.ListCoins(ctx, Regular, false)
	if len(coins) != 0 {
		t.Fatalf("coins left: %+v", coins)
	}
}

// TestConcurrentSends: senders racing for two coins never pick the same
// coin: two succeed with disjoint inputs, the third has insufficient funds,
// and the node accepts both transactions (no double spend).
func TestConcurrentSends(t *testing.T) {
	ctx := itestCtx(t)
	w, _, _ := newItestWallet(t)
	fund(t, w, 50_000_000, 50_000_000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sent []*SentTx
	var errs []error
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := w.Send(ctx, regtest.FaucetAddress(), 40_000_000, testFeeRate)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			sent = append(sent, s)
		}()
	}
	wg.Wait()
	if len(sent) != 2 || len(errs) != 1 || !errors.Is(errs[0], ErrInsufficientFunds) {
		t.Fatalf("%d sent, errors %v", len(sent), errs)
	}
	t.Log(errs[0])
	used := map[wire.OutPoint]bool{}
	for _, s := range sent {
		for _, in := range s.Tx.TxIn {
			if used[in.PreviousOutPoint] {
				t.Fatalf("coin %v spent twice", in.PreviousOutPoint)
			}
			used[in.PreviousOutPoint] = true
		}
		if _, st, err := node.Backend().Tx(ctx, s.Txid); err != nil || !st.InMempool {
			t.Fatalf("%v not in mempool: %v", s.Txid, err)
		}
	}
	mine(t, 1)
	mustSync(t, w)
}

// TestBonds: creation, verification against the chain (and each refusal),
// redemption rejected before the lock height and accepted at it.
func TestBonds(t *testing.T) {
	ctx := itestCtx(t)
	w, _, _ := newItestWallet(t)
	b := node.Backend()

	// Short of funds: the error says how much to send where.
	_, _, err := w.CreateBond(ctx, 10_000_000, 1_000_000, testFeeRate)
	var ife *InsufficientFundsError
	if !errors.As(err, &ife) || ife.Address == "" || ife.Need <= 10_000_000 {
		t.Fatalf("bond without funds: %v", err)
	}
	t.Log(err)

	fund(t, w, 100_000_000)
	tip, _, _ := b.Tip(ctx)
	lock := uint32(tip) + 40
	bond, sent, err := w.CreateBond(ctx, 10_000_000, lock, testFeeRate)
	if err != nil {
		t.Fatal(err)
	}
	if bal := balance(t, w, Regular); bal.Confirmed != 0 || bal.Unconfirmed != 90_000_000-sent.Fee {
		t.Fatalf("regular after bond: %+v", bal)
	}
	onion := "bondtestaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.onion:8000"
	policy := BondPolicy{MinAmount: 1_000_000, MinLockBlocks: 10, MaxLockBlocks: 100, MinConfirmations: 1, MaxCertValidityBlocks: 50}
	cert, sig, err := w.BondProof(ctx, bond.OutPoint, onion, uint32(tip)+20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBondOnChain(ctx, b, cert, sig, onion, policy); !errors.Is(err, script.ErrBondUnconfirmed) {
		t.Fatalf("unconfirmed bond: %v", err)
	}
	mine(t, 1)
	mustSync(t, w)
	if bal := balance(t, w, FidelityBond); bal.Confirmed != 10_000_000 {
		t.Fatalf("bond balance %+v", bal)
	}
	bonds, _ := w.Bonds(ctx)
	if len(bonds) != 1 || bonds[0].Status != "confirmed" || bonds[0].ConfHeight != tip+1 {
		t.Fatalf("bonds %+v", bonds)
	}
	value, err := VerifyBondOnChain(ctx, b, cert, sig, onion, policy)
	if err != nil || value <= 0 {
		t.Fatalf("valid bond: value %v, %v", value, err)
	}
	t.Logf("bond value %.4g", value)

	other := *cert
	other.Onion = "someoneelseaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.onion:8000"
	expired, expSig, _ := w.BondProof(ctx, bond.OutPoint, onion, uint32(tip)+1)
	bondKey, _ := w.keys.BondKey(bond.KeyIndex)
	ghost := *cert
	ghost.OutPoint.Hash = chainhash.Hash{0xde, 0xad}
	ghostSig, _ := ghost.Sign(bondKey)
	big := policy
	big.MinAmount = 20_000_000
	longLock := policy
	longLock.MinLockBlocks = 50
	tests := []struct {
		name   string
		cert   *script.BondCert
		sig    []byte
		onion  string
		policy BondPolicy
		want   error
	}{
		{"copied to another onion", cert, sig, other.Onion, policy, script.ErrBondOnionMismatch},
		{"forged signature", &other, sig, other.Onion, policy, script.ErrBondBadSignature},
		{"expired certificate", expired, expSig, onion, policy, script.ErrBondCertExpired},
		{"too small", cert, sig, onion, big, script.ErrBondTooSmall},
		{"lock too short", cert, sig, onion, longLock, script.ErrBondLockWindow},
		{"unknown outpoint", &ghost, ghostSig, onion, policy, script.ErrBondNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyBondOnChain(ctx, b, tc.cert, tc.sig, tc.onion, tc.policy)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}

	// Redemption: refused by the node at tip = lock − 1, accepted at lock.
	tip, _, _ = b.Tip(ctx)
	mine(t, int(lock)-1-int(tip))
	mustSync(t, w)
	if _, err := w.RedeemBond(ctx, bond.OutPoint, testFeeRate); !errors.Is(err, ErrBroadcast) {
		t.Fatalf("early redeem: %v", err)
	} else {
		t.Logf("early redeem refused: %v", err)
	}
	if bal := balance(t, w, FidelityBond); bal.Confirmed != 10_000_000 {
		t.Fatalf("bond balance after refused redeem %+v", bal)
	}
	mine(t, 1)
	mustSync(t, w)
	redeem, err := w.RedeemBond(ctx, bond.OutPoint, testFeeRate)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBondOnChain(ctx, b, cert, sig, onion, policy); !errors.Is(err, script.ErrBondSpent) {
		t.Fatalf("spent (mempool) bond: %v", err)
	}
	mine(t, 1)
	mustSync(t, w)
	if _, err := VerifyBondOnChain(ctx, b, cert, sig, onion, policy); !errors.Is(err, script.ErrBondSpent) {
		t.Fatalf("spent (chain) bond: %v", err)
	}
	bonds, _ = w.Bonds(ctx)
	if bonds[0].Status != "redeemed" || bonds[0].RedeemTxid == nil || *bonds[0].RedeemTxid != redeem.Txid {
		t.Fatalf("bond after redeem %+v", bonds[0])
	}
	if bal := balance(t, w, FidelityBond); bal.Total() != 0 {
		t.Fatalf("bond balance after redeem %+v", bal)
	}
	if bal := balance(t, w, Regular); bal.Confirmed != 100_000_000-sent.Fee-redeem.Fee {
		t.Fatalf("regular after redeem %+v", bal)
	}
}

// TestRestoreFindsCoins: the words and the birthday restore the coins.
func TestRestoreFindsCoins(t *testing.T) {
	ctx := itestCtx(t)
	w, _, m := newItestWallet(t)
	birthday := w.Birthday()
	fund(t, w, 3_000_000, 4_000_000)
	if _, err := w.Send(ctx, regtest.FaucetAddress(), 1_000_000, testFeeRate); err != nil {
		t.Fatal(err)
	}
	mine(t, 1)
	mustSync(t, w)
	want := balance(t, w, Regular)
	cfg := itestConfig(t, nil)
	cfg.Passphrase = []byte("restored")
	r, err := Restore(ctx, cfg, RestoreOptions{Mnemonic: m.Words(), Birthday: birthday})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	mustSync(t, r)
	t.Logf("restore scan from %d: %v", birthday, time.Since(start))
	if got := balance(t, r, Regular); got != want {
		t.Fatalf("restored balance %+v, want %+v", got, want)
	}
}

// TestChainFaults: a wrong RPC password, a node on another network and an
// unreachable node each give a clear error.
func TestChainFaults(t *testing.T) {
	ctx := itestCtx(t)
	rc := node.RPCConfig()
	rc.Pass = "wrong"
	if _, err := chain.DialRPC(ctx, rc); !errors.Is(err, chain.ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	} else {
		t.Log(err)
	}
	rc = node.RPCConfig()
	rc.Params = &chaincfg.TestNet3Params
	if _, err := chain.DialRPC(ctx, rc); !errors.Is(err, chain.ErrWrongNetwork) {
		t.Fatalf("wrong network: %v", err)
	}

	// A wallet configured for mainnet on the regtest backend.
	cfg := itestConfig(t, nil)
	cfg.Params = &chaincfg.MainNetParams
	if _, _, err := Create(ctx, cfg, CreateOptions{}); !errors.Is(err, ErrNetworkMismatch) {
		t.Fatalf("mainnet wallet on regtest node: %v", err)
	}

	// Unreachable: the relay refuses connections. A short call timeout
	// bounds rpcclient's own connection retries.
	rc = node.RPCConfig()
	rc.CallTimeout = 2 * time.Second
	rpc, err := chain.DialRPC(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	w, _, err := Create(ctx, itestConfig(t, rpc), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	node.Pause()
	defer node.Resume()
	if err := w.Sync(ctx); !errors.Is(err, chain.ErrUnreachable) {
		t.Fatalf("sync with the node down: %v", err)
	} else {
		t.Log(err)
	}
	if _, _, err := Create(ctx, itestConfig(t, rpc), CreateOptions{}); !errors.Is(err, chain.ErrUnreachable) {
		t.Fatalf("create with the node down: %v", err)
	}
	node.Resume()
	if err := w.Sync(ctx); err != nil {
		t.Fatalf("sync after the node came back: %v", err)
	}
}

// TestPublishCreditsOwnOutputs: a transaction the wallet publishes that
// pays one of its addresses (a swap sweep, a timelock refund) shows in the
// balance as soon as PublishTx returns, before any sync: the balance never
// shows the spent inputs without the outputs. Publishing again and the
// watcher's sighting do not count it twice.
func TestPublishCreditsOwnOutputs(t *testing.T) {
	ctx := itestCtx(t)
	w, _, _ := newItestWallet(t)
	mustSync(t, w)

	payer, prev, prevOut := outsideCoin(t, 2_000_000)
	addr, err := w.NewAddress(ctx, keys.BranchSwept)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := txscript.PayToAddrScript(addr)
	const fee = 1_000
	sweep := p2wpkhSpend(t, payer, prev, prevOut, pk, fee, wire.MaxTxInSequenceNum)
	want := btcutil.Amount(prevOut.Value - fee)

	for i := 0; i < 2; i++ {
		if err := w.PublishTx(ctx, sweep, fee, "swap-sweep"); err != nil {
			t.Fatalf("publish #%d: %v", i+1, err)
		}
		if b := balance(t, w, Swept); b.Unconfirmed != want || b.Confirmed != 0 {
			t.Fatalf("after publish #%d: swept balance %+v, want %d unconfirmed", i+1, b, want)
		}
	}
	mustSync(t, w) // the watcher sees it in the mempool
	if b := balance(t, w, Swept); b.Unconfirmed != want || b.Confirmed != 0 {
		t.Fatalf("after mempool sync: swept balance %+v, want %d unconfirmed", b, want)
	}
	mine(t, 1)
	mustSync(t, w)
	if b := balance(t, w, Swept); b.Confirmed != want || b.Unconfirmed != 0 {
		t.Fatalf("after confirmation: swept balance %+v, want %d confirmed", b, want)
	}
	if b := balance(t, w, Regular); b.Total() != 0 {
		t.Fatalf("regular balance %+v, want 0", b)
	}
}

// TestAnonSetRegtest: an outside payer's transaction with 5 equal outputs,
// 2 of them to our addresses, plus its own change: once mined and synced,
// our two coins have an anonymity set of 5 and are not traceable.
func TestAnonSetRegtest(t *testing.T) {
	ctx := itestCtx(t)
	w, _, _ := newItestWallet(t)
	mustSync(t, w)

	payer, prev, prevOut := outsideCoin(t, 6_000_000)
	const denom, fee = 1_000_000, 2_000
	join := wire.NewMsgTx(2)
	join.AddTxIn(wire.NewTxIn(&prev, nil, nil))
	ours := map[string]bool{}
	for i := 0; i < 5; i++ {
		var pk []byte
		if i == 1 || i == 3 {
			addr, err := w.NewAddress(ctx, keys.BranchExternal)
			if err != nil {
				t.Fatal(err)
			}
			pk, _ = txscript.PayToAddrScript(addr)
			ours[string(pk)] = true
		} else {
			k, err := btcec.NewPrivateKey()
			if err != nil {
				t.Fatal(err)
			}
			pk = script.P2WPKHPkScript(k.PubKey())
		}
		join.AddTxOut(wire.NewTxOut(denom, pk))
	}
	join.AddTxOut(wire.NewTxOut(prevOut.Value-5*denom-fee, prevOut.PkScript)) // the payer's change
	sig, err := script.SignInput(join, 0, nil, prevOut.Value, prevOut.PkScript, payer)
	if err != nil {
		t.Fatal(err)
	}
	join.TxIn[0].Witness = script.P2WPKHWitness(sig, payer.PubKey())
	if _, err := node.Backend().Broadcast(ctx, join); err != nil {
		t.Fatal(err)
	}
	mine(t, 1)
	mustSync(t, w)

	coins, err := w.ListCoins(ctx, Regular, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(coins) != 2 {
		t.Fatalf("coins %+v, want our 2 outputs of the join", coins)
	}
	for _, c := range coins {
		if c.OutPoint.Hash != join.TxHash() || !ours[string(c.PkScript)] || c.Value != denom {
			t.Fatalf("coin %+v is not one of ours in the join", c)
		}
		if c.AnonSet != 5 || c.Traceable(DefaultAnonTarget) {
			t.Fatalf("coin %v: AnonSet %d, traceable %v; want 5, false", c.OutPoint, c.AnonSet, c.Traceable(DefaultAnonTarget))
		}
	}
}
