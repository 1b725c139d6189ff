// Package cluster runs onionswap as real separate processes for integration
// tests, the demo and the benchmark: one private Tor network (tor/tornet),
// one btcd regtest chain (wallet/chain/regtest), and any number of
// onionswap processes (directory, makers, takers), each with its own data
// directory, managed tor joining the private network, and control socket.
//
// The harness builds the onionswap binary once (go build), creates wallets,
// funds them from the regtest faucet, waits for readiness through the
// control API, mines blocks on demand (AutoMine), makes the chain
// unreachable through the regtest relay (PauseChain/ResumeChain), kills a
// process with SIGKILL and restarts it from its data directory, follows the
// processes' JSON logs, dumps them on failure, and stops every process it
// started, by PID.
//
// Typical use from a TestMain (build tag itest):
//
//	func TestMain(m *testing.M) {
//		os.Exit(cluster.RunMain(m, cluster.Options{}, func(c *cluster.Cluster) { clu = c }))
//	}
//
// Processes started by the harness die with it even when the test binary
// is killed: each gets PR_SET_PDEATHSIG=SIGKILL, and each managed tor is
// owned by its onionswap process (__OwningControllerProcess).
package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/onionswap/onionswap/tor/tornet"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/chain/regtest"
)

// Timeouts of the harness (named, with their derivation).
const (
	// DefaultReadyTimeout bounds waiting for one process to be ready:
	// managed tor bootstrap on the private network ~2-5 s, onion
	// publication 1-2 s, a maker's bond confirmation and registration a
	// few seconds more; 3 minutes leaves room for a loaded 2-core machine.
	DefaultReadyTimeout = 3 * time.Minute
	// DefaultChainPoll is the children's wallet poll interval: 500 ms makes
	// blocks mined by the harness visible at once without loading btcd.
	DefaultChainPoll = 500 * time.Millisecond
	// DefaultHealthInterval is the children's chain health check interval.
	DefaultHealthInterval = time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL: a
	// daemon closes tor (HALT, up to tor's own 5 s grace), the wallet and
	// the socket well within 15 s.
	stopGrace = 15 * time.Second
	// readyPoll is the readiness polling interval.
	readyPoll = 200 * time.Millisecond
	// harnessCallTimeout bounds the harness's own RPC calls.
	harnessCallTimeout = 30 * time.Second
	// buildTimeout bounds `go build` of the binary (cold cgo sqlite build
	// on 2 cores: ~1 minute; cached: ~1 s).
	buildTimeout = 10 * time.Minute
)

// Options configures Start. The zero value works.
type Options struct {
	// Dir is the base directory (one sub-directory per process, the tor
	// network, btcd). Empty: a short temporary directory (unix socket paths
	// must stay under 108 bytes) removed by Stop unless KeepDir or a
	// process failed.
	Dir string
	// KeepDir keeps Dir at Stop.
	KeepDir bool
	// Binary is a prebuilt onionswap; empty: `go build` of the module once.
	Binary string
	// Tornet and Regtest are existing ones to use (not stopped by Stop);
	// nil: Start starts its own.
	Tornet  *tornet.Network
	Regtest *regtest.Node
	// LogLevel of the children (default "debug": logs are for failures).
	LogLevel string
	// ChainPoll and HealthInterval of the children.
	ChainPoll, HealthInterval time.Duration
	// ReadyTimeout per process (DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Logger of the harness; nil: slog.Default() with subsystem=cluster.
	Logger *slog.Logger
}

// Cluster is a running private network, chain and set of processes.
type Cluster struct {
	opts    Options
	log     *slog.Logger
	dir     string
	tempDir bool
	bin     string

	tn      *tornet.Network
	ownTn   bool
	rt      *regtest.Node
	ownRt   bool
	direct  *chain.RPC // the harness's own RPC, bypassing the relay
	rpcArgs []string

	mu      sync.Mutex
	procs   []*Proc
	names   map[string]bool
	failed  bool
	stopped bool
}

