package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/daemon"
	"github.com/onionswap/onionswap/wallet"
)

const walletNote = `When a node (maker, taker) runs on --datadir, the command goes through its
control socket. Otherwise it opens the wallet in an in-process node: the
chain backend settings (--rpc-*) and, for an encrypted wallet,
--passphrase-file apply (both may come from DATADIR/onionswap.conf).`

// walletDefaults: a wallet command prints its results, not the log.
func walletDefaults(c *daemon.Config) { c.LogStderr = "off" }

func init() {
	register(&command{
		path:    "wallet create",
		summary: "create a new wallet and print its recovery words once",
		help: `Create a new wallet in DATADIR/onionswap.db and print its recovery words.
The words are printed once, to stdout, and never again: write them down.
The seed is encrypted at rest (argon2id + XChaCha20-Poly1305) with the
passphrase of --passphrase-file or, when stdin is a terminal and no file is
given, one typed at the prompt (twice, not echoed). Without either the
wallet is not encrypted, and a warning says so.
The chain backend settings are needed: the wallet's birthday is the tip.`,
		opts:     useWallet,
		defaults: walletDefaults,
		setup: func(e *env) func(context.Context) error {
			words := e.fs.Int("words", 24, "number of recovery words `N`: 12 or 24")
			return func(ctx context.Context) error {
				if *words != 12 && *words != 24 {
					return e.usagef("--words %d: want 12 or 24", *words)
				}
				return createOrRestore(ctx, e, func(wc wallet.Config) (*wallet.Wallet, error) {
					w, m, err := wallet.Create(ctx, wc, wallet.CreateOptions{Words: *words})
					if err != nil {
						return nil, err
					}
					out := e.stdout
					fmt.Fprintf(out, "Wallet created (%s, %s). Recovery words, shown only this once:\n\n", e.cfg.Network, e.cfg.WalletPath())
					ws := strings.Fields(m.Words())
					for i, wd := range ws {
						fmt.Fprintf(out, "%2d. %-10s", i+1, wd)
						if (i+1)%4 == 0 {
							fmt.Fprintln(out)
						}
					}
					fmt.Fprintln(out, "\nWrite them down and keep them offline: they restore the coins and the onion address.")
					return w, nil
				})
			}
		},
	}, &command{
		path:    "wallet restore",
		summary: "restore a wallet from its recovery words (read from stdin)",
		help: `Restore a wallet from its recovery words, read from stdin (one line).
The first sync scans the chain from --birthday (1: the whole chain). The
passphrase is asked for as with wallet create.`,
		opts:     useWallet,
		defaults: walletDefaults,
		setup: func(e *env) func(context.Context) error {
			birthday := e.fs.Int("birthday", 1, "first block `HEIGHT` that can hold the wallet's coins")
			return func(ctx context.Context) error {
				fmt.Fprintln(e.stderr, "Enter the recovery words on one line:")
				line, err := readLine(ctx, e.stdin)
				if err != nil {
					return err
				}
				phrase := strings.Join(strings.Fields(line), " ")
				return createOrRestore(ctx, e, func(wc wallet.Config) (*wallet.Wallet, error) {
					w, err := wallet.Restore(ctx, wc, wallet.RestoreOptions{Mnemonic: phrase, Birthday: int32(*birthday)})
					if err != nil {
						return nil, err
					}
					fmt.Fprintf(e.stdout, "Wallet restored (%s, %s); syncing from height %d...\n", e.cfg.Network, e.cfg.WalletPath(), *birthday)
					if err := w.Sync(ctx); err != nil {
						w.Close()
						return nil, err
					}
					return w, nil
				})
			}
		},
	}, &command{
		path:     "wallet address",
		summary:  "print a fresh receive address",
		help:     "Print a fresh receive address.\n\n" + walletNote,
		opts:     useWallet,
		defaults: walletDefaults,
		setup: func(e *env) func(context.Context) error {
			kind := e.fs.String("kind", control.AddressReceive, "address `KIND`: receive, or swept (the swept-coins account)")
			return func(ctx context.Context) error {
				return withWallet(ctx, e, false, func(ctx context.Context, c *control.Client) error {
					addr, err := c.NewAddress(ctx, *kind)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintln(e.stdout, addr)
					return err
				})
			}
		},
	}, &command{
		path:     "wallet balance",
		summary:  "print balances by coin category",
		help:     "Print balances by coin category (regular, swept, swap_incoming,\ncontract, fidelity_bond).\n\n" + walletNote,
		opts:     useWallet,
		defaults: walletDefaults,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			return func(ctx context.Context) error {
				return withWallet(ctx, e, true, func(ctx context.Context, c *control.Client) error {
					b, err := c.Balances(ctx)
					if err != nil {
						return err
					}
					if *asJSON {
						return printJSON(e.stdout, b)
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
					fmt.Fprintf(tw, "category\tconfirmed\tunconfirmed\t\n")
					var tc, tu int64
					for _, cat := range wallet.Categories {
						v := b.Categories[string(cat)]
						tc, tu = tc+v.Confirmed, tu+v.Unconfirmed
						fmt.Fprintf(tw, "%s\t%s\t%s\t\n", cat, sats(v.Confirmed), sats(v.Unconfirmed))
					}
					fmt.Fprintf(tw, "total\t%s\t%s\t\n", sats(tc), sats(tu))
					fmt.Fprintf(tw, "synced height\t%d\t\t\n", b.Height)
					return tw.Flush()
				})
			}
		},
	}, &command{
		path:    "wallet coins",
		summary: "list the wallet's coins",
		help: "List the wallet's coins. The anon set column is how many outputs of the\n" +
			"transaction that created a coin have its value (\"?\": unknown, a coin recorded\n" +
			"by an older version); a coin whose set is below " + strconv.Itoa(wallet.DefaultAnonTarget) + " is marked traceable.\n\n" + walletNote,
		opts:     useWallet,
		defaults: walletDefaults,
		setup: func(e *env) func(context.Context) error {
			cat := e.fs.String("category", "", "only this `CATEGORY` (regular, swept, swap_incoming, contract, fidelity_bond)")
			all := e.fs.Bool("all", false, "include spent coins")
			asJSON := e.fs.Bool("json", false, "print JSON")
			return func(ctx context.Context) error {
				return withWallet(ctx, e, true, func(ctx context.Context, c *control.Client) error {
					coins, err := c.Coins(ctx, *cat, *all)
					if err != nil {
						return err
					}
					if *asJSON {
						return printJSON(e.stdout, coins)
					}
					sort.Slice(coins, func(i, j int) bool { return coins[i].Value > coins[j].Value })
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintf(tw, "outpoint\tvalue\tcategory\tconfs\tstate\tanon set\ttraceable\n")
					for _, c := range coins {
						state := "unspent"
						switch {
						case c.SpentBy != "":
							state = "spent"
						case c.Reserved:
							state = "reserved"
						}
						anon, traceable := "?", "-"
						if c.AnonSet > 0 {
							anon = strconv.Itoa(c.AnonSet)
						}
						if c.Traceable {
							traceable = "yes"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", c.OutPoint, sats(c.Value), c.Category, c.Confirmations, state,
							anon, traceable)
					}
					return tw.Flush()
				})
			}
		},
	}, &command{
		path:     "wallet send",
		summary:  "pay an address from regular coins",
		args:     "--to ADDRESS (--amount AMOUNT | --max)",
		help:     "Pay --to from regular coins (or everything of --category with --max).\n\n" + walletNote,
		opts:     useWallet,
		defaults: walletDefaults,
		setup: func(e *env) func(context.Context) error {
			to := e.fs.String("to", "", "destination `ADDRESS`; required")
			amount := e.fs.String("amount", "", "`AMOUNT` in sat, or BTC with the unit (0.01btc)")
			maxFlag := e.fs.Bool("max", false, "send every confirmed coin of --category, less the fee")
			cat := e.fs.String("category", "", "with --max: the `CATEGORY` to empty, regular (default) or swept")
			feeRate := e.fs.String("fee-rate", "", "fee rate in `SAT/VB`, decimals allowed (1.5); default: the backend's estimate")
			return func(ctx context.Context) error {
				if *to == "" {
					return e.usagef("--to is required")
				}
				req := control.SendRequest{Address: *to, Max: *maxFlag, Category: *cat}
				switch {
				case *amount != "" && *maxFlag:
					return e.usagef("give --amount or --max, not both")
				case *amount != "":
					v, err := parseAmount(*amount)
					if err != nil {
						return e.usagef("--amount: %v", err)
					}
					req.Amount = v
				case !*maxFlag:
					return e.usagef("--amount is required (or --max)")
				}
				fr, err := parseFeeRate(*feeRate)
				if err != nil {
					return e.usagef("--fee-rate: %v", err)
				}
				req.FeeRate = fr
				return withWallet(ctx, e, false, func(ctx context.Context, c *control.Client) error {
					r, err := c.Send(ctx, req)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(e.stdout, "sent %s (fee %d sat)\n", r.Txid, r.Fee)
					return err
				})
			}
		},
	})
}

