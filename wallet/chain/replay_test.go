package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// coreTranscripts holds real answers of Bitcoin Core 29.99 to every call
// RPC makes (see its README.md). They are a copy of sharedTranscripts, so
// that the tests need nothing outside the repository;
// TestCoreTranscriptsMatchShared keeps the copy honest.
const coreTranscripts = "testdata/bitcoin-core-29.99"

// transcript is one recorded request and Core's answer.
type transcript struct {
	Method     string            `json:"method"`
	Params     json.RawMessage   `json:"params"`
	HTTPStatus int               `json:"http_status"`
	Response   json.RawMessage   `json:"response"`
	RawBody    *string           `json:"response_raw"`
	Headers    map[string]string `json:"response_headers"`
}

func loadTranscript(t testing.TB, name string) transcript {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(coreTranscripts, name+".json"))
	if err != nil {
		t.Fatalf("transcript: %v", err)
	}
	var tr transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("transcript %s: %v", name, err)
	}
	return tr
}

// body is the HTTP body Core sent. Core writes its reply compact with a
// trailing newline; the files keep it indented (as json.RawMessage, so
// numbers and strings are as Core wrote them): json.Compact, which only
// drops insignificant whitespace, gives back Core's bytes.
func (tr transcript) body(t testing.TB) []byte {
	t.Helper()
	if tr.RawBody != nil {
		return []byte(*tr.RawBody)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, tr.Response); err != nil {
		t.Fatalf("transcript response: %v", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// step is one request the replay server expects, in order, and the
// transcript it answers with.
type step struct {
	file string
	// subst replaces recorded ids (txids, block hashes, or a JSON
	// fragment) in the expected params and in the answer. The transcripts
	// come from one run whose ids do not always line up with a scenario;
	// every use says why it needs one.
	subst []string // old, new, old, new...
	// method and params, when set, are the request expected instead of
	// the recorded one, for answers that do not depend on it (Core checks
	// the warm-up state before it looks at the method).
	method, params string
}

// replayNode is an HTTP server that answers each request with the exact
// bytes of the next transcript of its script, after checking that the
// request is the one recorded (method and params). An unexpected or
// surplus request fails the test; so do unused steps at cleanup. A request
// with other credentials than user:pass gets Core's 401 answer, which does
// not depend on the request (Core checks auth before reading the body).
type replayNode struct {
	t          *testing.T
	user, pass string
	unauth     answer

	mu     sync.Mutex
	script []answer
	next   int
}

// answer is a step resolved when the server is made (the handler runs on
// other goroutines, where t.Fatal is not allowed).
type answer struct {
	file           string
	method, params string // expected request
	status         int
	headers        map[string]string
	body           []byte
}

func resolve(t testing.TB, st step) answer {
	t.Helper()
	tr := loadTranscript(t, st.file)
	a := answer{file: st.file, method: tr.Method, params: string(tr.Params), status: tr.HTTPStatus, headers: tr.Headers}
	if st.method != "" {
		a.method, a.params = st.method, st.params
	}
	a.params = substitute(a.params, st.subst)
	a.body = []byte(substitute(string(tr.body(t)), st.subst))
	if tr.RawBody == nil {
		a.headers = map[string]string{"Content-Type": "application/json"} // what Core sends; not recorded
	}
	return a
}

const (
	replayUser = "__cookie__"
	replayPass = "s3cret"
)

// newReplay starts a replay server for script; it stops at cleanup.
func newReplay(t *testing.T, script ...step) (*replayNode, string) {
	t.Helper()
	n := &replayNode{t: t, user: replayUser, pass: replayPass, unauth: resolve(t, step{file: "http-401-wrong-auth"})}
	for _, st := range script {
		n.script = append(n.script, resolve(t, st))
	}
	srv := httptest.NewServer(n)
	t.Cleanup(func() {
		srv.Close()
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.next != len(n.script) {
			t.Errorf("replay: %d of %d expected requests were not made, first %s", len(n.script)-n.next, len(n.script), n.script[n.next].file)
		}
	})
	return n, strings.TrimPrefix(srv.URL, "http://")
}

func (n *replayNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		n.t.Errorf("replay: request body: %v", err)
	}
	if u, p, ok := r.BasicAuth(); !ok || u != n.user || p != n.pass {
		n.unauth.write(w)
		return
	}
	n.mu.Lock()
	var a *answer
	if n.next < len(n.script) {
		a = &n.script[n.next]
		n.next++
	}
	n.mu.Unlock()
	switch {
	case a == nil:
		n.t.Errorf("replay: unexpected request %s %s after the script ended", req.Method, req.Params)
	case req.Method != a.method || !jsonEqual(n.t, []byte(a.params), req.Params):
		n.t.Errorf("replay: request %s %s, want %s %s (%s)", req.Method, req.Params, a.method, a.params, a.file)
	default:
		a.write(w)
		return
	}
	http.Error(w, "unexpected request", http.StatusTeapot)
}

func (a *answer) write(w http.ResponseWriter) {
	for k, v := range a.headers {
		w.Header()[k] = []string{v} // as recorded
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func substitute(s string, subst []string) string {
	if len(subst) == 0 {
		return s
	}
	return strings.NewReplacer(subst...).Replace(s)
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y bytes.Buffer
	if err := json.Compact(&x, a); err != nil {
		t.Errorf("replay: %v in %s", err, a)
		return false
	}
	if err := json.Compact(&y, b); err != nil {
		t.Errorf("replay: %v in %s", err, b)
		return false
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// dialSteps are DialRPC's checks against a default Core 29.99 with
// -txindex: backend probe, version, network, transaction index.
var dialSteps = []step{
	{file: "getinfo-method-not-found"},
	{file: "getnetworkinfo"},
	{file: "getblockhash-0"},
	{file: "getrawtransaction-unknown-txid"},
}

// dialReplay dials a replay server that first answers DialRPC's checks and
// then script.
func dialReplay(t *testing.T, script ...step) *RPC {
	t.Helper()
	_, host := newReplay(t, append(append([]step(nil), dialSteps...), script...)...)
	r, err := DialRPC(context.Background(), replayCfg(host))
	if err != nil {
		t.Fatalf("DialRPC: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

func replayCfg(host string) RPCConfig {
	cfg := testCfg(host)
	cfg.User, cfg.Pass = replayUser, replayPass
	return cfg
}

// sharedTranscripts is where the transcripts are kept outside the
// repository, relative to this package: CI clones the repository with the
// shared directory beside it (../shared).
const sharedTranscripts = "../../../shared/testdata/bitcoin-core-29.99"

// The copies in testdata are the shared transcripts, byte for byte, so the
// replay tests serve exactly what Core sent. Without the shared directory
// (a lone clone) there is nothing to compare with: skipped.
func TestCoreTranscriptsMatchShared(t *testing.T) {
	shared := sharedTranscripts
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("no shared Core transcripts at %s: %v", shared, err)
	}
	want, err := os.ReadDir(shared)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadDir(coreTranscripts)
	if err != nil {
		t.Fatal(err)
	}
	names := func(es []os.DirEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Name())
		}
		return strings.Join(s, " ")
	}
	if names(got) != names(want) {
		t.Fatalf("%s has\n%s\nbut %s has\n%s", coreTranscripts, names(got), shared, names(want))
	}
	for _, e := range want {
		a, err := os.ReadFile(filepath.Join(shared, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(coreTranscripts, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: copy it again (cp %s/* %s/)", e.Name(), shared, shared, coreTranscripts)
		}
	}
}
