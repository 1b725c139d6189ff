package main

import (
	"context"
	"fmt"
	"io"

	"github.com/onionswap/onionswap/tor/tornet"
)

func init() {
	register(command{
		name:    "tornet",
		summary: "run a private Tor network on 127.0.0.1 until Ctrl-C (tests, demo)",
		run:     cmdTornet,
	})
}

func cmdTornet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tornet --dir DIR", `Run a private Tor network (3 directory authorities, 3 relays) on 127.0.0.1
until Ctrl-C, and print its client settings (also in DIR/client.torrc).
Nodes join it with --tor managed --tornet-dir DIR (regtest only). Nothing
contacts the public Tor network.`, stderr)
	dir := fs.String("dir", "", "network directory (keys, torrcs, data, logs); required")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		fs.Usage()
		return fmt.Errorf("%w: --dir is required", errUsage)
	}
	return tornet.Run(ctx, *dir, stdout)
}
