package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
)

// stepPoll: how often a step polls a node's control API (cheap, local).
const stepPoll = 200 * time.Millisecond

func call[T any](ctx context.Context, p *cluster.Proc, method, path string, req any) (T, error) {
	v, err := control.Call[T](ctx, p.Client(), method, path, req)
	if err != nil {
		return v, fmt.Errorf("%s %s: %w", p.Name, path, err)
	}
	return v, nil
}

// book waits until the taker's offer book (GET /v1/market/offers) lists
// every maker's offer, and prints it.
func (d *demo) book(ctx context.Context) error {
	var es []market.Entry
	err := cluster.Poll(ctx, stepPoll, "the taker's book to list every maker's offer", func() (bool, string) {
		var err error
		if es, err = call[[]market.Entry](ctx, d.taker, http.MethodGet, "/v1/market/offers", nil); err != nil {
			return false, err.Error()
		}
		for _, m := range d.makers {
			if !slices.ContainsFunc(es, func(e market.Entry) bool { return e.Addr == m.Onion() }) {
				return false, fmt.Sprintf("%d offers, none of %s", len(es), m.Name)
			}
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	d.res.offers, d.res.bookWait = es, time.Since(d.takerReady)
	d.say("taker's offer book holds %d offers (complete %s after the taker was ready), each bond checked on its own chain backend:",
		len(es), d.res.bookWait.Round(10*time.Millisecond))
	for _, e := range es {
		d.say("  offer %s of %s: %s to %s BTC, fee %d sat + %d ppb, %s %s BTC", e.ID, d.nameOf(e.Addr),
			btc(e.MinSize), btc(e.MaxSize), e.BaseFee, e.AmountFeePPB, e.Proof, btc(e.BondAmount))
	}
	return nil
}

// offerOf is p's offer in the taker's book.
func (d *demo) offerOf(p *cluster.Proc) (market.Entry, error) {
	for _, e := range d.res.offers {
		if e.Addr == p.Onion() {
			return e, nil
		}
	}
	return market.Entry{}, fmt.Errorf("no offer of %s in the book", p.Name)
}

// chat: the taker asks the first maker about its offer (by the offer's
// id, as `chat send` takes it); the maker finds the question in its
// inbox, in the conversation tied to the offer, and answers.
func (d *demo) chat(ctx context.Context) error {
	m := d.makers[0]
	off, err := d.offerOf(m)
	if err != nil {
		return err
	}
	d.res.chatQ = fmt.Sprintf("is your offer good for %s BTC?", btc(swapAmount))
	d.res.chatA = fmt.Sprintf("yes, anything from %s to %s BTC", btc(off.MinSize), btc(off.MaxSize))
	t0 := time.Now()
	sent, err := call[chat.SendReply](ctx, d.taker, http.MethodPost, "/v1/chat/send", chat.SendRequest{To: off.ID, Text: d.res.chatQ})
	if err != nil {
		return err
	}
	d.say("taker → %s (offer %s): %q — %s, end-to-end encrypted", m.Name, off.ID, d.res.chatQ, sent.State)
	conv, err := d.waitInbox(ctx, m, "offer "+off.ID, d.res.chatQ)
	if err != nil {
		return err
	}
	d.say("%s's inbox: the question, in the conversation about its offer", m.Name)
	if _, err := call[chat.SendReply](ctx, m, http.MethodPost, "/v1/chat/send", chat.SendRequest{To: conv, Text: d.res.chatA}); err != nil {
		return err
	}
	err = cluster.Poll(ctx, stepPoll, "the taker to have the maker's answer", func() (bool, string) {
		h, err := call[chat.History](ctx, d.taker, http.MethodPost, "/v1/chat/history", chat.HistoryRequest{Peer: sent.Conversation, MarkRead: true})
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(h.Received(), d.res.chatA), fmt.Sprint(h.Received())
	})
	if err != nil {
		return err
	}
	d.res.chatRTT = time.Since(t0)
	d.say("%s → taker: %q (round trip %s)", m.Name, d.res.chatA, d.res.chatRTT.Round(time.Millisecond))
	return nil
}

// waitInbox waits until p's conversation of context ctxName holds text,
// marks it read and returns the conversation's id.
func (d *demo) waitInbox(ctx context.Context, p *cluster.Proc, ctxName, text string) (string, error) {
	var conv string
	err := cluster.Poll(ctx, stepPoll, p.Name+"'s inbox to hold the taker's question", func() (bool, string) {
		inbox, err := call[[]chat.Conversation](ctx, p, http.MethodGet, "/v1/chat/inbox", nil)
		if err != nil {
			return false, err.Error()
		}
		i := slices.IndexFunc(inbox, func(c chat.Conversation) bool { return c.Context == ctxName })
		if i < 0 {
			return false, fmt.Sprintf("%d conversations", len(inbox))
		}
		conv = inbox[i].ID
		h, err := call[chat.History](ctx, p, http.MethodPost, "/v1/chat/history", chat.HistoryRequest{Peer: conv, MarkRead: true})
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(h.Received(), text), fmt.Sprint(h.Received())
	})
	return conv, err
}

// swap: the taker names its route from the book (the request's Offers,
// `taker swap --offer`): it asks no directory and no maker for its terms
// again.
func (d *demo) swap(ctx context.Context) error {
	var route []string
	var names []string
	for _, m := range d.makers {
		route = append(route, m.Onion())
		names = append(names, m.Name)
	}
	var err error
	if d.res.start, err = d.balances(ctx); err != nil {
		return err
	}
	d.say("taker: swapping %s BTC through the makers it names from its book (%s), %d funding transaction(s) per hop",
		btc(swapAmount), strings.Join(names, ", "), d.cfg.txCount)
	t0 := time.Now()
	rep, err := d.taker.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: swapAmount, Makers: len(route), TxCount: d.cfg.txCount, Offers: route})
	if err != nil {
		return err
	}
	d.res.swap, d.res.swapWall = rep, time.Since(t0)
	d.say("taker: swap %s %s in %s", short(rep.SwapID), rep.Outcome, d.res.swapWall.Round(time.Millisecond))
	if rep.Outcome != "complete" {
		return fmt.Errorf("swap %s ended %s", rep.SwapID, rep.Outcome)
	}
	if err := d.route(ctx, rep.SwapID); err != nil {
		return err
	}
	// The makers sweep their incoming coins once they have the keys.
	for _, p := range d.makers {
		if err := waitMakerDone(ctx, p); err != nil {
			return err
		}
	}
	d.say("every maker swept its incoming coins; waiting for the wallets to settle")
	if err := waitSettled(ctx, append([]*cluster.Proc{d.taker}, d.makers...)); err != nil {
		return err
	}
	d.res.afterSwap, err = d.balances(ctx)
	return err
}

// route records the makers of the swap in route order, from the taker's
// record of its legs (the taker orders the makers a swap names itself).
func (d *demo) route(ctx context.Context, id string) error {
	s, err := d.taker.Client().Swap(ctx, id)
	if err != nil {
		return fmt.Errorf("taker's swap %s: %w", short(id), err)
	}
	d.res.route = nil
	for _, l := range s.Legs {
		d.res.route = append(d.res.route, d.nameOf(l.Addr))
	}
	d.say("taker: the route was taker → %s → taker", strings.Join(d.res.route, " → "))
	return nil
}
