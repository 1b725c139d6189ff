//go:build itest

package browser

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/tor"
)

// uiTimeout bounds one wait for the page: a live update comes within a
// second of the change; a pool hop over Tor takes a few.
const uiTimeout = 90 * time.Second

// TestDashboardInBrowser drives the dashboards of real nodes in headless
// Chromium: two makers publish offers on the pool, a taker behind them
// logs in (by keyboard) and watches its book fill; it swaps from the book
// and watches the swap's steps to the end; it chats with a maker and
// sees the reply arrive; a maker withdraws and republishes its offer
// from its own dashboard (another tab) and the taker's book follows live.
// Pages requested without a session, and an action posted from another
// site, are refused. Every page is screenshot at desktop and phone size;
// the phone-sized pages must not scroll sideways.
func TestDashboardInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stopMine := clu.AutoMine(ctx, cluster.AutoMineOptions{})
	defer stopMine()

	// A directory (the makers' bonds register there), two makers in a
	// line (m1 ← m2), and a taker with no directory behind m2: every maker
	// it knows comes from its book.
	line := []string{"--pool-outbound", "1"}
	if _, err := clu.Spawn(ctx, cluster.Spec{Name: "dir", Role: cluster.RoleDirectory}); err != nil {
		t.Fatal(err)
	}
	m1, err := clu.Spawn(ctx, cluster.Spec{Name: "m1", Role: cluster.RoleMaker, Fund: 20_000_000, FundCoins: 5, Args: line})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := clu.Spawn(ctx, cluster.Spec{Name: "m2", Role: cluster.RoleMaker, Fund: 20_000_000, FundCoins: 5,
		Args: append([]string{"--pool-peer", m1.Onion()}, line...)})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := clu.Spawn(ctx, cluster.Spec{Name: "taker", Role: cluster.RoleTaker, Directories: []string{},
		Fund: 10_000_000, FundCoins: 4, Args: append([]string{"--pool-peer", m2.Onion(), "--dashboard-onion"}, line...)})
	if err != nil {
		t.Fatal(err)
	}
	tkURL, tkCookie := dashboard(t, ctx, tk)
	m1URL, m1Cookie := dashboard(t, ctx, m1)

	b := newBrowser(t, ctx)

	// Without a session: to the login page, which says where it goes next.
	b.do(chromedp.Navigate(tkURL + "book"))
	if loc := b.location(); !strings.Contains(loc, "/login?next=%2Fbook") {
		t.Fatalf("unauthenticated page went to %s, want the login", loc)
	}
	b.shot("login")
	// Log in with the keyboard only: the secret field has the focus.
	b.do(chromedp.KeyEvent(tkCookie), chromedp.KeyEvent(kb.Enter))
	b.waitJS("logged in, on the book", `location.pathname === "/book"`)
	loginAt := time.Now()

	// The book fills from the pool, live.
	b.waitJS("both offers in the book", `document.getElementById("offer-count")?.textContent === "2"`)
	t.Logf("book holds both offers %s after login (live updates: %s)", time.Since(loginAt).Round(10*time.Millisecond),
		b.eval(`document.body.dataset.updates || "0"`))
	b.shot("book")

	// Keyboard: the first Tab reaches the skip link, Enter moves into the
	// page, the next Tab reaches its first control, with a visible focus.
	b.do(chromedp.Navigate(tkURL+"book"), chromedp.WaitVisible(chromedp.CSS("#offer-count")))
	b.do(chromedp.KeyEvent(kb.Tab))
	if got := b.eval(`document.activeElement.className + ":" + document.activeElement.textContent`); got != "skip:Skip to content" {
		t.Fatalf("first Tab focused %q, want the skip link", got)
	}
	b.do(chromedp.KeyEvent(kb.Enter), chromedp.KeyEvent(kb.Tab))
	if got := b.eval(`document.activeElement.id`); got != "f-sort" {
		t.Fatalf("Tab after skipping focused %q, want the book's first filter", got)
	}
	if style := b.eval(`getComputedStyle(document.activeElement).outlineStyle`); style == "none" {
		t.Fatal("the focused control shows no outline")
	}

	// Swap from the book through both makers (ticked by keyboard: Space).
	offers, err := control.Call[[]market.Entry](ctx, tk.Client(), http.MethodGet, "/v1/market/offers", nil)
	if err != nil || len(offers) != 2 {
		t.Fatalf("taker's offers %v %v", offers, err)
	}
	for _, o := range offers {
		b.do(chromedp.Focus(chromedp.CSS("#use-"+o.ID)), chromedp.KeyEvent(" "))
	}
	b.do(chromedp.SendKeys(chromedp.CSS("#swap-amount"), "5000000"), chromedp.Click(chromedp.CSS("#swap-start")))
	b.waitJS("on the swaps page", `location.pathname === "/swaps"`)
	b.waitJS("a swap step in progress or done", `document.querySelector(".timeline li.current, .timeline li.done") !== null`)
	b.shot("swaps-running")
	swapStart := time.Now()
	b.waitJS("the swap's end", `document.querySelector(".job-done, .job .bad") !== null`)
	if res := b.eval(`document.querySelector(".job p").textContent`); !strings.Contains(res, "complete") {
		t.Fatalf("swap from the dashboard: %s", res)
	}
	b.waitJS("every step done", `[...document.querySelectorAll(".swap .timeline li")].every(li => li.className === "done")`)
	t.Logf("swap from the book watched to its end: %s", time.Since(swapStart).Round(10*time.Millisecond))
	b.shot("swaps")
	swaps, err := tk.Client().Swaps(ctx)
	if err != nil || len(swaps) != 1 || swaps[0].Outcome != "complete" || len(swaps[0].Legs) != 2 {
		t.Fatalf("taker's swaps %+v %v", swaps, err)
	}

	// Chat with m1 about its offer; m1 answers; the answer appears live.
	var m1Offer market.Entry
	for _, o := range offers {
		if o.Addr == m1.Onion() {
			m1Offer = o
		}
	}
	b.do(chromedp.Navigate(tkURL+"chat?to="+m1Offer.ID), chromedp.WaitVisible(chromedp.CSS("#chat-text")),
		chromedp.SendKeys(chromedp.CSS("#chat-text"), "hello from the dashboard"), chromedp.Click(chromedp.CSS("#chat-send")))
	b.waitJS("the message in the conversation", `document.querySelector(".msg.out p")?.textContent === "hello from the dashboard"`)
	conv := waitChat(t, ctx, m1, "hello from the dashboard")
	if _, err := control.Call[chat.SendReply](ctx, m1.Client(), http.MethodPost, "/v1/chat/send",
		chat.SendRequest{To: conv, Text: "hello back from m1"}); err != nil {
		t.Fatal(err)
	}
	b.waitJS("m1's answer, live", `[...document.querySelectorAll(".msg.in p")].some(p => p.textContent === "hello back from m1")`)
	b.shot("chat")

	// m1's own dashboard in a second tab (its session cookie does not
	// clobber the taker's: same host, another port): withdraw the offer;
	// the taker's open book drops it without a reload; publish it again.
	b.do(chromedp.Navigate(tkURL+"book"), chromedp.WaitVisible(chromedp.CSS("#offer-count")))
	b.eval(`(window.notReloaded = "yes")`)
	mt := b.newTab()
	mt.do(chromedp.Navigate(m1URL+"maker"), chromedp.WaitVisible(chromedp.CSS("#secret")),
		chromedp.SendKeys(chromedp.CSS("#secret"), m1Cookie+kb.Enter))
	mt.waitJS("m1's offer published", `document.getElementById("offer-state")?.textContent === "published"`)
	mt.shot("maker")
	mt.do(chromedp.Click(chromedp.CSS("#offer-withdraw")))
	mt.waitJS("withdrawn", `document.getElementById("offer-state")?.textContent === "not published"`)
	b.waitJS("the taker's book without m1's offer", `document.getElementById("offer-count")?.textContent === "1"`)
	mt.do(chromedp.Click(chromedp.CSS("#offer-publish")))
	b.waitJS("m1's offer back in the taker's book", `document.getElementById("offer-count")?.textContent === "2"`)
	if b.eval(`window.notReloaded`) != "yes" {
		t.Fatal("the taker's book page was reloaded: not a live update")
	}
	if b.eval(`document.cookie`) != "" {
		t.Fatal("the session cookie is readable by scripts")
	}

	// The other pages, with an action each where they have one.
	b.do(chromedp.Navigate(tkURL+"wallet"), chromedp.Click(chromedp.CSS("#new-address")))
	b.waitJS("a new address", `document.querySelector(".flash.ok")?.textContent.startsWith("new address: bcrt1")`)
	b.shot("wallet")
	b.do(chromedp.Navigate(tkURL+"blacklist"), chromedp.WaitVisible(chromedp.CSS("#bl-value")),
		chromedp.SendKeys(chromedp.CSS("#bl-value"), m2.Onion()), chromedp.SendKeys(chromedp.CSS("#bl-reason"), "test entry"),
		chromedp.Submit(chromedp.CSS("#bl-value")))
	b.waitJS("the entry listed", fmt.Sprintf(`document.body.textContent.includes(%q)`, m2.Onion()))
	b.shot("blacklist")
	b.do(chromedp.Click(chromedp.CSS(`button[aria-label^="remove onion"]`)))
	b.waitJS("the entry removed", `document.querySelector(".flash.ok")?.textContent === "removed from the blacklist"`)
	// CoinJoin: start mixing the swept coin (a denomination it fits),
	// see the session, stop it. Rounds themselves are itest/coinjoin's.
	swept := sweptCoin(t, ctx, tk)
	cjs, err := control.Call[coinjoin.StatusReply](ctx, tk.Client(), http.MethodGet, "/v1/coinjoin/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	denom := swept.Value - coinjoin.Params{FeeRate: cjs.FeeRate}.Share(cjs.T)
	b.do(chromedp.Navigate(tkURL+"coinjoin"), chromedp.WaitVisible(chromedp.CSS("#cj-coin")),
		chromedp.SetValue(chromedp.CSS("#cj-coin"), swept.Coin), chromedp.SendKeys(chromedp.CSS("#cj-denom"), fmt.Sprint(denom)),
		chromedp.Click(chromedp.CSS("#cj-start")))
	b.waitJS("the session started", `document.querySelector(".flash.ok")?.textContent.startsWith("mixing ")`)
	b.waitJS("the session shown", `document.getElementById("cj-session")?.textContent.includes("mixing")`)
	b.shot("coinjoin")
	b.do(chromedp.Click(chromedp.CSS("#cj-stop")))
	b.waitJS("the session stopped", `document.getElementById("cj-session")?.textContent === "no session"`)
	// A premix from the regular coins: two coins a round of the node's
	// default terms takes, traceable until mixed, listed as fitting once
	// confirmed (the page follows live).
	b.do(chromedp.SetValue(chromedp.CSS("#split-count"), "2"), chromedp.Click(chromedp.CSS("#split-start")))
	b.waitJS("the premix sent", `document.querySelector(".flash.ok")?.textContent.startsWith("split: 2 coins of ")`)
	b.waitJS("two fitting traceable coins", `[...document.querySelectorAll("#live tr")].filter(tr => tr.textContent.includes("traceable · fits")).length === 2`)
	b.shot("coinjoin-premix")
	b.do(chromedp.Navigate(tkURL))
	b.waitJS("the status page", `document.getElementById("ready")?.textContent === "ready"`)
	b.shot("status")

	// Refused: an action posted by another site's page (the browser marks
	// it cross-site and keeps the SameSite session cookie back), and a
	// request without a session.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%saction/chat">
<input name="to" value="%s"><input name="text" value="forged by another site"><input name="csrf" value="guess"></form>
<script>document.getElementById("f").submit()</script>`, tkURL, m1Offer.ID)
	}))
	defer evil.Close()
	b.do(chromedp.Navigate(evil.URL))
	b.waitJS("the dashboard's answer to the forged post", `location.href.startsWith(`+jsString(tkURL)+`) && document.body.textContent.length > 0`)
	answer := b.eval(`document.body.textContent.trim()`)
	if !strings.Contains(answer, "refused") && !strings.Contains(answer, "log in") && !strings.Contains(answer, "CSRF") {
		t.Fatalf("forged cross-site post answered %q", answer)
	}
	t.Logf("forged cross-site post answered: %s", answer)
	resp, err := http.PostForm(tkURL+"action/chat", url.Values{"to": {m1Offer.ID}, "text": {"no session"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("post without a session: %d", resp.StatusCode)
	}
	h, err := control.Call[chat.History](ctx, tk.Client(), http.MethodPost, "/v1/chat/history", chat.HistoryRequest{Peer: m1.Onion()})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h.Messages {
		if m.Dir == "out" && m.Text != "hello from the dashboard" {
			t.Fatalf("a refused request sent %q", m.Text)
		}
	}

	// Phone-sized: every page fits the width (no sideways scrolling).
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, p := range []string{"", "wallet", "swaps", "book", "chat?c=" + conv0(t, ctx, tk), "coinjoin", "blacklist"} {
		b.do(chromedp.Navigate(tkURL+p), chromedp.WaitVisible(chromedp.CSS("#main")))
		if over := b.eval(`String(document.documentElement.scrollWidth - window.innerWidth)`); over != "0" {
			t.Errorf("page /%s is %s px wider than a phone's screen", p, over)
		}
		name := strings.SplitN(p, "?", 2)[0]
		if name == "" {
			name = "status"
		}
		b.shot("phone-" + name)
	}
	mt.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Navigate(m1URL+"maker"),
		chromedp.WaitVisible(chromedp.CSS("#offer-state")))
	if over := mt.eval(`String(document.documentElement.scrollWidth - window.innerWidth)`); over != "0" {
		t.Errorf("the maker page is %s px wider than a phone's screen", over)
	}
	mt.shot("phone-maker")

	// The taker's dashboard as its own onion service, restricted by Tor
	// client authorization: a browser whose tor holds the key the node
	// wrote (DATADIR/dashboard.auth_private) logs in over Tor; a tor
	// without it cannot even reach the service.
	onionDashboard(t, ctx, tk, tkCookie)
}

// onionDashboard opens tk's dashboard onion service from a browser
// behind a tor client with its client key, and checks that a tor client
// without the key is refused.
func onionDashboard(t *testing.T, ctx context.Context, tk *cluster.Proc, cookie string) {
	t.Helper()
	st, err := tk.Client().Status(ctx)
	if err != nil || !strings.HasSuffix(st.DashboardOnion, ".onion/") {
		t.Fatalf("no dashboard onion: %+v %v", st, err)
	}
	keyFile := filepath.Join(tk.DataDir, "dashboard.auth_private")
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v (mode %v), want 0600", keyFile, err, fi.Mode().Perm())
	}
	line, _ := os.ReadFile(keyFile)
	authDir := filepath.Join(clu.Dir(), "browser-onion-auth")
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(authDir, "dashboard.auth_private"), line, 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(st.DashboardOnion, "http://"), "/")

	// Without the key: tor says client authorization is required.
	stranger, err := clu.OutsideTransport(ctx, "stranger-tor")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if c, err := stranger.Dial(dctx, host+":80"); err == nil {
		c.Close()
		t.Fatal("a tor client without the key reached the dashboard's onion service")
	} else if !errors.Is(err, tor.ErrClientAuth) {
		t.Fatalf("a tor client without the key: %v, want client authorization required", err)
	} else {
		t.Logf("without the client key: %v", err)
	}

	// With it: Chromium through that tor's SOCKS port.
	owner, err := tor.NewTorTransport(ctx, tor.Config{Mode: tor.ModeManaged, DataDir: filepath.Join(clu.Dir(), "owner-tor"),
		ExtraArgs: append(clu.Tornet().ClientArgs(), "ClientOnionAuthDir", authDir)})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	ob := newBrowser(t, ctx, chromedp.ProxyServer("socks5://"+owner.Status().SocksAddr))
	start := time.Now()
	ob.do(chromedp.Navigate(st.DashboardOnion), chromedp.WaitVisible(chromedp.CSS("#secret")),
		chromedp.SendKeys(chromedp.CSS("#secret"), cookie+kb.Enter))
	ob.waitJS("the status page over Tor", `document.getElementById("ready")?.textContent === "ready"`)
	t.Logf("dashboard over its onion service: login page to status in %s", time.Since(start).Round(10*time.Millisecond))
	ob.shot("onion-status")
}

// sweptCoin waits for the taker's swept coin to confirm.
func sweptCoin(t *testing.T, ctx context.Context, p *cluster.Proc) coinjoin.CoinInfo {
	t.Helper()
	var coin coinjoin.CoinInfo
	err := cluster.Poll(ctx, 250*time.Millisecond, p.Name+"'s swept coin confirmed", func() (bool, string) {
		cs, err := control.Call[[]coinjoin.CoinInfo](ctx, p.Client(), http.MethodGet, "/v1/coinjoin/coins", nil)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range cs {
			if c.Category == "swept" && c.Confirmations > 0 {
				coin = c
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d coins", len(cs))
	})
	if err != nil {
		t.Fatal(err)
	}
	return coin
}

// dashboard is a node's dashboard URL and its login cookie.
func dashboard(t *testing.T, ctx context.Context, p *cluster.Proc) (string, string) {
	t.Helper()
	st, err := p.Client().Status(ctx)
	if err != nil || st.Dashboard == "" {
		t.Fatalf("%s: no dashboard (%+v, %v)", p.Name, st, err)
	}
	c, err := os.ReadFile(control.CookiePath(p.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	return st.Dashboard, strings.TrimSpace(string(c))
}

// waitChat waits until p received text and returns its conversation.
func waitChat(t *testing.T, ctx context.Context, p *cluster.Proc, text string) string {
	t.Helper()
	var conv string
	err := cluster.Poll(ctx, 200*time.Millisecond, p.Name+" receives "+text, func() (bool, string) {
		inbox, err := control.Call[[]chat.Conversation](ctx, p.Client(), http.MethodGet, "/v1/chat/inbox", nil)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range inbox {
			h, err := control.Call[chat.History](ctx, p.Client(), http.MethodPost, "/v1/chat/history", chat.HistoryRequest{Peer: c.ID})
			if err != nil {
				return false, err.Error()
			}
			if slices.ContainsFunc(h.Messages, func(m chat.Message) bool { return m.Dir == "in" && m.Text == text }) {
				conv = c.ID
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d conversations", len(inbox))
	})
	if err != nil {
		t.Fatal(err)
	}
	return conv
}

// conv0 is the taker's first conversation (for the chat page's phone view).
func conv0(t *testing.T, ctx context.Context, p *cluster.Proc) string {
	t.Helper()
	inbox, err := control.Call[[]chat.Conversation](ctx, p.Client(), http.MethodGet, "/v1/chat/inbox", nil)
	if err != nil || len(inbox) == 0 {
		t.Fatalf("inbox %v %v", inbox, err)
	}
	return inbox[0].ID
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// browser is one tab of a headless Chromium.
type browser struct {
	t   *testing.T
	tab context.Context
	dir string
}

// newBrowser starts Debian's Chromium headless with a fresh profile; it
// resolves no name and reaches nothing but 127.0.0.1 (the machine's own
// dashboards).
func newBrowser(t *testing.T, ctx context.Context, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	exe := os.Getenv("CHROMIUM")
	if exe == "" {
		exe = "/usr/bin/chromium"
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("no Chromium at %s (bash scripts/deps.sh installs Debian's chromium, or set $CHROMIUM): %v", exe, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
	)
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tab, tcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		tcancel()
		acancel()
	})
	// Start the browser and its first tab on the long-lived context (an
	// action's own timeout must not end them).
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s", dir)
	return &browser{t: t, tab: tab, dir: dir}
}

// newTab opens another tab of the same browser (same cookie store).
func (b *browser) newTab() *browser {
	tab, cancel := chromedp.NewContext(b.tab)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	return &browser{t: b.t, tab: tab, dir: b.dir}
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, uiTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.tab, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", js, err)
	}
	return v
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.tab, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// waitJS waits until the expression is true on the page.
func (b *browser) waitJS(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(uiTimeout)
	for {
		v, err := chromedp.Run(b.tab, chromedp.Evaluate[bool]("Boolean("+js+")"))
		if err == nil && v {
			return
		}
		if time.Now().After(deadline) {
			b.shot("timeout")
			body, _ := chromedp.Run(b.tab, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			b.t.Fatalf("browser: timed out waiting for %s (%v); the page at %s says:\n%s", what, err, b.location(), body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot saves a full-page PNG screenshot under the test's artifacts.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.tab, chromedp.FullScreenshot(100))
	if err != nil {
		// A page whose layout size is not known yet: the viewport then.
		png, err = chromedp.Run(b.tab, chromedp.CaptureScreenshot())
	}
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
