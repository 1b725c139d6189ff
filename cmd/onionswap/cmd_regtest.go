package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/onionswap/onionswap/wallet/chain/regtest"
)

func init() {
	register(command{
		name:    "regtest",
		summary: "run a btcd regtest chain with a faucet until Ctrl-C (tests, demo)",
		run:     cmdRegtest,
	})
}

func cmdRegtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("regtest --dir DIR", `Run a btcd regtest node on 127.0.0.1 until Ctrl-C: segwit active, hundreds
of mature coinbase outputs owned by a deterministic faucet key. Prints the
RPC flags for onionswap (also written to DIR/rpc.flags). btcd wipes its
regtest chain at every start.

While it runs, commands on stdin:
  fund <address> <amount>   pay from the faucet (sat, or BTC with the unit: 0.5btc)
  mine <n>                  mine n blocks`, stderr)
	dir := fs.String("dir", "", "btcd data and logs directory; required")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		fs.Usage()
		return fmt.Errorf("%w: --dir is required", errUsage)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	n, err := regtest.Start(ctx, regtest.Options{Dir: abs})
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
		sc := bufio.NewScanner(os.Stdin)
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
