//go:build itest

package chain_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
)

// testKey is a deterministic P2WPKH key for the tests.
type testKey struct {
	priv *btcec.PrivateKey
	addr btcutil.Address
	pk   []byte
}

func newKey(t *testing.T, name string) testKey {
	t.Helper()
	seed := sha256.Sum256([]byte("onionswap chain itest " + name))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(priv.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := txscript.PayToAddrScript(addr)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv, addr, pk}
}

// spend builds and signs a tx spending prev (owned by k) to pkScript, paying
// fee; sequence lets tests signal RBF.
func (k testKey) spend(t *testing.T, op wire.OutPoint, prev *wire.TxOut, pkScript []byte, fee int64, sequence uint32) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&op, nil, nil)
	in.Sequence = sequence
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(prev.Value-fee, pkScript))
	fetcher := txscript.NewCannedPrevOutputFetcher(prev.PkScript, prev.Value)
	w, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, prev.Value, prev.PkScript,
		txscript.SigHashAll, k.priv, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = w
	return tx
}

// fundKey pays amount to k from the faucet and returns the outpoint and
// output (not mined).
func fundKey(t *testing.T, ctx context.Context, k testKey, amount btcutil.Amount) (*wire.MsgTx, wire.OutPoint, *wire.TxOut) {
	t.Helper()
	tx, err := node.Fund(ctx, k.addr, amount)
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range tx.TxOut {
		if string(out.PkScript) == string(k.pk) {
			return tx, wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}, out
		}
	}
	t.Fatal("funding tx does not pay the key")
	return nil, wire.OutPoint{}, nil
}

func mine(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	if _, err := node.Mine(ctx, n); err != nil {
		t.Fatal(err)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventLog is a Handler recording events for tests to wait on.
type eventLog struct {
	mu  sync.Mutex
	evs []chain.Event
}

func (l *eventLog) handle(_ context.Context, ev chain.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
	return nil
}

func (l *eventLog) all() []chain.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]chain.Event(nil), l.evs...)
}

// wait returns the first event matching pred, failing after 10 s.
func (l *eventLog) wait(t *testing.T, what string, pred func(chain.Event) bool) chain.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, ev := range l.all() {
			if pred(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; events: %+v", what, l.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
