package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/wallet"
)

func init() {
	register(&command{
		path:    "coinjoin start",
		summary: "start mixing one coin on a running node",
		args:    "[--coin TXID:VOUT] [--denomination SAT]",
		help: "Start mixing one coin of the node running on --datadir: the one --coin\n" +
			"names, or else a traceable one. It must fit: a confirmed, free, regular\n" +
			"or swept P2WPKH coin holding the denomination plus its share of the\n" +
			"round's fee plus at most 4500 sat more (a round has no change output:\n" +
			"the rest goes to the miners). The node announces its terms on the\n" +
			"message pool and joins or leads a round of at least T participants,\n" +
			"over a fresh onion and fresh keys each attempt, until the coin is mixed\n" +
			"or onionswap coinjoin stop. One coin is mixed at a time.",
		opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			coin := e.fs.String("coin", "", "mix the coin `TXID:VOUT` (default: a traceable coin that fits)")
			denom := e.fs.Int64("denomination", 0, "the round's output value in `SAT` (0: the node's --coinjoin-denomination)")
			return func(ctx context.Context) error {
				if *coin != "" && !validOutPoint(*coin) {
					return e.usagef("--coin %q: want TXID:VOUT (64 hex digits, a colon, the output number)", *coin)
				}
				if *denom < 0 {
					return e.usagef("--denomination %d: want 0 or more", *denom)
				}
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				si, err := control.Call[coinjoin.SessionInfo](ctx, c, http.MethodPost, "/v1/coinjoin/start",
					coinjoin.StartRequest{Coin: *coin, Denomination: *denom})
				if err != nil {
					return coinjoinError(err)
				}
				if *asJSON {
					return printJSON(e.stdout, si)
				}
				_, err = fmt.Fprintf(e.stdout, "mixing %s (%d sat) into an output of %d sat, in a round of at least %d participants\n"+
					"the node announces it on the pool and waits for a round: onionswap coinjoin status shows how it goes\n",
					si.Coin, si.Value, si.Denomination, si.T)
				return err
			}
		},
	}, &command{
		path:    "coinjoin split",
		summary: "cut coins of any size into coins a CoinJoin round takes (a premix)",
		args:    "--count N [--denomination SAT] [--from regular|swept]",
		help: "Pay N new coins to this wallet, each holding the denomination plus a\n" +
			"round of T's share of the fee (it fits every round of T to 2T), from\n" +
			"the node's confirmed regular (or swept) coins, with change: a premix.\n" +
			"The new coins are linked to each other and to the coins spent until\n" +
			"each is mixed: they stay traceable (anonymity set 1) until then, and\n" +
			"the node mixes one per round. Once confirmed, coinjoin start (or\n" +
			"--coinjoin-auto) takes them.",
		opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			count := e.fs.Int("count", 0, "`N` new coins (1 to 16)")
			denom := e.fs.Int64("denomination", 0, "the rounds' output value in `SAT` (0: the node's --coinjoin-denomination)")
			from := e.fs.String("from", "regular", "the coins to cut: `regular` or swept")
			return func(ctx context.Context) error {
				if *count < 1 || *count > wallet.MaxSplit {
					return e.usagef("--count %d: want 1 to %d", *count, wallet.MaxSplit)
				}
				if *denom < 0 {
					return e.usagef("--denomination %d: want 0 or more", *denom)
				}
				if *from != "regular" && *from != "swept" {
					return e.usagef("--from %q: want regular or swept", *from)
				}
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				rep, err := control.Call[coinjoin.SplitReply](ctx, c, http.MethodPost, "/v1/coinjoin/split",
					coinjoin.SplitRequest{Count: *count, Denomination: *denom, From: *from})
				if err != nil {
					return coinjoinError(err)
				}
				if *asJSON {
					return printJSON(e.stdout, rep)
				}
				_, err = fmt.Fprintf(e.stdout, "split: %d coins of %d sat in transaction %s (fee %d sat); once confirmed, coinjoin start mixes them one by one\n",
					rep.Count, rep.Value, rep.Txid, rep.Fee)
				return err
			}
		},
	}, &command{
		path:    "coinjoin stop",
		summary: "stop mixing the coin a running node is mixing",
		help: "End the mixing session of the node running on --datadir: it stops\n" +
			"announcing the coin and leaves the round it is in. With --coinjoin-auto\n" +
			"the node starts on a traceable coin again by itself.",
		opts: useInfo,
		setup: func(e *env) func(context.Context) error {
			asJSON := e.fs.Bool("json", false, "print JSON")
			return func(ctx context.Context) error {
				c, err := infoClient(e)
				if err != nil {
					return err
				}
				defer c.Close()
				rep, err := control.Call[struct{}](ctx, c, http.MethodPost, "/v1/coinjoin/stop", struct{}{})
				if err != nil {
					return coinjoinError(err)
				}
				if *asJSON {
					return printJSON(e.stdout, rep)
				}
				_, err = fmt.Fprintln(e.stdout, "stopped: no coin is being mixed")
				return err
			}
		},
	},
		cjInfoCommand("coinjoin status", "show a running node's CoinJoin: terms, session, rounds",
			"Show the CoinJoin of the node running on --datadir: whether it mixes\n"+
				"traceable coins by itself (--coinjoin-auto), its terms (denomination, T,\n"+
				"the announcements a leader waits for, the highest fee rate), how many\n"+
				"announcements of those terms are live on the pool, the coin being\n"+
				"mixed (phase, attempts, the current round and how the last attempt\n"+
				"ended), the peers' inputs refused for spoiling a round, and how many\n"+
				"rounds completed and failed.",
			func(c *control.Client, ctx context.Context) (coinjoin.StatusReply, error) {
				return control.Call[coinjoin.StatusReply](ctx, c, http.MethodGet, "/v1/coinjoin/status", nil)
			},
			func(e *env, s coinjoin.StatusReply) error { return showCoinJoinStatus(e.stdout, s, time.Now()) }),
		&command{
			path:    "coinjoin rounds",
			summary: "list a running node's CoinJoin rounds",
			help: "List the CoinJoin rounds of the node running on --datadir, the newest\n" +
				"first: when it started (UTC; the date too when older than a day), its id\n" +
				"(shortened; --json shows it whole), its participants, its state, what\n" +
				"our coin paid (its value less the denomination), the messages and bytes\n" +
				"sent and received, and the transaction id of a completed round or why\n" +
				"the round failed.",
			opts: useInfo,
			setup: func(e *env) func(context.Context) error {
				asJSON := e.fs.Bool("json", false, "print JSON")
				limit := e.fs.Int("limit", 0, "show the newest `N` rounds (0: all)")
				return func(ctx context.Context) error {
					if *limit < 0 {
						return e.usagef("--limit %d: want 0 or more", *limit)
					}
					c, err := infoClient(e)
					if err != nil {
						return err
					}
					defer c.Close()
					rs, err := control.Call[[]coinjoin.RoundInfo](ctx, c, http.MethodPost, "/v1/coinjoin/rounds",
						coinjoin.RoundsRequest{Limit: *limit})
					if err != nil {
						return coinjoinError(err)
					}
					if *asJSON {
						return printJSON(e.stdout, rs)
					}
					return showRounds(e.stdout, rs, time.Now())
				}
			},
		},
		cjInfoCommand("coinjoin coins", "list a running node's coins with their anonymity sets",
			"List the coins of the node running on --datadir, the largest first: value\n"+
				"in sat, category, confirmations, anon set (how many outputs of the\n"+
				"transaction that created the coin have its value; ?: unknown), whether\n"+
				"it is traceable (its anon set is below T, --coinjoin-t, default "+strconv.Itoa(wallet.DefaultAnonTarget)+"),\n"+
				"whether it fits a round of the node's terms as it is (a confirmed,\n"+
				"free, regular or swept P2WPKH coin of the right size), and whether it\n"+
				"is reserved (held for a transaction in progress).",
			func(c *control.Client, ctx context.Context) ([]coinjoin.CoinInfo, error) {
				return control.Call[[]coinjoin.CoinInfo](ctx, c, http.MethodGet, "/v1/coinjoin/coins", nil)
			},
			func(e *env, cs []coinjoin.CoinInfo) error { return showCoinJoinCoins(e.stdout, cs) }),
	)
}

