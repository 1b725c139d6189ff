package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
)

// logLine prints the swap steps, the role milestones, the offers and the
// CoinJoin of a process's log.
func (d *demo) logLine(p *cluster.Proc, r cluster.LogRecord) {
	if r.Level != "INFO" && r.Level != "WARN" && r.Level != "ERROR" {
		return
	}
	switch r.Subsystem {
	case "taker", "maker", "directory", "swap", "coinjoin":
	case "market":
		if r.Msg != "offer published" && r.Msg != "offer withdrawn" {
			return
		}
	default:
		if r.Level == "INFO" {
			return
		}
	}
	if r.Msg == "fidelity bond created" || strings.Contains(r.Msg, "registered") || r.Attrs["swap"] != nil ||
		r.Attrs["swap_id"] != nil || r.Attrs["phase"] != nil || r.Level != "INFO" ||
		r.Subsystem == "taker" || r.Subsystem == "market" || r.Subsystem == "coinjoin" {
		d.say("%-9s %s%s", p.Name+":", r.Msg, attrs(r.Attrs))
	}
}

// attrs formats a record's attributes (swap ids shortened).
func attrs(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "component" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := value(m[k])
		if (k == "swap" || k == "swap_id" || k == "id") && len(v) > 12 {
			v = v[:12]
		}
		if len(v) > 70 {
			v = v[:67] + "..."
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}

// value formats a JSON log value: byte arrays (swap ids) as hex,
// outpoints as txid:index, integral numbers without exponent.
func value(v any) string {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		var b strings.Builder
		for _, e := range x {
			f, ok := e.(float64)
			if !ok || f < 0 || f > 255 {
				return fmt.Sprint(v)
			}
			fmt.Fprintf(&b, "%02x", int(f))
		}
		return b.String()
	case map[string]any:
		if h, ok := x["Hash"].(string); ok {
			if len(h) > 12 {
				h = h[:12] + "…"
			}
			return fmt.Sprintf("%s:%s", h, value(x["Index"]))
		}
	}
	return fmt.Sprint(v)
}

func waitConfirmed(ctx context.Context, p *cluster.Proc, amount int64) error {
	for {
		b, err := p.Balances(ctx)
		if err == nil && b.Categories["regular"].Confirmed >= amount {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: funds not confirmed: %w", p.Name, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func waitMakerDone(ctx context.Context, p *cluster.Proc) error {
	for {
		ss, err := p.Client().Swaps(ctx)
		if err == nil && len(ss) > 0 {
			done := true
			for _, s := range ss {
				done = done && s.Final
			}
			if done {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: swap not finished: %w", p.Name, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitSettled waits until no wallet has unconfirmed coins or contract
// balances left (the automine confirms the sweeps).
func waitSettled(ctx context.Context, ps []*cluster.Proc) error {
	for {
		settled := true
		for _, p := range ps {
			b, err := p.Balances(ctx)
			if err != nil {
				settled = false
				break
			}
			for cat, v := range b.Categories {
				if v.Unconfirmed != 0 || ((cat == "contract" || cat == "swap_incoming") && v.Total() != 0) {
					settled = false
				}
			}
		}
		if settled {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wallets did not settle: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// leftovers lists processes still running after Stop: any of the PIDs the
// cluster started, and anything pgrep finds with the cluster directory on
// its command line (onionswap processes, their tors, btcd).
func leftovers(dir string, pids []int) []string {
	var left []string
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			left = append(left, fmt.Sprintf("pid %d", pid))
		}
	}
	out, _ := exec.Command("pgrep", "-a", "-f", dir).Output()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if pid, _ := strconv.Atoi(f[0]); pid == os.Getpid() || pid == os.Getppid() {
			continue
		}
		left = append(left, l)
	}
	return left
}

func btc(sat int64) string {
	sign := ""
	if sat < 0 {
		sign, sat = "-", -sat
	}
	return fmt.Sprintf("%s%d.%08d", sign, sat/1e8, sat%1e8)
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
