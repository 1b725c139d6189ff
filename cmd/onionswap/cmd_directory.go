package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
)

func init() {
	register(&command{
		path:    "directory run",
		summary: "run the directory until SIGINT, SIGTERM or onionswap stop",
		help: `Run a maker directory: an onion service where makers register with a
fidelity-bond proof and takers list them. Entries live in DATADIR/directory.db.
It needs the chain backend (to verify bonds) and tor; no wallet.`,
		role:  daemon.RoleDirectory,
		opts:  useDirectory,
		setup: runNode,
	}, infoCommand("directory entries", "list the makers a running directory holds",
		"List the makers registered with the directory running on --datadir.",
		(*control.Client).DirectoryEntries,
		func(e *env, es []control.DirectoryEntry) error {
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "onion\tbond\tamount\tvalue\texpires\n")
			for _, en := range es {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.4g\t%s\n", en.Onion, en.BondOutPt, sats(en.BondAmount), en.BondValue, en.Expires.Format("15:04:05"))
			}
			return tw.Flush()
		}))
}

// infoClient is the control client of a command that only asks a running
// node: it refuses a data dir that does not exist rather than create it.
// infoCommand is a command that asks the node running on --datadir one
// question (get) and prints the answer: as JSON with --json, else with
// show.
func infoCommand[T any](path, summary, help string, get func(*control.Client, context.Context) (T, error),
	show func(e *env, v T) error) *command {
	return &command{path: path, summary: summary, help: help, opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			return func(ctx context.Context) error {
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				v, err := get(c, ctx)
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, v)
				}
				return show(e, v)
			}
		},
	}
}

func infoClient(e *env) (*control.Client, error) {
	if err := dataDirMissing(e.cfg.DataDir); err != nil {
		return nil, err
	}
	return control.NewClient(e.cfg.DataDir), nil
}
