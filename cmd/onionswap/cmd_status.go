package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
)

func init() {
	register(command{
		name:    "status",
		summary: "show the state of the daemon running on a data dir",
		run:     cmdStatus,
	})
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", `Show the state of the onionswap daemon running on --datadir (through its
control socket): role, network, onion address, chain tip, health, readiness.
Exit status 1 when no daemon runs; with --wait, waits until it is ready.`, stderr)
	dataDir := fs.String("datadir", daemon.DefaultDataDir(), "data directory of the daemon")
	asJSON := fs.Bool("json", false, "print JSON")
	wait := fs.Duration("wait", 0, "wait up to this long for the daemon to be ready")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c := control.NewClient(*dataDir)
	defer c.Close()
	var s *control.Status
	var err error
	if *wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, *wait)
		s, err = c.WaitReady(wctx, 500*time.Millisecond)
		cancel()
	} else {
		s, err = c.Status(ctx)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, s)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "role\t%s\n", s.Role)
	fmt.Fprintf(tw, "network\t%s\n", s.Network)
	fmt.Fprintf(tw, "state\t%s (ready=%t healthy=%t)\n", s.State, s.Ready, s.Healthy)
	if s.Onion != "" {
		fmt.Fprintf(tw, "onion\t%s\n", s.Onion)
	}
	fmt.Fprintf(tw, "chain tip\t%d %s\n", s.TipHeight, s.TipHash)
	if s.WalletHeight > 0 {
		fmt.Fprintf(tw, "wallet height\t%d\n", s.WalletHeight)
	}
	if s.ChainError != "" {
		fmt.Fprintf(tw, "chain error\t%s\n", s.ChainError)
	}
	if s.TorError != "" {
		fmt.Fprintf(tw, "tor error\t%s\n", s.TorError)
	}
	if len(s.Faults) > 0 {
		fmt.Fprintf(tw, "faults\t%v\n", s.Faults)
	}
	fmt.Fprintf(tw, "pid\t%d\n", s.PID)
	fmt.Fprintf(tw, "version\t%s\n", s.Version)
	fmt.Fprintf(tw, "up since\t%s\n", s.Started.Format(time.RFC3339))
	return tw.Flush()
}
