package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
)

func init() {
	register(&command{
		path:    "market offers",
		summary: "list the offer book of a running node",
		help: "List the makers' offers the message pool of the node running on --datadir\n" +
			"holds and whose anti-spam proof its own chain backend verified: a fidelity\n" +
			"bond, or an integrity fee paid to miners within the last 144 blocks (its\n" +
			"level: low 0.01 %, normal 0.1 %, high 0.5 % of the offer's maximum).\n" +
			"Offer id (what chat send takes), address, amount range, fees, proof,\n" +
			"what the node knows of the maker's record (trust: proofs it showed, our\n" +
			"swaps with it, less its failures), age. With --amount, only the offers\n" +
			"that take it, with their fee for it at their minimum locktime.",
		opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			amount := e.fs.Int64("amount", 0, "only offers that take `SAT`, with their fee for it")
			sort := e.fs.String("sort", "bond", "`ORDER`: bond (highest bond value first), fee (lowest first, needs --amount), trust (highest first) or age (newest first)")
			minBond := e.fs.Float64("min-bond", 0, "only offers whose bond value is at least `V`")
			proof := e.fs.String("proof", "", "only offers backed by `KIND`: bond or integrity")
			minLevel := e.fs.String("min-integrity", "", "leave out integrity offers below `LEVEL`: low, normal or high")
			return func(ctx context.Context) error {
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				q := url.Values{"sort": {*sort}}
				if *amount != 0 {
					q.Set("amount", strconv.FormatInt(*amount, 10))
				}
				if *minBond != 0 {
					q.Set("min_bond", strconv.FormatFloat(*minBond, 'g', -1, 64))
				}
				if *proof != "" {
					q.Set("proof", *proof)
				}
				if *minLevel != "" {
					q.Set("min_integrity", *minLevel)
				}
				es, err := control.Call[[]market.Entry](ctx, c, http.MethodGet, "/v1/market/offers?"+q.Encode(), nil)
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, es)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "id\tmaker\tmin\tmax\tfee\tproof\tbond (sat) / integrity fee\tbond value / level\ttrust\tage\n")
				for _, o := range es {
					fee := fmt.Sprintf("%d + %d ppb + %d ppb/block", o.BaseFee, o.AmountFeePPB, o.TimeFeePPB)
					if *amount != 0 {
						fee = strconv.FormatInt(o.Fee, 10)
					}
					paid, worth := strconv.FormatInt(o.BondAmount, 10), strconv.FormatFloat(o.BondValue, 'g', 4, 64)
					if o.Proof == market.ProofIntegrity {
						paid, worth = strconv.FormatInt(o.IntegrityFee, 10), o.IntegrityLevel
					}
					fmt.Fprintf(tw, "%s\t%.22s…\t%d\t%d\t%s\t%s\t%s\t%s\t%.1f\t%s\n", o.ID, o.Addr, o.MinSize, o.MaxSize, fee, o.Proof,
						paid, worth, o.Trust, time.Since(o.Created).Round(time.Second))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%d offers\n", len(es))
				return nil
			}
		},
	},
		marketToggle("market withdraw", "/v1/market/withdraw", "take a running maker's offer off the pool",
			"Withdraw the offer of the maker running on --datadir from the message pool\n"+
				"(a signed removal that every node applies) and keep it off until\n"+
				"onionswap market publish. Swaps in progress go on; the directory\n"+
				"registration stays."),
		marketToggle("market publish", "/v1/market/publish", "put a running maker's offer (back) on the pool",
			"Publish the offer of the maker running on --datadir again after market\n"+
				"withdraw: it goes out at once if the maker has a bond and liquidity."),
		infoCommand("market status", "show a running node's market: book size and our offer",
			"Show how many offers the node running on --datadir has in its book and, on\na maker, whether its own offer is published (and since when) or why not.",
			func(c *control.Client, ctx context.Context) (market.StatusReply, error) {
				return control.Call[market.StatusReply](ctx, c, http.MethodGet, "/v1/market/status", nil)
			},
			showMarketStatus))
}

// marketToggle is `market withdraw` / `market publish`: a POST, then the
// market's status.
func marketToggle(path, endpoint, summary, help string) *command {
	return &command{path: path, summary: summary, help: help, opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			return func(ctx context.Context) error {
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				st, err := control.Call[market.StatusReply](ctx, c, http.MethodPost, endpoint, struct{}{})
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, st)
				}
				return showMarketStatus(e, st)
			}
		},
	}
}

func showMarketStatus(e *env, s market.StatusReply) error {
	fmt.Fprintf(e.stdout, "offers in the book: %d\n", s.Offers)
	switch {
	case s.Offer == nil:
	case s.Offer.Published:
		fmt.Fprintf(e.stdout, "our offer: published since %s, refreshed %s; %d coins (%d sat) locked behind it\n",
			s.Offer.Since.Format(time.RFC3339), s.Offer.Refreshed.Format(time.RFC3339), s.Offer.LockedCoins, s.Offer.LockedSat)
		if s.Offer.Proof == market.ProofIntegrity {
			fmt.Fprintf(e.stdout, "backed by an integrity fee of %d sat (output %s), valid up to height %d\n",
				s.Offer.IntegrityFee, s.Offer.IntegrityOutput, s.Offer.IntegrityExpiry)
		}
	default:
		fmt.Fprintf(e.stdout, "our offer: not published (%s)\n", s.Offer.Why)
	}
	return nil
}
