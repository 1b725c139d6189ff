package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/onionswap/onionswap/node/control"
)

// TestWalletCoinsAnonSet: `wallet coins` through a running node's control
// socket shows each coin's anon set ("?" when unknown) and marks the
// traceable ones; --json carries both fields.
func TestWalletCoinsAnonSet(t *testing.T) {
	dir := privateDir(t)
	const mixed, change, old = "aa:1", "bb:0", "cc:2"
	r := control.NewRouter(slog.New(slog.DiscardHandler))
	control.Get(r, "/v1/status", func(context.Context, control.Request) (*control.Status, error) {
		return &control.Status{Ready: true, State: control.StateReady}, nil
	})
	control.Get(r, "/v1/wallet/coins", func(context.Context, control.Request) ([]control.Coin, error) {
		return []control.Coin{
			{OutPoint: mixed, Value: 100_000, Category: "regular", Confirmations: 3, AnonSet: 5},
			{OutPoint: change, Value: 73_210, Category: "regular", Confirmations: 3, AnonSet: 1, Traceable: true},
			{OutPoint: old, Value: 50_000, Category: "regular", Confirmations: 900, Traceable: true},
		}, nil
	})
	serveControl(t, dir, r)

	code, out, errs := cli(t, "", "wallet", "coins", "--datadir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasSuffix(strings.Join(strings.Fields(lines[0]), " "), "state anon set traceable") {
		t.Fatalf("output:\n%s", out)
	}
	want := map[string][]string{mixed: {"5", "-"}, change: {"1", "yes"}, old: {"?", "yes"}}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		w, ok := want[f[0]]
		if !ok || len(f) < 2 || f[len(f)-2] != w[0] || f[len(f)-1] != w[1] {
			t.Errorf("line %q: want anon set %s, traceable %s", line, w[0], w[1])
		}
		delete(want, f[0])
	}
	if len(want) != 0 {
		t.Errorf("coins not listed: %v\n%s", want, out)
	}

	code, out, _ = cli(t, "", "wallet", "coins", "--datadir", dir, "--json")
	var coins []control.Coin
	if code != 0 || json.Unmarshal([]byte(out), &coins) != nil || len(coins) != 3 ||
		!strings.Contains(out, `"anon_set": 5`) || !strings.Contains(out, `"traceable": true`) {
		t.Fatalf("--json: exit %d:\n%s", code, out)
	}
}
