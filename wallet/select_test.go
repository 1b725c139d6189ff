package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

func cands(values ...int64) []candidate {
	out := make([]candidate, len(values))
	for i, v := range values {
		out[i] = candidate{op: wire.OutPoint{Hash: chainhash.Hash{byte(i + 1)}}, value: v, kind: script.InputP2WPKH}
	}
	return out
}

var p2wpkhTemplate = append([]byte{0x00, 0x14}, make([]byte, 20)...)

func TestSelectCoins(t *testing.T) {
	pay := []*wire.TxOut{wire.NewTxOut(0, p2wpkhTemplate)}
	tests := []struct {
		name       string
		coins      []int64
		target     int64
		rate       int64
		sendMax    bool
		wantInputs int
		wantChange bool
		wantErr    error
	}{
		{"exact single coin, no change", []int64{50_000, 10_110, 300_000}, 10_000, 1000, false, 1, false, nil},
		{"one big coin with change", []int64{1_000_000}, 10_000, 1000, false, 1, true, nil},
		{"needs two coins", []int64{6_000, 7_000, 1_000}, 12_000, 1000, false, 2, true, nil},
		{"dust change goes to fee", []int64{10_250}, 10_000, 1000, false, 1, false, nil},
		{"coins below their input fee are skipped", []int64{60, 60, 60}, 10, 1000, false, 0, false, ErrInsufficientFunds},
		{"insufficient", []int64{1_000, 2_000}, 5_000, 1000, false, 0, false, ErrInsufficientFunds},
		{"high fee rate", []int64{100_000, 100_000}, 150_000, 50_000, false, 2, true, nil},
		{"send max takes all useful coins", []int64{10_000, 20_000, 50}, 0, 1000, true, 2, false, nil},
		{"empty", nil, 1, 1000, false, 0, false, ErrInsufficientFunds},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := selectParams{outputs: pay, changePkScript: p2wpkhTemplate, feeRate: tc.rate, sendMax: tc.sendMax}
			sel, err := selectCoins(cands(tc.coins...), tc.target, p)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(sel.inputs) != tc.wantInputs || (sel.change > 0) != tc.wantChange {
				t.Fatalf("inputs %d change %d, want %d inputs, change %v", len(sel.inputs), sel.change, tc.wantInputs, tc.wantChange)
			}
			var in int64
			for _, c := range sel.inputs {
				in += c.value
			}
			if tc.sendMax {
				if sel.fee != p.fee(sel.inputs, false) {
					t.Fatalf("send max fee %d", sel.fee)
				}
				return
			}
			if in != tc.target+sel.fee+sel.change {
				t.Fatalf("in %d != target %d + fee %d + change %d", in, tc.target, sel.fee, sel.change)
			}
			if min := p.fee(sel.inputs, sel.change > 0); sel.fee < min {
				t.Fatalf("fee %d below %d", sel.fee, min)
			}
			if sel.change > 0 && sel.change < script.DustP2WPKH {
				t.Fatalf("dust change %d", sel.change)
			}
		})
	}
}

// insertCoin puts a confirmed Regular coin paying external address idx.
func insertCoin(t *testing.T, w *Wallet, n byte, idx uint32, value int64) wire.OutPoint {
	t.Helper()
	_, pub, err := w.keys.P2WPKHAddress(keys.BranchExternal, idx)
	if err != nil {
		t.Fatal(err)
	}
	op := wire.OutPoint{Hash: chainhash.Hash{n, 0xcc}, Index: 0}
	_, err = w.store.db.Exec(`INSERT INTO coins (txid, vout, value, pk_script, category, height) VALUES (?, 0, ?, ?, 'regular', 100)`,
		op.Hash[:], value, script.P2WPKHPkScript(pub))
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// TestConcurrentReserve: many builders at once never share a coin.
func TestConcurrentReserve(t *testing.T) {
	w, _ := createWallet(t, testConfig(t, ""))
	defer w.Close()
	for i := range 8 {
		insertCoin(t, w, byte(i), uint32(i), 100_000)
	}
	out := []*wire.TxOut{wire.NewTxOut(60_000, p2wpkhTemplate)}
	var mu sync.Mutex
	used := map[wire.OutPoint]string{}
	var wg sync.WaitGroup
	fails := 0
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("r", g)
			_, inputs, _, _, err := w.reserve(context.Background(), buildReq{category: Regular, outputs: out, feeRate: 1000}, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if !errors.Is(err, ErrInsufficientFunds) {
					t.Error(err)
				}
				fails++
				return
			}
			for _, in := range inputs {
				if prev, dup := used[in.op]; dup {
					t.Errorf("coin %v reserved by %s and %s", in.op, prev, id)
				}
				used[in.op] = id
			}
		}()
	}
	wg.Wait()
	if len(used) != 8 || fails != 4 {
		t.Fatalf("%d coins reserved, %d builders failed; want 8 and 4", len(used), fails)
	}
	// Reservations expire.
	w.cfg.Now = func() time.Time { return time.Now().Add(ReservationTTL + time.Second) }
	if _, _, _, _, err := w.reserve(context.Background(), buildReq{category: Regular, outputs: out, feeRate: 1000}, "late"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	var n int
	w.store.db.QueryRow(`SELECT count(*) FROM coins WHERE reserved_by = 'late'`).Scan(&n)
	if n != 1 {
		t.Fatalf("late reservation holds %d coins", n)
	}
	_ = sql.ErrNoRows
}

// TestSendPersistsBeforeBroadcast: the stored transaction, its spent inputs
// and its change are in the database when Broadcast is called.
func TestSendPersistsBeforeBroadcast(t *testing.T) {
	cfg := testConfig(t, "")
	fb := &recordingBackend{Chain: newFake()}
	cfg.Backend = fb
	w, _ := createWallet(t, cfg)
	defer w.Close()
	op := insertCoin(t, w, 1, 0, 200_000)
	fb.check = func(tx *wire.MsgTx) {
		txid := tx.TxHash()
		var status string
		if err := w.store.db.QueryRow(`SELECT status FROM transactions WHERE txid = ?`, txid[:]).Scan(&status); err != nil || status != "publish" {
			t.Errorf("at broadcast: stored status %q, %v", status, err)
		}
		var spent []byte
		w.store.db.QueryRow(`SELECT spent_by FROM coins WHERE txid = ?`, op.Hash[:]).Scan(&spent)
		if !bytesEqualHash(spent, txid) {
			t.Error("at broadcast: input not marked spent")
		}
	}
	dest, _ := w.NewAddress(context.Background(), keys.BranchExternal)
	sent, err := w.Send(context.Background(), dest, 50_000, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if fb.broadcasts != 1 {
		t.Fatalf("%d broadcasts", fb.broadcasts)
	}
	if vs := script.TxVSize(sent.Tx); int64(sent.Fee) < vs*2 || int64(sent.Fee) > vs*2+10 {
		t.Fatalf("fee %d for %d vB at 2 sat/vB", sent.Fee, vs)
	}
	bal, _ := w.Balance(context.Background(), Regular)
	if bal.Confirmed != 0 || bal.Unconfirmed != 200_000-50_000-sent.Fee {
		// the payment to our own address is not counted until the watcher sees it
		t.Fatalf("balance %+v", bal)
	}
	// A refused broadcast abandons the transaction and frees the coin.
	fb.refuse = true
	if _, err := w.SendMax(context.Background(), dest, Regular, 1000); err == nil {
		t.Fatal("refused send succeeded")
	}
}
