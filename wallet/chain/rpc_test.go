package chain

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg"
)

func TestClassifyReject(t *testing.T) {
	tests := []struct {
		name string
		code btcjson.RPCErrorCode
		msg  string
		want error // nil = success (already known)
	}{
		{"btcd already in mempool", -26, "TX rejected: already have transaction in mempool 1234", nil},
		{"btcd already in chain", -27, "TX rejected: transaction already exists in blockchain", nil},
		{"core already in chain", -27, "Transaction already in block chain", nil},
		{"core outputs in utxo set", -27, "Transaction outputs already in utxo set", nil},
		{"core txn-already-known", -26, "txn-already-known", nil},
		{"core txn-already-in-mempool", -26, "txn-already-in-mempool", nil},
		// Core: same txid with another witness in the mempool (btcd: "already have").
		{"core same txid other witness", -26, "txn-same-nonwitness-data-in-mempool", nil},
		// Core ≥ 28 full RBF: a lower-fee conflict, signalling or not.
		{"core rbf loses", -26, "insufficient fee, rejecting replacement ab; new feerate 0.00052083 BTC/kvB <= old feerate 0.00104166 BTC/kvB", ErrDoubleSpend},
		{"btcd double spend", -26, "TX rejected: output already spent in mempool: output=ab:0, tx=cd", ErrDoubleSpend},
		{"core double spend", -26, "txn-mempool-conflict", ErrDoubleSpend},
		{"btcd rbf loses", -26, "TX rejected: ab: replacement transaction has an insufficient fee rate", ErrDoubleSpend},
		{"btcd orphan", -25, "TX rejected: orphan transaction ab references outputs of unknown or fully-spent transaction cd", ErrMissingInputs},
		{"core missing", -25, "bad-txns-inputs-missingorspent", ErrMissingInputs},
		{"core missing-inputs", -25, "missing-inputs", ErrMissingInputs},
		{"btcd low fee", -26, "TX rejected: transaction ab has been rejected by the rate limiter due to low fees", ErrRejected},
		{"btcd csv", -26, "TX rejected: transaction's sequence locks on inputs not met", ErrRejected},
		{"core non-final", -26, "non-final", ErrRejected},
		{"core script", -26, "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)", ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classifyReject(tt.code, tt.msg)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("got %v, want success", got)
				}
				return
			}
			if !errors.Is(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClampFee(t *testing.T) {
	tests := []struct {
		name                       string
		est, floor, fallback, want int64
	}{
		{"estimate", 5000, 1000, 3000, 5000},
		{"no estimate", -1, 1000, 3000, 3000},
		{"below floor", 200, 1000, 3000, 1000},
		{"fallback below floor", -1, 1000, 500, 1000},
		{"capped", 5 * MaxFeeRateSatPerKVB, 1000, 3000, MaxFeeRateSatPerKVB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clampFee(tt.est, tt.floor, tt.fallback, testLog); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNetworkName(t *testing.T) {
	if got := networkName(*chaincfg.TestNet3Params.GenesisHash); got != "testnet3" {
		t.Fatalf("got %q", got)
	}
	if got := networkName([32]byte{1}); !strings.Contains(got, "unknown") {
		t.Fatalf("got %q", got)
	}
}

// fakeNode is a JSON-RPC server answering DialRPC's checks like btcd
// 0.24.2 does. Bitcoin Core is tested against its recorded answers
// (replay_test.go, rpc_core_test.go).
type fakeNode struct {
	user, pass string
	genesis    string
	noTxIndex  bool
	hang       chan struct{} // if non-nil, requests block until closed
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.hang != nil {
		<-f.hang
		return
	}
	u, p, ok := r.BasicAuth()
	if !ok || u != f.user || p != f.pass {
		http.Error(w, "401 Unauthorized.", http.StatusUnauthorized)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	var result interface{}
	var rpcErr *btcjson.RPCError
	switch req.Method {
	case "getinfo":
		result = map[string]interface{}{"version": 240200}
	case "getblockhash":
		result = f.genesis
	case "getrawtransaction":
		if f.noTxIndex {
			rpcErr = btcjson.NewRPCError(-5, "The transaction index must be enabled to query the blockchain (specify --txindex)")
		} else {
			rpcErr = btcjson.NewRPCError(-5, "No information available about transaction")
		}
	default:
		rpcErr = btcjson.NewRPCError(btcjson.ErrRPCMethodNotFound.Code, "Method not found")
	}
	_ = json.NewEncoder(w).Encode(map[string]interface{}{"result": result, "error": rpcErr, "id": req.ID})
}

func testCfg(host string) RPCConfig {
	return RPCConfig{Host: host, User: "u", Pass: "p", DisableTLS: true, Params: &chaincfg.RegressionNetParams,
		CallTimeout: 500 * time.Millisecond, Logger: testLog}
}

func TestDialRPCChecks(t *testing.T) {
	regtestGenesis := chaincfg.RegressionNetParams.GenesisHash.String()
	testnetGenesis := chaincfg.TestNet3Params.GenesisHash.String()
	tests := []struct {
		name    string
		node    fakeNode
		pass    string
		want    error
		wantMsg string
	}{
		{"btcd ok", fakeNode{user: "u", pass: "p", genesis: regtestGenesis}, "p", nil, ""},
		{"btcd wrong password", fakeNode{user: "u", pass: "p", genesis: regtestGenesis}, "x", ErrAuth, "RPC authentication failed"},
		{"wrong network", fakeNode{user: "u", pass: "p", genesis: testnetGenesis}, "p", ErrWrongNetwork, "node at 127.0.0.1"},
		{"btcd no txindex", fakeNode{user: "u", pass: "p", genesis: regtestGenesis, noTxIndex: true}, "p", ErrNoTxIndex, "--txindex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&tt.node)
			defer srv.Close()
			cfg := testCfg(strings.TrimPrefix(srv.URL, "http://"))
			cfg.Pass = tt.pass
			r, err := DialRPC(context.Background(), cfg)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !r.IsBtcd() {
					t.Fatal("IsBtcd false for btcd")
				}
				r.Close()
				return
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want %v containing %q", err, tt.want, tt.wantMsg)
			}
			if tt.want == ErrWrongNetwork && !strings.Contains(err.Error(), "testnet3 but the wallet is configured for regtest") {
				t.Fatalf("message does not name both networks: %v", err)
			}
		})
	}
}

func TestDialRPCUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	t0 := time.Now()
	_, err = DialRPC(context.Background(), testCfg(addr))
	t.Logf("error: %v", err)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v, want ErrUnreachable naming %s", err, addr)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("took %v", d)
	}
}

// A node that accepts connections and never answers: every call ends with
// ErrUnreachable within the call timeout, and no goroutine is left once the
// server lets go of the connections.
func TestCallTimeoutHungNode(t *testing.T) {
	before := runtime.NumGoroutine()
	hang := make(chan struct{})
	node := &fakeNode{user: "u", pass: "p", genesis: chaincfg.RegressionNetParams.GenesisHash.String(), hang: hang}
	srv := httptest.NewServer(node)
	cfg := testCfg(strings.TrimPrefix(srv.URL, "http://"))
	cfg.CallTimeout = 200 * time.Millisecond
	t0 := time.Now()
	_, err := DialRPC(context.Background(), cfg)
	if d := time.Since(t0); d > cfg.CallTimeout+probeTimeout+300*time.Millisecond {
		t.Fatalf("DialRPC took %v with a %v call timeout", d, cfg.CallTimeout)
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("got %v", err)
	}
	close(hang)
	srv.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCallAfterClose(t *testing.T) {
	node := &fakeNode{user: "u", pass: "p", genesis: chaincfg.RegressionNetParams.GenesisHash.String()}
	srv := httptest.NewServer(node)
	defer srv.Close()
	r, err := DialRPC(context.Background(), testCfg(strings.TrimPrefix(srv.URL, "http://")))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close()
	if _, _, err := r.Tip(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestMineOnlyRegtest(t *testing.T) {
	node := &fakeNode{user: "u", pass: "p", genesis: chaincfg.TestNet3Params.GenesisHash.String()}
	srv := httptest.NewServer(node)
	defer srv.Close()
	cfg := testCfg(strings.TrimPrefix(srv.URL, "http://"))
	cfg.Params = &chaincfg.TestNet3Params
	r, err := DialRPC(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Mine(context.Background(), 1); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
}
