package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/onionswap/onionswap/node/control"
)

// Roles of spawned processes (the `onionswap <role> run` commands).
const (
	RoleDirectory = "directory"
	RoleMaker     = "maker"
	RoleTaker     = "taker"
)

// Spec describes one onionswap process.
type Spec struct {
	// Name is unique in the cluster and names the data directory.
	Name string
	// Role: RoleDirectory, RoleMaker or RoleTaker.
	Role string
	// Directories the maker registers with / the taker lists (onion
	// addresses); nil: every directory of the cluster that is running.
	Directories []string
	// Faults is the fault-injection plan (--fault, regtest only).
	Faults []string
	// Args are extra flags of `onionswap <role> run`.
	Args []string
	// Passphrase encrypts the wallet (written to a 0600 file).
	Passphrase string
	// Fund, if > 0, pays this amount to the wallet before the process
	// starts and mines one block, so a maker can create its bond at once.
	Fund btcutil.Amount
	// FundCoins splits Fund into this many equal coins (default 1). A
	// sender needs one confirmed coin per funding transaction of its hop
	// (its funding txs are built before any is broadcast, so none can
	// spend another's change), and a maker one more for its bond.
	FundCoins int
	// NoWait returns from Spawn without waiting for readiness.
	NoWait bool
}

// Proc is one onionswap process of the cluster (and its data directory,
// which outlives the process: Restart starts it again from there).
type Proc struct {
	Name, Role string
	// DataDir of the instance.
	DataDir string

	c    *Cluster
	args []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	exitErr error
	stderr  *os.File
	client  *control.Client
	onion   string
	stopped bool
}

// Spawn creates the data directory (and wallet for makers and takers),
// starts the process and, unless spec.NoWait, waits until it is ready.
func (c *Cluster) Spawn(ctx context.Context, spec Spec) (*Proc, error) {
	switch spec.Role {
	case RoleDirectory, RoleMaker, RoleTaker:
	default:
		return nil, fmt.Errorf("cluster: unknown role %q", spec.Role)
	}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil, errors.New("cluster: stopped")
	}
	if spec.Name == "" || c.names[spec.Name] || strings.ContainsAny(spec.Name, "/ ") {
		c.mu.Unlock()
		return nil, fmt.Errorf("cluster: process name %q is empty, invalid or taken", spec.Name)
	}
	c.names[spec.Name] = true
	c.mu.Unlock()

	p := &Proc{Name: spec.Name, Role: spec.Role, DataDir: filepath.Join(c.dir, spec.Name), c: c}
	if err := os.MkdirAll(p.DataDir, 0o700); err != nil {
		return nil, err
	}
	p.client = control.NewClient(p.DataDir)
	common := append([]string{"--datadir", p.DataDir, "--log-level", c.opts.LogLevel, "--log-stderr", "off"}, c.rpcArgs...)
	if spec.Passphrase != "" {
		pf := filepath.Join(p.DataDir, "passphrase")
		if err := os.WriteFile(pf, []byte(spec.Passphrase+"\n"), 0o600); err != nil {
			return nil, err
		}
		common = append(common, "--passphrase-file", pf)
	}
	if spec.Role != RoleDirectory {
		if err := c.runOnce(ctx, append([]string{"wallet", "create"}, common...), nil); err != nil {
			return nil, fmt.Errorf("cluster: %s: wallet create: %w", spec.Name, err)
		}
	}
	args := append([]string{spec.Role, "run"}, common...)
	args = append(args, "--tor", "managed", "--tornet-dir", c.tn.Dir(),
		"--chain-poll", c.opts.ChainPoll.String(), "--health-interval", c.opts.HealthInterval.String())
	if spec.Role != RoleDirectory {
		dirs := spec.Directories
		if dirs == nil {
			dirs = c.DirectoryAddrs()
		}
		for _, d := range dirs {
			args = append(args, "--directory", d)
		}
	}
	for _, f := range spec.Faults {
		args = append(args, "--fault", f)
	}
	p.args = append(args, spec.Args...)

	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()

	if spec.Fund > 0 {
		n := max(spec.FundCoins, 1)
		for i := range n {
			part := spec.Fund / btcutil.Amount(n)
			if i == n-1 {
				part = spec.Fund - part*btcutil.Amount(n-1)
			}
			if _, err := c.Fund(ctx, p, part); err != nil {
				return p, err
			}
		}
		if _, err := c.Mine(ctx, 1); err != nil {
			return p, err
		}
	}
	if err := p.Start(ctx); err != nil {
		return p, err
	}
	if spec.NoWait {
		return p, nil
	}
	if _, err := p.WaitReady(ctx); err != nil {
		return p, err
	}
	return p, nil
}

// DirectoryAddrs are the onion addresses of the cluster's running

