package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
)

func init() {
	register(command{
		name:    "wallet",
		summary: "create or restore the wallet; addresses, balances, coins, send",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return dispatch(ctx, "wallet", walletCommands, args, stdout, stderr)
		},
	})
}

var walletCommands = map[string]subcommand{
	"create":  {"create a new wallet and print its recovery words once", walletCreate},
	"restore": {"restore a wallet from its recovery words (read from stdin)", walletRestore},
	"address": {"print a fresh receive address", walletAddress},
	"balance": {"print balances by coin category", walletBalance},
	"coins":   {"list the wallet's coins", walletCoins},
	"send":    {"pay an address from regular coins", walletSend},
}

const walletNote = `When a daemon (maker, taker) runs on --datadir, the command goes through its
control socket; otherwise it opens the wallet file itself and needs the chain
backend flags (--rpc-*) and, for an encrypted wallet, --passphrase-file.`

// walletAccess is either a running daemon or the wallet opened offline.
type walletAccess struct {
	client  *control.Client
	lock    *daemon.DataDirLock
	w       *wallet.Wallet
	backend *chain.RPC
	logs    *daemon.Logging
}

func (a *walletAccess) close() {
	if a.w != nil {
		a.w.Close()
	}
	if a.backend != nil {
		a.backend.Close()
	}
	if a.client != nil {
		a.client.Close()
	}
	a.lock.Release()
	a.logs.Close()
}

// walletFlags registers the flags of the offline path.
func walletFlags(fs *flag.FlagSet) *daemon.Config {
	cfg := &daemon.Config{Role: daemon.RoleWallet, LogStderr: "off"}
	cfg.RegisterFlags(fs, daemon.FlagsBase|daemon.FlagsChain)
	return cfg
}

// openWallet uses a running daemon if there is one, else opens the wallet
// file (syncing it with the chain first when sync is set).
func openWallet(ctx context.Context, cfg *daemon.Config, sync bool) (*walletAccess, error) {
	c := control.NewClient(cfg.DataDir)
	if _, err := c.Status(ctx); err == nil {
		return &walletAccess{client: c}, nil
	} else if !errors.Is(err, control.ErrNotRunning) {
		c.Close()
		return nil, err
	}
	c.Close()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logs, err := daemon.NewLogging(cfg, nil)
	if err != nil {
		return nil, err
	}
	a := &walletAccess{logs: logs}
	// The daemon may have started since the status check: the lock keeps
	// the two from working on the wallet file at once.
	if a.lock, err = daemon.LockDataDir(cfg.DataDir); err != nil {
		a.close()
		return nil, err
	}
	if a.backend, err = daemon.DialChain(ctx, cfg, logs.For("chain")); err != nil {
		a.close()
		return nil, err
	}
	if a.w, err = daemon.OpenWallet(ctx, cfg, a.backend, logs.For("wallet")); err != nil {
		a.close()
		return nil, err
	}
	if sync {
		if err := a.w.Sync(ctx); err != nil {
			a.close()
			return nil, err
		}
	}
	return a, nil
}

func walletCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wallet create", `Create a new wallet in DATADIR/onionswap.db and print its recovery words.
The words are printed once, to stdout, and never again: write them down.
With --passphrase-file the seed is encrypted at rest (argon2id + XChaCha20-Poly1305).
The chain backend flags are needed: the wallet's birthday is the current tip.`, stderr)
	cfg := walletFlags(fs)
	words := fs.Int("words", 24, "number of recovery words: 12 or 24")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *words != 12 && *words != 24 {
		return fmt.Errorf("--words %d: want 12 or 24", *words)
	}
	return createOrRestore(ctx, cfg, stdout, func(wc wallet.Config) (*wallet.Wallet, error) {
		w, m, err := wallet.Create(ctx, wc, wallet.CreateOptions{Words: *words})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "Wallet created (%s, %s). Recovery words, shown only this once:\n\n", cfg.Network, cfg.WalletPath())
		ws := strings.Fields(m.Words())
		for i, wd := range ws {
			fmt.Fprintf(stdout, "%2d. %-10s", i+1, wd)
			if (i+1)%4 == 0 {
				fmt.Fprintln(stdout)
			}
		}
		fmt.Fprintln(stdout, "\nWrite them down and keep them offline: they restore the coins and the onion address.")
		return w, nil
	})
}

func walletRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wallet restore", `Restore a wallet from its recovery words, read from stdin (one line).
The first sync scans the chain from --birthday (1: the whole chain).`, stderr)
	cfg := walletFlags(fs)
	birthday := fs.Int("birthday", 1, "first block height that can hold the wallet's coins")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "Enter the recovery words on one line:")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	phrase := strings.Join(strings.Fields(line), " ")
	return createOrRestore(ctx, cfg, stdout, func(wc wallet.Config) (*wallet.Wallet, error) {
		w, err := wallet.Restore(ctx, wc, wallet.RestoreOptions{Mnemonic: phrase, Birthday: int32(*birthday)})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "Wallet restored (%s, %s); syncing from height %d...\n", cfg.Network, cfg.WalletPath(), *birthday)
		if err := w.Sync(ctx); err != nil {
			w.Close()
			return nil, err
		}
		return w, nil
	})
}

func createOrRestore(ctx context.Context, cfg *daemon.Config, stdout io.Writer, make func(wallet.Config) (*wallet.Wallet, error)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := daemon.EnsureDataDir(cfg.DataDir); err != nil {
		return err
	}
	lock, err := daemon.LockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	if _, err := os.Stat(cfg.WalletPath()); err == nil {
		return fmt.Errorf("%w: %s", wallet.ErrWalletExists, cfg.WalletPath())
	}
	logs, err := daemon.NewLogging(cfg, nil)
	if err != nil {
		return err
	}
	defer logs.Close()
	b, err := daemon.DialChain(ctx, cfg, logs.For("chain"))
	if err != nil {
		return err
	}
	defer b.Close()
	wc, err := cfg.WalletConfig(b, logs.For("wallet"))
	if err != nil {
		return err
	}
	w, err := make(wc)
	if err != nil {
		return err
	}
	return w.Close()
}

func walletAddress(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wallet address", "Print a fresh receive address.\n\n"+walletNote, stderr)
	cfg := walletFlags(fs)
	kind := fs.String("kind", control.AddressReceive, "receive, or swept (the swept-coins account)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openWallet(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer a.close()
	var addr string
	if a.client != nil {
		addr, err = a.client.NewAddress(ctx, *kind)
	} else {
		addr, err = daemon.WalletNewAddress(ctx, a.w, *kind)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, addr)
	return err
}

func walletBalance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wallet balance", "Print balances by coin category (regular, swept, swap_incoming,\ncontract, fidelity_bond).\n\n"+walletNote, stderr)
	cfg := walletFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openWallet(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer a.close()
	var b *control.Balances
	if a.client != nil {
		b, err = a.client.Balances(ctx)
	} else {
		b, err = daemon.WalletBalances(ctx, a.w)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, b)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "category\tconfirmed\tunconfirmed\t\n")
	var tc, tu int64
	for _, c := range wallet.Categories {
		v := b.Categories[string(c)]
		tc, tu = tc+v.Confirmed, tu+v.Unconfirmed
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", c, sats(v.Confirmed), sats(v.Unconfirmed))
	}
	fmt.Fprintf(tw, "total\t%s\t%s\t\n", sats(tc), sats(tu))
	fmt.Fprintf(tw, "synced height\t%d\t\t\n", b.Height)
	return tw.Flush()
}

func walletCoins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wallet coins", "List the wallet's coins.\n\n"+walletNote, stderr)
	cfg := walletFlags(fs)
	cat := fs.String("category", "", "only this category (regular, swept, swap_incoming, contract, fidelity_bond)")
	all := fs.Bool("all", false, "include spent coins")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openWallet(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer a.close()
	var coins []control.Coin
	if a.client != nil {
		coins, err = a.client.Coins(ctx, *cat, *all)
	} else {
		coins, err = daemon.WalletCoins(ctx, a.w, *cat, *all)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, coins)
	}
	sort.Slice(coins, func(i, j int) bool { return coins[i].Value > coins[j].Value })
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "outpoint\tvalue\tcategory\tconfs\tstate\n")
	for _, c := range coins {
		state := "unspent"
		switch {
		case c.SpentBy != "":
			state = "spent"
		case c.Reserved:
			state = "reserved"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", c.OutPoint, sats(c.Value), c.Category, c.Confirmations, state)
	}
	return tw.Flush()
}

func walletSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wallet send", "Pay --to from regular coins (or everything of --category with --max).\n\n"+walletNote, stderr)
	cfg := walletFlags(fs)
	to := fs.String("to", "", "destination address")
	amount := fs.String("amount", "", "amount in sat, or BTC with the unit (0.01btc)")
	maxFlag := fs.Bool("max", false, "send every confirmed coin of --category, less the fee")
	cat := fs.String("category", "", "with --max: regular (default) or swept")
	feeRate := fs.Int64("fee-rate", 0, "fee rate in sat/kvB (0: the backend's estimate)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	req := control.SendRequest{Address: *to, Max: *maxFlag, Category: *cat, FeeRate: *feeRate}
	if *to == "" {
		return fmt.Errorf("%w: --to is required", errUsage)
	}
	if *amount != "" {
		v, err := parseAmount(*amount)
		if err != nil {
			return err
		}
		req.Amount = v
	} else if !*maxFlag {
		return fmt.Errorf("%w: give --amount or --max", errUsage)
	}
	a, err := openWallet(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer a.close()
	var r *control.SendReply
	if a.client != nil {
		r, err = a.client.Send(ctx, req)
	} else {
		r, err = daemon.WalletSend(ctx, a.w, req)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "sent %s (fee %d sat)\n", r.Txid, r.Fee)
	return err
}
