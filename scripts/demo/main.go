// Command demo is `make demo`: the whole mission of onionswap between
// separate onionswap processes on a private Tor network and a btcd regtest
// chain, all on 127.0.0.1. It starts the network, the chain, one
// directory, two makers, a taker and as many plain taker-role nodes as a
// CoinJoin of T = 5 needs beyond them (each its own process, data dir,
// managed tor and onion service), and shows, printing each step as it
// happens:
//
//  1. the makers create their fidelity bonds and publish their offers on
//     the message pool; the taker's offer book fills;
//  2. the taker asks a maker about its offer over the end-to-end encrypted
//     chat, and the maker answers;
//  3. the taker swaps through the makers it names from its book (the
//     swap request's Offers, `taker swap --offer`), one funding
//     transaction per hop by default, so it gets one swept coin back;
//  4. that swept coin joins a CoinJoin with the makers and the plain
//     nodes, each funded with a coin of the same value: the denomination
//     is chosen from the swept coin's value at run time;
//
// then prints a summary and stops every process it started, exit status 0
// on success.
//
// --keep leaves every process running after the summary, prints each
// node's dashboard URL (control.Status.Dashboard) and control cookie (the
// login; regtest only), and stops everything on Ctrl-C or SIGTERM.
// --keep-dir keeps the data directories (logs, wallets) after the stop.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const (
	// makerFunds: each maker's wallet; its bond takes 0.005 BTC, the rest
	// is swap liquidity (the swap forwards about 0.05 BTC).
	makerFunds = 20_000_000
	// takerFunds: the taker's wallet; it swaps swapAmount.
	takerFunds = 10_000_000
	swapAmount = 5_000_000
	// demoTimeout: the whole demo takes under a minute on 2 cores (a
	// failed CoinJoin round alone may take 3 more); 10 minutes means
	// something is stuck. --keep's wait is not bounded.
	demoTimeout = 10 * time.Minute
)

// config is the command line.
type config struct {
	dir           string
	keep, keepDir bool
	makers        int
	txCount       int
}

func main() {
	var cfg config
	flag.BoolVar(&cfg.keep, "keep", false, "keep every process running after the summary, print the dashboards' URLs and logins, and stop everything on Ctrl-C or SIGTERM")
	flag.BoolVar(&cfg.keepDir, "keep-dir", false, "keep the data directories (logs, wallets) after the demo stopped its processes")
	flag.StringVar(&cfg.dir, "dir", "", "base directory, kept after the demo (default: a temporary one, removed unless --keep-dir)")
	flag.IntVar(&cfg.makers, "makers", 2, "makers in the route (each also joins the CoinJoin)")
	flag.IntVar(&cfg.txCount, "tx-count", 1, "funding transactions per hop (1: the taker sweeps one coin, which joins the CoinJoin)")
	flag.Parse()
	if cfg.makers < 1 || cfg.txCount < 1 {
		fmt.Fprintln(os.Stderr, "demo: --makers and --tx-count must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		if ctx.Err() != nil { // the steps' errors only say they stopped waiting
			fmt.Fprintln(os.Stderr, "demo interrupted:", err)
		} else {
			fmt.Fprintln(os.Stderr, "demo failed:", err)
		}
		os.Exit(1)
	}
}
