package tornet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Run is the body of `onionswap tornet --dir D`: it starts a private
// network in dir, prints the client settings (also in DIR/client.torrc),
// runs until ctx is cancelled (the caller cancels it on SIGINT/SIGTERM)
// and stops every tor it started before returning.
func Run(ctx context.Context, dir string, out io.Writer) (err error) {
	n, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Stop()) }()
	tm := n.Timings()
	fmt.Fprintf(out, "private Tor network ready in %v (time to consensus %v), %d tor processes, pids %v\n",
		tm.Total.Round(time.Millisecond), tm.Consensus.Round(time.Millisecond), len(n.PIDs()), n.PIDs())
	fmt.Fprintf(out, "client torrc: %s\n", n.ClientTorrcPath())
	fmt.Fprintf(out, "client torrc lines:\n  %s\n", strings.Join(n.ClientTorrcLines(), "\n  "))
	fmt.Fprintf(out, "tor arguments for a client:\n  %s\n", shellQuote(n.ClientArgs()))
	fmt.Fprintln(out, "running until interrupted (Ctrl-C)")
	<-ctx.Done()
	fmt.Fprintln(out, "stopping the private Tor network")
	return nil
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'$") || a == "" {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