// Start builds the binary and starts (or adopts) the Tor network and the
// chain. On error everything started is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default().With("subsystem", "cluster")
	}
	opts.LogLevel = cmp.Or(opts.LogLevel, "debug")
	opts.ChainPoll = cmp.Or(opts.ChainPoll, DefaultChainPoll)
	opts.HealthInterval = cmp.Or(opts.HealthInterval, DefaultHealthInterval)
	opts.ReadyTimeout = cmp.Or(opts.ReadyTimeout, DefaultReadyTimeout)
	c = &Cluster{opts: opts, log: opts.Logger, names: map[string]bool{}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if opts.Dir == "" {
		if c.dir, err = os.MkdirTemp("", "osw-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	} else {
		if c.dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(c.dir, 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(c.dir, 0o700); err != nil {
		return nil, err
	}

	// Build, tor network and chain in parallel: they are independent and
	// each takes seconds.
	var wg sync.WaitGroup
	var buildErr, tnErr, rtErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		c.bin, buildErr = c.build(ctx)
	}()
	go func() {
		defer wg.Done()
		if opts.Tornet != nil {
			c.tn = opts.Tornet
			return
		}
		t0 := time.Now()
		c.tn, tnErr = tornet.Start(ctx, tornet.Options{Dir: filepath.Join(c.dir, "tornet"), Logger: c.log.With("part", "tornet")})
		if tnErr == nil {
			c.ownTn = true
			c.log.Info("private tor network ready", "took", time.Since(t0).Round(time.Millisecond))
		}
	}()
	go func() {
		defer wg.Done()
		if opts.Regtest != nil {
			c.rt = opts.Regtest
			return
		}
		t0 := time.Now()
		c.rt, rtErr = regtest.Start(ctx, regtest.Options{Dir: filepath.Join(c.dir, "btcd"), Logger: c.log.With("part", "regtest")})
		if rtErr == nil {
			c.ownRt = true
			c.log.Info("regtest chain ready", "took", time.Since(t0).Round(time.Millisecond))
		}
	}()
	wg.Wait()
	if err := errors.Join(buildErr, tnErr, rtErr); err != nil {
		return nil, err
	}
	dc := c.rt.DirectRPCConfig()
	dc.Logger = c.log.With("part", "chain")
	if c.direct, err = chain.DialRPC(ctx, dc); err != nil {
		return nil, fmt.Errorf("cluster: direct RPC: %w", err)
	}
	rc := c.rt.RPCConfig()
	c.rpcArgs = []string{"--network", "regtest", "--rpc-host", rc.Host, "--rpc-user", rc.User, "--rpc-pass", rc.Pass}
	if rc.DisableTLS {
		c.rpcArgs = append(c.rpcArgs, "--rpc-notls")
	}
	return c, nil
}

// build compiles the onionswap binary into the cluster dir (or uses
// Options.Binary / $ONIONSWAP_BIN).
func (c *Cluster) build(ctx context.Context) (string, error) {
	if c.opts.Binary != "" {
		return c.opts.Binary, nil
	}
	if b := os.Getenv("ONIONSWAP_BIN"); b != "" {
		return b, nil
	}
	root, err := regtest.ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(c.dir, "onionswap")
	bctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	t0 := time.Now()
	cmd := exec.CommandContext(bctx, "go", "build", "-o", out, "./cmd/onionswap")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cluster: go build: %w\n%s", err, b)
	}
	c.log.Info("onionswap built", "bin", out, "took", time.Since(t0).Round(time.Millisecond))
	return out, nil
}

// Dir is the cluster's base directory.
func (c *Cluster) Dir() string { return c.dir }

// Binary is the onionswap binary the processes run.
func (c *Cluster) Binary() string { return c.bin }

// Tornet is the private Tor network.
func (c *Cluster) Tornet() *tornet.Network { return c.tn }

// Regtest is the chain.
func (c *Cluster) Regtest() *regtest.Node { return c.rt }

// Backend is a chain backend that bypasses the relay (unaffected by
// PauseChain): for the harness's and the tests' own checks.
func (c *Cluster) Backend() chain.Backend { return c.direct }

// RPCArgs are the chain flags every process gets (through the relay).
func (c *Cluster) RPCArgs() []string { return append([]string(nil), c.rpcArgs...) }

// Params is regtest.
func (c *Cluster) Params() *chaincfg.Params { return &chaincfg.RegressionNetParams }

// Mine mines n blocks.
func (c *Cluster) Mine(ctx context.Context, n int) ([]chainhash.Hash, error) {
	ctx, cancel := context.WithTimeout(ctx, harnessCallTimeout)
	defer cancel()
	return c.rt.Mine(ctx, n)
}

// Tip is the chain's height.
func (c *Cluster) Tip(ctx context.Context) (int32, error) {
	h, _, err := c.direct.Tip(ctx)
	return h, err
}

// PauseChain makes the chain unreachable for every process (the relay
// drops connections); the harness's own Backend still works.
func (c *Cluster) PauseChain() {
	c.log.Info("chain paused")
	c.rt.Pause()
}

// ResumeChain makes it reachable again.
func (c *Cluster) ResumeChain() {
	c.rt.Resume()
	c.log.Info("chain resumed")
}

// FundAddress pays amount to addr from the faucet (not mined).
func (c *Cluster) FundAddress(ctx context.Context, addr string, amount btcutil.Amount) (chainhash.Hash, error) {
	a, err := btcutil.DecodeAddress(addr, c.Params())
	if err != nil {
		return chainhash.Hash{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, harnessCallTimeout)
	defer cancel()
	tx, err := c.rt.Fund(ctx, a, amount)
	if err != nil {
		return chainhash.Hash{}, err
	}
	return tx.TxHash(), nil
}

// Fund pays amount to a fresh receive address of p (through its control
// API when it runs, the offline wallet command otherwise) and returns the
// txid. Mine to confirm it.
func (c *Cluster) Fund(ctx context.Context, p *Proc, amount btcutil.Amount) (chainhash.Hash, error) {
	addr, err := p.NewAddress(ctx)
	if err != nil {
		return chainhash.Hash{}, err
	}
	txid, err := c.FundAddress(ctx, addr, amount)
	if err == nil {
		c.log.Info("funded", "proc", p.Name, "amount", amount, "txid", txid)
	}
	return txid, err
}

// AutoMineOptions tunes AutoMine.
type AutoMineOptions struct {
	// Interval between mempool checks (default 500 ms).
	Interval time.Duration
	// Depth blocks are mined each time the mempool is non-empty (default
	// 1); set it to the required confirmations to satisfy them at once.
	Depth int
	// OnMine, if set, is called after each batch with the new tip.
	OnMine func(height int32, mempoolTxs int)
}

// AutoMine mines whenever the mempool holds transactions, until the
// returned stop is called (or ctx ends). "Blocks mined as soon as they
// are needed": nobody waits for a block interval, and no block is mined
// that nothing waits for.
func (c *Cluster) AutoMine(ctx context.Context, o AutoMineOptions) (stop func()) {
	o.Interval = cmp.Or(o.Interval, 500*time.Millisecond)
	o.Depth = cmp.Or(o.Depth, 1)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ids, err := c.direct.MempoolTxids(ctx)
			if err != nil || len(ids) == 0 {
				continue
			}
			if _, err := c.Mine(ctx, o.Depth); err != nil {
				if ctx.Err() == nil {
					c.log.Warn("automine", "err", err)
				}
				continue
			}
			if o.OnMine != nil {
				h, _ := c.Tip(ctx)
				o.OnMine(h, len(ids))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Procs returns every process spawned so far.
func (c *Cluster) Procs() []*Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Proc(nil), c.procs...)
}

// MarkFailed keeps the directory at Stop (for post-mortems) and is what
// RunMain calls when tests failed.
func (c *Cluster) MarkFailed() {
	c.mu.Lock()
	c.failed = true
	c.mu.Unlock()
}

// DumpLogs writes the last tail lines of every process's log and stderr
// to w (tail ≤ 0: 100).
func (c *Cluster) DumpLogs(w io.Writer, tail int) {
	if tail <= 0 {
		tail = 100
	}
	for _, p := range c.Procs() {
		for _, f := range []string{p.LogPath(), p.StderrPath()} {
			b, err := os.ReadFile(f)
			if err != nil || len(b) == 0 {
				continue
			}
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > tail {
				lines = lines[len(lines)-tail:]
			}
			fmt.Fprintf(w, "==== %s: %s (last %d lines) ====\n%s\n", p.Name, f, len(lines), strings.Join(lines, "\n"))
		}
	}
}

// Stop stops every process (SIGTERM, SIGKILL after a grace period, in
// parallel), then the chain and the Tor network if the cluster started
// them, and removes a temporary directory unless a failure was marked.
// Idempotent.
func (c *Cluster) Stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	procs := append([]*Proc(nil), c.procs...)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Stop()
		}()
	}
	wg.Wait()
	if c.direct != nil {
		c.direct.Close()
	}
	if c.ownRt && c.rt != nil {
		c.rt.Stop()
	}
	if c.ownTn && c.tn != nil {
		if err := c.tn.Stop(); err != nil {
			c.log.Warn("stopping tor network", "err", err)
		}
	}
	c.mu.Lock()
	failed := c.failed
	c.mu.Unlock()
	if c.tempDir && !c.opts.KeepDir && !failed {
		os.RemoveAll(c.dir)
	} else if c.dir != "" {
		c.log.Info("cluster directory kept", "dir", c.dir)
	}
}

