package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/onionswap/onionswap/node/control"
)

func init() {
	register(&command{
		path:    "status",
		summary: "show the state of the node running on a data dir; exit 0 only when it is ready",
		help: `Show the state of the onionswap node running on --datadir (through its
control socket): role, network, onion address, chain tip, health, what
keeps it from being ready, and each service's readiness.

Exit status: 0 when the node is ready; 1 when it is not ready (the output
says what blocks it) or no node runs. Scripts and health checks can use
it as is; with --wait it waits up to that long for readiness.`,
		opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			wait := e.fs.Duration("wait", 0, "wait up to `DURATION` for the node to be ready")
			return func(ctx context.Context) error { return cmdStatus(ctx, e, *asJSON, *wait) }
		},
	})
}

// notReady ends `status` with exit status 1 after the output said why.
var notReady = &exitError{code: exitFailure}

func cmdStatus(ctx context.Context, e *env, asJSON bool, wait time.Duration) error {
	if err := dataDirMissing(e.cfg.DataDir); err != nil {
		return err
	}
	c := control.NewClient(e.cfg.DataDir)
	defer c.Close()
	s, err := c.Status(ctx)
	if wait > 0 && (err == nil && !s.Ready || errors.Is(err, control.ErrNotRunning)) {
		wctx, cancel := context.WithTimeout(ctx, wait)
		var ws *control.Status
		ws, err = c.WaitReady(wctx, 500*time.Millisecond)
		cancel()
		if ws != nil && (err == nil || ws.State != "") {
			s, err = ws, nil
		}
	}
	if err != nil {
		return err
	}
	if asJSON {
		if err := printJSON(e.stdout, s); err != nil {
			return err
		}
	} else {
		printStatus(e, s)
	}
	if !s.Ready {
		return notReady
	}
	return nil
}

func printStatus(e *env, s *control.Status) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if s.Ready {
		fmt.Fprintf(tw, "ready\tyes\n")
	} else {
		fmt.Fprintf(tw, "ready\tno: %s\n", s.Blocker)
	}
	fmt.Fprintf(tw, "role\t%s\n", s.Role)
	fmt.Fprintf(tw, "network\t%s\n", s.Network)
	fmt.Fprintf(tw, "state\t%s (healthy=%t)\n", s.State, s.Healthy)
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
	if s.Onion != "" {
		pow := "off (on needs tor 0.4.9 or later; off on regtest)"
		if s.TorPoWDefense {
			pow = "on"
		}
		fmt.Fprintf(tw, "onion PoW defence\t%s\n", pow)
	}
	if s.ChatUnread > 0 {
		fmt.Fprintf(tw, "chat\t%d unread\n", s.ChatUnread)
	}
	if len(s.Faults) > 0 {
		fmt.Fprintf(tw, "faults\t%v\n", s.Faults)
	}
	fmt.Fprintf(tw, "pid\t%d\n", s.PID)
	fmt.Fprintf(tw, "version\t%s\n", s.Version)
	fmt.Fprintf(tw, "up since\t%s\n", s.Started.Format(time.RFC3339))
	tw.Flush()
	if len(s.Services) == 0 {
		return
	}
	names := make([]string, 0, len(s.Services))
	for n := range s.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(e.stdout, "services:")
	for _, n := range names {
		if r := s.Services[n]; r.Ready {
			fmt.Fprintf(e.stdout, "  %s ready\n", n)
		} else {
			fmt.Fprintf(e.stdout, "  %s: %s\n", n, r.Blocker)
		}
	}
}