// withWallet runs fn against the node running on the data dir or, when
// none runs, against an in-process wallet node: one code path either way.
// A readOnly command's node writes no log file; no in-process node opens
// the control socket or waits for a chain backend that does not answer.
func withWallet(ctx context.Context, e *env, readOnly bool, fn func(context.Context, *control.Client) error) error {
	if err := dataDirMissing(e.cfg.DataDir); err != nil {
		return err
	}
	c := control.NewClient(e.cfg.DataDir)
	defer c.Close()
	if _, err := c.Status(ctx); err == nil {
		return fn(ctx, c)
	} else if !errors.Is(err, control.ErrNotRunning) {
		return err
	}
	cfg := *e.cfg
	cfg.Role = daemon.RoleWallet
	d, err := daemon.New(cfg, daemon.Options{Version: version, Stderr: e.stderr,
		NoLogFile: readOnly, NoControlSocket: true, FailFast: true})
	if err != nil {
		return err
	}
	defer d.Stop()
	if err := d.Start(ctx); err != nil {
		return err
	}
	lc := control.NewLocalClient(d.Router())
	defer lc.Close()
	return fn(ctx, lc)
}

func createOrRestore(ctx context.Context, e *env, make func(wallet.Config) (*wallet.Wallet, error)) error {
	cfg := e.cfg
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
	if err := askPassphrase(ctx, e); err != nil {
		return err
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

// askPassphrase settles how a new wallet's seed is encrypted: with
// --passphrase-file; else, on a terminal, with a passphrase typed twice
// without echo; else (or when the typed one is empty) not at all, with a
// warning saying how to encrypt it.
func askPassphrase(ctx context.Context, e *env) error {
	if e.cfg.PassphraseFile != "" {
		return nil
	}
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
		p1, err := readPassword(ctx, f, e.stderr, "Passphrase to encrypt the wallet (empty: not encrypted): ")
		if err != nil {
			return err
		}
		if p1 != "" {
			p2, err := readPassword(ctx, f, e.stderr, "The same passphrase again: ")
			if err != nil {
				return err
			}
			if p1 != p2 {
				return errors.New("the two passphrases differ: nothing was created")
			}
			e.cfg.WalletPassphrase = []byte(p1)
			fmt.Fprintln(e.stderr, "Every command that opens the wallet needs the passphrase: put it on the first line of a file (mode 0600) and give it with --passphrase-file FILE, or passphrase-file in onionswap.conf.")
			return nil
		}
	}
	fmt.Fprintf(e.stderr, "onionswap: warning: the wallet is not encrypted: its seed is stored in clear in %s (readable by this user only). To encrypt it, create it with --passphrase-file FILE (the file's first line is the passphrase).\n", e.cfg.WalletPath())
	return nil
}

// readLine reads one line of r (without its newline); ctx ends the wait.
func readLine(ctx context.Context, r io.Reader) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := bufio.NewReader(r).ReadString('\n')
		if errors.Is(err, io.EOF) {
			err = nil
		}
		ch <- res{strings.TrimRight(s, "\r\n"), err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-ch:
		return r.s, r.err
	}
}
