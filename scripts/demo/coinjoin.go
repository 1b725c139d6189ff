package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/wallet"
)

const (
	// cjTimeout bounds the rounds: announcements reach every pool in a
	// few seconds and a good round takes 2-6 s here; a failed attempt (a
	// peer too slow for a phase) may last its deadline, 2 + (n+5) phases
	// (node/coinjoin roundDuration: 3 minutes for n = 5 and cjPhase), and
	// a retry pause. 5 minutes is one failed round and a good one.
	cjTimeout = 5 * time.Minute
	// coinWait: a funded coin is confirmed by the automine within ~1 s
	// and seen by the wallet at its next poll (500 ms).
	coinWait = time.Minute
)

// cjResult is the round as the summary shows it.
type cjResult struct {
	denom    int64
	coin     coinjoin.CoinInfo // the taker's swept coin
	txid     string
	inputs   int
	outputs  int // outputs of the denomination
	total    int // every output
	wall     time.Duration
	roundDur time.Duration // the leader's invite to broadcast
	fees     map[string]int64
}

// coinJoin: the taker's swept coin and one coin of the same value of each
// other participant (from the faucet) join one round of cjT or more.
func (d *demo) coinJoin(ctx context.Context) error {
	t0 := time.Now()
	coin, err := d.sweptCoin(ctx)
	if err != nil {
		return err
	}
	// The coin pays exactly the fee share of a round of cjT (the most
	// any round of cjT or more asks: the share falls with the size)
	// and nothing more: the denomination is what is left.
	share := coinjoin.Params{FeeRate: coinjoin.DefaultFeeRate}.Share(cjT)
	r := &d.res.cj
	r.denom, r.coin = coin.Value-share, coin
	d.say("CoinJoin: the taker's swept coin %s holds %d sat; denomination %d sat = that less a round of %d's fee share at %d sat/vB (%d sat)",
		short(coin.Coin), coin.Value, r.denom, cjT, coinjoin.DefaultFeeRate, share)
	ops, err := d.fundCoins(ctx, coin)
	if err != nil {
		return err
	}
	for _, p := range d.participants() {
		si, err := call[coinjoin.SessionInfo](ctx, p, http.MethodPost, "/v1/coinjoin/start",
			coinjoin.StartRequest{Coin: ops[p.Name], Denomination: r.denom})
		if err != nil {
			return err
		}
		d.say("%s: mixing %s (%d sat) in rounds of %d or more, %s", p.Name, short(si.Coin), si.Value, si.T, si.Phase)
	}
	if err := d.waitRound(ctx); err != nil {
		return err
	}
	if err := d.checkTx(ctx, ops); err != nil {
		return err
	}
	if err := d.waitMixed(ctx); err != nil {
		return err
	}
	r.wall = time.Since(t0)
	d.res.afterCJ, err = d.balances(ctx)
	return err
}

// sweptCoin is the taker's largest confirmed swept coin: what the swap
// brought back (one coin with --tx-count 1), the one to mix.
func (d *demo) sweptCoin(ctx context.Context) (coinjoin.CoinInfo, error) {
	cs, err := call[[]coinjoin.CoinInfo](ctx, d.taker, http.MethodGet, "/v1/coinjoin/coins", nil)
	if err != nil {
		return coinjoin.CoinInfo{}, err
	}
	var best coinjoin.CoinInfo
	n := 0
	for _, c := range cs {
		if c.Category == string(wallet.Swept) && c.Confirmations >= 1 {
			n++
			if c.Value > best.Value {
				best = c
			}
		}
	}
	if n == 0 {
		return best, fmt.Errorf("the taker has no confirmed swept coin (coins: %+v)", cs)
	}
	if n > 1 {
		d.say("CoinJoin: the taker swept %d coins (--tx-count %d); the largest joins", n, d.cfg.txCount)
	}
	return best, nil
}

// fundCoins pays every other participant one coin of the taker's coin's
// value, mines it and returns each participant's coin to mix, once its
// wallet sees it confirmed.
func (d *demo) fundCoins(ctx context.Context, coin coinjoin.CoinInfo) (map[string]string, error) {
	ops := map[string]string{d.taker.Name: coin.Coin}
	d.res.funded = map[string]int64{}
	txids := map[string]chainhash.Hash{}
	for _, p := range d.participants()[1:] {
		txid, err := d.c.Fund(ctx, p, btcutil.Amount(coin.Value))
		if err != nil {
			return nil, fmt.Errorf("funding %s: %w", p.Name, err)
		}
		txids[p.Name], d.res.funded[p.Name] = txid, coin.Value
	}
	if _, err := d.c.Mine(ctx, 1); err != nil {
		return nil, err
	}
	for _, p := range d.participants()[1:] {
		prefix := txids[p.Name].String() + ":"
		wctx, cancel := context.WithTimeout(ctx, coinWait)
		err := cluster.Poll(wctx, stepPoll, p.Name+"'s CoinJoin coin to confirm", func() (bool, string) {
			cs, err := call[[]coinjoin.CoinInfo](ctx, p, http.MethodGet, "/v1/coinjoin/coins", nil)
			if err != nil {
				return false, err.Error()
			}
			i := slices.IndexFunc(cs, func(c coinjoin.CoinInfo) bool { return strings.HasPrefix(c.Coin, prefix) && c.Confirmations >= 1 })
			if i < 0 {
				return false, "not yet"
			}
			ops[p.Name] = cs[i].Coin
			return true, ""
		})
		cancel()
		if err != nil {
			return nil, err
		}
	}
	d.say("CoinJoin: funded %d more participants with a coin of %d sat each (confirmed)", len(txids), coin.Value)
	return ops, nil
}

