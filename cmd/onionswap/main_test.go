package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// cli runs onionswap with args as main would and returns the exit status
// and what it printed.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// privateDir is an empty data dir of mode 0700, as onionswap wants it.
func privateDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// allPaths is every command, hidden ones included.
func allPaths() []string {
	var ps []string
	for _, c := range commands {
		ps = append(ps, c.path)
	}
	return ps
}

// garbled matches a placeholder the flag package makes up from a type
// (or from a backquoted word it took for the argument name).
var garbled = regexp.MustCompile("--[a-z-]+ (string|int|int64|uint|uint64|float64|duration|value)\\b|`")

func TestEveryCommandHasHelp(t *testing.T) {
	for _, p := range allPaths() {
		for _, h := range []string{"--help", "-h"} {
			t.Run(p+" "+h, func(t *testing.T) {
				code, out, errs := cli(t, "", append(strings.Fields(p), h)...)
				if code != 0 || errs != "" {
					t.Fatalf("exit %d, stderr %q", code, errs)
				}
				if !strings.HasPrefix(out, "Usage: onionswap "+p) {
					t.Fatalf("help:\n%s", out)
				}
				if m := garbled.FindString(out); m != "" {
					t.Fatalf("garbled placeholder %q in:\n%s", m, out)
				}
				if c := findCommand(p); c.opts&useInfo != 0 && !strings.Contains(out, "--datadir DIR") {
					t.Fatalf("no --datadir:\n%s", out)
				}
			})
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"wallet", "--help"}, {"taker", "help"}, {"help", "maker"}} {
		code, out, errs := cli(t, "", args...)
		if code != 0 || errs != "" || !strings.Contains(out, "Commands:") {
			t.Fatalf("%v: exit %d, stderr %q, stdout:\n%s", args, code, errs, out)
		}
	}
	_, out, _ := cli(t, "", "help", "wallet", "send")
	if !strings.HasPrefix(out, "Usage: onionswap wallet send") {
		t.Fatalf("help wallet send:\n%s", out)
	}
	if _, out, _ := cli(t, "", "--help"); strings.Contains(out, "config") {
		t.Fatalf("a hidden command is listed:\n%s", out)
	}
}

// TestHelpGroups: a run command's --help groups the settings, and the
// test-only knobs appear only under "Testing (regtest only)".
func TestHelpGroups(t *testing.T) {
	_, out, _ := cli(t, "", "maker", "run", "--help")
	var order []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, ":") && !strings.HasPrefix(l, " ") {
			order = append(order, l)
		}
	}
	want := []string{"Node:", "Chain backend:", "Tor:", "Maker:", "CoinJoin:", "Logging:", "Testing (regtest only):"}
	if strings.Join(order, "|") != strings.Join(want, "|") {
		t.Fatalf("groups %q, want %q:\n%s", order, want, out)
	}
	before, testing, _ := strings.Cut(out, "Testing (regtest only):")
	for _, knob := range []string{"--fault", "--chain-poll", "--health-interval", "--idle-timeout", "--tornet-dir"} {
		if strings.Contains(before, knob+" ") || !strings.Contains(testing, knob+" ") {
			t.Errorf("%s is not (only) under testing", knob)
		}
	}
	_, out, _ = cli(t, "", "taker", "recover", "--help")
	if _, testing, _ := strings.Cut(out, "Testing (regtest only):"); !strings.Contains(testing, "--keepalive-interval ") {
		t.Errorf("taker: --keepalive-interval is not under testing:\n%s", out)
	}
	_, out, _ = cli(t, "", "wallet", "balance", "--help")
	if strings.Contains(out, "--tor ") || strings.Contains(out, "Testing") || !strings.Contains(out, "--rpc-host HOST:PORT") {
		t.Errorf("wallet balance takes the chain settings only:\n%s", out)
	}
}

