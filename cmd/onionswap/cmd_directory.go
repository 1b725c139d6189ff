package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
)

func init() {
	register(command{
		name:    "directory",
		summary: "run a maker directory (onion service), or list its entries",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return dispatch(ctx, "directory", map[string]subcommand{
				"run": {"run the directory until SIGINT/SIGTERM", func(ctx context.Context, args []string, _, stderr io.Writer) error {
					return runDaemon(ctx, daemon.RoleDirectory, `Run a maker directory: an onion service where makers register with a
fidelity-bond proof and takers list them. Entries live in DATADIR/directory.db.
It needs the chain backend (to verify bonds) and tor; no wallet.`, args, stderr)
				}},
				"entries": {"list the makers a running directory holds", directoryEntries},
			}, args, stdout, stderr)
		},
	})
}

func directoryEntries(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("directory entries", "List the makers registered with the directory running on --datadir.", stderr)
	dataDir := fs.String("datadir", daemon.DefaultDataDir(), "data directory of the running directory")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c := control.NewClient(*dataDir)
	defer c.Close()
	es, err := c.DirectoryEntries(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, es)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "onion\tbond\tamount\tvalue\texpires\n")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4g\t%s\n", e.Onion, e.BondOutPt, sats(e.BondAmount), e.BondValue, e.Expires.Format("15:04:05"))
	}
	return tw.Flush()
}
