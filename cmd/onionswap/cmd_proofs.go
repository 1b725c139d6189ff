package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/protocol"
)

// Trust proofs (issue 12 item 4): `market proofs list|publish` on a
// maker, `market trust ONION` on any node.

func init() {
	register(
		blacklistCommand("market proofs list", "", 0, "the maker's completed swaps and whether their proofs are shared",
			"Show the completed swaps of the maker running on --datadir: id, amount\n"+
				"received, date, and whether its trust proof is shared with takers that\n"+
				"ask (market proofs publish).",
			func(e *env) func(ctx context.Context, c *control.Client) (any, error) {
				return func(ctx context.Context, c *control.Client) (any, error) {
					return control.Call[[]maker.ProofSwap](ctx, c, http.MethodGet, "/v1/market/proofs", nil)
				}
			}),
		blacklistCommand("market proofs publish", "SWAPID", 1, "share the trust proof of one completed swap (asks for --yes)",
			"Share the trust proof of the completed swap SWAPID of the maker running\n"+
				"on --datadir. First it prints what the proof reveals: the funding\n"+
				"outpoint, the amount and both keys of one 2-of-2 of that swap, which\n"+
				"link this maker's pool identity to that on-chain swap, for anyone who\n"+
				"asks over a direct connection (takers running market trust). Without\n"+
				"--yes it stops there and exits 1. --unshare withdraws a shared proof.",
			func(e *env) func(ctx context.Context, c *control.Client) (any, error) {
				yes := e.fs.Bool("yes", false, "share it after the warning")
				unshare := e.fs.Bool("unshare", false, "stop sharing it")
				return func(ctx context.Context, c *control.Client) (any, error) {
					var id protocol.SwapID
					if err := id.UnmarshalText([]byte(e.args[0])); err != nil {
						return nil, err
					}
					if *unshare {
						return control.Call[[]maker.ProofSwap](ctx, c, http.MethodPost, "/v1/market/proofs/publish",
							market.ShareRequest{ID: id, Unshare: true})
					}
					list, err := control.Call[[]maker.ProofSwap](ctx, c, http.MethodGet, "/v1/market/proofs", nil)
					if err != nil {
						return nil, err
					}
					var ps *maker.ProofSwap
					for i := range list {
						if list[i].ID == id {
							ps = &list[i]
						}
					}
					if ps == nil {
						return nil, fmt.Errorf("swap %s: no completed maker swap with this id", id)
					}
					fmt.Fprintf(e.stderr, "The proof of swap %s reveals, to every taker that asks:\n"+
						"  funding outpoint %s\n  amount           %d sat\n  2-of-2 keys      %s\n"+
						"and links them to this maker's pool identity (the origin of its offers).\n",
						id, ps.Funding, ps.Amount, strings.Join(ps.PubKeys, " "))
					if !*yes {
						return nil, errors.New("not shared: run again with --yes to share it")
					}
					return control.Call[[]maker.ProofSwap](ctx, c, http.MethodPost, "/v1/market/proofs/publish",
						market.ShareRequest{ID: id})
				}
			}),
		blacklistCommand("market trust", "ONION", 1, "ask a maker for its swap proofs, verify them, show its trust score",
			"Ask the maker at ONION (HOST.onion:PORT, or HOST.onion when its offer is\n"+
				"in the book) for the proofs of the swaps it shares, through the node\n"+
				"running on --datadir, verify each on that node's chain, and print its\n"+
				"trust score with this node's own history with it (README, Trust).",
			func(e *env) func(ctx context.Context, c *control.Client) (any, error) {
				return func(ctx context.Context, c *control.Client) (any, error) {
					return control.Call[market.TrustReply](ctx, c, http.MethodGet,
						"/v1/market/trust?addr="+url.QueryEscape(e.args[0]), nil)
				}
			}),
	)
}

func printProofSwaps(e *env, ps []maker.ProofSwap) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\tamount\tdate\tshared\n")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%v\n", p.ID, p.Amount, p.Date.Format("2006-01-02 15:04"), p.Shared)
	}
	return tw.Flush()
}

func printTrust(e *env, r market.TrustReply) error {
	w := e.stdout
	fmt.Fprintf(w, "maker   %s\norigin  %s (bound to its offer: %v)\nscore   %.2f\nhistory %d completed, %d unfinished, %d faults\n",
		r.Addr, r.Origin, r.Bound, r.Score, r.History.Completed, r.History.Unfinished, r.History.Faults)
	if r.Error != "" {
		fmt.Fprintf(w, "asking the maker failed: %s\n", r.Error)
	}
	for _, p := range r.Proofs {
		verdict := "ok"
		if !p.OK {
			verdict = "refused: " + p.Reason
		}
		fmt.Fprintf(w, "proof %s %d sat: %s\n", p.OutPoint, p.Value, verdict)
	}
	return nil
}