// cjInfoCommand is infoCommand with the CoinJoin's error messages.
func cjInfoCommand[T any](path, summary, help string, get func(*control.Client, context.Context) (T, error),
	show func(e *env, v T) error) *command {
	return infoCommand(path, summary, help, func(c *control.Client, ctx context.Context) (T, error) {
		v, err := get(c, ctx)
		return v, coinjoinError(err)
	}, show)
}

// coinjoinError words the node's refusals for the operator: a bad request
// without its "bad request: coinjoin: " prefix, and a node without the
// CoinJoin (a directory) said so.
func coinjoinError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, control.ErrBadRequest):
		msg := err.Error()
		msg = strings.TrimPrefix(msg, control.ErrBadRequest.Error()+": ")
		msg = strings.TrimPrefix(msg, "coinjoin: ")
		return fmt.Errorf("refused: %s", msg)
	case errors.Is(err, control.ErrNotAvailable):
		return errors.New("this node runs no CoinJoin: only maker and taker nodes do")
	}
	return err
}

// validOutPoint reports whether s is TXID:VOUT with a whole txid (wire
// would pad a short one).
func validOutPoint(s string) bool {
	txid, _, _ := strings.Cut(s, ":")
	_, err := wire.NewOutPointFromString(s)
	return err == nil && len(txid) == 64
}