// PIDs of every process the cluster started and that still runs
// (onionswap processes, and the chain and tors if it owns them).
func (c *Cluster) PIDs() []int {
	var pids []int
	for _, p := range c.Procs() {
		if pid := p.PID(); pid > 0 {
			pids = append(pids, pid)
		}
	}
	if c.ownRt && c.rt != nil {
		pids = append(pids, c.rt.PID())
	}
	if c.ownTn && c.tn != nil {
		pids = append(pids, c.tn.PIDs()...)
	}
	sort.Ints(pids)
	return pids
}

// Runner is what RunMain runs: *testing.M.
type Runner interface{ Run() int }

// RunMain is a TestMain body: it starts a cluster, hands it to set, runs the
// tests, dumps the processes' logs to stderr if they failed, and stops
// everything (also on SIGINT/SIGTERM). Use as
// os.Exit(cluster.RunMain(m, opts, func(c *cluster.Cluster) { clu = c })).
func RunMain(m Runner, opts Options, set func(*Cluster)) (code int) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	stopOnSignal := context.AfterFunc(ctx, c.Stop)
	defer stopOnSignal()
	defer func() {
		if r := recover(); r != nil {
			c.MarkFailed()
			c.DumpLogs(os.Stderr, 200)
			c.Stop()
			panic(r)
		}
		if code != 0 {
			c.MarkFailed()
			c.DumpLogs(os.Stderr, 200)
		}
		c.Stop()
	}()
	set(c)
	return m.Run()
}

// Proc returns the process named name (nil if none).
func (c *Cluster) Proc(name string) *Proc {
	for _, p := range c.Procs() {
		if p.Name == name {
			return p
		}
	}
	return nil
}
