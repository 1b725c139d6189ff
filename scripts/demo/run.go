package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
)

// CoinJoin settings of every participant, with their derivation.
const (
	// cjT: the T, the least participants of a round.
	cjT = 5
	// cjPhase: each round phase's timeout. A message on an open stream of
	// the private network takes ~0.1 s, a first stream to a fresh onion a
	// few seconds (itest/coinjoin uses 10 s); 15 s leaves room for a
	// loaded 2-core machine running a dozen tors.
	cjPhase = 15 * time.Second
	// cjPatience: a leader starts once --coinjoin-start-at (every
	// participant) announcements agree; if one is slow to reach the pool,
	// T are enough after this long (the default is 10 minutes).
	cjPatience = 20 * time.Second
	// poolOutbound: each node dials one pool peer only, the first maker
	// (a star: no peer-exchange links, fewer tor circuits on 2 cores).
	poolOutbound = "1"
)

// demo is one run: the cluster, its processes and what the summary shows.
type demo struct {
	t0    time.Time
	cfg   config
	mu    sync.Mutex
	quiet atomic.Bool // the summary is printing: no step lines

	c      *cluster.Cluster
	dirP   *cluster.Proc
	taker  *cluster.Proc
	makers []*cluster.Proc
	// mixers: plain taker-role nodes that only join the CoinJoin, as many
	// as a round of cjT needs beyond the taker and the makers.
	mixers []*cluster.Proc

	followCtx context.Context
	followWG  sync.WaitGroup
	// takerReady: when the taker was ready, which the book's fill counts from.
	takerReady time.Time

	res results
}

// results is what the summary shows.
type results struct {
	offers    []market.Entry
	bookWait  time.Duration
	chatQ     string
	chatA     string
	chatRTT   time.Duration
	swap      *control.SwapReport
	swapWall  time.Duration
	route     []string // the swap's makers in route order
	cj        cjResult
	start     map[string]int64 // spendable before the swap
	afterSwap map[string]int64 // after every sweep confirmed
	funded    map[string]int64 // the CoinJoin coins paid from the faucet
	afterCJ   map[string]int64 // after the CoinJoin confirmed
	total     time.Duration
}

func (d *demo) say(format string, a ...any) {
	if d.quiet.Load() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Printf("[%6.1fs] %s\n", time.Since(d.t0).Seconds(), fmt.Sprintf(format, a...))
}

// participants of the CoinJoin: the taker, the makers, the mixers.
func (d *demo) participants() []*cluster.Proc {
	ps := append([]*cluster.Proc{d.taker}, d.makers...)
	return append(ps, d.mixers...)
}

// roundSize: every participant joins one round; at least cjT.
func roundSize(makers int) int { return max(cjT, 1+makers) }

func run(sigCtx context.Context, cfg config) (err error) {
	d := &demo{t0: time.Now(), cfg: cfg}
	ctx, cancel := context.WithTimeout(sigCtx, demoTimeout)
	defer cancel()
	// The harness's own log only on warnings: the demo prints its steps.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d.say("starting a private Tor network (3 authorities, 3 relays), a btcd regtest chain, and building onionswap")
	c, err := cluster.Start(ctx, cluster.Options{Dir: cfg.dir, KeepDir: cfg.keepDir, LogLevel: "info", Logger: log})
	if err != nil {
		return err
	}
	d.c = c
	defer func() { d.stopAll(&err, sigCtx.Err() != nil) }()
	h, _ := c.Tip(ctx)
	d.say("chain at height %d, tor network ready; directory %s", h, c.Dir())
	// Mining goes on under --keep (the signal's context, not the
	// demo's timeout): whatever one does on a dashboard confirms.
	stopMine := c.AutoMine(sigCtx, cluster.AutoMineOptions{OnMine: func(h int32, txs int) {
		d.say("chain: mined block %d (%d transactions were waiting)", h, txs)
	}})
	defer stopMine()

	followCtx, stopFollow := context.WithCancel(ctx)
	d.followCtx = followCtx
	defer func() { stopFollow(); d.followWG.Wait() }()

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"start the nodes", d.spawn},
		{"offer book", d.book},
		{"chat", d.chat},
		{"swap", d.swap},
		{"coinjoin", d.coinJoin},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	stopFollow()
	d.followWG.Wait()
	d.res.total = time.Since(d.t0)
	d.quiet.Store(true)
	d.summary()
	if cfg.keep {
		return d.keepRunning(sigCtx)
	}
	d.quiet.Store(false)
	return nil
}

// stopAll stops every process the demo started and checks that none is
// left; it turns a clean run into a failure if one is.
func (d *demo) stopAll(errp *error, interrupted bool) {
	c := d.c
	// A failure keeps the directory and shows the logs' tails; an
	// interruption (Ctrl-C, SIGTERM) needs neither.
	if *errp != nil && !interrupted {
		c.MarkFailed()
		c.DumpLogs(os.Stderr, 40)
	}
	d.quiet.Store(false)
	pids := c.PIDs()
	d.say("stopping every process the demo started (%d PIDs: onionswap, btcd, tor network; each onionswap stops its own tor)", len(pids))
	c.Stop()
	if left := leftovers(c.Dir(), pids); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "demo: processes still running: %v\n", left)
		if *errp == nil {
			*errp = fmt.Errorf("processes left running: %v", left)
		}
		return
	}
	d.say("nothing left running (checked %d PIDs with pgrep)", len(pids))
	if *errp == nil && (d.cfg.keepDir || d.cfg.dir != "") {
		d.say("data directories kept in %s", c.Dir())
	}
}