func showCoinJoinStatus(w io.Writer, s coinjoin.StatusReply, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	auto := "off (only onionswap coinjoin start mixes a coin)"
	if s.Auto {
		auto = "on (mixes traceable coins that fit by itself)"
	}
	fmt.Fprintf(tw, "auto\t%s\n", auto)
	fmt.Fprintf(tw, "denomination\t%d sat\n", s.Denomination)
	fmt.Fprintf(tw, "T\t%d (least participants of a round)\n", s.T)
	fmt.Fprintf(tw, "start at\t%d announcements\n", s.StartAt)
	fmt.Fprintf(tw, "fee rate\tat most %d sat/vB\n", s.FeeRate)
	fmt.Fprintf(tw, "announced\t%d live announcements of these terms\n", s.Announced)
	if si := s.Session; si == nil {
		fmt.Fprintf(tw, "session\tnone\n")
	} else {
		fmt.Fprintf(tw, "session\t%s (%d sat), %s, %d attempts, began %s\n", si.Coin, si.Value, si.Phase, si.Attempts, ago(si.Began, now))
		if si.Denomination != s.Denomination || si.T != s.T {
			fmt.Fprintf(tw, "session terms\t%d sat, T %d\n", si.Denomination, si.T)
		}
		if si.Round != "" {
			fmt.Fprintf(tw, "round\t%s, %d participants\n", short(si.Round, 12), si.Participants)
		}
		if si.Last != "" {
			fmt.Fprintf(tw, "last attempt\t%s\n", clean(si.Last))
		}
	}
	fmt.Fprintf(tw, "imprisoned\t%d inputs\n", s.Imprisoned)
	fmt.Fprintf(tw, "rounds\t%d completed, %d failed\n", s.Completed, s.Failed)
	return tw.Flush()
}

func showRounds(w io.Writer, rs []coinjoin.RoundInfo, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "started\tid\tparticipants\tstate\tfee (sat)\tmsgs sent/recv\tbytes sent/recv\ttxid / reason\n")
	done := 0
	for _, r := range rs {
		outcome := "-"
		switch {
		case r.Txid != "":
			outcome = short(r.Txid, 16)
			done++
		case r.Reason != "":
			outcome = strings.ReplaceAll(clean(r.Reason), "\n", " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d/%d\t%d/%d\t%s\n", msgTime(r.Started, now), short(r.ID, 12), r.Participants,
			r.State, r.Fee, r.MsgsSent, r.MsgsRecv, r.BytesSent, r.BytesRecv, outcome)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d rounds, %d broadcast\n", len(rs), done)
	return err
}

func showCoinJoinCoins(w io.Writer, cs []coinjoin.CoinInfo) error {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Value > cs[j].Value })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "outpoint\tvalue (sat)\tcategory\tconfs\tanon set\ttraceable\tfits\treserved\n")
	traceable, fits := 0, 0
	for _, c := range cs {
		anon := "?"
		if c.AnonSet > 0 {
			anon = strconv.Itoa(c.AnonSet)
		}
		if c.Traceable {
			traceable++
		}
		if c.Fits {
			fits++
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", c.Coin, c.Value, c.Category, c.Confirmations, anon,
			yesNo(c.Traceable), yesNo(c.Fits), yesNo(c.Reserved))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d coins, %d traceable, %d fit a round\n", len(cs), traceable, fits)
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
