package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onionswap/onionswap/node/daemon"
)

// command is one leaf command: `onionswap status`, `onionswap wallet send`.
type command struct {
	// path is the command's words after onionswap: "wallet send".
	path    string
	summary string
	// args is the synopsis after the path ("--to ADDRESS --amount AMOUNT").
	args string
	// nargs: positional arguments the command takes, exactly (0: none);
	// flags may come before, between or after them.
	nargs int
	// variadic: the last argument repeats (nargs or more arguments;
	// after "--" every word is an argument, dashes and all).
	variadic bool
	// help is the paragraph --help prints under the synopsis.
	help string
	// role is the daemon role whose defaults the config starts from
	// (RoleWallet when empty).
	role string
	// opts: the table options it takes (options.go).
	opts uses
	// defaults adjusts the starting config (e.g. no stderr log).
	defaults func(c *daemon.Config)
	hidden   bool
	// setup registers the command's own flags on e.fs and returns the
	// body, run once the flags (and the config file) are parsed.
	setup func(e *env) func(ctx context.Context) error
}

// env is what a command's setup and body get.
type env struct {
	cmd    *command
	fs     *flag.FlagSet
	cfg    *daemon.Config
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// cli holds the names of the flags given on the command line.
	cli map[string]bool
	// conf is the --conf flag's value.
	conf string
	// args are the positional arguments (command.nargs of them).
	args []string
}

// usagef returns a usage error of e's command: exit status 2, the message
// and a pointer to --help.
func (e *env) usagef(format string, a ...any) error {
	return &usageError{path: e.cmd.path, msg: fmt.Sprintf(format, a...)}
}

// usageError is a command line that cannot work as given: exit status 2.
type usageError struct {
	path string // command path, "" for onionswap itself
	msg  string
}

func (u *usageError) Error() string { return u.msg }

// exitError ends the command with code after printing msg (if any) to
// stderr: `status` of a node that is not ready.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// commands, in the order of --help within a group; filled by the
// cmd_*.go files' init functions.
var commands []*command

func register(cs ...*command) {
	for _, c := range cs {
		if findCommand(c.path) != nil {
			panic("duplicate command " + c.path)
		}
		commands = append(commands, c)
	}
}

func findCommand(path string) *command {
	for _, c := range commands {
		if c.path == path {
			return c
		}
	}
	return nil
}

// groupSummaries are the summaries of the commands that have subcommands.
var groupSummaries = map[string]string{
	"chat":             "end-to-end encrypted chat with other nodes: send, inbox, history, status",
	"coinjoin":         "mix coins in CoinJoin rounds with other nodes: start, split, stop, status, rounds, coins",
	"dashboard":        "the local web dashboard: url, password",
	"wallet":           "create or restore the wallet; addresses, balances, coins, send",
	"directory":        "run a maker directory (onion service), or list its entries",
	"maker":            "run a CoinSwap maker (onion service with a fidelity bond), or show its state",
	"taker":            "swap coins through a route of makers; recover unfinished swaps",
	"pool":             "the message pool of a running node: peers, counters, messages",
	"market":           "the swap marketplace of a running node: the offer book, our offer, the blacklist, trust proofs",
	"market blacklist": "the parties whose offers are hidden and not relayed: add, remove, list, export, import",
	"market proofs":    "trust proofs of the maker's completed swaps: list, publish (opt-in per swap)",
}