// follow prints p's log steps until the demo's steps are over.
func (d *demo) follow(p *cluster.Proc) {
	d.followWG.Add(1)
	go func() {
		defer d.followWG.Done()
		_ = p.Follow(d.followCtx, func(r cluster.LogRecord) { d.logLine(p, r) })
	}()
}

func poolArgs(peer string) []string {
	args := []string{"--pool-outbound", poolOutbound}
	if peer != "" {
		args = append(args, "--pool-peer", peer)
	}
	return args
}

// cjArgs: every participant waits for all of them (start-at) before a
// round, with the short test phases.
func (d *demo) cjArgs() []string {
	return []string{"--coinjoin-t", strconv.Itoa(cjT), "--coinjoin-start-at", strconv.Itoa(roundSize(d.cfg.makers)),
		"--coinjoin-patience", cjPatience.String(), "--coinjoin-phase-timeout", cjPhase.String()}
}

// spawn starts the directory, the first maker (everyone's pool peer),
// then the other makers, the taker and the mixers in parallel.
func (d *demo) spawn(ctx context.Context) error {
	dirP, err := d.start(ctx, cluster.Spec{Name: "directory", Role: cluster.RoleDirectory})
	if err != nil {
		return err
	}
	d.dirP = dirP
	d.say("directory ready at %s (the makers register there; the taker uses none: it finds makers in its book)", short(dirP.Onion()))
	d.makers = make([]*cluster.Proc, d.cfg.makers)
	if d.makers[0], err = d.startMaker(ctx, 1, ""); err != nil {
		return err
	}
	hub := d.makers[0].Onion()
	nMixers := roundSize(d.cfg.makers) - 1 - d.cfg.makers
	d.mixers = make([]*cluster.Proc, nMixers)
	var jobs []func() error
	for i := 1; i < d.cfg.makers; i++ {
		jobs = append(jobs, func() (err error) { d.makers[i], err = d.startMaker(ctx, i+1, hub); return err })
	}
	jobs = append(jobs, func() (err error) { d.taker, err = d.startTaker(ctx, hub); return err })
	for i := range nMixers {
		jobs = append(jobs, func() (err error) { d.mixers[i], err = d.startMixer(ctx, i+1, hub); return err })
	}
	if err := parallel(jobs...); err != nil {
		return err
	}
	return waitConfirmed(ctx, d.taker, takerFunds)
}

// start spawns p, follows its log and waits until it is ready.
func (d *demo) start(ctx context.Context, spec cluster.Spec) (*cluster.Proc, error) {
	spec.NoWait = true
	p, err := d.c.Spawn(ctx, spec)
	if err != nil {
		return nil, err
	}
	d.follow(p)
	if _, err := p.WaitReady(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// startMaker: funded, it creates its bond, waits for a block, registers
// and publishes its offer on the pool.
func (d *demo) startMaker(ctx context.Context, i int, peer string) (*cluster.Proc, error) {
	name := fmt.Sprintf("maker%d", i)
	p, err := d.start(ctx, cluster.Spec{Name: name, Role: cluster.RoleMaker, Fund: makerFunds, FundCoins: d.cfg.txCount + 2,
		Args: append(poolArgs(peer), d.cjArgs()...)})
	if err != nil {
		return nil, err
	}
	ms, err := p.Client().MakerStatus(ctx)
	if err == nil && ms.Bond != nil {
		d.say("%s ready at %s: bond %s BTC locked until block %d, registered with the directory",
			name, short(p.Onion()), btc(ms.Bond.Amount), ms.Bond.LockHeight)
	}
	return p, nil
}

func (d *demo) startTaker(ctx context.Context, peer string) (*cluster.Proc, error) {
	p, err := d.start(ctx, cluster.Spec{Name: "taker", Role: cluster.RoleTaker, Directories: []string{},
		Fund: takerFunds, FundCoins: d.cfg.txCount + 1, Args: append(poolArgs(peer), d.cjArgs()...)})
	if err != nil {
		return nil, err
	}
	d.takerReady = time.Now()
	d.say("taker ready (no directory; pool peer %s), funded with %s BTC", short(peer), btc(takerFunds))
	return p, nil
}

func (d *demo) startMixer(ctx context.Context, i int, peer string) (*cluster.Proc, error) {
	name := fmt.Sprintf("mixer%d", i)
	p, err := d.start(ctx, cluster.Spec{Name: name, Role: cluster.RoleTaker, Directories: []string{},
		Args: append(poolArgs(peer), d.cjArgs()...)})
	if err != nil {
		return nil, err
	}
	d.say("%s ready (a plain taker-role node that only joins the CoinJoin)", name)
	return p, nil
}

// parallel runs fns at once and joins their errors.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// balances records every participant's spendable coins into m.
func (d *demo) balances(ctx context.Context) (map[string]int64, error) {
	m := map[string]int64{}
	for _, p := range d.participants() {
		v, err := p.Spendable(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: balance: %w", p.Name, err)
		}
		m[p.Name] = v
	}
	return m, nil
}

// nameOf names the process behind an onion address.
func (d *demo) nameOf(onion string) string {
	for _, p := range d.participants() {
		if p.Onion() == onion {
			return p.Name
		}
	}
	return short(onion)
}
