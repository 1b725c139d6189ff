// Command onionswap is a Tor-native Bitcoin privacy node: CoinSwap taker,
// maker and directory, offer pool and CoinJoin, each reachable only as a v3
// onion service. See README.md.
//
// Exit status: 0 success (and --help), 1 failure (`status`: the node is
// not ready or not running), 2 a command line that cannot work (unknown
// command or flag, a required flag missing, an invalid setting).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/onionswap/onionswap/node/daemon"
)

// version and commit are set at build time with -ldflags
// "-X main.version=... -X main.commit=..." (make build does); otherwise
// the commit comes from the build's VCS stamp, when there is one.
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it runs the command args names and returns the
// exit status, having printed any error to stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	path, err := runArgs(ctx, args, stdin, stdout, stderr)
	if err == nil {
		return exitOK
	}
	prefix := "onionswap"
	if path != "" {
		prefix += " " + path
	}
	var ue *usageError
	var ee *exitError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s\n", prefix, ue.msg)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", prefix)
		return exitUsage
	case errors.Is(err, daemon.ErrConfig):
		fmt.Fprintf(stderr, "%s: %s\n", prefix, err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", prefix)
		return exitUsage
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintf(stderr, "%s: %s\n", prefix, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "%s: %s\n", prefix, err)
	return exitFailure
}

// runArgs finds the command of args and runs it; it returns the command's
// path (for messages) and its error.
func runArgs(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (string, error) {
	if len(args) == 0 {
		usage(stderr)
		return "", &exitError{code: exitUsage}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			// `onionswap help wallet send` is `onionswap wallet send --help`.
			return runArgs(ctx, append(args[1:len(args):len(args)], "--help"), stdin, stdout, stderr)
		}
		usage(stdout)
		return "", nil
	case "-version", "--version":
		return "", printVersion(stdout)
	}
	if c := findCommand(args[0]); c != nil {
		return c.path, runCommand(ctx, c, args[1:], stdin, stdout, stderr)
	}
	group := args[0]
	if _, ok := groupSummaries[group]; !ok {
		return "", &usageError{msg: fmt.Sprintf("unknown command %q", group)}
	}
	if len(args) == 1 {
		groupUsage(stderr, group)
		return group, &exitError{code: exitUsage}
	}
	switch args[1] {
	case "-h", "-help", "--help", "help":
		groupUsage(stdout, group)
		return group, nil
	}
	c := findCommand(group + " " + args[1])
	if _, nested := groupSummaries[group+" "+args[1]]; c == nil && nested {
		return runArgs(ctx, append([]string{group + " " + args[1]}, args[2:]...), stdin, stdout, stderr)
	}
	if c == nil {
		return group, &usageError{path: group, msg: fmt.Sprintf("unknown command %q", args[1])}
	}
	return c.path, runCommand(ctx, c, args[2:], stdin, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "onionswap %s: a Tor-native Bitcoin privacy node\n\nUsage: onionswap <command> [flags]\n\nCommands:\n", version)
	for _, n := range subcommands("") {
		fmt.Fprintf(w, "  %-10s %s\n", n, summaryOf(n))
	}
	fmt.Fprintln(w, "\nRun 'onionswap <command> --help' for a command's flags. Settings may also come")
	fmt.Fprintln(w, "from DATADIR/"+confName+" (see --conf).")
	fmt.Fprintln(w, "\nExit status: 0 success, 1 failure, 2 a command line that cannot work.")
}

func groupUsage(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: onionswap %s <command> [flags]\n\n%s.\n\nCommands:\n", group, summaryOf(group))
	for _, n := range subcommands(group) {
		fmt.Fprintf(w, "  %-10s %s\n", n, summaryOf(group+" "+n))
	}
	fmt.Fprintf(w, "\nRun 'onionswap %s <command> --help' for its flags.\n", group)
}

// buildVersion returns the version, the commit it was built from and the
// Go version. The commit comes from the build's VCS stamp (go build in a
// git checkout); -ldflags -X main.version=... sets the version.
func buildVersion() (ver, rev, goVersion string) {
	ver, rev, goVersion = version, "unknown", runtime.Version()
	if commit != "" {
		rev = commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = bi.Main.Version // go install ...@v1.2.3
	}
	var vcsRev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			vcsRev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if commit == "" && vcsRev != "" {
		rev = vcsRev
		if modified == "true" {
			rev += " (modified)"
		}
	}
	if bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	return
}

func printVersion(w io.Writer) error {
	ver, commit, gov := buildVersion()
	_, err := fmt.Fprintf(w, "onionswap %s\ncommit %s\n%s %s/%s\n", ver, commit, gov, runtime.GOOS, runtime.GOARCH)
	return err
}

func init() {
	register(&command{
		path:    "version",
		summary: "print the version, the commit and the Go version",
		help:    "Print the version, the commit it was built from and the Go version (also: onionswap --version).",
		opts:    0,
		setup: func(e *env) func(context.Context) error {
			return func(context.Context) error { return printVersion(e.stdout) }
		},
	})
}
