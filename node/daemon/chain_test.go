package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/wallet/chain"
)

// The start-up loop waits for a node that is unreachable or still loading
// and gives up at once on what retrying cannot fix, an answer it cannot read
// included (issue 9: that one was retried forever as "unreachable").
func TestChainDialVerdict(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("chain: getnetworkinfo: %w: detail", err) }
	tests := []struct {
		err       error
		retry     bool
		msgSubstr string
	}{
		{wrap(chain.ErrUnreachable), true, "unreachable"},
		{wrap(chain.ErrWarmingUp), true, "bitcoind is starting"},
		{errors.New("chain: getinfo at h: status code: 502, response: \"<html>\""), true, "not usable yet"},
		{wrap(chain.ErrUndecodable), false, ""},
		{wrap(chain.ErrAuth), false, ""},
		{wrap(chain.ErrWrongNetwork), false, ""},
		{wrap(chain.ErrNoTxIndex), false, ""},
		{wrap(chain.ErrUnsupported), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			retry, msg := chainDialVerdict(tt.err)
			if retry != tt.retry || !strings.Contains(msg, tt.msgSubstr) {
				t.Fatalf("got retry=%v %q, want retry=%v containing %q", retry, msg, tt.retry, tt.msgSubstr)
			}
		})
	}
}

// coreAnswer is a recorded answer of Bitcoin Core 29.99 (the golden bytes
// the chain package replays; see its testdata README).
func coreAnswer(t *testing.T, name string) (status int, body []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "wallet", "chain", "testdata", "bitcoin-core-29.99", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		HTTPStatus int             `json:"http_status"`
		Response   json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, tr.Response); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tr.HTTPStatus, buf.Bytes()
}

// syncBuffer is a log sink safe for the HTTP server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dialChainRetry against a bitcoind answering with Core's recorded bytes:
// a node still loading is waited for with a message saying so; an answer
// that cannot be read ends the wait at once (issue 9: Core 28's
// getnetworkinfo was retried forever as "unreachable").
func TestDialChainRetryCore(t *testing.T) {
	tests := []struct {
		name string
		// answers maps a method to the transcripts of its successive
		// calls (the last one repeats).
		answers  map[string][]string
		edit     func(method string, body []byte) []byte
		wantErr  error
		wantWait int // failed attempts reported to onWait
		wantLog  string
	}{
		// The answers of issue 9 (warnings an array): connected at once.
		{name: "default Core 29.99", wantWait: 0, wantLog: "connected to chain backend"},
		// Core answers -28 to any method while loading, getinfo first.
		{name: "warming up, then ready", answers: map[string][]string{
			"getinfo": {"getblockchaininfo-warmup", "getinfo-method-not-found"},
		}, wantWait: 1, wantLog: "bitcoind is starting (Loading P2P addresses"},
		{name: "undecodable answer fails closed",
			edit: func(method string, body []byte) []byte {
				if method == "getnetworkinfo" { // a field we read, of another type
					return bytes.Replace(body, []byte(`"version":299900`), []byte(`"version":"29.99"`), 1)
				}
				return body
			}, wantErr: chain.ErrUndecodable, wantWait: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// DialRPC's calls to a healthy Core 29.99 with -txindex,
			// unless the case says otherwise.
			answers := map[string][]string{
				"getinfo":           {"getinfo-method-not-found"},
				"getnetworkinfo":    {"getnetworkinfo"},
				"getblockhash":      {"getblockhash-0"},
				"getrawtransaction": {"getrawtransaction-unknown-txid"},
			}
			for m, files := range tt.answers {
				answers[m] = files
			}
			type reply struct {
				status int
				body   []byte
			}
			replies := map[string][]reply{}
			for m, files := range answers {
				for _, f := range files {
					status, body := coreAnswer(t, f)
					if tt.edit != nil {
						body = tt.edit(m, body)
					}
					replies[m] = append(replies[m], reply{status, body})
				}
			}
			var mu sync.Mutex
			calls := map[string]int{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req struct{ Method string }
				_ = json.NewDecoder(r.Body).Decode(&req)
				mu.Lock()
				n := calls[req.Method]
				calls[req.Method]++
				mu.Unlock()
				rs := replies[req.Method]
				if len(rs) == 0 {
					http.Error(w, "unexpected "+req.Method, http.StatusTeapot)
					return
				}
				rp := rs[min(n, len(rs)-1)]
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(rp.status)
				_, _ = w.Write(rp.body)
			}))
			defer srv.Close()
			c := &Config{Network: "regtest", RPC: RPCConfig{
				Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p", NoTLS: true}}
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			waits := 0
			b, err := dialChainRetry(ctx, c, log, func(error) { waits++ })
			if b != nil {
				b.Close()
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if waits != tt.wantWait {
				t.Fatalf("%d failed attempts reported, want %d (err %v)", waits, tt.wantWait, err)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Fatalf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			if err != nil {
				t.Logf("error: %v", err)
			}
		})
	}
}
