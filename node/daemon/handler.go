package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
)

// registerControl adds the daemon's own endpoints: status, stop and the
// wallet's. Each service adds its own (service.Controlled) when it is
// built.
func (d *Daemon) registerControl(r *control.Router) {
	control.Get(r, "/v1/status", func(ctx context.Context, _ control.Request) (*control.Status, error) {
		return d.Status(ctx), nil
	})
	control.Post(r, "/v1/stop", func(context.Context, control.Empty) (control.Empty, error) {
		// After the reply: Stop closes the control socket this request
		// came through.
		d.log.Info("stop requested through the control API")
		time.AfterFunc(100*time.Millisecond, func() { d.fail(nil) })
		return control.Empty{}, nil
	})
	control.Get(r, "/v1/wallet/balances", func(ctx context.Context, _ control.Request) (*control.Balances, error) {
		w, err := d.openWallet()
		if err != nil {
			return nil, err
		}
		return WalletBalances(ctx, w)
	})
	control.Get(r, "/v1/wallet/coins", func(ctx context.Context, q control.Request) ([]control.Coin, error) {
		w, err := d.openWallet()
		if err != nil {
			return nil, err
		}
		all, _ := strconv.ParseBool(q.Query.Get("all"))
		return WalletCoins(ctx, w, q.Query.Get("category"), all)
	})
	control.Post(r, "/v1/wallet/address", func(ctx context.Context, req control.AddressRequest) (*control.AddressReply, error) {
		w, err := d.openWallet()
		if err != nil {
			return nil, err
		}
		a, err := WalletNewAddress(ctx, w, req.Kind)
		if err != nil {
			return nil, err
		}
		return &control.AddressReply{Address: a}, nil
	})
	control.Post(r, "/v1/wallet/send", func(ctx context.Context, req control.SendRequest) (*control.SendReply, error) {
		w, err := d.openWallet()
		if err != nil {
			return nil, err
		}
		if !d.healthy() {
			return nil, fmt.Errorf("%w: chain backend unreachable", control.ErrUnavailable)
		}
		return WalletSend(ctx, w, req)
	})
}

func (d *Daemon) openWallet() (*wallet.Wallet, error) {
	d.mu.Lock()
	w := d.wallet
	d.mu.Unlock()
	if w != nil {
		return w, nil
	}
	if d.cfg.Role == RoleDirectory {
		return nil, fmt.Errorf("%w: a directory has no wallet", control.ErrNotAvailable)
	}
	return nil, fmt.Errorf("%w: wallet not open yet", control.ErrUnavailable)
}

// WalletBalances converts wallet balances for the API.
func WalletBalances(ctx context.Context, w *wallet.Wallet) (*control.Balances, error) {
	bs, err := w.Balances(ctx)
	if err != nil {
		return nil, err
	}
	out := &control.Balances{Categories: map[string]control.Balance{}}
	for c, b := range bs {
		out.Categories[string(c)] = control.Balance{Confirmed: int64(b.Confirmed), Unconfirmed: int64(b.Unconfirmed)}
	}
	out.Height, _ = w.SyncedHeight(ctx)
	return out, nil
}

// WalletCoins converts wallet coins for the API.
func WalletCoins(ctx context.Context, w *wallet.Wallet, category string, all bool) ([]control.Coin, error) {
	cat := wallet.Category(category)
	if category != "" && !cat.Valid() {
		return nil, fmt.Errorf("%w: unknown category %q", control.ErrBadRequest, category)
	}
	coins, err := w.ListCoins(ctx, cat, !all)
	if err != nil {
		return nil, err
	}
	out := make([]control.Coin, 0, len(coins))
	for _, c := range coins {
		cc := control.Coin{OutPoint: c.OutPoint.String(), Value: int64(c.Value), Category: string(c.Category),
			Height: c.Height, Confirmations: c.Confirmations, Coinbase: c.Coinbase, Reserved: c.Reserved,
			AnonSet: c.AnonSet, Traceable: c.Traceable(wallet.DefaultAnonTarget)}
		if c.SpentBy != nil {
			cc.SpentBy = c.SpentBy.String()
		}
		if a := addressOf(c.PkScript, w); a != "" {
			cc.Address = a
		}
		out = append(out, cc)
	}
	return out, nil
}

// WalletNewAddress hands out an address of kind.
func WalletNewAddress(ctx context.Context, w *wallet.Wallet, kind string) (string, error) {
	var b keys.Branch
	switch kind {
	case "", control.AddressReceive:
		b = keys.BranchExternal
	case control.AddressSwept:
		b = keys.BranchSwept
	default:
		return "", fmt.Errorf("%w: address kind %q: want receive or swept", control.ErrBadRequest, kind)
	}
	a, err := w.NewAddress(ctx, b)
	if err != nil {
		return "", err
	}
	return a.EncodeAddress(), nil
}

// WalletSend pays as req says.
func WalletSend(ctx context.Context, w *wallet.Wallet, req control.SendRequest) (*control.SendReply, error) {
	addr, err := btcutil.DecodeAddress(req.Address, w.Params())
	if err != nil || !addr.IsForNet(w.Params()) {
		return nil, fmt.Errorf("%w: address %q is not a %s address", control.ErrBadRequest, req.Address, w.Params().Name)
	}
	if req.FeeRate != 0 && (req.FeeRate < wallet.MinFeeRate || req.FeeRate > wallet.MaxFeeRate) {
		return nil, fmt.Errorf("%w: fee rate %d sat/kvB outside [%d, %d]", control.ErrBadRequest,
			req.FeeRate, wallet.MinFeeRate, wallet.MaxFeeRate)
	}
	var sent *wallet.SentTx
	if req.Max {
		cat := wallet.Category(req.Category)
		if cat == "" {
			cat = wallet.Regular
		}
		if req.Amount != 0 {
			return nil, fmt.Errorf("%w: give an amount or max, not both", control.ErrBadRequest)
		}
		sent, err = w.SendMax(ctx, addr, cat, req.FeeRate)
	} else {
		if req.Amount <= 0 {
			return nil, fmt.Errorf("%w: amount must be positive", control.ErrBadRequest)
		}
		if req.Category != "" && req.Category != string(wallet.Regular) {
			return nil, fmt.Errorf("%w: only --max spends category %s", control.ErrBadRequest, req.Category)
		}
		sent, err = w.Send(ctx, addr, btcutil.Amount(req.Amount), req.FeeRate)
	}
	if err != nil {
		if errors.Is(err, wallet.ErrInsufficientFunds) || errors.Is(err, wallet.ErrDust) ||
			errors.Is(err, wallet.ErrNotSpendable) {
			return nil, fmt.Errorf("%w: %w", control.ErrBadRequest, err)
		}
		if errors.Is(err, chain.ErrUnreachable) || errors.Is(err, chain.ErrWarmingUp) { // bitcoind restarting: try later
			return nil, fmt.Errorf("%w: %w", control.ErrUnavailable, err)
		}
		return nil, err
	}
	return &control.SendReply{Txid: sent.Txid.String(), Fee: int64(sent.Fee)}, nil
}

func addressOf(pkScript []byte, w *wallet.Wallet) string {
	a, err := scriptAddress(pkScript, w)
	if err != nil {
		return ""
	}
	return a
}

func scriptAddress(pkScript []byte, w *wallet.Wallet) (string, error) {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(pkScript, w.Params())
	if err != nil || len(addrs) != 1 {
		return "", errors.New("no single address")
	}
	return addrs[0].EncodeAddress(), nil
}
