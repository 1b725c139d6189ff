// Command demo is `make demo`: a whole CoinSwap between separate onionswap
// processes on a private Tor network and a btcd regtest chain, all on
// 127.0.0.1. It starts the network, the chain, one directory, two makers
// and a taker (each its own process, data dir, managed tor and onion
// service); funds them; lets the makers create their fidelity bonds and
// register; runs a 2-maker swap with 3 funding transactions per hop while
// printing each step from the processes' logs; prints a summary; and stops
// every process it started.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
)

const (
	// makerFunds: each maker's wallet; its bond takes 0.005 BTC, the rest
	// is swap liquidity (the swap forwards about 0.05 BTC).
	makerFunds = 20_000_000
	// takerFunds: the taker's wallet; it swaps swapAmount.
	takerFunds = 10_000_000
	swapAmount = 5_000_000
	// demoTimeout: the whole demo takes 1-3 minutes on 2 cores; 10
	// minutes means something is stuck.
	demoTimeout = 10 * time.Minute
)

func main() {
	keep := flag.Bool("keep", false, "keep the data directories (logs, wallets) after the demo")
	dir := flag.String("dir", "", "base directory (default: a temporary one)")
	makers := flag.Int("makers", 2, "makers in the route")
	txCount := flag.Int("tx-count", 3, "funding transactions per hop")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	if err := run(ctx, *dir, *keep, *makers, *txCount); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

type demo struct {
	t0    time.Time
	mu    sync.Mutex
	c     *cluster.Cluster
	procs []*cluster.Proc
}

func (d *demo) say(format string, a ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Printf("[%6.1fs] %s\n", time.Since(d.t0).Seconds(), fmt.Sprintf(format, a...))
}

func run(ctx context.Context, dir string, keep bool, nMakers, txCount int) (err error) {
	d := &demo{t0: time.Now()}
	// The harness's own log only on warnings: the demo prints its steps.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d.say("starting a private Tor network (3 authorities, 3 relays), a btcd regtest chain, and building onionswap")
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, KeepDir: keep, LogLevel: "info", Logger: log})
	if err != nil {
		return err
	}
	d.c = c
	var pids []int
	defer func() {
		if err != nil {
			c.MarkFailed()
			c.DumpLogs(os.Stderr, 40)
		}
		pids = c.PIDs()
		d.say("stopping every process the demo started (%d PIDs: onionswap, btcd, tor network; each onionswap stops its own tor)", len(pids))
		c.Stop()
		if left := leftovers(c.Dir(), pids); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "demo: processes still running: %v\n", left)
			if err == nil {
				err = fmt.Errorf("processes left running: %v", left)
			}
			return
		}
		d.say("nothing left running (checked %d PIDs with pgrep)", len(pids))
		if err == nil && (keep || dir != "") {
			d.say("data directories kept in %s", c.Dir())
		}
	}()
	h, _ := c.Tip(ctx)
	d.say("chain at height %d, tor network ready; directory %s", h, c.Dir())
	stopMine := c.AutoMine(ctx, cluster.AutoMineOptions{OnMine: func(h int32, txs int) {
		d.say("chain: mined block %d (%d transactions were waiting)", h, txs)
	}})
	defer stopMine()

	followCtx, stopFollow := context.WithCancel(ctx)
	var followWG sync.WaitGroup
	defer func() { stopFollow(); followWG.Wait() }()
	follow := func(p *cluster.Proc) {
		followWG.Add(1)
		go func() {
			defer followWG.Done()
			_ = p.Follow(followCtx, func(r cluster.LogRecord) { d.logLine(p, r) })
		}()
	}

	dirP, err := c.Spawn(ctx, cluster.Spec{Name: "directory", Role: cluster.RoleDirectory, NoWait: true})
	if err != nil {
		return err
	}
	follow(dirP)
	if _, err := dirP.WaitReady(ctx); err != nil {
		return err
	}
	d.say("directory ready at %s", short(dirP.Onion()))

	// Makers in parallel: each is funded, creates its bond, waits for a
	// block, and registers.
	makersP := make([]*cluster.Proc, nMakers)
	errs := make([]error, nMakers)
	var wg sync.WaitGroup
	for i := range nMakers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("maker%d", i+1)
			p, err := c.Spawn(ctx, cluster.Spec{Name: name, Role: cluster.RoleMaker, Fund: makerFunds, FundCoins: txCount + 2, NoWait: true})
			if err != nil {
				errs[i] = err
				return
			}
			makersP[i] = p
			follow(p)
			if _, err := p.WaitReady(ctx); err != nil {
				errs[i] = err
				return
			}
			ms, err := p.Client().MakerStatus(ctx)
			if err == nil && ms.Bond != nil {
				d.say("%s ready at %s: bond %s BTC locked until block %d, registered with the directory",
					name, short(p.Onion()), btc(ms.Bond.Amount), ms.Bond.LockHeight)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	takerP, err := c.Spawn(ctx, cluster.Spec{Name: "taker", Role: cluster.RoleTaker, Fund: takerFunds, FundCoins: txCount + 1, NoWait: true})
	if err != nil {
		return err
	}
	follow(takerP)
	if _, err := takerP.WaitReady(ctx); err != nil {
		return err
	}
	if err := waitConfirmed(ctx, takerP, takerFunds); err != nil {
		return err
	}
	d.say("taker ready with %s BTC confirmed", btc(takerFunds))

	before := map[string]int64{}
	all := append([]*cluster.Proc{takerP}, makersP...)
	for _, p := range all {
		b, err := p.Balances(ctx)
		if err != nil {
			return err
		}
		before[p.Name] = spendable(b)
	}

	d.say("taker: swapping %s BTC through %d makers, %d funding transactions per hop", btc(swapAmount), nMakers, txCount)
	tSwap := time.Now()
	rep, err := takerP.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: swapAmount, Makers: nMakers, TxCount: txCount})
	if err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	swapWall := time.Since(tSwap)
	d.say("taker: swap %s %s in %s", short(rep.SwapID), rep.Outcome, swapWall.Round(time.Millisecond))

	// The makers sweep their incoming coins once they have the keys.
	for _, p := range makersP {
		if err := waitMakerDone(ctx, p); err != nil {
			return err
		}
	}
	d.say("every maker swept its incoming coins; waiting for the wallets to settle")
	if err := waitSettled(ctx, c, all); err != nil {
		return err
	}
	after := map[string]int64{}
	for _, p := range all {
		b, err := p.Balances(ctx)
		if err != nil {
			return err
		}
		after[p.Name] = spendable(b)
	}
	stopFollow()
	followWG.Wait()
	summary(rep, swapWall, before, after, makersP)
	return nil
}

