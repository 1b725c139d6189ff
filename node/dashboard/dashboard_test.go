package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/wallet"
)

const testCookie = "c0ffee0000000000000000000000000000000000000000000000000000000000"

// fakeNode answers the control API calls the dashboard makes with canned
// data, and records the actions: a test of the dashboard's own logic
// (auth, CSRF, rendering, events). The proof that it drives a real node
// is the browser test (itest/browser).
type fakeNode struct {
	mu      sync.Mutex
	offers  []market.Entry
	actions []string
}

func (f *fakeNode) did(a string) {
	f.mu.Lock()
	f.actions = append(f.actions, a)
	f.mu.Unlock()
}

func (f *fakeNode) done() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

func (f *fakeNode) router() *control.Router {
	r := control.NewRouter(nil)
	now := time.Now()
	control.Get(r, "/v1/status", func(context.Context, control.Request) (*control.Status, error) {
		return &control.Status{Role: "taker", Network: "regtest", State: control.StateReady, Ready: true, Healthy: true,
			TipHeight: 200, WalletHeight: 200, TorBootstrap: 100, TorBootstrapSummary: "Done",
			Services: map[string]control.Readiness{"pool": {Ready: true}, "taker": {Ready: false, Blocker: "no makers"}}}, nil
	})
	control.Get(r, "/v1/wallet/balances", func(context.Context, control.Request) (*control.Balances, error) {
		return &control.Balances{Height: 200, Categories: map[string]control.Balance{"regular": {Confirmed: 150_000_000}, "swept": {Confirmed: 4_900_000}}}, nil
	})
	control.Get(r, "/v1/wallet/coins", func(context.Context, control.Request) ([]control.Coin, error) {
		return []control.Coin{{OutPoint: strings.Repeat("ab", 32) + ":1", Value: 4_900_000, Category: "swept", AnonSet: 1, Traceable: true}}, nil
	})
	control.Post(r, "/v1/wallet/address", func(_ context.Context, in control.AddressRequest) (*control.AddressReply, error) {
		f.did("address " + in.Kind)
		return &control.AddressReply{Address: "bcrt1qexample"}, nil
	})
	control.Get(r, "/v1/swaps", func(context.Context, control.Request) ([]control.SwapInfo, error) {
		return []control.SwapInfo{{ID: "aa11", Role: "taker", Phase: "funded", Amount: 5_000_000, Created: now, Updated: now}}, nil
	})
	control.Get(r, "/v1/pool/stats", func(context.Context, control.Request) (pool.Stats, error) {
		return pool.Stats{Peers: 3, Outbound: 2, Inbound: 1, Messages: 7}, nil
	})
	control.Get(r, "/v1/market/status", func(context.Context, control.Request) (market.StatusReply, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return market.StatusReply{Offers: len(f.offers)}, nil
	})
	control.Get(r, "/v1/market/offers", func(context.Context, control.Request) ([]market.Entry, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return append([]market.Entry(nil), f.offers...), nil
	})
	control.Post(r, "/v1/market/publish", func(context.Context, struct{}) (market.StatusReply, error) {
		f.did("publish")
		return market.StatusReply{}, nil
	})
	control.Post(r, "/v1/taker/swap", func(_ context.Context, in control.TakerSwapRequest) (*control.SwapReport, error) {
		f.did("swap " + strings.Join(in.Offers, ","))
		return &control.SwapReport{Outcome: "complete", AmountSent: in.Amount, AmountReceived: in.Amount - 1000}, nil
	})
	control.Get(r, "/v1/chat/status", func(context.Context, control.Request) (chat.StatusReply, error) {
		return chat.StatusReply{Identity: strings.Repeat("cd", 32)}, nil
	})
	control.Get(r, "/v1/chat/inbox", func(context.Context, control.Request) ([]chat.Conversation, error) {
		return []chat.Conversation{{ID: "c1", Peer: strings.Repeat("ef", 32), Unread: 2, Last: now}}, nil
	})
	control.Post(r, "/v1/chat/history", func(_ context.Context, in chat.HistoryRequest) (chat.History, error) {
		return chat.History{Conversation: chat.Conversation{ID: in.Peer, Peer: strings.Repeat("ef", 32)},
			Messages: []chat.Message{{Dir: "in", Text: "<b>hello</b> taker", At: now}}}, nil
	})
	control.Post(r, "/v1/chat/send", func(_ context.Context, in chat.SendRequest) (chat.SendReply, error) {
		f.did("chat " + in.To + " " + in.Text)
		return chat.SendReply{Conversation: "c1", State: "delivered"}, nil
	})
	control.Get(r, "/v1/coinjoin/status", func(context.Context, control.Request) (coinjoin.StatusReply, error) {
		return coinjoin.StatusReply{Denomination: 100_000, T: 5, StartAt: 15, Announced: 4}, nil
	})
	control.Post(r, "/v1/coinjoin/rounds", func(context.Context, coinjoin.RoundsRequest) ([]coinjoin.RoundInfo, error) {
		return []coinjoin.RoundInfo{{ID: "r1", Started: now, Participants: 5, Denomination: 100_000, State: "broadcast", Txid: "tx1"}}, nil
	})
	control.Get(r, "/v1/coinjoin/coins", func(context.Context, control.Request) ([]coinjoin.CoinInfo, error) {
		return []coinjoin.CoinInfo{{Coin: "coin1:0", Value: 101_500, AnonSet: 1, Traceable: true, Fits: true}}, nil
	})
	control.Post(r, "/v1/coinjoin/split", func(_ context.Context, req coinjoin.SplitRequest) (coinjoin.SplitReply, error) {
		f.did(fmt.Sprintf("split %d %d %s", req.Count, req.Denomination, req.From))
		return coinjoin.SplitReply{Txid: "tx2", Fee: 300, Count: req.Count, Value: 100_600}, nil
	})
	control.Get(r, "/v1/market/blacklist", func(context.Context, control.Request) ([]wallet.BlacklistEntry, error) {
		return []wallet.BlacklistEntry{{Kind: "onion", Value: "bad.onion:80", Reason: "spam", Added: now, Source: "local"}}, nil
	})
	control.Get(r, "/v1/market/blacklist/export", func(context.Context, control.Request) (*market.ListFile, error) {
		return &market.ListFile{Version: 1, Created: now, Signer: "ab", Sig: "cd",
			Entries: []market.ListEntry{{Kind: "onion", Value: "bad.onion:80", Reason: "spam"}}}, nil
	})
	control.Post(r, "/v1/market/blacklist/import", func(_ context.Context, lf market.ListFile) (market.ListImportReply, error) {
		for _, e := range lf.Entries {
			f.did("import " + e.Value)
		}
		return market.ListImportReply{Imported: len(lf.Entries), Signer: lf.Signer}, nil
	})
	return r
}

