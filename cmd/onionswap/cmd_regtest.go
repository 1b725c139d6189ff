package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/onionswap/onionswap/wallet/chain/regtest"
)

func init() {
	register(&command{
		path:    "regtest",
		summary: "run a btcd regtest chain with a faucet until Ctrl-C (tests, demo)",
		args:    "--dir DIR",
		help: `Run a btcd regtest node on 127.0.0.1 until Ctrl-C: segwit active, hundreds
of mature coinbase outputs owned by a deterministic faucet key. Prints the
RPC flags for onionswap (also written to DIR/rpc.flags). btcd wipes its
regtest chain at every start.

btcd comes from --btcd, else $ONIONSWAP_BTCD, else "go tool btcd" run in a
source checkout of onionswap (the working directory or one above it) with
Go installed.

While it runs, commands on stdin:
  fund <address> <amount>   pay from the faucet (sat, or BTC with the unit: 0.5btc)
  mine <n>                  mine n blocks`,
		setup: func(e *env) func(context.Context) error {
			dir := e.fs.String("dir", "", "btcd data and logs directory `DIR`; required")
			btcd := e.fs.String("btcd", "", "btcd binary `FILE` (default: $ONIONSWAP_BTCD, else go tool btcd in a source checkout)")
			return func(ctx context.Context) error {
				if *dir == "" {
					return e.usagef("--dir is required")
				}
				return cmdRegtest(ctx, e, *dir, *btcd)
			}
		},
	})
}

// errNeedsCheckout: no btcd binary given and no way to build one.
const errNeedsCheckout = "onionswap regtest needs a source checkout of onionswap with Go installed (it runs `go tool btcd`), or --btcd PATH to a btcd binary"

// btcdBinary resolves the btcd to run: path, else $ONIONSWAP_BTCD, else
// "" (regtest.Start then runs `go tool btcd`), which needs a checkout of
// this module above wd and the go command: said plainly when missing.
func btcdBinary(path, wd string, lookPath func(string) (string, error)) (string, error) {
	if path == "" {
		path = os.Getenv("ONIONSWAP_BTCD")
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("btcd binary: %w", err)
		}
		return path, nil
	}
	if _, err := lookPath("go"); err != nil {
		return "", errors.New(errNeedsCheckout + ": no go command on PATH")
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			if !strings.Contains(string(b), "module github.com/onionswap/onionswap\n") {
				return "", fmt.Errorf("%s: %s/go.mod is another module", errNeedsCheckout, dir)
			}
			return "", nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%s: no go.mod in %s or above", errNeedsCheckout, wd)
		}
	}
}

func cmdRegtest(ctx context.Context, e *env, dir, btcd string) error {
	stdout, stderr := e.stdout, e.stderr
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	bin, err := btcdBinary(btcd, wd, exec.LookPath)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	n, err := regtest.Start(ctx, regtest.Options{Dir: abs, BtcdPath: bin})
	if err != nil {
		return err
	}
	defer n.Stop()
	rc := n.RPCConfig()
	flags := fmt.Sprintf("--network regtest --rpc-host %s --rpc-user %s --rpc-pass %s --rpc-notls", rc.Host, rc.User, rc.Pass)
	if err := os.WriteFile(filepath.Join(abs, "rpc.flags"), []byte(flags+"\n"), 0o600); err != nil {
		return err
	}
	h, _, _ := n.Backend().Tip(ctx)
	fmt.Fprintf(stdout, "btcd regtest running (pid %d, tip %d, data %s)\n", n.PID(), h, abs)
	fmt.Fprintf(stdout, "onionswap flags: %s\n", flags)
	fmt.Fprintf(stdout, "faucet address:  %s (mining address)\n", n.Faucet())
	fmt.Fprintln(stdout, "stdin commands: fund <address> <amount>, mine <n>; Ctrl-C stops btcd")

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(e.stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "stopping btcd")
			return nil
		case l := <-lines:
			if err := regtestCommand(ctx, n, l, stdout); err != nil {
				fmt.Fprintln(stderr, "error:", err)
			}
		}
	}
}

func regtestCommand(ctx context.Context, n *regtest.Node, line string, stdout io.Writer) error {
	f := strings.Fields(line)
	switch {
	case len(f) == 0:
		return nil
	case f[0] == "mine" && len(f) == 2:
		k, err := strconv.Atoi(f[1])
		if err != nil || k < 1 || k > 1000 {
			return fmt.Errorf("mine: want 1..1000 blocks")
		}
		hs, err := n.Mine(ctx, k)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "mined %d blocks, last %s\n", len(hs), hs[len(hs)-1])
	case f[0] == "fund" && len(f) == 3:
		addr, err := btcutil.DecodeAddress(f[1], &chaincfg.RegressionNetParams)
		if err != nil {
			return err
		}
		amt, err := parseAmount(f[2])
		if err != nil {
			return err
		}
		tx, err := n.Fund(ctx, addr, btcutil.Amount(amt))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "funded %s with %s BTC: %s (mine a block to confirm)\n", addr, sats(amt), tx.TxHash())
	default:
		return fmt.Errorf("unknown command %q: fund <address> <amount> | mine <n>", line)
	}
	return nil
}