// TestUsageErrors: a command line that cannot work exits 2 and says what
// is wrong in one line plus a pointer to --help, never the flag list.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	reg := []string{"--datadir", dir, "--network", "regtest", "--rpc-host", "127.0.0.1:1", "--rpc-notls", "--rpc-user", "u", "--rpc-pass", "p"}
	tests := []struct {
		name string
		args []string
		want string // the first line of stderr
	}{
		{"no command", nil, ""},
		{"unknown command", []string{"frobnicate"}, `onionswap: unknown command "frobnicate"`},
		{"group without command", []string{"wallet"}, ""},
		{"unknown subcommand", []string{"wallet", "steal"}, `onionswap wallet: unknown command "steal"`},
		{"unknown flag", []string{"status", "--bogus"}, "onionswap status: unknown flag --bogus"},
		{"bad flag value", []string{"status", "--wait", "soon"}, `onionswap status: invalid value "soon" for flag --wait: parse error`},
		{"positional argument", []string{"status", "--datadir", dir, "extra"}, `onionswap status: unexpected argument "extra"`},
		{"swap without amount", []string{"taker", "swap", "--datadir", dir}, "onionswap taker swap: --amount is required"},
		{"swap with bad amount", []string{"taker", "swap", "--datadir", dir, "--amount", "lots"}, "onionswap taker swap: --amount: amount \"lots\""},
		{"swap with no maker", []string{"taker", "swap", "--datadir", dir, "--amount", "100000", "--makers", "0"}, "onionswap taker swap: --makers 0: a route needs at least 1 maker"},
		{"swap with no tx", []string{"taker", "swap", "--datadir", dir, "--amount", "100000", "--tx-count", "0"}, "onionswap taker swap: --tx-count 0"},
		{"send without to", []string{"wallet", "send", "--datadir", dir, "--amount", "1000"}, "onionswap wallet send: --to is required"},
		{"send without amount", []string{"wallet", "send", "--datadir", dir, "--to", "bcrt1qx"}, "onionswap wallet send: --amount is required (or --max)"},
		{"send amount and max", []string{"wallet", "send", "--datadir", dir, "--to", "bcrt1qx", "--amount", "5", "--max"}, "onionswap wallet send: give --amount or --max, not both"},
		{"fee rate below relay", []string{"wallet", "send", "--to", "x", "--amount", "5", "--fee-rate", "0.5"}, "onionswap wallet send: --fee-rate: fee rate 0.5 sat/vB is below the minimum relay fee of 1 sat/vB"},
		{"fee rate in sat/kvB", []string{"wallet", "send", "--to", "x", "--amount", "5", "--fee-rate", "2000"}, "onionswap wallet send: --fee-rate: fee rate 2000 sat/vB is above the 1000 sat/vB sanity limit"},
		{"create bad words", []string{"wallet", "create", "--datadir", dir, "--words", "13"}, "onionswap wallet create: --words 13: want 12 or 24"},
		{"tornet without dir", []string{"tornet"}, "onionswap tornet: --dir is required"},
		{"regtest without dir", []string{"regtest"}, "onionswap regtest: --dir is required"},
		{"fault on mainnet", []string{"maker", "run", "--datadir", dir, "--rpc-user", "u", "--rpc-pass", "p",
			"--directory", testOnion, "--fault", "crash-after=setup"}, "onionswap maker run: invalid configuration: --fault is accepted only on regtest (network is mainnet)"},
		{"taker run without directory", append([]string{"taker", "run"}, reg...), "onionswap taker run: invalid configuration: a taker needs at least one --directory or --pool-peer"},
		{"notls to a name", []string{"wallet", "balance", "--datadir", dir, "--rpc-host", "127.attacker.invalid:8332", "--rpc-notls", "--rpc-user", "u", "--rpc-pass", "p"},
			"onionswap wallet balance: invalid configuration: --rpc-notls to 127.attacker.invalid:8332"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, "", tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, errs)
			}
			if out != "" && tc.want != "" {
				t.Fatalf("stdout %q", out)
			}
			if tc.want == "" {
				if !strings.Contains(errs, "Usage:") {
					t.Fatalf("no usage:\n%s", errs)
				}
				return
			}
			ls := strings.Split(strings.TrimSpace(errs), "\n")
			if !strings.HasPrefix(ls[0], tc.want) {
				t.Fatalf("stderr:\n%s\nwant first line %q", errs, tc.want)
			}
			if len(ls) != 2 || !strings.HasPrefix(ls[1], "Run 'onionswap") {
				t.Fatalf("stderr is not the message and a pointer to --help:\n%s", errs)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("refused commands wrote into the data dir: %v", ents)
	}
}

// TestFailures: what cannot be done exits 1 with one line saying why.
func TestFailures(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"status without data dir", []string{"status", "--datadir", missing}, "onionswap status: no onionswap data directory at " + missing + " (create a wallet with `onionswap wallet create`)"},
		{"status without daemon", []string{"status", "--datadir", empty}, "onionswap status: no onionswap daemon is running"},
		{"stop without daemon", []string{"stop", "--datadir", empty}, "onionswap stop: no daemon running on " + empty},
		{"stop without data dir", []string{"stop", "--datadir", missing}, "onionswap stop: no daemon running on " + missing},
		{"swaps without data dir", []string{"taker", "swaps", "--datadir", missing}, "onionswap taker swaps: no onionswap data directory at"},
		{"maker status without data dir", []string{"maker", "status", "--datadir", missing}, "onionswap maker status: no onionswap data directory at"},
		{"entries without data dir", []string{"directory", "entries", "--datadir", missing}, "onionswap directory entries: no onionswap data directory at"},
		{"balance without data dir", []string{"wallet", "balance", "--datadir", missing, "--rpc-user", "u", "--rpc-pass", "p"}, "onionswap wallet balance: no onionswap data directory at"},
		{"coins without data dir", []string{"wallet", "coins", "--datadir", missing, "--rpc-user", "u", "--rpc-pass", "p"}, "onionswap wallet coins: no onionswap data directory at"},
		{"address without data dir", []string{"wallet", "address", "--datadir", missing, "--rpc-user", "u", "--rpc-pass", "p"}, "onionswap wallet address: no onionswap data directory at"},
		{"swaps without daemon", []string{"taker", "swaps", "--datadir", empty}, "onionswap taker swaps: no onionswap daemon is running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := cli(t, "", tc.args...)
			if code != 1 || !strings.HasPrefix(errs, tc.want) || strings.Count(errs, "\n") != 1 {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, errs, tc.want)
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("a read-only command created the data dir: %v", err)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Fatalf("read-only commands wrote into the data dir: %v", ents)
	}
}

