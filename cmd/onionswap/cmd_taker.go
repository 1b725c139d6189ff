package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
)

const takerModes = `If a taker daemon runs on --datadir, the command goes to it (and a swap
goes on there if this command is interrupted). Otherwise the command is a
one-shot taker: it starts tor and the wallet itself, does its work, prints
the report and exits; the node's settings (--rpc-*, --tor*, --directory)
then apply.`

func init() {
	register(&command{
		path:    "taker run",
		summary: "run a taker daemon (swaps requested through the control socket)",
		help: `Run a taker daemon: tor, the wallet and its watcher. Swaps are started with
onionswap taker swap --datadir DIR, which then talks to this daemon;
unfinished swaps are resumed or recovered at start. It finds makers in its
message pool's offer book (it needs a --pool-peer to join the pool) and
through its --directory list.`,
		role:     daemon.RoleTaker,
		opts:     useTaker,
		defaults: func(c *daemon.Config) { c.NeedMakers = true },
		setup:    runNode,
	}, &command{
		path:    "taker swap",
		summary: "run one swap (through a running taker daemon, or one-shot)",
		args:    "--amount AMOUNT [--makers N | --offer ONION ...] [--tx-count K]",
		help: "Swap --amount through a route of --makers makers with --tx-count funding\ntransactions per hop, and print the report. The makers are chosen from the\n" +
			"offer book and the directories, weighted by bond value, or named with\n--offer (repeated, one per maker, as market offers lists them).\n\n" + takerModes,
		role: daemon.RoleTaker,
		opts: useTaker,
		setup: func(e *env) func(context.Context) error {
			amount := e.fs.String("amount", "", "`AMOUNT` to swap: sat, or BTC with the unit (0.01btc); required")
			makers := e.fs.Int("makers", 2, "number of makers `N` in the route")
			txCount := e.fs.Int("tx-count", 3, "funding transactions per hop (`K`)")
			var offers stringsFlag
			e.fs.Var(&offers, "offer", "route through the maker of the offer at `ONION` (repeatable, in route order)")
			asJSON := e.fs.Bool("json", false, "print the report as JSON")
			return func(ctx context.Context) error {
				if *amount == "" {
					return e.usagef("--amount is required")
				}
				amt, err := parseAmount(*amount)
				if err != nil {
					return e.usagef("--amount: %v", err)
				}
				if len(offers) > 0 {
					explicit := false
					e.fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "makers" })
					if explicit && *makers != len(offers) {
						return e.usagef("--makers %d with %d --offer: name one offer per maker", *makers, len(offers))
					}
					*makers = len(offers)
				}
				if *makers < 1 {
					return e.usagef("--makers %d: a route needs at least 1 maker", *makers)
				}
				if *txCount < 1 {
					return e.usagef("--tx-count %d: at least 1 funding transaction per hop", *txCount)
				}
				req := control.TakerSwapRequest{Amount: amt, Makers: *makers, TxCount: *txCount, Offers: offers}
				if e.cli["directory"] {
					req.Directories = e.cfg.Directories
				}
				var rep *control.SwapReport
				err = withTaker(ctx, e, true, func(ctx context.Context, h takerAPI) error {
					var err error
					rep, err = h.TakerSwap(ctx, req)
					return err
				})
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, rep)
				}
				printReport(e.stdout, rep)
				return nil
			}
		},
	}, &command{
		path:    "taker recover",
		summary: "drive every unfinished swap to its end (idempotent)",
		help: `Drive every unfinished taker swap of --datadir to its end: finish it, or
claim by hashlock / refund by timelock. Idempotent: running it twice, or
after a crash in the middle, does no harm. It needs no --directory: the
makers of a swap to recover may be gone.

` + takerModes,
		role: daemon.RoleTaker,
		opts: useTaker,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			return func(ctx context.Context) error {
				var rep *control.RecoverReply
				err := withTaker(ctx, e, false, func(ctx context.Context, h takerAPI) error {
					var err error
					rep, err = h.TakerRecover(ctx)
					return err
				})
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, rep)
				}
				for _, s := range rep.Swaps {
					if !s.Final {
						fmt.Fprintf(e.stdout, "swap %s: %s\n", s.ID, s.Phase)
					}
				}
				if rep.Unfinished == 0 {
					fmt.Fprintln(e.stdout, "every swap is finished")
				} else {
					fmt.Fprintf(e.stdout, "%d swap(s) still unfinished (waiting for a timelock or a confirmation): run again later, or keep a taker daemon running\n", rep.Unfinished)
				}
				return nil
			}
		},
	}, infoCommand("taker swaps", "list the swaps of a running node",
		"List the swaps of the node running on --datadir (taker or maker), each\n"+
			"with its chat conversation when there is one (chat send --swap ID): its\n"+
			"unread messages and its id, which chat history shows.",
		swapsWithChat,
		func(e *env, ss []swapWithChat) error {
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "id\trole\tphase\tamount\toutcome\tupdated\tchat\n")
			for _, s := range ss {
				c := "-"
				if s.Chat != nil {
					c = fmt.Sprintf("%d unread (conversation %s)", s.Chat.Unread, s.Chat.ID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Role, s.Phase, sats(s.Amount), s.Outcome,
					s.Updated.Format(time.RFC3339), c)
			}
			return tw.Flush()
		}))
}

