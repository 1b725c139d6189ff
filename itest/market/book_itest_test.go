//go:build itest

package market

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/wallet"
)

func offers(ctx context.Context, p *cluster.Proc) ([]market.Entry, error) {
	return control.Call[[]market.Entry](ctx, p.Client(), http.MethodGet, "/v1/market/offers", nil)
}

func addrs(es []market.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Addr)
	}
	slices.Sort(out)
	return out
}

// bookHolds polls p's book until it lists exactly want (onion addresses).
func bookHolds(t *testing.T, ctx context.Context, p *cluster.Proc, what string, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	err := cluster.Poll(ctx, 200*time.Millisecond, p.Name+": "+what, func() (bool, string) {
		es, err := offers(ctx, p)
		if err != nil {
			return false, err.Error()
		}
		got := addrs(es)
		return slices.Equal(got, want), fmt.Sprintf("book %v", got)
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestOfferBookOverTor: two bonded makers publish their offers on the
// pool, in a line (each node dials one peer only: --pool-outbound 1, so
// no peer exchange links: m1 ← m2 ← taker); every node's book holds both;
// a taker with no directory swaps from its book with exact balances, and
// through a maker it names by its offer; an
// offer the maker withdraws leaves every book, and comes back when it
// publishes again; a maker blacklisted by the middle node leaves its book
// and its offers no longer reach the taker; the middle node's exported
// list imports on the taker; a maker that stops takes its offer with it.
func TestOfferBookOverTor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	stopMine := clu.AutoMine(ctx, cluster.AutoMineOptions{})
	defer stopMine()
	m1, m2 := spawnLine(t, ctx, "dir", "m1", "m2")
	makers := []string{m1.Onion(), m2.Onion()}
	bookHolds(t, ctx, m1, "both offers", makers...)
	bookHolds(t, ctx, m2, "both offers", makers...)

	// The coins behind m1's offer are locked: a send may not use them.
	st, err := control.Call[market.StatusReply](ctx, m1.Client(), http.MethodGet, "/v1/market/status", nil)
	if err != nil || st.Offer == nil || !st.Offer.Published || st.Offer.LockedCoins == 0 {
		t.Fatalf("m1's market status %+v %v", st.Offer, err)
	}
	dest, err := m2.NewAddress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Client().Send(ctx, control.SendRequest{Address: dest, Amount: 1_000_000}); err == nil ||
		!strings.Contains(err.Error(), "market withdraw") {
		t.Fatalf("a send of coins behind the offer: %v", err)
	}
	t.Logf("%d coins (%d sat) locked behind m1's offer; a send is refused", st.Offer.LockedCoins, st.Offer.LockedSat)

	spawned := time.Now()
	tk := spawnTaker(t, ctx, "taker", m2.Onion())
	ready := time.Since(spawned)
	took := bookHolds(t, ctx, tk, "both offers after joining", makers...)
	t.Logf("taker ready %s after its start (tor, onion, pool peer), its book complete %s later",
		ready.Round(10*time.Millisecond), took.Round(10*time.Millisecond))

	waitFunded(t, ctx, tk)
	rep := swapExact(t, ctx, tk, control.TakerSwapRequest{Amount: 5_000_000, Makers: 2, TxCount: 2}, m1, m2)
	t.Logf("swap from the book: %s total, %s block waits, %d round trips", rep.Duration, rep.BlockWait, rep.RoundTrips)
	if rep.RoundTrips > 6 { // offers known: hello+setup, fund, settle per maker (a directory's makers take 8)
		t.Errorf("%d round trips from the book, want ≤ 6", rep.RoundTrips)
	}
	chatFromBook(t, ctx, tk, m1, rep.SwapID)

	// Withdrawn by its operator: out of every book; published again: back.
	if _, err := control.Call[market.StatusReply](ctx, m1.Client(), http.MethodPost, "/v1/market/withdraw", struct{}{}); err != nil {
		t.Fatal(err)
	}
	took = bookHolds(t, ctx, tk, "m1's offer withdrawn", m2.Onion())
	bookHolds(t, ctx, m2, "m1's offer withdrawn", m2.Onion())
	t.Logf("withdrawal reached the taker (two hops) in %s", took.Round(10*time.Millisecond))
	if _, err := control.Call[market.StatusReply](ctx, m1.Client(), http.MethodPost, "/v1/market/publish", struct{}{}); err != nil {
		t.Fatal(err)
	}
	took = bookHolds(t, ctx, tk, "m1's offer back", makers...)
	t.Logf("republished offer reached the taker in %s", took.Round(10*time.Millisecond))

	// A swap that names its maker from the book; one that names a maker
	// without an offer is refused before anything happens.
	if _, err := tk.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: 1_000_000, Makers: 1, TxCount: 1,
		Offers: []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.onion:80"}}); err == nil ||
		!strings.Contains(err.Error(), "no offer") {
		t.Fatalf("a swap naming a maker without an offer: %v", err)
	}
	rep, err = tk.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: 1_000_000, Makers: 1, TxCount: 1,
		Offers: []string{m2.Onion()}})
	if err != nil || rep.Outcome != "complete" {
		t.Fatalf("a swap through the named offer: %+v %v", rep, err)
	}
	if rep.RoundTrips > 3 {
		t.Errorf("%d round trips through a named offer, want ≤ 3", rep.RoundTrips)
	}

	// The middle node lists m1: gone from its book at once. m1's next offer
	// (after a withdrawal, which is a signed removal and still passes) is
	// ignored there, so it never reaches the taker behind it.
	post := func(p *cluster.Proc, path string, in any) {
		t.Helper()
		if _, err := control.Call[json.RawMessage](ctx, p.Client(), http.MethodPost, path, in); err != nil {
			t.Fatalf("%s %s: %v", p.Name, path, err)
		}
	}
	post(m2, "/v1/market/blacklist/add", market.ListAddRequest{Kind: wallet.ListOnion, Value: m1.Onion(), Reason: "test: listed"})
	bookHolds(t, ctx, m2, "m1 hidden by the node that listed it", m2.Onion())
	ignored := refused(t, ctx, m2)
	post(m1, "/v1/market/withdraw", struct{}{})
	bookHolds(t, ctx, tk, "m1's offer withdrawn", m2.Onion())
	post(m1, "/v1/market/publish", struct{}{})
	err = cluster.Poll(ctx, 200*time.Millisecond, "m2 ignoring m1's new offer", func() (bool, string) {
		n := refused(t, ctx, m2)
		return n > ignored, fmt.Sprintf("%d ignored", n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if es, err := offers(ctx, tk); err != nil || !slices.Equal(addrs(es), []string{m2.Onion()}) {
		t.Fatalf("a listed maker's offer relayed to the taker: %v %v", addrs(es), err)
	}

	// m2's list, exported and imported on the taker: signed by m2.
	f, err := control.Call[market.ListFile](ctx, m2.Client(), http.MethodGet, "/v1/market/blacklist/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := control.Call[market.ListImportReply](ctx, tk.Client(), http.MethodPost, "/v1/market/blacklist/import", f)
	if err != nil || imp.Imported != 1 || imp.Signer != f.Signer {
		t.Fatalf("import: %+v %v", imp, err)
	}
	es, err := control.Call[[]wallet.BlacklistEntry](ctx, tk.Client(), http.MethodGet, "/v1/market/blacklist", nil)
	if err != nil || len(es) != 1 || es[0].Value != m1.Onion() || es[0].Source != "import:"+f.Signer[:16] {
		t.Fatalf("taker's list after the import: %+v %v", es, err)
	}
	f.Entries[0].Reason = "altered"
	if _, err := control.Call[market.ListImportReply](ctx, tk.Client(), http.MethodPost, "/v1/market/blacklist/import", f); err == nil {
		t.Fatal("an altered list was imported")
	}

	// A maker that stops removes its offer on the way out (the pool
	// sends the removal before it closes its links), so takers do not
	// keep trying a maker that is gone until its offer expires.
	stopped := time.Now()
	m2.Stop()
	bookHolds(t, ctx, tk, "m2's offer removed when m2 stopped")
	t.Logf("a stopping maker's offer left the taker's book %s after the stop began", time.Since(stopped).Round(10*time.Millisecond))
}

// refused is how many envelopes p's pool ignored on its topic validator's
// word (a blacklisted offer among them).
func refused(t *testing.T, ctx context.Context, p *cluster.Proc) int {
	t.Helper()
	st, err := control.Call[pool.Stats](ctx, p.Client(), http.MethodGet, "/v1/pool/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.Refused["validator-ignored"]
}

// chatFromBook: the taker opens a chat from m1's offer in its book (by
// the offer id `market offers` shows) and another about the swap they
// just made; m1 has both, in conversations tied to the offer and to the
// swap (its own record of the swap has the same id), and answers.
func chatFromBook(t *testing.T, ctx context.Context, tk, m1 *cluster.Proc, swapID string) {
	t.Helper()
	es, err := offers(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, e := range es {
		if e.Addr == m1.Onion() {
			id = e.ID
		}
	}
	if len(id) != market.OfferIDLen {
		t.Fatalf("m1's offer id %q in %+v", id, es)
	}
	chatSend := func(p *cluster.Proc, req chat.SendRequest) chat.SendReply {
		t.Helper()
		rep, err := control.Call[chat.SendReply](ctx, p.Client(), http.MethodPost, "/v1/chat/send", req)
		if err != nil || rep.State != "delivered" {
			t.Fatalf("%s chat send %+v: %+v %v", p.Name, req, rep, err)
		}
		return rep
	}
	chatSend(tk, chat.SendRequest{To: id, Text: "is your offer good for 0.5 BTC?"})
	chatSend(tk, chat.SendRequest{To: m1.Onion(), Text: "thanks for the swap", Swap: swapID})
	inbox, err := control.Call[[]chat.Conversation](ctx, m1.Client(), http.MethodGet, "/v1/chat/inbox", nil)
	if err != nil {
		t.Fatal(err)
	}
	var offerConv, swapConv, legID string
	for _, c := range inbox {
		if c.Context == "offer "+id {
			offerConv = c.ID
		}
		if l, ok := strings.CutPrefix(c.Context, "swap "); ok {
			swapConv, legID = c.ID, l
		}
	}
	if offerConv == "" || swapConv == "" {
		t.Fatalf("m1's inbox %+v, want the offer's and the swap's conversations", inbox)
	}
	// The taker gave each maker its own id for the swap: the chat is under
	// m1's, which m1's record has and the taker's record lists for m1.
	swaps, err := m1.Client().Swaps(ctx)
	if err != nil || !slices.ContainsFunc(swaps, func(s control.SwapInfo) bool { return s.ID == legID }) {
		t.Fatalf("m1's swaps (%v) lack the chat's swap %s", err, legID)
	}
	ts, err := tk.Client().Swap(ctx, swapID)
	if err != nil || !slices.Contains(ts.Legs, control.SwapLeg{Addr: m1.Onion(), ID: legID}) {
		t.Fatalf("the taker's swap %s: legs %+v (%v), want m1's %s", swapID, ts, err, legID)
	}
	h, err := control.Call[chat.History](ctx, m1.Client(), http.MethodPost, "/v1/chat/history", chat.HistoryRequest{Peer: swapConv, MarkRead: true})
	if err != nil || !slices.Equal(h.Received(), []string{"thanks for the swap"}) {
		t.Fatalf("m1's swap conversation %+v %v", h, err)
	}
	chatSend(m1, chat.SendRequest{To: offerConv, Text: "yes, up to 1 BTC"})
	err = cluster.Poll(ctx, 200*time.Millisecond, "the taker has m1's answer", func() (bool, string) {
		h, err := control.Call[chat.History](ctx, tk.Client(), http.MethodPost, "/v1/chat/history", chat.HistoryRequest{Peer: offerConv})
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(h.Received(), []string{"yes, up to 1 BTC"}), fmt.Sprint(h.Received())
	})
	if err != nil {
		t.Fatal(err)
	}
}