// subcommands returns the visible commands under group ("" for the top
// level: leaf commands and groups), sorted.
func subcommands(group string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range commands {
		if c.hidden {
			continue
		}
		// The next word after group: a command, or a nested group
		// ("market blacklist").
		words := strings.Fields(c.path)
		depth := len(strings.Fields(group))
		if len(words) <= depth || strings.Join(words[:depth], " ") != group {
			continue
		}
		name := words[depth]
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func summaryOf(path string) string {
	if s, ok := groupSummaries[path]; ok {
		return s
	}
	if c := findCommand(path); c != nil {
		return c.summary
	}
	return ""
}

// newEnv builds the flag set and the starting config of c.
func newEnv(c *command, stdin io.Reader, stdout, stderr io.Writer) (*env, func(context.Context) error) {
	role := c.role
	if role == "" {
		role = daemon.RoleWallet
	}
	cfg := daemon.NewConfig(role)
	if c.defaults != nil {
		c.defaults(&cfg)
	}
	fs := flag.NewFlagSet("onionswap "+c.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	e := &env{cmd: c, fs: fs, cfg: &cfg, stdin: stdin, stdout: stdout, stderr: stderr, cli: map[string]bool{}}
	for _, o := range options {
		if o.uses&c.opts != 0 {
			fs.Var(optValue{o, e.cfg}, o.name, o.usage)
		}
	}
	if c.opts&useNode != 0 {
		fs.StringVar(&e.conf, "conf", "", "config `FILE` (default DATADIR/"+confName+"): key = value lines, keys named as the flags; flags override it")
	}
	var body func(context.Context) error
	if c.setup != nil {
		body = c.setup(e)
	}
	return e, body
}

// runCommand parses args for c and runs it.
func runCommand(ctx context.Context, c *command, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	_, body, err := parseCommand(c, args, stdin, stdout, stderr)
	if err != nil || body == nil {
		return err
	}
	return body(ctx)
}

// parseCommand parses the command line and the config file of c into a
// fresh env and returns it with the body to run (nil after --help).
func parseCommand(c *command, args []string, stdin io.Reader, stdout, stderr io.Writer) (*env, func(context.Context) error, error) {
	e, body := newEnv(c, stdin, stdout, stderr)
	for {
		if err := e.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(stdout, e)
				return e, nil, nil
			}
			return e, nil, e.usagef("%s", flagError(err))
		}
		if e.fs.NArg() == 0 {
			break
		}
		if c.variadic && endOfFlags(args, e.fs.Args()) {
			e.args = append(e.args, e.fs.Args()...)
			break
		}
		if len(e.args) == c.nargs && !c.variadic {
			return e, nil, e.usagef("unexpected argument %q", e.fs.Arg(0))
		}
		// The flag package stops at the first argument: take it and parse
		// the rest, so flags may follow the arguments.
		e.args = append(e.args, e.fs.Arg(0))
		args = e.fs.Args()[1:]
	}
	if len(e.args) < c.nargs {
		least := ""
		if c.variadic {
			least = "at least "
		}
		return e, nil, e.usagef("want %s%d arguments: %s", least, c.nargs, c.args)
	}
	e.fs.Visit(func(f *flag.Flag) { e.cli[f.Name] = true })
	if c.opts&useNode != 0 {
		if err := e.loadConf(); err != nil {
			return e, nil, err
		}
	}
	return e, body, nil
}

// endOfFlags reports whether the flag package stopped parsing args at a
// "--" (it drops it and leaves rest).
func endOfFlags(args, rest []string) bool {
	n := len(args) - len(rest)
	return n > 0 && args[n-1] == "--"
}

// flagError rewords the flag package's parse errors with the double
// dashes --help shows.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	for _, p := range []string{"flag -", "for -", ": -"} {
		msg = strings.ReplaceAll(msg, p, p[:len(p)-1]+"--")
	}
	return msg
}

// dataDirMissing is the error of a command that reads a data dir that is
// not there: it says so instead of creating it.
func dataDirMissing(dir string) error {
	if _, err := os.Stat(dir); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return fmt.Errorf("no onionswap data directory at %s (create a wallet with `onionswap wallet create`)", abs)
}

// printHelp prints c's --help: synopsis, text, its own flags, then the
// node's settings by group.
func printHelp(w io.Writer, e *env) {
	c := e.cmd
	fmt.Fprintf(w, "Usage: onionswap %s", c.path)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, " [flags]\n\n%s\n", strings.TrimSpace(c.help))
	var own []*flag.Flag
	byGroup := map[group][]*flag.Flag{}
	e.fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "conf" {
			byGroup[grpNode] = append(byGroup[grpNode], f)
			return
		}
		if o, ok := optionByName[f.Name]; ok && o.uses&c.opts != 0 {
			byGroup[o.group] = append(byGroup[o.group], f)
			return
		}
		own = append(own, f)
	})
	if len(own) > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		for _, f := range own {
			printFlag(w, f, f.DefValue)
		}
	}
	for g := grpNode; g <= grpTesting; g++ {
		fl := byGroup[g]
		if len(fl) == 0 {
			continue
		}
		// The table's order, not flag's alphabetical one.
		sort.SliceStable(fl, func(i, j int) bool { return optIndex(fl[i].Name) < optIndex(fl[j].Name) })
		title := groupTitles[g]
		fmt.Fprintf(w, "\n%s%s:\n", strings.ToUpper(title[:1]), title[1:])
		for _, f := range fl {
			printFlag(w, f, f.DefValue)
		}
	}
}

// optIndex is the table's order, with --conf right after --datadir.
func optIndex(name string) int {
	if name == "conf" {
		return 1
	}
	for i, o := range options {
		if o.name == name {
			return 2 * i
		}
	}
	return 1 << 30
}

// printFlag prints one flag: "  --name ARG" and its usage, wrapped, with
// the default when it is not the zero value.
func printFlag(w io.Writer, f *flag.Flag, def string) {
	arg, usage := flag.UnquoteUsage(f)
	if o, ok := optionByName[f.Name]; ok {
		arg = o.arg
	} else if isBoolFlag(f) {
		arg = ""
	}
	head := "  --" + f.Name
	if arg != "" {
		head += " " + arg
	}
	switch def {
	case "", "0", "false", "[]":
	default:
		usage += " (default " + def + ")"
	}
	const col = 28
	lines := wrap(usage, 78-col)
	if len(head) < col-1 {
		fmt.Fprintf(w, "%-*s%s\n", col, head, lines[0])
		lines = lines[1:]
	} else {
		fmt.Fprintln(w, head)
	}
	for _, l := range lines {
		fmt.Fprintf(w, "%*s%s\n", col, "", l)
	}
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// wrap splits s into lines of at most width runes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
