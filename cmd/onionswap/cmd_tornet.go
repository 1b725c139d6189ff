package main

import (
	"context"

	"github.com/onionswap/onionswap/tor/tornet"
)

func init() {
	register(&command{
		path:    "tornet",
		summary: "run a private Tor network on 127.0.0.1 until Ctrl-C (tests, demo)",
		args:    "--dir DIR",
		help: `Run a private Tor network (3 directory authorities, 3 relays) on 127.0.0.1
until Ctrl-C, and print its client settings (also in DIR/client.torrc).
Nodes join it with --tor managed --tornet-dir DIR (regtest only). Nothing
contacts the public Tor network.`,
		setup: func(e *env) func(context.Context) error {
			dir := e.fs.String("dir", "", "network directory `DIR` (keys, torrcs, data, logs); required")
			return func(ctx context.Context) error {
				if *dir == "" {
					return e.usagef("--dir is required")
				}
				return tornet.Run(ctx, *dir, e.stdout)
			}
		},
	})
}