// waitRound waits until every participant's session ended in a round
// broadcast, all the same transaction.
func (d *demo) waitRound(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, cjTimeout)
	defer cancel()
	r := &d.res.cj
	r.fees = map[string]int64{}
	return cluster.Poll(wctx, 500*time.Millisecond, "every participant's CoinJoin session to end", func() (bool, string) {
		r.txid = ""
		for _, p := range d.participants() {
			s, err := call[coinjoin.StatusReply](ctx, p, http.MethodGet, "/v1/coinjoin/status", nil)
			if err != nil {
				return false, err.Error()
			}
			if s.Session != nil {
				return false, fmt.Sprintf("%s: %s, attempt %d %s", p.Name, s.Session.Phase, s.Session.Attempts, s.Session.Last)
			}
			rs, err := call[[]coinjoin.RoundInfo](ctx, p, http.MethodPost, "/v1/coinjoin/rounds", coinjoin.RoundsRequest{Limit: 1})
			if err != nil {
				return false, err.Error()
			}
			if len(rs) == 0 || rs[0].State != coinjoin.StateBroadcast {
				return false, fmt.Sprintf("%s: last round %+v", p.Name, rs)
			}
			if r.txid != "" && rs[0].Txid != r.txid {
				return false, fmt.Sprintf("%s is in %s, another in %s", p.Name, rs[0].Txid, r.txid)
			}
			r.txid, r.fees[p.Name] = rs[0].Txid, rs[0].Fee
			if rs[0].Initiator {
				r.roundDur = rs[0].Ended.Sub(rs[0].Started)
			}
		}
		return true, ""
	})
}

// checkTx reads the round's transaction from the chain backend: one
// input per participant (the coins we funded) and as many outputs, each
// of the denomination.
func (d *demo) checkTx(ctx context.Context, ops map[string]string) error {
	r := &d.res.cj
	h, err := chainhash.NewHashFromStr(r.txid)
	if err != nil {
		return err
	}
	tx, _, err := d.c.Backend().Tx(ctx, *h)
	if err != nil {
		return fmt.Errorf("the round's transaction %s: %w", r.txid, err)
	}
	r.inputs, r.total = len(tx.TxIn), len(tx.TxOut)
	for _, o := range tx.TxOut {
		if o.Value == r.denom {
			r.outputs++
		}
	}
	for _, in := range tx.TxIn {
		found := false
		for _, op := range ops {
			found = found || op == in.PreviousOutPoint.String()
		}
		if !found {
			return fmt.Errorf("the round's input %v is none of the participants' coins", in.PreviousOutPoint)
		}
	}
	if r.outputs != r.total || r.total != len(ops) {
		return fmt.Errorf("transaction %s: %d inputs, %d outputs, %d of them of %d sat; want %d each",
			r.txid, r.inputs, r.total, r.outputs, r.denom, len(ops))
	}
	d.say("CoinJoin %s broadcast: %d inputs, %d equal outputs of %d sat, no change", short(r.txid), r.inputs, r.outputs, r.denom)
	return nil
}

// waitMixed waits until every wallet sees its output of the round
// confirmed, with an anonymity set of the round's size.
func (d *demo) waitMixed(ctx context.Context) error {
	r := &d.res.cj
	for _, p := range d.participants() {
		wctx, cancel := context.WithTimeout(ctx, coinWait)
		err := cluster.Poll(wctx, stepPoll, p.Name+"'s mixed coin to confirm", func() (bool, string) {
			cs, err := call[[]coinjoin.CoinInfo](ctx, p, http.MethodGet, "/v1/coinjoin/coins", nil)
			if err != nil {
				return false, err.Error()
			}
			for _, c := range cs {
				if strings.HasPrefix(c.Coin, r.txid+":") && c.Confirmations >= 1 {
					return c.AnonSet == r.outputs && !c.Traceable, fmt.Sprintf("mixed coin %+v", c)
				}
			}
			return false, "no mixed coin yet"
		})
		cancel()
		if err != nil {
			return err
		}
	}
	d.say("CoinJoin confirmed: every participant holds one output of %d sat, anonymity set %d", r.denom, r.outputs)
	return nil
}
