package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
)

func init() {
	register(command{
		name:    "maker",
		summary: "run a CoinSwap maker (onion service with a fidelity bond), or show its state",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return dispatch(ctx, "maker", map[string]subcommand{
				"run": {"run the maker until SIGINT/SIGTERM", func(ctx context.Context, args []string, _, stderr io.Writer) error {
					return runDaemon(ctx, daemon.RoleMaker, `Run a CoinSwap maker: publish the onion service, create (or adopt) the
fidelity bond, register with every --directory and serve swaps. When the
wallet is short for the bond, the log says how much to send to which address.
Unfinished swaps are resumed or recovered at start.`, args, stderr)
				}},
				"status": {"show a running maker's bond, registrations and reservations", makerStatus},
			}, args, stdout, stderr)
		},
	})
}

func makerStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("maker status", "Show the bond, directory registrations, offer and reservations of the\nmaker running on --datadir.", stderr)
	dataDir := fs.String("datadir", daemon.DefaultDataDir(), "data directory of the running maker")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c := control.NewClient(*dataDir)
	defer c.Close()
	m, err := c.MakerStatus(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, m)
	}
	fmt.Fprintf(stdout, "onion: %s\n", m.Onion)
	if m.Bond != nil {
		fmt.Fprintf(stdout, "bond: %s %s BTC, locked until height %d (%s)\n", m.Bond.OutPoint, sats(m.Bond.Amount), m.Bond.LockHeight, m.Bond.Status)
	}
	if m.BondNeeded != "" {
		fmt.Fprintf(stdout, "bond: %s\n", m.BondNeeded)
	}
	for d, t := range m.Registered {
		when := "never"
		if !t.IsZero() {
			when = t.Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "directory %s: registered %s\n", d, when)
	}
	fmt.Fprintf(stdout, "active swaps: %d\n", m.ActiveSwaps)
	for _, r := range m.Reservations {
		fmt.Fprintf(stdout, "reserved %s BTC for swap %s\n", sats(r.Amount), r.SwapID)
	}
	return nil
}
