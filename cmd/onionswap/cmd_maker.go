package main

import (
	"fmt"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
)

func init() {
	register(&command{
		path:    "maker run",
		summary: "run the maker until SIGINT, SIGTERM or onionswap stop",
		help: `Run a CoinSwap maker: publish the onion service, create (or adopt) the
fidelity bond, register with every --directory and serve swaps. When the
wallet is short for the bond, the log says how much to send to which address.
Unfinished swaps are resumed or recovered at start.`,
		role:  daemon.RoleMaker,
		opts:  useMaker,
		setup: runNode,
	}, infoCommand("maker status", "show a running maker's bond, registrations and reservations",
		"Show the bond, directory registrations, offer and reservations of the\nmaker running on --datadir.",
		(*control.Client).MakerStatus,
		func(e *env, m *control.MakerStatus) error {
			w := e.stdout
			fmt.Fprintf(w, "onion: %s\n", m.Onion)
			if m.Bond != nil {
				fmt.Fprintf(w, "bond: %s %s BTC, locked until height %d (%s)\n", m.Bond.OutPoint, sats(m.Bond.Amount), m.Bond.LockHeight, m.Bond.Status)
			}
			if m.BondNeeded != "" {
				fmt.Fprintf(w, "bond: %s\n", m.BondNeeded)
			}
			for d, t := range m.Registered {
				when := "never"
				if !t.IsZero() {
					when = t.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "directory %s: registered %s\n", d, when)
			}
			fmt.Fprintf(w, "active swaps: %d\n", m.ActiveSwaps)
			for _, r := range m.Reservations {
				fmt.Fprintf(w, "reserved %s BTC for swap %s\n", sats(r.Amount), r.SwapID)
			}
			return nil
		}))
}
