package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/wallet"
)

// DefaultLiveInterval: how often an open page is re-rendered for its
// live stream. One second keeps a swap's timeline and a chat current;
// the work is a handful of in-process API calls, and only while a
// browser has the page open.
const DefaultLiveInterval = time.Second

// page is one page of the dashboard: its template (the layout with the
// page's "content" and "live" blocks) and what it shows.
type page struct {
	Name, Title, Path string
	tmpl              *template.Template
	// load reads the page's data; node is the node's status the view
	// already fetched (nil if that failed), so a page needs no second call.
	load func(ctx context.Context, q url.Values, node *control.Status) (any, error)
}

// view is what a page's templates see.
type view struct {
	Page  *page
	Nav   []*page
	CSRF  string
	Flash *flash
	Node  *control.Status
	Data  any
	Err   string
	Query url.Values
	Now   time.Time
}

func (s *Server) buildPages() map[string]*page {
	defs := []*page{
		{Name: "status", Title: "Status", Path: "/{$}", load: s.loadStatus},
		{Name: "wallet", Title: "Wallet", Path: "/wallet", load: s.loadWallet},
		{Name: "swaps", Title: "Swaps", Path: "/swaps", load: s.loadSwaps},
		{Name: "book", Title: "Offer book", Path: "/book", load: s.loadBook},
		{Name: "maker", Title: "Maker", Path: "/maker", load: s.loadMaker},
		{Name: "chat", Title: "Chat", Path: "/chat", load: s.loadChat},
		{Name: "coinjoin", Title: "CoinJoin", Path: "/coinjoin", load: s.loadCoinJoin},
		{Name: "blacklist", Title: "Blacklist", Path: "/blacklist", load: s.loadBlacklist},
	}
	out := make(map[string]*page, len(defs))
	for _, p := range defs {
		p.tmpl = template.Must(template.New(p.Name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/"+p.Name+".html"))
		out[p.Name] = p
	}
	s.nav = defs
	// Parsed here, not at package init: every CLI command links this
	// package, and only a running dashboard needs its templates.
	s.login = template.Must(template.New("login").Funcs(funcs).ParseFS(templateFS, "templates/login.html"))
	return out
}

// Href is the page's link.
func (p *page) Href() string { return strings.TrimSuffix(p.Path, "{$}") }

func (s *Server) pageHandler(p *page) func(http.ResponseWriter, *request) {
	return func(w http.ResponseWriter, r *request) {
		v := s.view(r.Context(), p, r.sess, r.URL.Query())
		v.Flash = r.sess.takeFlash(s.auth)
		var buf bytes.Buffer
		if err := p.tmpl.ExecuteTemplate(&buf, "layout", v); err != nil {
			s.log.Warn("dashboard: rendering", "page", p.Name, "err", err)
			http.Error(w, "rendering failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(buf.Bytes())
	}
}

// view loads a page's data; a failure is shown on the page, not as an
// HTTP error (the node may be starting, or not run that service).
func (s *Server) view(ctx context.Context, p *page, sess *session, q url.Values) *view {
	v := &view{Page: p, Nav: s.nav, CSRF: sess.csrf, Query: q, Now: s.cfg.Now()}
	if st, err := s.api.Status(ctx); err == nil {
		v.Node = st
	}
	data, err := p.load(ctx, q, v.Node)
	v.Data = data
	if err != nil {
		v.Err = apiError(err)
	}
	return v
}

// apiError words an API error for the page: a route the node does not
// have means the service is not run by this node (or not yet started).
func apiError(err error) string {
	if errors.Is(err, control.ErrNotAvailable) {
		return "not available on this node (its role does not run this service, or the node is still starting)"
	}
	return err.Error()
}

func get[T any](ctx context.Context, s *Server, path string) (T, error) {
	return control.Call[T](ctx, s.api, http.MethodGet, path, nil)
}

func post[T any](ctx context.Context, s *Server, path string, in any) (T, error) {
	return control.Call[T](ctx, s.api, http.MethodPost, path, in)
}

// ---- status

type statusData struct {
	St       *control.Status
	Services []serviceRow
	Pool     *pool.Stats
	Market   *market.StatusReply
	CoinJoin *coinjoin.StatusReply
	// SyncPct: the wallet's height against the chain's tip.
	SyncPct int
}

type serviceRow struct {
	Name    string
	Ready   bool
	Blocker string
}

func (s *Server) loadStatus(ctx context.Context, _ url.Values, st *control.Status) (any, error) {
	if st == nil { // ask again, for the error to show
		var err error
		if st, err = s.api.Status(ctx); err != nil {
			return nil, err
		}
	}
	d := &statusData{St: st}
	for name, r := range st.Services {
		d.Services = append(d.Services, serviceRow{name, r.Ready, r.Blocker})
	}
	sort.Slice(d.Services, func(i, j int) bool { return d.Services[i].Name < d.Services[j].Name })
	if st.TipHeight > 0 && st.WalletHeight > 0 {
		d.SyncPct = int(min(100, int64(st.WalletHeight)*100/int64(st.TipHeight)))
	}
	if ps, err := get[pool.Stats](ctx, s, "/v1/pool/stats"); err == nil {
		d.Pool = &ps
	}
	if ms, err := get[market.StatusReply](ctx, s, "/v1/market/status"); err == nil {
		d.Market = &ms
	}
	if cj, err := get[coinjoin.StatusReply](ctx, s, "/v1/coinjoin/status"); err == nil {
		d.CoinJoin = &cj
	}
	return d, nil
}

// ---- wallet

type walletData struct {
	Balances []balanceRow
	Total    int64
	Height   int32
	Coins    []control.Coin
}

type balanceRow struct {
	Category string
	control.Balance
}

// categoryOrder: how the wallet's categories are listed.
var categoryOrder = []string{"regular", "swept", "swap_incoming", "contract", "fidelity_bond"}

func (s *Server) loadWallet(ctx context.Context, _ url.Values, _ *control.Status) (any, error) {
	b, err := s.api.Balances(ctx)
	if err != nil {
		return nil, err
	}
	d := &walletData{Height: b.Height}
	for c, bal := range b.Categories {
		d.Balances = append(d.Balances, balanceRow{c, bal})
		if c != "contract" && c != "swap_incoming" {
			d.Total += bal.Total()
		}
	}
	rank := func(c string) int {
		if i := slices.Index(categoryOrder, c); i >= 0 {
			return i
		}
		return len(categoryOrder)
	}
	sort.Slice(d.Balances, func(i, j int) bool { return rank(d.Balances[i].Category) < rank(d.Balances[j].Category) })
	if d.Coins, err = s.api.Coins(ctx, "", false); err != nil {
		return d, err
	}
	sort.Slice(d.Coins, func(i, j int) bool { return d.Coins[i].Value > d.Coins[j].Value })
	return d, nil
}

// ---- swaps

type swapsData struct {
	Swaps []swapRow
	Jobs  []jobView
}

type swapRow struct {
	control.SwapInfo
	Steps []step
}

// step is one phase of a swap's timeline.
type step struct {
	Name  string
	State string // done, current, todo, failed
}

// The phases a swap goes through, in order, as the engine names them.
var (
	takerSteps = []swap.Phase{swap.TakerNegotiating, swap.TakerSetupDone, swap.TakerHop0Broadcast, swap.TakerFunded,
		swap.TakerSettling, swap.TakerPrivkeysSent, swap.TakerSweeping, swap.TakerComplete}
	makerSteps = []swap.Phase{swap.MakerReserved, swap.MakerIncomingConfirmed, swap.MakerFundingBroadcast,
		swap.MakerPreimageKnown, swap.MakerKeysSent, swap.MakerIncomingKeysKnown, swap.MakerSwept, swap.MakerComplete}
)

// timeline places a swap's phase on its role's steps; a phase off the
// happy path (failed, abandoned, recovering, recovered) ends it.
func timeline(info control.SwapInfo) []step {
	steps := takerSteps
	if info.Role == "maker" {
		steps = makerSteps
	}
	cur := slices.Index(steps, swap.Phase(info.Phase))
	out := make([]step, 0, len(steps)+1)
	for i, p := range steps {
		st := "todo"
		switch {
		case cur < 0:
		case i < cur || (i == cur && info.Final):
			st = "done"
		case i == cur:
			st = "current"
		}
		out = append(out, step{strings.ReplaceAll(string(p), "_", " "), st})
	}
	if cur < 0 {
		st := "failed"
		if info.Phase == string(swap.PhaseRecovering) {
			st = "current"
		}
		out = append(out, step{strings.ReplaceAll(info.Phase, "_", " "), st})
	}
	return out
}

func (s *Server) loadSwaps(ctx context.Context, _ url.Values, _ *control.Status) (any, error) {
	d := &swapsData{Jobs: s.jobViews()}
	infos, err := s.api.Swaps(ctx)
	if err != nil {
		return d, err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Created.After(infos[j].Created) })
	for _, in := range infos {
		d.Swaps = append(d.Swaps, swapRow{in, timeline(in)})
	}
	return d, nil
}

// ---- offer book

type bookData struct {
	Offers []market.Entry
	Taker  bool
	Trust  *market.TrustReply
}

// bookSorts: the book's sort keys (market.Query.Sort).
var bookSorts = []string{"fee", "bond", "age"}

func (s *Server) loadBook(ctx context.Context, q url.Values, st *control.Status) (any, error) {
	mq := url.Values{}
	for _, k := range []string{"sort", "amount", "proof", "min_bond"} {
		if v := strings.TrimSpace(q.Get(k)); v != "" {
			mq.Set(k, v)
		}
	}
	d := &bookData{Taker: st != nil && st.Role == "taker"}
	es, err := get[[]market.Entry](ctx, s, "/v1/market/offers?"+mq.Encode())
	d.Offers = es
	if err != nil {
		return d, err
	}
	if addr := q.Get("trust"); addr != "" {
		tr, err := get[market.TrustReply](ctx, s, "/v1/market/trust?addr="+url.QueryEscape(addr))
		if err != nil {
			tr = market.TrustReply{Addr: addr, Error: apiError(err)}
		}
		d.Trust = &tr
	}
	return d, nil
}

// ---- maker

type makerData struct {
	Maker    *control.MakerStatus
	Market   *market.StatusReply
	Offer    map[string]any
	Balances map[string]control.Balance
	Proofs   int
}

func (s *Server) loadMaker(ctx context.Context, _ url.Values, _ *control.Status) (any, error) {
	ms, err := s.api.MakerStatus(ctx)
	if err != nil {
		return nil, err
	}
	d := &makerData{Maker: ms}
	if len(ms.Offer) > 0 {
		// Numbers as written (1000000, not 1e+06).
		dec := json.NewDecoder(bytes.NewReader(ms.Offer))
		dec.UseNumber()
		_ = dec.Decode(&d.Offer)
	}
	if st, err := get[market.StatusReply](ctx, s, "/v1/market/status"); err == nil {
		d.Market = &st
	}
	if b, err := s.api.Balances(ctx); err == nil {
		d.Balances = b.Categories
	}
	return d, nil
}

// ---- chat

type chatData struct {
	Inbox    []chat.Conversation
	Open     *chat.History
	Identity string
	To       string
}

func (s *Server) loadChat(ctx context.Context, q url.Values, _ *control.Status) (any, error) {
	d := &chatData{To: q.Get("to")}
	if st, err := get[chat.StatusReply](ctx, s, "/v1/chat/status"); err == nil {
		d.Identity = st.Identity
	}
	inbox, err := get[[]chat.Conversation](ctx, s, "/v1/chat/inbox")
	d.Inbox = inbox
	if err != nil {
		return d, err
	}
	if c := q.Get("c"); c != "" {
		h, err := post[chat.History](ctx, s, "/v1/chat/history", chat.HistoryRequest{Peer: c, MarkRead: true})
		if err != nil {
			return d, err
		}
		d.Open = &h
	}
	return d, nil
}

// ---- coinjoin

type coinjoinData struct {
	Status *coinjoin.StatusReply
	Rounds []coinjoin.RoundInfo
	Coins  []coinjoin.CoinInfo
}

// roundsShown: the CoinJoin page lists the latest rounds only.
const roundsShown = 20

func (s *Server) loadCoinJoin(ctx context.Context, _ url.Values, _ *control.Status) (any, error) {
	st, err := get[coinjoin.StatusReply](ctx, s, "/v1/coinjoin/status")
	if err != nil {
		return nil, err
	}
	d := &coinjoinData{Status: &st}
	if d.Rounds, err = post[[]coinjoin.RoundInfo](ctx, s, "/v1/coinjoin/rounds", coinjoin.RoundsRequest{Limit: roundsShown}); err != nil {
		return d, err
	}
	d.Coins, err = get[[]coinjoin.CoinInfo](ctx, s, "/v1/coinjoin/coins")
	return d, err
}

// ---- blacklist

type blacklistData struct {
	Entries []wallet.BlacklistEntry
	Kinds   []string
}

// blacklistKinds: what an entry can name (market.Blacklist).
var blacklistKinds = []string{"onion", "origin", "bond", "integrity"}

func (s *Server) loadBlacklist(ctx context.Context, _ url.Values, _ *control.Status) (any, error) {
	es, err := get[[]wallet.BlacklistEntry](ctx, s, "/v1/market/blacklist")
	return &blacklistData{Entries: es, Kinds: blacklistKinds}, err
}

// ---- template helpers

var funcs = template.FuncMap{
	"btc": func(sat int64) string {
		neg := sat < 0
		if neg {
			sat = -sat
		}
		s := fmt.Sprintf("%d.%08d", sat/1e8, sat%1e8)
		if neg {
			s = "-" + s
		}
		return s
	},
	"sat": func(sat int64) string { return groupDigits(strconv.FormatInt(sat, 10)) },
	"short": func(s string) string {
		if len(s) <= 20 {
			return s
		}
		return s[:10] + "…" + s[len(s)-8:]
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		d := now.Sub(t).Round(time.Second)
		switch {
		case d < 0:
			return "in " + (-d).String()
		case d < 5*time.Second:
			return "just now"
		}
		return d.String() + " ago"
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"dur":   func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() },
	"f2":    func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"sorts": func() []string { return bookSorts },
}

// groupDigits puts thin spaces between thousands: 1 234 567.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