// SpawnAll spawns the processes of specs in parallel (each bounded by its
// readiness timeout) and returns them in the order of specs; the error
// joins every spawn's error.
func (c *Cluster) SpawnAll(ctx context.Context, specs []Spec) ([]*Proc, error) {
	out := make([]*Proc, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = c.Spawn(ctx, s)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// directories that have published their service.
func (c *Cluster) DirectoryAddrs() []string {
	var out []string
	for _, p := range c.Procs() {
		if p.Role == RoleDirectory && p.Onion() != "" && p.Running() {
			out = append(out, p.Onion())
		}
	}
	return out
}

// runOnce runs a short onionswap command to completion.
func (c *Cluster) runOnce(ctx context.Context, args []string, stdout *bytes.Buffer) error {
	ctx, cancel := context.WithTimeout(ctx, harnessCallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var errb bytes.Buffer
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(c.bin), args[0], err, strings.TrimSpace(errb.String()))
	}
	return nil
}

// SetFaults replaces the process's fault-injection plan (--fault) for its
// next Start or Restart (nil: none), e.g. to restart a process that
// crashed on a crash-after fault without it.
func (p *Proc) SetFaults(faults []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	args := make([]string, 0, len(p.args)+2*len(faults))
	for i := 0; i < len(p.args); i++ {
		if p.args[i] == "--fault" && i+1 < len(p.args) {
			i++
			continue
		}
		args = append(args, p.args[i])
	}
	for _, f := range faults {
		args = append(args, "--fault", f)
	}
	p.args = args
}

// SetFlag sets `--name value` on the process's command line for its next
// Start or Restart, replacing an earlier --name (e.g. a maker's
// --required-confirms for one test).
func (p *Proc) SetFlag(name, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i+1 < len(p.args); i++ {
		if p.args[i] == "--"+name {
			p.args[i+1] = value
			return
		}
	}
	p.args = append(p.args, "--"+name, value)
}

// Args is the command line of `onionswap <role> run` (without the binary).
func (p *Proc) Args() []string { return append([]string(nil), p.args...) }

// LogPath is DATADIR/onionswap.log (JSON lines).
func (p *Proc) LogPath() string { return filepath.Join(p.DataDir, "onionswap.log") }

// StderrPath captures the process's stderr (panics, early errors).
func (p *Proc) StderrPath() string { return filepath.Join(p.DataDir, "stderr.log") }

// Client is the process's control API client (valid across restarts).
func (p *Proc) Client() *control.Client { return p.client }

// Onion is the process's onion address once it was ready ("" for takers).
func (p *Proc) Onion() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.onion
}

// PID of the running process (0 when not running).
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.done == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

// Running reports whether the process runs.
func (p *Proc) Running() bool { return p.PID() != 0 }

// Exited is closed when the current process exits (nil if never started).
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// ExitErr is the last process's exit error (nil while running or after a
// clean exit).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Start starts the process (again) from its data directory. It returns
// once the process is spawned; see WaitReady.
func (p *Proc) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("cluster: %s already running (pid %d)", p.Name, p.cmd.Process.Pid)
		}
	}
	p.c.mu.Lock()
	stopped := p.c.stopped
	p.c.mu.Unlock()
	if stopped {
		return errors.New("cluster: stopped")
	}
	ef, err := os.OpenFile(p.StderrPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.c.bin, p.args...)
	cmd.Stdout = ef
	cmd.Stderr = ef
	// Own process group: a Ctrl-C on the terminal reaches the harness
	// only, which stops the processes in order. Pdeathsig: the process
	// dies with the harness even if the harness is SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		ef.Close()
		return fmt.Errorf("cluster: starting %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr, p.stderr, p.stopped = cmd, done, nil, ef, false
	go func() {
		err := cmd.Wait()
		ef.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.c.log.Info("process started", "proc", p.Name, "role", p.Role, "pid", cmd.Process.Pid)
	return nil
}

// WaitReady waits until the control API reports ready (onion published,
// maker registered, taker synced), the process exits, or the cluster's
// ReadyTimeout passes.
func (p *Proc) WaitReady(ctx context.Context) (*control.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, p.c.opts.ReadyTimeout)
	defer cancel()
	done := p.Exited()
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	var last string
	for {
		s, err := p.client.Status(ctx)
		if err == nil && s.Ready {
			p.mu.Lock()
			p.onion = s.Onion
			p.mu.Unlock()
			p.c.log.Info("process ready", "proc", p.Name, "onion", s.Onion, "pid", s.PID)
			return s, nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = s.State
			if s.ChainError != "" {
				last += ": " + s.ChainError
			}
		}
		select {
		case <-done:
			return nil, fmt.Errorf("cluster: %s exited before it was ready: %v (stderr: %s)", p.Name, p.ExitErr(), p.tailStderr())
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: %s not ready: %w (last: %s)", p.Name, ctx.Err(), last)
		case <-t.C:
		}
	}
}

