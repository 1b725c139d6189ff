package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/onionswap/onionswap/node/daemon"
)

// subcommand is one `onionswap <group> <name>`.
type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// dispatch runs the subcommand named by args[0] of group.
func dispatch(ctx context.Context, group string, subs map[string]subcommand, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		fmt.Fprintf(w, "Usage: onionswap %s <command> [flags]\n\nCommands:\n", group)
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %-10s %s\n", n, subs[n].summary)
		}
		fmt.Fprintf(w, "\nRun 'onionswap %s <command> --help' for its flags.\n", group)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	s, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q for onionswap %s (try --help)", args[0], group)
	}
	return s.run(ctx, args[1:], stdout, stderr)
}

// parseFlags parses args into fs and refuses positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// daemonFlags are the flags of a long-running role.
func daemonFlags(role string) daemon.FlagGroup {
	g := daemon.FlagsBase | daemon.FlagsChain | daemon.FlagsTor | daemon.FlagsRole
	switch role {
	case daemon.RoleMaker:
		g |= daemon.FlagsMaker
	case daemon.RoleTaker:
		g |= daemon.FlagsTaker
	}
	return g
}

// runDaemon is the body of `onionswap <role> run`.
func runDaemon(ctx context.Context, role, synopsis string, args []string, stderr io.Writer) error {
	fs := newFlagSet(role+" run", synopsis, stderr)
	cfg := daemon.Config{Role: role}
	cfg.RegisterFlags(fs, daemonFlags(role))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, err := daemon.New(cfg, daemon.Options{Version: version, Stderr: stderr})
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sats formats satoshis as BTC with 8 decimals.
func sats(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%08d", sign, v/1e8, v%1e8)
}

// parseAmount accepts satoshis ("150000") or BTC with a unit ("0.0015btc").
func parseAmount(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	bad := fmt.Errorf("amount %q: want satoshis (150000) or BTC with the unit (0.0015btc)", s)
	if b, ok := strings.CutSuffix(s, "btc"); ok {
		whole, frac, _ := strings.Cut(strings.TrimSpace(b), ".")
		if len(frac) > 8 || (whole == "" && frac == "") {
			return 0, bad
		}
		frac += strings.Repeat("0", 8-len(frac))
		if whole == "" {
			whole = "0"
		}
		w, err1 := strconv.ParseUint(whole, 10, 32)
		f, err2 := strconv.ParseUint(frac, 10, 32)
		if err1 != nil || err2 != nil || w > 21e6 {
			return 0, bad
		}
		return int64(w)*1e8 + int64(f), nil
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(s, "sat"), 10, 63)
	if err != nil || v > 21e14 {
		return 0, bad
	}
	return int64(v), nil
}
