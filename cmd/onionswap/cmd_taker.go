package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
)

func init() {
	register(command{
		name:    "taker",
		summary: "swap coins through a route of makers; recover unfinished swaps",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return dispatch(ctx, "taker", map[string]subcommand{
				"run": {"run a taker daemon (swaps requested through the control socket)", func(ctx context.Context, args []string, _, stderr io.Writer) error {
					return runDaemon(ctx, daemon.RoleTaker, `Run a taker daemon: tor (no onion service), the wallet and its watcher.
Swaps are started with `+"`onionswap taker swap --datadir DIR`"+`, which then talks to
this daemon; unfinished swaps are resumed or recovered at start.`, args, stderr)
				}},
				"swap":    {"run one swap (through a running taker daemon, or one-shot)", takerSwap},
				"recover": {"drive every unfinished swap to its end (idempotent)", takerRecover},
				"swaps":   {"list the swaps of a running node", takerSwaps},
			}, args, stdout, stderr)
		},
	})
}

const takerModes = `If a taker daemon runs on --datadir, the swap is handed to it (and goes on
there if this command is interrupted). Otherwise the command is a one-shot
taker: it starts tor and the wallet itself, runs the swap, prints the report
and exits; the node flags (--rpc-*, --tor*, --directory) then apply.`

func takerSwap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("taker swap --amount A --makers N --tx-count K", "Swap --amount through a route of --makers makers with --tx-count funding\ntransactions per hop, and print the report.\n\n"+takerModes, stderr)
	cfg := daemon.Config{Role: daemon.RoleTaker}
	cfg.RegisterFlags(fs, daemonFlags(daemon.RoleTaker))
	amount := fs.String("amount", "", "amount to swap: sat, or BTC with the unit (0.01btc); required")
	makers := fs.Int("makers", 2, "number of makers in the route")
	txCount := fs.Int("tx-count", 3, "funding transactions per hop")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *amount == "" {
		fs.Usage()
		return fmt.Errorf("%w: --amount is required", errUsage)
	}
	amt, err := parseAmount(*amount)
	if err != nil {
		return err
	}
	if *makers < 1 || *txCount < 1 {
		return fmt.Errorf("%w: --makers and --tx-count must be at least 1", errUsage)
	}
	req := control.TakerSwapRequest{Amount: amt, Makers: *makers, TxCount: *txCount, Directories: cfg.Directories}
	var rep *control.SwapReport
	err = withTaker(ctx, &cfg, stderr, func(h takerAPI) error {
		var err error
		rep, err = h.TakerSwap(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	printReport(stdout, rep)
	return nil
}

// takerAPI is what both a control.Client and an in-process daemon offer.
type takerAPI interface {
	TakerSwap(ctx context.Context, req control.TakerSwapRequest) (*control.SwapReport, error)
	TakerRecover(ctx context.Context) (*control.RecoverReply, error)
	Swaps(ctx context.Context) ([]control.SwapInfo, error)
}

// withTaker runs fn against the daemon on cfg.DataDir, or a one-shot
// in-process taker when none runs.
func withTaker(ctx context.Context, cfg *daemon.Config, stderr io.Writer, fn func(takerAPI) error) error {
	c := control.NewClient(cfg.DataDir)
	defer c.Close()
	if _, err := c.Status(ctx); err == nil {
		return fn(c)
	} else if !errors.Is(err, control.ErrNotRunning) {
		return err
	}
	d, err := daemon.New(*cfg, daemon.Options{Version: version, Stderr: stderr})
	if err != nil {
		return err
	}
	defer d.Stop()
	if err := d.Start(ctx); err != nil {
		return err
	}
	lc := control.NewLocalClient(d.Router())
	defer lc.Close()
	return fn(lc)
}

func takerRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("taker recover", "Drive every unfinished taker swap of --datadir to its end: finish it,\nor claim by hashlock / refund by timelock. Idempotent: running it twice,\nor after a crash in the middle, does no harm.\n\n"+takerModes, stderr)
	cfg := daemon.Config{Role: daemon.RoleTaker}
	cfg.RegisterFlags(fs, daemonFlags(daemon.RoleTaker))
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var rep *control.RecoverReply
	err := withTaker(ctx, &cfg, stderr, func(h takerAPI) error {
		var err error
		rep, err = h.TakerRecover(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	for _, s := range rep.Swaps {
		if !s.Final {
			fmt.Fprintf(stdout, "swap %s: %s\n", s.ID, s.Phase)
		}
	}
	if rep.Unfinished == 0 {
		fmt.Fprintln(stdout, "every swap is finished")
	} else {
		fmt.Fprintf(stdout, "%d swap(s) still unfinished (waiting for a timelock or a confirmation): run again later, or keep a taker daemon running\n", rep.Unfinished)
	}
	return nil
}

func takerSwaps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("taker swaps", "List the swaps of the node running on --datadir (taker or maker).", stderr)
	dataDir := fs.String("datadir", daemon.DefaultDataDir(), "data directory of the running node")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c := control.NewClient(*dataDir)
	defer c.Close()
	ss, err := c.Swaps(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, ss)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\trole\tphase\tamount\toutcome\tupdated\n")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Role, s.Phase, sats(s.Amount), s.Outcome, s.Updated.Format(time.RFC3339))
	}
	return tw.Flush()
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