func (p *Proc) tailStderr() string {
	b, _ := os.ReadFile(p.StderrPath())
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// signal sends sig to the running process; it is ours: we have not reaped
// it (Wait), so its PID cannot have been reused.
func (p *Proc) signal(sig syscall.Signal) (done <-chan struct{}, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, false
	}
	select {
	case <-p.done:
		return p.done, false
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	return p.done, true
}

// Kill sends SIGKILL (a crash: nothing is cleaned up, the data directory
// keeps what was committed) and waits for the exit. The managed tor of
// the process exits by itself within ~15 s (it is owned by the process).
func (p *Proc) Kill() {
	done, ok := p.signal(syscall.SIGKILL)
	if !ok {
		return
	}
	<-done
	p.c.log.Info("process killed", "proc", p.Name)
}

// Stop sends SIGTERM (graceful shutdown) and waits; SIGKILL after a grace
// period. Idempotent.
func (p *Proc) Stop() {
	done, ok := p.signal(syscall.SIGTERM)
	if !ok {
		return
	}
	select {
	case <-done:
	case <-time.After(stopGrace):
		p.c.log.Warn("process ignored SIGTERM; killing", "proc", p.Name)
		p.Kill()
	}
	p.c.log.Info("process stopped", "proc", p.Name)
}

// Restart stops (gracefully unless kill) and starts the process again from
// its data directory, and waits until it is ready.
func (p *Proc) Restart(ctx context.Context, kill bool) (*control.Status, error) {
	if kill {
		p.Kill()
	} else {
		p.Stop()
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p.WaitReady(ctx)
}

// NewAddress returns a fresh receive address of the process's wallet:
// through the control API when it runs, else with `onionswap wallet
// address` on its data directory.
func (p *Proc) NewAddress(ctx context.Context) (string, error) {
	if p.Running() {
		return p.client.NewAddress(ctx, control.AddressReceive)
	}
	var out bytes.Buffer
	args := append([]string{"wallet", "address", "--datadir", p.DataDir, "--log-stderr", "off"}, p.c.rpcArgs...)
	if pf := filepath.Join(p.DataDir, "passphrase"); fileExists(pf) {
		args = append(args, "--passphrase-file", pf)
	}
	if err := p.c.runOnce(ctx, args, &out); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Balances through the control API (the process must run).
func (p *Proc) Balances(ctx context.Context) (*control.Balances, error) {
	return p.client.Balances(ctx)
}

// Spendable is what p's wallet can spend: regular and swept coins.
func (p *Proc) Spendable(ctx context.Context) (int64, error) {
	b, err := p.Balances(ctx)
	if err != nil {
		return 0, err
	}
	return b.Categories["regular"].Total() + b.Categories["swept"].Total(), nil
}

// Settled: p's wallet holds nothing unconfirmed and nothing outside
// regular, swept, bond and integrity-fee coins, and it has swaps, all of
// them final.
func (p *Proc) Settled(ctx context.Context) (bool, string) {
	b, err := p.Balances(ctx)
	if err != nil {
		return false, err.Error()
	}
	for cat, v := range b.Categories {
		if v.Unconfirmed != 0 || (!settledCategory[cat] && v.Total() != 0) {
			return false, fmt.Sprintf("%s: %d unconfirmed, %d in all", cat, v.Unconfirmed, v.Total())
		}
	}
	ss, err := p.Client().Swaps(ctx)
	if err != nil {
		return false, err.Error()
	}
	if len(ss) == 0 {
		return false, "no swap"
	}
	for _, s := range ss {
		if !s.Final {
			return false, fmt.Sprintf("swap %s in phase %s", s.ID, s.Phase)
		}
	}
	return true, ""
}

// settledCategory: the wallet categories whose coins may stay put after
// swaps (the others are swap coins in flight).
var settledCategory = map[string]bool{"regular": true, "swept": true, "fidelity_bond": true, "integrity": true}

// LogRecord is one line of a process's JSON log.
type LogRecord struct {
	Time      time.Time
	Level     string
	Msg       string
	Subsystem string
	// Attrs holds every other key.
	Attrs map[string]any
	// Raw is the line.
	Raw []byte
}

// Follow calls fn for each record of the process's log, from the start of
// the file, following it as it grows, until ctx ends. Lines that are not
// JSON are skipped.
func (p *Proc) Follow(ctx context.Context, fn func(LogRecord)) error {
	var f *os.File
	for {
		var err error
		if f, err = os.Open(p.LogPath()); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		partial = append(partial, line...)
		if err != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if rec, ok := parseRecord(partial); ok {
			fn(rec)
		}
		partial = partial[:0]
	}
}

func parseRecord(line []byte) (LogRecord, bool) {
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(line), &m); err != nil {
		return LogRecord{}, false
	}
	rec := LogRecord{Attrs: m, Raw: append([]byte(nil), line...)}
	if s, ok := m["time"].(string); ok {
		rec.Time, _ = time.Parse(time.RFC3339Nano, s)
	}
	rec.Level, _ = m["level"].(string)
	rec.Msg, _ = m["msg"].(string)
	rec.Subsystem, _ = m["subsystem"].(string)
	delete(m, "time")
	delete(m, "level")
	delete(m, "msg")
	delete(m, "subsystem")
	return rec, true
}