// swapWithChat is a swap and its chat conversation, if any.
type swapWithChat struct {
	control.SwapInfo
	Chat *chat.Conversation `json:"chat,omitempty"`
}

// swapsWithChat lists the node's swaps with the conversations tied to
// them (a node without chat lists the swaps alone).
func swapsWithChat(c *control.Client, ctx context.Context) ([]swapWithChat, error) {
	ss, err := c.Swaps(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*chat.Conversation{}
	convs, err := control.Call[[]chat.Conversation](ctx, c, http.MethodGet, "/v1/chat/inbox", nil)
	if err != nil && !errors.Is(err, control.ErrNotAvailable) {
		return nil, err
	}
	for i := range convs {
		if id, ok := strings.CutPrefix(convs[i].Context, "swap "); ok && byID[id] == nil {
			byID[id] = &convs[i] // the most recent first
		}
	}
	out := make([]swapWithChat, len(ss))
	for i, s := range ss {
		out[i] = swapWithChat{SwapInfo: s, Chat: byID[s.ID]}
		for _, l := range s.Legs { // a taker's chat with a maker is under that maker's id
			if out[i].Chat == nil {
				out[i].Chat = byID[l.ID]
			}
		}
	}
	return out, nil
}

// takerAPI is what both a control.Client and an in-process daemon offer.
type takerAPI interface {
	TakerSwap(ctx context.Context, req control.TakerSwapRequest) (*control.SwapReport, error)
	TakerRecover(ctx context.Context) (*control.RecoverReply, error)
	Swaps(ctx context.Context) ([]control.SwapInfo, error)
}

// withTaker runs fn against the daemon on the data dir, or a one-shot
// in-process taker when none runs (needMakers: it must find makers). The
// one-shot node serves the control socket too, so `taker swaps` and
// `onionswap stop` reach it from another shell.
func withTaker(ctx context.Context, e *env, needMakers bool, fn func(context.Context, takerAPI) error) error {
	c := control.NewClient(e.cfg.DataDir)
	defer c.Close()
	if _, err := c.Status(ctx); err == nil {
		return fn(ctx, c)
	} else if !errors.Is(err, control.ErrNotRunning) {
		return err
	}
	cfg := *e.cfg
	cfg.NeedMakers = needMakers
	// FailFast: someone waits on this command; a chain backend that does
	// not answer is an error to report, not a wait without end.
	d, err := daemon.New(cfg, daemon.Options{Version: version, Stderr: e.stderr, FailFast: true})
	if err != nil {
		return err
	}
	defer d.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = d.Wait(ctx) // a fatal error or `onionswap stop` ends fn too
		cancel()
	}()
	if err := d.Start(ctx); err != nil {
		return err
	}
	lc := control.NewLocalClient(d.Router())
	defer lc.Close()
	return fn(ctx, lc)
}

// printReport prints a swap report for people.
func printReport(w io.Writer, r *control.SwapReport) {
	fmt.Fprintf(w, "swap %s: %s (%d makers, %d funding txs per hop, %s)\n", r.SwapID, r.Outcome, r.Makers, r.TxCount, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  sent      %s BTC\n", sats(r.AmountSent))
	fmt.Fprintf(w, "  received  %s BTC\n", sats(r.AmountReceived))
	var fees int64
	for _, f := range r.MakerFees {
		fmt.Fprintf(w, "  maker %d fee %d sat + mining-fee reimbursement %d sat\n", f.Hop, f.Fee, f.Reimbursement)
		fees += f.Fee + f.Reimbursement
	}
	fmt.Fprintf(w, "  mining fees paid by the taker %d sat; total cost %d sat\n", r.MiningFees, fees+r.MiningFees)
	if len(r.Phases) > 0 {
		parts := make([]string, 0, len(r.Phases))
		for _, p := range r.Phases {
			parts = append(parts, fmt.Sprintf("%s %s", p.Name, p.Duration.Round(time.Millisecond)))
		}
		fmt.Fprintf(w, "  phases: %s\n", strings.Join(parts, ", "))
	}
}

// stringsFlag is a repeatable string flag (also comma-separated).
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*s = append(*s, x)
		}
	}
	return nil
}
