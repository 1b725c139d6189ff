package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// warnings is a string up to Core 27 and with -deprecatedrpc=warnings, an
// array since Core 28; btcjson's string field failed on the array (issue
// 9). Any other shape must not fail the call either: it is only logged.
func TestNodeWarningsShapes(t *testing.T) {
	tests := []struct {
		json string
		want string // fmt of the decoded slice
	}{
		{`{"warnings":"disk space is low"}`, `[disk space is low]`},
		{`{"warnings":""}`, `[]`},
		{`{"warnings":null}`, `[]`},
		{`{}`, `[]`},
		{`{"warnings":["a","b"]}`, `[a b]`},
		{`{"warnings":[]}`, `[]`},
		{`{"warnings":{"x":1}}`, `[{"x":1}]`},
		{`{"warnings":[1,2]}`, `[[1,2]]`},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			var ni networkInfoResult
			if err := json.Unmarshal([]byte(tt.json), &ni); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint([]string(ni.Warnings)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// Both recorded shapes of Core 29.99's warnings, in getnetworkinfo and
// getblockchaininfo, decode to the same list.
func TestNodeWarningsGolden(t *testing.T) {
	const prerelease = "This is a pre-release test build - use at your own risk - do not use for mining or merchant applications"
	for _, file := range []string{"getnetworkinfo", "getnetworkinfo-deprecatedrpc-warnings", "getblockchaininfo"} {
		t.Run(file, func(t *testing.T) {
			var resp struct {
				Result struct {
					Warnings nodeWarnings `json:"warnings"`
				} `json:"result"`
			}
			if err := json.Unmarshal(loadTranscript(t, file).Response, &resp); err != nil {
				t.Fatal(err)
			}
			if len(resp.Result.Warnings) != 1 || resp.Result.Warnings[0] != prerelease {
				t.Fatalf("got %q", resp.Result.Warnings)
			}
		})
	}
}

// The node's warnings are logged at DialRPC and then when they change, not
// on every Tip (which polls getblockchaininfo every few seconds).
func TestNodeWarningsLoggedOnce(t *testing.T) {
	_, host := newReplay(t, append(append([]step(nil), dialSteps...),
		step{file: "getblockchaininfo"}, step{file: "getblockchaininfo"})...)
	var logs bytes.Buffer // written only by this goroutine's calls
	cfg := replayCfg(host)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r, err := DialRPC(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !strings.Contains(logs.String(), "pre-release test build") {
		t.Fatalf("DialRPC did not log getnetworkinfo's warning:\n%s", logs.String())
	}
	for range 2 {
		if _, _, err := r.Tip(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "the node reports warnings"); n != 1 {
		t.Fatalf("warnings logged %d times, want once:\n%s", n, logs.String())
	}
}

// Fields we do not read may change or come and go: the golden answers
// with an unused field retyped (btcjson's types would refuse several of
// these) still give the same result.
func TestUnusedFieldsIgnored(t *testing.T) {
	runCoreCases(t, []coreCase{
		{name: "getblockchaininfo", steps: []step{{file: "getblockchaininfo", subst: []string{
			`"initialblockdownload":false`, `"initialblockdownload":"no"`, `"difficulty":4.656542373906925e-10`, `"difficulty":"tiny"`}}},
			call: func(t *testing.T, ctx context.Context, r *RPC) (string, error) {
				h, hash, err := r.Tip(ctx)
				return fmt.Sprintf("%d %s", h, hash), err
			}, want: "1 " + block1},
		{name: "gettxout", steps: []step{
			{file: "gettxout-confirmed-unspent-coinbase", subst: []string{`"coinbase":true`, `"coinbase":1`, `"type":"witness_v0_scripthash"`, `"type":7`}},
			{file: "gettxspendingprevout-unspent", subst: []string{`"vout":0`, `"vout":"0"`}}},
			call: func(t *testing.T, ctx context.Context, r *RPC) (string, error) {
				out, confs, err := r.UTXO(ctx, op(t, coinbaseU, 0))
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("%d confs=%d", out.Value, confs), nil
			}, want: "5000000000 confs=110"},
		{name: "getblockheader verbose", steps: []step{{file: "getrawtransaction-confirmed", subst: []string{`"version":2`, `"version":"2"`}},
			{file: "getblockheader-verbose", subst: []string{`"nTx":4`, `"nTx":"4"`}}},
			call: func(t *testing.T, ctx context.Context, r *RPC) (string, error) {
				_, st, err := r.Tx(ctx, hashOf(t, txA))
				return fmt.Sprintf("height=%d confs=%d", st.Height, st.Confirmations), err
			}, want: "height=112 confs=1"},
		{name: "testmempoolaccept", steps: []step{{file: "testmempoolaccept-allowed", subst: []string{`"vsize":96`, `"vsize":"96"`}}},
			call: func(t *testing.T, ctx context.Context, r *RPC) (string, error) {
				ok, reason, err := r.TestAccept(ctx, txOf(t, "testmempoolaccept-allowed"))
				return fmt.Sprintf("%v %s", ok, reason), err
			}, want: "true "},
		{name: "estimatesmartfee", steps: []step{{file: "estimatesmartfee-6-conservative-no-data", subst: []string{
			`"errors":["Insufficient data or no feerate found"]`, `"errors":"no data"`}}},
			call: func(t *testing.T, ctx context.Context, r *RPC) (string, error) {
				rate, err := r.FeeRate(ctx, 6)
				return fmt.Sprint(rate), err
			}, want: fmt.Sprint(DefaultFallbackFeeSatPerKVB)},
	})
}

// A field we read, in a shape we cannot read, is ErrUndecodable naming the
// RPC method, for every call: never ErrUnreachable (retried forever) and
// never a silent zero value.
func TestUndecodableAnswers(t *testing.T) {
	const msg = "the node answered something this version of onionswap cannot read"
	tests := []struct {
		method string
		step   step
		call   func(*testing.T, context.Context, *RPC) error
	}{
		{"getblockchaininfo", step{file: "getblockchaininfo", subst: []string{`"blocks":1`, `"blocks":"1"`}},
			func(t *testing.T, ctx context.Context, r *RPC) error { _, _, err := r.Tip(ctx); return err }},
		{"getblockchaininfo", step{file: "getblockchaininfo", subst: []string{block1, block1[:60]}}, // a short hash is not padded
			func(t *testing.T, ctx context.Context, r *RPC) error { _, _, err := r.Tip(ctx); return err }},
		{"getblockhash", step{file: "getblockhash-0", subst: []string{genesisHash, "zz" + genesisHash[2:]}},
			func(t *testing.T, ctx context.Context, r *RPC) error { _, err := r.BlockHash(ctx, 0); return err }},
		{"getblock", step{file: "getblock-genesis-verbosity0", subst: []string{`"result":"01`, `"result":"zz`}},
			func(t *testing.T, ctx context.Context, r *RPC) error {
				_, err := r.Block(ctx, hashOf(t, genesisHash))
				return err
			}},
		{"getblockheader", step{file: "getblockheader-raw", subst: []string{`"result":"`, `"result":"zz`}},
			func(t *testing.T, ctx context.Context, r *RPC) error {
				_, err := r.BlockHeader(ctx, hashOf(t, blockA))
				return err
			}},
		{"getrawtransaction", step{file: "getrawtransaction-mempool", subst: []string{`"hex":"02`, `"hex":"zz`}},
			func(t *testing.T, ctx context.Context, r *RPC) error {
				_, _, err := r.Tx(ctx, hashOf(t, txA))
				return err
			}},
		{"getrawtransaction", step{file: "getrawtransaction-confirmed", subst: []string{`"blockhash":"` + blockA + `"`, `"blockhash":112`}},
			func(t *testing.T, ctx context.Context, r *RPC) error {
				_, _, err := r.Tx(ctx, hashOf(t, txA))
				return err
			}},
		{"getrawmempool", step{file: "getrawmempool", subst: []string{txA, "not a txid"}},
			func(t *testing.T, ctx context.Context, r *RPC) error { _, err := r.MempoolTxids(ctx); return err }},
		{"gettxout", step{file: "gettxout-confirmed-unspent-coinbase", subst: []string{`"value":50.00000000`, `"value":"50"`}},
			func(t *testing.T, ctx context.Context, r *RPC) error {
				_, _, err := r.UTXO(ctx, op(t, coinbaseU, 0))
				return err
			}},
		{"gettxspendingprevout", step{file: "gettxspendingprevout-spent-in-mempool", subst: []string{`"spendingtxid":"` + txA, `"spendingtxid":"zz` + txA[2:]}},
			func(t *testing.T, ctx context.Context, r *RPC) error {
				_, err := r.MempoolSpender(ctx, op(t, coinbase1, 0))
				return err
			}},
		{"testmempoolaccept", step{file: "testmempoolaccept-allowed", subst: []string{`"allowed":true`, `"allowed":"yes"`}},
			func(t *testing.T, ctx context.Context, r *RPC) error {
				_, _, err := r.TestAccept(ctx, txOf(t, "testmempoolaccept-allowed"))
				return err
			}},
		// An estimate we cannot read is not "no estimate": no fallback.
		{"estimatesmartfee", step{file: "estimatesmartfee-6-conservative-no-data", subst: []string{`"result":{`, `"result":{"feerate":"high",`}},
			func(t *testing.T, ctx context.Context, r *RPC) error { _, err := r.FeeRate(ctx, 6); return err }},
		{"generatetoaddress", step{file: "generatetoaddress-1", subst: []string{`"` + block1 + `"`, `1`}},
			func(t *testing.T, ctx context.Context, r *RPC) error {
				r.cfg.MiningAddr = miningAddr
				_, err := r.Mine(ctx, 1)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.step.file+" "+strings.Join(tt.step.subst[1:2], ""), func(t *testing.T) {
			r := dialReplay(t, tt.step)
			err := tt.call(t, context.Background(), r)
			want := "chain: " + tt.method + ": " + msg
			if !errors.Is(err, ErrUndecodable) || !strings.Contains(fmt.Sprint(err), want) || errors.Is(err, ErrUnreachable) {
				t.Fatalf("got %v, want ErrUndecodable containing %q", err, want)
			}
			t.Logf("error: %v", err)
		})
	}
}

// An HTTP 200 answer that is not JSON-RPC (a web server on the RPC port) is
// ErrUndecodable too: asking again gets the same page.
func TestUndecodableNotJSONRPC(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>It works!</html>\n"))
	}))
	defer srv.Close()
	_, err := DialRPC(context.Background(), testCfg(strings.TrimPrefix(srv.URL, "http://")))
	if !errors.Is(err, ErrUndecodable) || !strings.Contains(err.Error(), "chain: getinfo: ") {
		t.Fatalf("got %v, want ErrUndecodable for getinfo", err)
	}
	t.Logf("error: %v", err)
}
