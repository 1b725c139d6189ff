package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/wallet"
)

func init() {
	register(
		blacklistCommand("market blacklist add", "KIND VALUE", 2, "list a party: its offers hidden and not relayed, no swaps with it",
			"List a party in the blacklist of the node running on --datadir. KIND is\n"+
				"origin (a pool key, 64 hex digits), onion (HOST.onion:PORT), bond or\n"+
				"integrity (TXID:VOUT). Its offers leave the book and are no longer\n"+
				"relayed; the taker does not route through a listed onion. Local policy:\n"+
				"nothing is sent to anyone.",
			func(e *env) func(ctx context.Context, c *control.Client) (any, error) {
				reason := e.fs.String("reason", "listed by the operator", "why, a `SENTENCE` kept with the entry")
				d := e.fs.Duration("for", 0, "list for this long, a `DURATION` such as 72h (0: for good)")
				return func(ctx context.Context, c *control.Client) (any, error) {
					return control.Call[[]wallet.BlacklistEntry](ctx, c, http.MethodPost, "/v1/market/blacklist/add",
						market.ListAddRequest{Kind: e.args[0], Value: e.args[1], Reason: *reason, For: d.String()})
				}
			}),
		blacklistCommand("market blacklist remove", "KIND VALUE", 2, "take a party off the blacklist",
			"Take a party off the blacklist of the node running on --datadir (KIND as\nfor add).",
			func(e *env) func(ctx context.Context, c *control.Client) (any, error) {
				return func(ctx context.Context, c *control.Client) (any, error) {
					r, err := control.Call[market.ListRemoveReply](ctx, c, http.MethodPost, "/v1/market/blacklist/remove",
						market.ListRemoveRequest{Kind: e.args[0], Value: e.args[1]})
					if err == nil && !r.Removed {
						return nil, fmt.Errorf("%s %s is not listed", e.args[0], e.args[1])
					}
					return r, err
				}
			}),
		blacklistCommand("market blacklist list", "", 0, "show the blacklist",
			"Show the live entries of the blacklist of the node running on --datadir:\nwhat, why, until when, and where each came from (local, auto: a maker that\nfailed a swap by its own fault or could not be reached, import:SIGNER).",
			func(e *env) func(ctx context.Context, c *control.Client) (any, error) {
				return func(ctx context.Context, c *control.Client) (any, error) {
					return control.Call[[]wallet.BlacklistEntry](ctx, c, http.MethodGet, "/v1/market/blacklist", nil)
				}
			}),
		blacklistCommand("market blacklist export", "", 0, "write the blacklist as a file signed by this node",
			"Write the live entries of the blacklist of the node running on --datadir\n"+
				"as JSON signed by the node's list key (from its seed), to --out or\n"+
				"standard output. Whoever imports it sees who signed it.",
			func(e *env) func(ctx context.Context, c *control.Client) (any, error) {
				out := e.fs.String("out", "", "write to `FILE` (mode 0600) instead of standard output")
				return func(ctx context.Context, c *control.Client) (any, error) {
					f, err := control.Call[market.ListFile](ctx, c, http.MethodGet, "/v1/market/blacklist/export", nil)
					if err != nil || *out == "" {
						return f, err
					}
					fh, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
					if err != nil {
						return nil, err
					}
					if err := printJSON(fh, f); err != nil {
						fh.Close()
						return nil, err
					}
					if err := fh.Close(); err != nil {
						return nil, err
					}
					return fmt.Sprintf("%d entries signed by %s written to %s", len(f.Entries), f.Signer, *out), nil
				}
			}),
		blacklistCommand("market blacklist import", "FILE", 1, "add the entries of a signed blacklist file",
			"Check the signature of a blacklist FILE exported by a node and add its\n"+
				"live entries to the blacklist of the node running on --datadir, marked\n"+
				"as coming from its signer. Local policy only: it is never gossiped.",
			func(e *env) func(ctx context.Context, c *control.Client) (any, error) {
				return func(ctx context.Context, c *control.Client) (any, error) {
					data, err := readBounded(e.args[0], market.MaxListFileSize)
					if err != nil {
						return nil, err
					}
					f, err := market.ParseListFile(data)
					if err != nil {
						return nil, err
					}
					return control.Call[market.ListImportReply](ctx, c, http.MethodPost, "/v1/market/blacklist/import", f)
				}
			}),
	)
}

// blacklistCommand is one `market blacklist` command: a call to the
// running node, its reply printed (as JSON with --json).
func blacklistCommand(path, args string, nargs int, summary, help string,
	setup func(e *env) func(ctx context.Context, c *control.Client) (any, error)) *command {
	return &command{path: path, args: args, nargs: nargs, summary: summary, help: help, opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			call := setup(e)
			return func(ctx context.Context) error {
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				v, err := call(ctx, c)
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(e.stdout, v)
				}
				switch v := v.(type) {
				case []wallet.BlacklistEntry:
					return printBlacklist(e, v)
				case market.ListFile:
					return printJSON(e.stdout, v)
				case market.ListImportReply:
					_, err = fmt.Fprintf(e.stdout, "%d entries imported from %s\n", v.Imported, v.Signer)
				case []maker.ProofSwap:
					return printProofSwaps(e, v)
				case market.TrustReply:
					return printTrust(e, v)
				case market.ListRemoveReply:
					_, err = fmt.Fprintln(e.stdout, "removed")
				case string:
					_, err = fmt.Fprintln(e.stdout, v)
				}
				return err
			}
		},
	}
}

func printBlacklist(e *env, es []wallet.BlacklistEntry) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "kind\tvalue\treason\tuntil\tsource\n")
	for _, x := range es {
		until := "for good"
		if !x.Until.IsZero() {
			until = x.Until.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", x.Kind, x.Value, x.Reason, until, x.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "%d listed\n", len(es))
	return err
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", path, st.Size(), max)
	}
	b := make([]byte, st.Size())
	_, err = io.ReadFull(f, b)
	return b, err
}
