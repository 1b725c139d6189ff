package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/onionswap/onionswap/node/control"
)

func TestEveryCommandHasHelp(t *testing.T) {
	cmds := [][]string{
		{"wallet", "create"}, {"wallet", "restore"}, {"wallet", "address"}, {"wallet", "balance"},
		{"wallet", "coins"}, {"wallet", "send"}, {"directory", "run"}, {"directory", "entries"},
		{"maker", "run"}, {"maker", "status"}, {"taker", "run"}, {"taker", "swap"}, {"taker", "recover"},
		{"taker", "swaps"}, {"status"}, {"tornet"}, {"regtest"},
	}
	for _, c := range cmds {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), append(c, "--help"), &out, &errb)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(errb.String(), "Usage: onionswap "+c[0]) || !strings.Contains(errb.String(), "-datadir") && c[0] != "tornet" && c[0] != "regtest" {
				t.Fatalf("help:\n%s", errb.String())
			}
		})
	}
	for _, g := range []string{"wallet", "directory", "maker", "taker"} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), []string{g, "--help"}, &out, &errb); err != nil {
			t.Fatalf("%s --help: %v", g, err)
		}
		if !strings.Contains(out.String(), "Commands:") {
			t.Fatalf("%s --help:\n%s", g, out.String())
		}
	}
}

func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown subcommand", []string{"wallet", "steal"}, "unknown command"},
		{"positional argument", []string{"status", "--datadir", dir, "extra"}, "unexpected argument"},
		{"status without daemon", []string{"status", "--datadir", dir}, "no onionswap daemon"},
		{"fault on mainnet", []string{"maker", "run", "--datadir", dir, "--rpc-user", "u", "--rpc-pass", "p",
			"--directory", "x.onion:80", "--fault", "crash-after=setup"}, "only on regtest"},
		{"fault refused off regtest", []string{"taker", "run", "--datadir", dir, "--network", "testnet", "--rpc-user", "u",
			"--rpc-pass", "p", "--fault", "crash-after=setup"}, "only on regtest"},
		{"swap without amount", []string{"taker", "swap", "--datadir", dir}, "--amount is required"},
		{"send without to", []string{"wallet", "send", "--datadir", dir}, "--to is required"},
		{"create bad words", []string{"wallet", "create", "--datadir", dir, "--words", "13"}, "--words"},
		{"tornet without dir", []string{"tornet"}, "--dir is required"},
		{"regtest without dir", []string{"regtest"}, "--dir is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"status", "--datadir", dir}, &out, &errb)
	if !errors.Is(err, control.ErrNotRunning) {
		t.Fatalf("status: %v", err)
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
