package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/onionswap/onionswap/node/control"
)

// stopPoll: how often `stop` looks whether the socket is gone.
const stopPoll = 100 * time.Millisecond

func init() {
	register(&command{
		path:    "stop",
		summary: "stop the node running on a data dir, gracefully",
		help: `Ask the node running on --datadir to stop (through its control socket),
as SIGTERM would, and wait until it has stopped: its services closed, the
wallet closed, the control socket removed. systemd's ExecStop.

Exit status: 0 once stopped; 1 when no node runs on the data dir, or it
did not stop within --timeout.`,
		opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			timeout := e.fs.Duration("timeout", 2*time.Minute, "wait up to `DURATION` for the node to stop")
			return func(ctx context.Context) error { return cmdStop(ctx, e, *timeout) }
		},
	})
}

func cmdStop(ctx context.Context, e *env, timeout time.Duration) error {
	dir := e.cfg.DataDir
	c := control.NewClient(dir)
	defer c.Close()
	if err := c.Stop(ctx); err != nil {
		if errors.Is(err, control.ErrNotRunning) {
			return fmt.Errorf("no daemon running on %s", dir)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "stopping the node on %s\n", dir)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(stopPoll)
	defer t.Stop()
	for {
		if _, err := os.Lstat(control.SocketPath(dir)); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(e.stdout, "stopped")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the node on %s did not stop within %s (its log says why)", dir, timeout)
		case <-t.C:
		}
	}
}
