package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
)

// handler serves the control API from a Daemon.
type handler struct{ d *Daemon }

var _ control.Handler = (*handler)(nil)

func (h *handler) Status(ctx context.Context) (*control.Status, error) {
	return h.d.Status(ctx), nil
}

func (h *handler) wallet() (*wallet.Wallet, error) {
	h.d.mu.Lock()
	w := h.d.wallet
	h.d.mu.Unlock()
	if w != nil {
		return w, nil
	}
	if h.d.cfg.Role == RoleDirectory {
		return nil, fmt.Errorf("%w: a directory has no wallet", control.ErrNotAvailable)
	}
	return nil, fmt.Errorf("%w: wallet not open yet", control.ErrUnavailable)
}

func (h *handler) role() (Role, error) {
	h.d.mu.Lock()
	r := h.d.role
	h.d.mu.Unlock()
	if r == nil {
		if h.d.cfg.Role == RoleWallet {
			return nil, fmt.Errorf("%w: wallet-only node", control.ErrNotAvailable)
		}
		return nil, fmt.Errorf("%w: %s still starting", control.ErrUnavailable, h.d.cfg.Role)
	}
	return r, nil
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
			Height: c.Height, Confirmations: c.Confirmations, Coinbase: c.Coinbase, Reserved: c.Reserved}
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

func (h *handler) Balances(ctx context.Context) (*control.Balances, error) {
	w, err := h.wallet()
	if err != nil {
		return nil, err
	}
	return WalletBalances(ctx, w)
}

func (h *handler) Coins(ctx context.Context, category string, all bool) ([]control.Coin, error) {
	w, err := h.wallet()
	if err != nil {
		return nil, err
	}
	return WalletCoins(ctx, w, category, all)
}

func (h *handler) NewAddress(ctx context.Context, req control.AddressRequest) (*control.AddressReply, error) {
	w, err := h.wallet()
	if err != nil {
		return nil, err
	}
	a, err := WalletNewAddress(ctx, w, req.Kind)
	if err != nil {
		return nil, err
	}
	return &control.AddressReply{Address: a}, nil
}

func (h *handler) Send(ctx context.Context, req control.SendRequest) (*control.SendReply, error) {
	w, err := h.wallet()
	if err != nil {
		return nil, err
	}
	if !h.d.healthy() {
		return nil, fmt.Errorf("%w: chain backend unreachable", control.ErrUnavailable)
	}
	return WalletSend(ctx, w, req)
}

func (h *handler) Swaps(ctx context.Context) ([]control.SwapInfo, error) {
	r, err := h.role()
	if err != nil {
		return nil, err
	}
	return r.Swaps(ctx)
}

func (h *handler) Swap(ctx context.Context, id string) (*control.SwapInfo, error) {
	r, err := h.role()
	if err != nil {
		return nil, err
	}
	return r.Swap(ctx, id)
}

func (h *handler) TakerSwap(ctx context.Context, req control.TakerSwapRequest) (*control.SwapReport, error) {
	r, err := h.role()
	if err != nil {
		return nil, err
	}
	if !h.d.healthy() {
		return nil, fmt.Errorf("%w: chain backend unreachable: no new swap", control.ErrUnavailable)
	}
	return r.TakerSwap(ctx, req)
}

func (h *handler) TakerRecover(ctx context.Context) (*control.RecoverReply, error) {
	r, err := h.role()
	if err != nil {
		return nil, err
	}
	return r.TakerRecover(ctx)
}

func (h *handler) MakerStatus(ctx context.Context) (*control.MakerStatus, error) {
	r, err := h.role()
	if err != nil {
		return nil, err
	}
	return r.MakerStatus(ctx)
}

func (h *handler) DirectoryEntries(ctx context.Context) ([]control.DirectoryEntry, error) {
	r, err := h.role()
	if err != nil {
		return nil, err
	}
	return r.DirectoryEntries(ctx)
}

func scriptAddress(pkScript []byte, w *wallet.Wallet) (string, error) {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(pkScript, w.Params())
	if err != nil || len(addrs) != 1 {
		return "", errors.New("no single address")
	}
	return addrs[0].EncodeAddress(), nil
}