// TestReadOnlyWalletCommandsLeaveNoTrace: balance and coins without a
// daemon run an in-process wallet node that writes no log, takes the lock
// without a lock file, opens no control socket, and does not wait for a
// chain backend that does not answer.
func TestReadOnlyWalletCommandsLeaveNoTrace(t *testing.T) {
	dir := privateDir(t)
	for _, c := range []string{"balance", "coins"} {
		code, out, errs := cli(t, "", "wallet", c, "--datadir", dir, "--network", "regtest", "--rpc-host", "127.0.0.1:1",
			"--rpc-notls", "--rpc-user", "u", "--rpc-pass", "p")
		if code != 1 || out != "" || !strings.Contains(errs, "127.0.0.1:1") {
			t.Fatalf("wallet %s: exit %d, stdout %q, stderr %q", c, code, out, errs)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("read-only wallet commands wrote into the data dir: %v", ents)
	}
}

// TestTakerRecoverNeedsNoDirectory: `taker recover` (the makers may be
// gone) passes validation without --directory and goes on to the chain
// backend; `taker run` is refused (TestUsageErrors).
func TestTakerRecoverNeedsNoDirectory(t *testing.T) {
	dir := privateDir(t)
	code, _, errs := cli(t, "", "taker", "recover", "--datadir", dir, "--network", "regtest", "--rpc-host", "127.0.0.1:1",
		"--rpc-notls", "--rpc-user", "u", "--rpc-pass", "p", "--log-stderr", "off")
	if code != 1 || strings.Contains(errs, "irector") || !strings.Contains(errs, "chain backend 127.0.0.1:1") {
		t.Fatalf("exit %d, stderr %q: want a chain backend error, nothing about directories", code, errs)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errs := cli(t, "", args...)
		if code != 0 || errs != "" || !strings.HasPrefix(out, "onionswap "+version+"\ncommit ") ||
			!strings.Contains(out, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
			t.Fatalf("%v: exit %d, stdout:\n%s", args, code, out)
		}
	}
	old := commit
	commit = "0123abc"
	defer func() { commit = old }()
	if _, out, _ := cli(t, "", "version"); !strings.Contains(out, "commit 0123abc\n") {
		t.Fatalf("ldflags commit not shown:\n%s", out)
	}
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"150000", 150000, false},
		{"150000sat", 150000, false},
		{"0.0015btc", 150000, false},
		{"1btc", 100000000, false},
		{"1.5BTC", 150000000, false},
		{".5btc", 50000000, false},
		{"0.000000001btc", 0, true},
		{"-5", 0, true},
		{"-1btc", 0, true},
		{"abc", 0, true},
		{"btc", 0, true},
		{"0x10", 0, true},
		{"22000000btc", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseAmount(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseAmount(%q) = %d, %v", tc.in, got, err)
			}
		})
	}
	if s := sats(150000); s != "0.00150000" {
		t.Fatalf("sats = %s", s)
	}
	if s := sats(-100000001); s != "-1.00000001" {
		t.Fatalf("sats = %s", s)
	}
}

// TestParseFeeRate: --fee-rate is sat/vB on the command line, sat/kvB
// inside.
func TestParseFeeRate(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"", 0, ""},
		{"0", 0, ""},
		{"1", 1000, ""},
		{"1.5", 1500, ""},
		{"2.25", 2250, ""},
		{"12.001", 12001, ""},
		{"1000", 1_000_000, ""},
		{"0.5", 0, "below the minimum relay fee of 1 sat/vB"},
		{"0.999", 0, "below"},
		{"1000.001", 0, "above the 1000 sat/vB sanity limit"},
		{"1.2345", 0, "at most 3 decimals"},
		{"-1", 0, "want sat/vB"},
		{"1e3", 0, "want sat/vB"},
		{"fast", 0, "want sat/vB"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseFeeRate(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseFeeRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestRegtestOutsideCheckout: without --btcd, $ONIONSWAP_BTCD or a source
// checkout, `onionswap regtest` says what it needs.
func TestRegtestOutsideCheckout(t *testing.T) {
	t.Setenv("ONIONSWAP_BTCD", "")
	checkout, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	code, _, errs := cli(t, "", "regtest", "--dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, errNeedsCheckout) {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	noGo := func(string) (string, error) { return "", os.ErrNotExist }
	if _, err := btcdBinary("", t.TempDir(), noGo); err == nil || !strings.Contains(err.Error(), "no go command") {
		t.Fatalf("without go: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "btcd")
	os.WriteFile(bin, nil, 0o700)
	if p, err := btcdBinary(bin, t.TempDir(), noGo); err != nil || p != bin {
		t.Fatalf("--btcd: %q, %v", p, err)
	}
	if p, err := btcdBinary("", checkout, func(string) (string, error) { return "/usr/bin/go", nil }); err != nil || p != "" {
		t.Fatalf("in the checkout: %q, %v", p, err)
	}
}
