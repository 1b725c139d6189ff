package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/onionswap/onionswap/node/daemon"
	"github.com/onionswap/onionswap/wallet"
)

// runNode is the body of `onionswap <role> run`.
func runNode(e *env) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		d, err := daemon.New(*e.cfg, daemon.Options{Version: version, Stderr: e.stderr})
		if err != nil {
			return err
		}
		return d.Run(ctx)
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sats formats satoshis as BTC with 8 decimals.
func sats(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%08d", sign, v/1e8, v%1e8)
}

// parseAmount accepts satoshis ("150000") or BTC with a unit ("0.0015btc").
func parseAmount(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	bad := fmt.Errorf("amount %q: want satoshis (150000) or BTC with the unit (0.0015btc)", s)
	if b, ok := strings.CutSuffix(s, "btc"); ok {
		whole, frac, _ := strings.Cut(strings.TrimSpace(b), ".")
		if len(frac) > 8 || (whole == "" && frac == "") {
			return 0, bad
		}
		frac += strings.Repeat("0", 8-len(frac))
		if whole == "" {
			whole = "0"
		}
		w, err1 := strconv.ParseUint(whole, 10, 32)
		f, err2 := strconv.ParseUint(frac, 10, 32)
		if err1 != nil || err2 != nil || w > 21e6 {
			return 0, bad
		}
		return int64(w)*1e8 + int64(f), nil
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(s, "sat"), 10, 63)
	if err != nil || v > 21e14 {
		return 0, bad
	}
	return int64(v), nil
}

// parseFeeRate reads a fee rate in sat/vB, as bitcoin-cli and lncli take
// it (decimals allowed: 1.5), and returns it in the wallet's sat/kvB. ""
// and "0" mean the backend's estimate (0).
func parseFeeRate(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 3 {
		return 0, fmt.Errorf("fee rate %s sat/vB: at most 3 decimals (the wallet counts in sat/kvB)", s)
	}
	frac += strings.Repeat("0", 3-len(frac))
	if whole == "" {
		whole = "0"
	}
	w, err1 := strconv.ParseUint(whole, 10, 32)
	f, err2 := strconv.ParseUint(frac, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("fee rate %q: want sat/vB, e.g. 2 or 1.5", s)
	}
	kvb := int64(w)*1000 + int64(f)
	switch {
	case kvb == 0:
		return 0, nil
	case kvb < wallet.MinFeeRate:
		return 0, fmt.Errorf("fee rate %s sat/vB is below the minimum relay fee of %s sat/vB", s, satPerVB(wallet.MinFeeRate))
	case kvb > wallet.MaxFeeRate:
		return 0, fmt.Errorf("fee rate %s sat/vB is above the %s sat/vB sanity limit", s, satPerVB(wallet.MaxFeeRate))
	}
	return kvb, nil
}

// satPerVB formats sat/kvB as sat/vB.
func satPerVB(kvb int64) string {
	s := strconv.FormatInt(kvb/1000, 10)
	if r := kvb % 1000; r != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%03d", r), "0")
	}
	return s
}