// logLine prints the swap steps and role milestones of a process's log.
func (d *demo) logLine(p *cluster.Proc, r cluster.LogRecord) {
	if r.Level != "INFO" && r.Level != "WARN" && r.Level != "ERROR" {
		return
	}
	switch r.Subsystem {
	case "taker", "maker", "directory", "swap":
	default:
		if r.Level == "INFO" {
			return
		}
	}
	if r.Msg == "fidelity bond created" || strings.Contains(r.Msg, "registered") || r.Attrs["swap"] != nil ||
		r.Attrs["swap_id"] != nil || r.Attrs["phase"] != nil || r.Level != "INFO" || r.Subsystem == "taker" {
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

func spendable(b *control.Balances) int64 {
	var t int64
	for _, cat := range []string{"regular", "swept"} {
		t += b.Categories[cat].Total()
	}
	return t
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
func waitSettled(ctx context.Context, c *cluster.Cluster, ps []*cluster.Proc) error {
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

func summary(r *control.SwapReport, wall time.Duration, before, after map[string]int64, makers []*cluster.Proc) {
	fmt.Println()
	fmt.Println("================ CoinSwap summary ================")
	fmt.Printf("route: taker → %d makers → taker, %d funding transactions per hop\n", r.Makers, r.TxCount)
	fmt.Printf("taker sent        %s BTC (hop 0)\n", btc(r.AmountSent))
	fmt.Printf("taker received    %s BTC (last hop, before its sweep fee)\n", btc(r.AmountReceived))
	var makerTotal int64
	for _, f := range r.MakerFees {
		fmt.Printf("route maker %d     fee %d sat + mining-fee reimbursement %d sat\n", f.Hop, f.Fee, f.Reimbursement)
		makerTotal += f.Fee + f.Reimbursement
	}
	fmt.Printf("taker mining fees %d sat (funding + sweep)\n", r.MiningFees)
	fmt.Printf("taker total cost  %d sat = maker fees and reimbursements %d + mining fees %d\n", makerTotal+r.MiningFees, makerTotal, r.MiningFees)
	fmt.Println("wallet changes (regular + swept, after every sweep confirmed; makers named by process, not route position):")
	names := make([]string, 0, len(before))
	for n := range before {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("  %-8s %s → %s BTC (%+d sat)\n", n, btc(before[n]), btc(after[n]), after[n]-before[n])
	}
	fmt.Println("time per phase (wall, of which waiting for blocks):")
	for _, p := range r.Phases {
		fmt.Printf("  %-16s %8s  (blocks %s)\n", p.Name, p.Duration.Round(time.Millisecond), p.BlockWait.Round(time.Millisecond))
	}
	fmt.Printf("swap total        %s (block waits %s; excluding them %s)\n", r.Duration.Round(time.Millisecond),
		r.BlockWait.Round(time.Millisecond), (r.Duration - r.BlockWait).Round(time.Millisecond))
	fmt.Printf("wire              %d round trips, %d connections, %d bytes sent, %d received, %d attempt(s)\n",
		r.RoundTrips, r.Connections, r.BytesSent, r.BytesReceived, r.Attempts)
	fmt.Printf("request wall time %s\n", wall.Round(time.Millisecond))
	if len(r.Txids) > 0 {
		b, _ := json.Marshal(r.Txids)
		fmt.Printf("txids             %s\n", b)
	}
	fmt.Println("==================================================")
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