type harness struct {
	t    *testing.T
	node *fakeNode
	srv  *Server
	ts   *httptest.Server
	c    *http.Client
	csrf string
}

func newHarness(t *testing.T, password string) *harness {
	t.Helper()
	testutil.LeakCheck(t)
	node := &fakeNode{}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "dashboard.password")
	if password != "" {
		if err := SetPassword(pwFile, password); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Config{Listen: "127.0.0.1:0", API: node.router(), Cookie: func() string { return testCookie },
		PasswordFile: pwFile, LiveInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	srv.AllowHost(strings.TrimPrefix(ts.URL, "http://"))
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() {
		srv.Stop()
		ts.Close()
	})
	return &harness{t: t, node: node, srv: srv, ts: ts, c: c}
}

func (h *harness) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.ts.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		}
		req.Header.Set(k, v)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (h *harness) login(secret string) *http.Response {
	h.t.Helper()
	resp, _ := h.do("POST", "/login", url.Values{"secret": {secret}, "next": {"/wallet"}}, nil)
	if resp.StatusCode == http.StatusSeeOther {
		_, page := h.do("GET", "/", nil, nil)
		i := strings.Index(page, `data-csrf="`)
		if i < 0 {
			h.t.Fatalf("no CSRF token on the page:\n%s", page)
		}
		h.csrf = page[i+len(`data-csrf="`):]
		h.csrf = h.csrf[:strings.IndexByte(h.csrf, '"')]
	}
	return resp
}

func TestLoginAndPages(t *testing.T) {
	h := newHarness(t, "")
	resp, _ := h.do("GET", "/wallet", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("unauthenticated page: %d to %q, want a redirect to the login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := h.do("GET", "/login", nil, nil)
	if resp.StatusCode != 200 || strings.Contains(body, "Password, or") {
		t.Fatalf("login page (no password set): %d\n%s", resp.StatusCode, body)
	}
	if r := h.login("wrong"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong cookie: %d, want 401", r.StatusCode)
	}
	r := h.login(testCookie)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/wallet" {
		t.Fatalf("login: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == CookieName(strings.TrimPrefix(h.ts.URL, "http://")) {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict", sc)
	}
	for _, tc := range []struct{ path, want string }{
		{"/", "no makers"},
		{"/wallet", "0.04900000"},
		{"/swaps", "hop0 broadcast"},
		{"/book", "The book is empty"},
		{"/maker", "not available on this node"},
		{"/chat", `aria-label="2 unread"`},
		{"/chat?c=c1", "&lt;b&gt;hello&lt;/b&gt; taker"},
		{"/coinjoin", "broadcast"},
		{"/blacklist", "bad.onion:80"},
	} {
		resp, body := h.do("GET", tc.path, nil, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, want %q in:\n%s", tc.path, resp.StatusCode, tc.want, body)
		}
		for _, hd := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
			if resp.Header.Get(hd) == "" {
				t.Errorf("GET %s: no %s header", tc.path, hd)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("GET %s: inline script or an outside address in the page", tc.path)
		}
	}
	// Logged out: the session is gone.
	if resp, _ := h.do("POST", "/logout", url.Values{"csrf": {h.csrf}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/wallet", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d, want the login redirect", resp.StatusCode)
	}
}

// TestRefused: requests without a session, without the CSRF token, marked
// cross-site by the browser, or for another host are refused, and the
// node is not asked to do anything.
func TestRefused(t *testing.T) {
	h := newHarness(t, "")
	if resp, _ := h.do("POST", "/action/publish", url.Values{}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("action without a session: %d, want 401", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/events/status", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("events without a session: %d, want 401", resp.StatusCode)
	}
	h.login(testCookie)
	if resp, _ := h.do("POST", "/action/publish", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("action without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := h.do("POST", "/action/publish", url.Values{"csrf": {"forged"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("action with a wrong CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := h.do("POST", "/action/publish", url.Values{"csrf": {h.csrf}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site action: %d, want 403", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/", nil, map[string]string{"Host": "evil.example"}); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("other host: %d, want 421", resp.StatusCode)
	}
	if got := h.node.done(); len(got) != 0 {
		t.Fatalf("refused requests reached the node: %q", got)
	}
	resp, _ := h.do("POST", "/action/publish", url.Values{"csrf": {h.csrf}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/maker" {
		t.Fatalf("action: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := h.node.done(); len(got) != 1 || got[0] != "publish" {
		t.Fatalf("node did %q, want publish", got)
	}
	_, page := h.do("GET", "/maker", nil, nil)
	if !strings.Contains(page, "offer published") {
		t.Fatalf("no flash after the action:\n%s", page)
	}
}

func TestHostHeader(t *testing.T) {
	h := newHarness(t, "")
	for host, want := range map[string]int{
		strings.TrimPrefix(h.ts.URL, "http://"): 200,
		"localhost.evil.example":                http.StatusMisdirectedRequest,
		"127.0.0.1.nip.io":                      http.StatusMisdirectedRequest,
	} {
		resp, _ := h.do("GET", "/login", nil, map[string]string{"Host": host})
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestPasswordLogin: the password logs in; wrong ones are throttled for
// everyone after the burst, while the cookie still logs in.
func TestPasswordLogin(t *testing.T) {
	h := newHarness(t, "correct horse battery")
	if _, body := h.do("GET", "/login", nil, nil); !strings.Contains(body, "Password, or the control cookie") {
		t.Fatal("login page does not offer the password")
	}
	if r := h.login("correct horse battery"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("password login: %d", r.StatusCode)
	}
	h.c.Jar, _ = cookiejar.New(nil)
	codes := map[int]int{}
	for range loginBurst + 3 {
		codes[h.login("wrong password").StatusCode]++
	}
	if codes[http.StatusUnauthorized] != loginBurst-1 || codes[http.StatusTooManyRequests] != 4 {
		t.Fatalf("wrong passwords answered %v: want %d × 401 then 429s", codes, loginBurst-1)
	}
	if r := h.login("correct horse battery"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("password while throttled: %d, want 429", r.StatusCode)
	}
	if r := h.login(testCookie); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("cookie while passwords are throttled: %d, want a login", r.StatusCode)
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pw")
	if err := SetPassword(p, "short"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if err := SetPassword(p, "long enough password"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	for pw, want := range map[string]bool{"long enough password": true, "long enough passwore": false, "": false} {
		if ok, err := CheckPassword(p, pw); err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	raw, _ := os.ReadFile(p)
	tampered := strings.Replace(string(raw), "m=19456", "m=4000000000", 1)
	os.WriteFile(p, []byte(tampered), 0o600)
	if _, err := CheckPassword(p, "long enough password"); err == nil {
		t.Fatal("a hash asking for 4 TB of memory was used")
	}
}

// TestEvents: a page's live part streams as it changes.
func TestEvents(t *testing.T) {
	h := newHarness(t, "")
	h.login(testCookie)
	req, _ := http.NewRequest("GET", h.ts.URL+"/events/book", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req = req.WithContext(ctx)
	resp, err := h.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev strings.Builder
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(line + "\n")
		}
	}()
	next := func(want string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case ev := <-events:
				if strings.Contains(ev, want) {
					if !strings.HasPrefix(ev, "event: live\n") {
						t.Fatalf("event %q", ev)
					}
					return
				}
			case <-timeout:
				t.Fatalf("no event with %q", want)
			}
		}
	}
	next(`<strong id="offer-count">0</strong>`)
	h.node.mu.Lock()
	h.node.offers = append(h.node.offers, market.Entry{ID: "0123456789ab", Addr: "maker.onion:80", MinSize: 10_000, MaxSize: 1_000_000, Proof: "bond"})
	h.node.mu.Unlock()
	next(`<strong id="offer-count">1</strong>`)
	cancel()
}

// TestSwapFromBook: the swap form starts a swap in the background with
// the offers ticked, and the swaps page shows its result.
func TestSwapFromBook(t *testing.T) {
	h := newHarness(t, "")
	h.login(testCookie)
	form := url.Values{"csrf": {h.csrf}, "offer": {"m1.onion:80", "m2.onion:80"}, "amount": {"0.05 BTC"}, "tx_count": {"2"}}
	resp, _ := h.do("POST", "/action/swap", form, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/swaps" {
		t.Fatalf("swap: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, page := h.do("GET", "/swaps", nil, nil)
		if strings.Contains(page, "job-done") {
			if !strings.Contains(page, "4\u202f999\u202f000") {
				t.Fatalf("swap result not shown:\n%s", page)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("swap job never ended:\n%s", page)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := h.node.done(); len(got) != 1 || got[0] != "swap m1.onion:80,m2.onion:80" {
		t.Fatalf("node did %q", got)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/wallet": "/wallet", "/book?sort=fee": "/book?sort=fee", "//evil.example": "/",
		"/\\evil.example": "/", "http://evil.example": "/", "wallet": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSat(t *testing.T) {
	for in, want := range map[string]int64{"100000": 100000, "1 000 000": 1_000_000, "1_000": 1000, "0.01 BTC": 1_000_000,
		"0.00000001btc": 1, "5000 sat": 5000, "-1": 0, "abc": 0, "": 0, "0": 0} {
		got, err := parseSat(in)
		if (err != nil) != (want == 0) || got != want {
			t.Errorf("parseSat(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestTimeline(t *testing.T) {
	states := func(info control.SwapInfo) string {
		var b strings.Builder
		for _, s := range timeline(info) {
			b.WriteString(s.State[:1])
		}
		return b.String()
	}
	for _, tc := range []struct {
		info control.SwapInfo
		want string
	}{
		{control.SwapInfo{Role: "taker", Phase: "negotiating"}, "cttttttt"},
		{control.SwapInfo{Role: "taker", Phase: "funded"}, "dddctttt"},
		{control.SwapInfo{Role: "taker", Phase: "complete", Final: true}, "dddddddd"},
		{control.SwapInfo{Role: "maker", Phase: "keys_sent"}, "ddddcttt"},
		{control.SwapInfo{Role: "taker", Phase: "recovered", Final: true}, "ttttttttf"},
		{control.SwapInfo{Role: "taker", Phase: "recovering"}, "ttttttttc"},
	} {
		if got := states(tc.info); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.info.Role, tc.info.Phase, got, tc.want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8720": true, "[::1]:0": true, "0.0.0.0:8720": false,
		"192.168.1.2:80": false, "localhost:8720": false, "8720": false} {
		if err := CheckListen(addr); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v", addr, err)
		}
	}
}

// TestBlacklistExportImport: the export downloads the signed list as a
// file; an uploaded file is imported through the API.
func TestBlacklistExportImport(t *testing.T) {
	h := newHarness(t, "")
	h.login(testCookie)
	resp, body := h.do("GET", "/blacklist/export", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(body, `"onionswap_blacklist": 1`) {
		t.Fatalf("export: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", h.csrf)
	fw, _ := mw.CreateFormFile("file", "list.json")
	fw.Write([]byte(body))
	mw.Close()
	req, _ := http.NewRequest("POST", h.ts.URL+"/action/blacklist-import", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := h.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("import: %d", resp.StatusCode)
	}
	if got := h.node.done(); len(got) != 1 || got[0] != "import bad.onion:80" {
		t.Fatalf("node did %q", got)
	}
	if _, page := h.do("GET", "/blacklist", nil, nil); !strings.Contains(page, "imported 1 entries signed by ab") {
		t.Fatalf("no flash after the import:\n%s", page)
	}
}

// TestSendNeedsConfirmation: a send without its confirmation box ticked
// never reaches the wallet.
func TestSendNeedsConfirmation(t *testing.T) {
	h := newHarness(t, "")
	h.login(testCookie)
	resp, _ := h.do("POST", "/action/send", url.Values{"csrf": {h.csrf}, "address": {"bcrt1qexample"}, "amount": {"1000"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d", resp.StatusCode)
	}
	if got := h.node.done(); len(got) != 0 {
		t.Fatalf("node did %q", got)
	}
	if _, page := h.do("GET", "/wallet", nil, nil); !strings.Contains(page, "nothing sent: tick the confirmation first") {
		t.Fatalf("no refusal shown:\n%s", page)
	}
}

// TestSplitAction: the premix form's fields reach the API.
func TestSplitAction(t *testing.T) {
	h := newHarness(t, "")
	h.login(testCookie)
	resp, _ := h.do("POST", "/action/coinjoin-split", url.Values{"csrf": {h.csrf}, "count": {"3"}, "denomination": {"200000"}, "from": {"swept"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/coinjoin" {
		t.Fatalf("split: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := h.node.done(); len(got) != 1 || got[0] != "split 3 200000 swept" {
		t.Fatalf("node did %q", got)
	}
	if _, page := h.do("GET", "/coinjoin", nil, nil); !strings.Contains(page, "split: 3 coins of 100600 sat in transaction tx2") {
		t.Fatalf("no flash:\n%s", page)
	}
}
