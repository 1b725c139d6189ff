package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/dashboard"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
)

// Env is what a service factory gets from the daemon. Fields are set
// before the services are built and never change afterwards.
type Env struct {
	Cfg *Config
	// Logs gives one logger per subsystem.
	Logs *Logging
	// Backend is the chain backend (owned by the daemon).
	Backend chain.Backend
	// Wallet is nil for the directory role.
	Wallet *wallet.Wallet
	// Transport is the tor transport: services dial peers through it.
	Transport tor.Transport
	// Onion is the node's own onion address "host:port".
	Onion string
	// Healthy reports whether the chain backend answered the last
	// health check: services fail closed on it.
	Healthy func() bool

	// Filled in by the factories as the services are built, for the ones
	// built after them: the pool (nil when it is off) and its offer
	// validator, the maker.
	pool      *pool.Pool
	offers    *market.Validator
	maker     *maker.Maker
	blacklist *market.Blacklist
	trusts    *market.Trusts
	chat      *chat.Service
	taker     *taker.Service
}

// Blacklist is the node's blacklist (in its wallet), made on first use.
func (env *Env) Blacklist() *market.Blacklist {
	if env.blacklist == nil {
		env.blacklist = market.NewBlacklist(env.Wallet, nil)
	}
	return env.blacklist
}

// Trusts is what the node knows of makers' records, made on first use:
// filled by `market trust`, read by the taker's book.
func (env *Env) Trusts() *market.Trusts {
	if env.trusts == nil {
		env.trusts = market.NewTrusts(env.Wallet, nil)
	}
	return env.trusts
}

// Options are the daemon's non-config inputs.
type Options struct {
	// Version is reported by status.
	Version string
	// Stderr receives the stderr log (nil: none).
	Stderr io.Writer
	// NoLogFile: log to Stderr only, never to DATADIR/onionswap.log (a
	// read-only command leaves no file behind).
	NoLogFile bool
	// NoControlSocket: the control API is served only in-process through
	// Router (a CLI command's own node), with no socket, no cookie and no
	// systemd notifications.
	NoControlSocket bool
	// FailFast: a chain backend that does not answer at start is an
	// error, not waited for (a command someone waits on, not a service).
	FailFast bool
}

// Daemon is one running onionswap node.
type Daemon struct {
	cfg  Config
	opts Options
	logs *Logging
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	fatal  chan error

	mu        sync.Mutex
	state     string
	started   time.Time
	startOnce bool
	stopped   bool
	backend   *chain.RPC
	wallet    *wallet.Wallet
	transport *tor.TorTransport
	onion     string
	published bool
	// services run in this order (stopped in reverse); inbound serves
	// those that accept peers behind the one onion service.
	services []service.Service
	inbound  *service.Server
	router   *control.Router
	ctrl     *control.Server
	dash     *dashboard.Server
	// dashOnion: the dashboard's own onion address ("" : not published).
	dashOnion string
	torBoot   tor.BootstrapStatus
	lock      *DataDirLock
	tip       int32
	tipHash   string
	chainErr  error
	torErr    error
	stopDone  chan struct{}
}

// New validates cfg, creates the data dir and opens the log. Nothing runs
// until Start.
func New(cfg Config, opts Options) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, ok := serviceFactories[cfg.Role]; !ok && cfg.Role != RoleWallet {
		return nil, fmt.Errorf("role %s is not available in this build", cfg.Role)
	}
	if err := EnsureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	logs, err := newLogging(&cfg, opts.Stderr, !opts.NoLogFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{cfg: cfg, opts: opts, logs: logs, log: logs.For("node"), ctx: ctx, cancel: cancel,
		fatal: make(chan error, 1), state: control.StateStarting, stopDone: make(chan struct{})}
	d.router = control.NewRouter(logs.For("control"))
	d.registerControl(d.router)
	return d, nil
}

// Config returns the validated configuration.
func (d *Daemon) Config() *Config { return &d.cfg }

// Logs is the daemon's logging.
func (d *Daemon) Logs() *Logging { return d.logs }

func (d *Daemon) setState(s string) {
	d.mu.Lock()
	d.state = s
	d.mu.Unlock()
}

// Start brings the node up: control API first (so `status` answers during
// the rest), then the chain backend (retried while unreachable: fail
// closed), the wallet, tor and the onion service, and the role. ctx bounds
// the start only. On error everything started is stopped. Idempotent.
func (d *Daemon) Start(ctx context.Context) (err error) {
	d.mu.Lock()
	if d.startOnce {
		d.mu.Unlock()
		return nil
	}
	if d.stopped {
		d.mu.Unlock()
		return errors.New("daemon stopped")
	}
	d.startOnce = true
	d.started = time.Now()
	d.mu.Unlock()
	defer func() {
		if err != nil {
			d.log.Error("start failed", "err", err)
			d.Stop()
		}
	}()
	// A start cancelled by Stop (signal) ends at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWatch := context.AfterFunc(d.ctx, cancel)
	defer stopWatch()

	d.log.Info("starting", "role", d.cfg.Role, "network", d.cfg.Network, "datadir", d.cfg.DataDir,
		"version", d.opts.Version, "pid", os.Getpid(), "tor", d.cfg.Tor.Mode, "faults", len(d.cfg.Faults))
	if !d.opts.NoControlSocket {
		ctrl, err := control.NewServer(control.ServerConfig{DataDir: d.cfg.DataDir, Router: d.router,
			Logger: d.logs.For("control")})
		if err != nil {
			return err
		}
		if err := ctrl.Start(); err != nil {
			return err
		}
		d.mu.Lock()
		d.ctrl = ctrl
		d.mu.Unlock()
	}
	// After the control socket: a second daemon is told ErrAlreadyRunning
	// there; the lock also keeps out a command's in-process node.
	lock, err := LockDataDir(d.cfg.DataDir)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.lock = lock
	d.mu.Unlock()
	if err := d.startDashboard(); err != nil {
		return err
	}

	// Chain backend: wait for it (fail closed: nothing else starts).
	d.setState(control.StateWaitingChain)
	var backend *chain.RPC
	if d.opts.FailFast {
		backend, err = DialChain(ctx, &d.cfg, d.logs.For("chain"))
	} else {
		backend, err = dialChainRetry(ctx, &d.cfg, d.logs.For("chain"), func(err error) {
			d.mu.Lock()
			d.chainErr = err
			d.mu.Unlock()
		})
	}
	if err != nil {
		return fmt.Errorf("chain backend %s: %w", d.cfg.RPC.Host, err)
	}
	d.mu.Lock()
	d.backend, d.chainErr = backend, nil
	d.mu.Unlock()
	d.checkChain(ctx)
	d.log.Info("chain backend connected", "host", d.cfg.RPC.Host, "tip", d.tipHeight())

	// Wallet.
	if d.cfg.Role != RoleDirectory {
		w, err := OpenWallet(ctx, &d.cfg, backend, d.logs.For("wallet"))
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.wallet = w
		d.mu.Unlock()
		if err := w.Sync(ctx); err != nil {
			return fmt.Errorf("wallet sync: %w", err)
		}
		if err := w.Start(d.ctx); err != nil {
			return fmt.Errorf("wallet watcher: %w", err)
		}
		h, _ := w.SyncedHeight(ctx)
		d.log.Info("wallet open", "synced_height", h)
	}
	d.wg.Add(1)
	go d.healthLoop()

	if d.cfg.Role == RoleWallet {
		d.setState(control.StateReady)
		d.log.Info("ready")
		d.startNotify()
		return nil
	}
	env := &Env{Cfg: &d.cfg, Logs: d.logs, Backend: backend, Wallet: d.wallet, Healthy: d.healthy}

	// Tor and the node's one onion service.
	d.setState(control.StateWaitingTor)
	lis, err := d.startTor(ctx, env)
	if err != nil {
		return err
	}
	if err := d.publishDashboard(ctx); err != nil {
		lis.Close()
		return err
	}

	// The services, then the inbound server that hands them their peers.
	var inbound []service.Inbound
	for _, build := range serviceFactories[d.cfg.Role] {
		svc, err := build(env)
		if err != nil {
			lis.Close()
			return err
		}
		if c, ok := svc.(service.Controlled); ok {
			c.RegisterControl(d.router)
		}
		if err := svc.Start(d.ctx); err != nil {
			svc.Stop()
			lis.Close()
			return fmt.Errorf("%s: %w", svc.Name(), err)
		}
		d.mu.Lock()
		d.services = append(d.services, svc)
		d.mu.Unlock()
		if in, ok := svc.(service.Inbound); ok {
			inbound = append(inbound, in)
		}
		d.log.Info("service started", "service", svc.Name())
	}
	srv, err := service.NewServer(service.ServerConfig{Network: ProtocolNetwork(d.cfg.Network),
		Logger: d.logs.For("inbound")}, inbound...)
	if err == nil {
		err = srv.Serve(lis)
	}
	if err != nil {
		lis.Close()
		return fmt.Errorf("inbound server: %w", err)
	}
	d.mu.Lock()
	d.inbound = srv
	d.state = control.StateReady
	d.mu.Unlock()
	d.startNotify()
	return nil
}

// startTor starts (or attaches to) tor and publishes the node's onion
// service: one address for every service the node runs. A maker's key is
// derived from its wallet seed (a restore from the words gets the same
// address back, and takers' bad-maker lists follow it); a directory keeps
// its key file; a taker's address is new at every start, so its pool and
// CoinJoin presence does not link one run to the next.
func (d *Daemon) startTor(ctx context.Context, env *Env) (net.Listener, error) {
	tc, err := d.cfg.TorTransportConfig(d.logs.For("tor"))
	if err != nil {
		return nil, err
	}
	tc.OnBootstrap = func(b tor.BootstrapStatus) {
		d.mu.Lock()
		d.torBoot = b
		d.mu.Unlock()
	}
	switch {
	case d.cfg.Role == RoleTaker:
		tc.KeyFile = ""
	case d.wallet != nil && d.cfg.Role == RoleMaker:
		created, err := ensureOnionKeyFromSeed(tc.KeyFile, d.wallet.Keys())
		if err != nil {
			return nil, err
		}
		if created {
			d.log.Info("onion key derived from the wallet seed", "file", tc.KeyFile)
		}
	}
	tr, err := tor.NewTorTransport(ctx, tc)
	if err != nil {
		return nil, fmt.Errorf("tor: %w", err)
	}
	d.mu.Lock()
	d.transport = tr
	d.mu.Unlock()
	env.Transport = tr
	lis, err := tr.Listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("tor: onion service: %w", err)
	}
	onion := lis.Addr().String()
	env.Onion = onion
	d.mu.Lock()
	d.onion = onion
	d.mu.Unlock()
	// The address is our own: fine at Info.
	d.log.Info("onion service added", "onion", onion)
	ol, ok := lis.(*tor.OnionListener)
	if !ok {
		d.setPublished()
		return lis, nil
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for d.ctx.Err() == nil {
			err := ol.WaitPublished(d.ctx)
			if err == nil {
				d.setPublished()
				return
			}
			if d.ctx.Err() == nil {
				// tor keeps trying; so do we.
				d.log.Warn("onion descriptor not published yet; tor keeps trying", "err", err)
			}
		}
	}()
	return lis, nil
}

// startNotify starts telling systemd about readiness (not for a
// command's in-process node).
func (d *Daemon) startNotify() {
	if d.opts.NoControlSocket {
		return
	}
	d.wg.Add(1)
	go d.notifyLoop()
}

func (d *Daemon) setPublished() {
	d.mu.Lock()
	d.published = true
	d.mu.Unlock()
	d.log.Info("onion service published")
}

// Wait blocks until ctx ends or the daemon fails; it returns the failure.
func (d *Daemon) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-d.fatal:
		return err
	case <-d.stopDone:
		return nil
	}
}

// Run is Start, Wait and Stop: the body of `onionswap <role> run`.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Stop()
	if err := d.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	d.log.Info("running; stop with SIGINT, SIGTERM or `onionswap stop`")
	err := d.Wait(ctx)
	if err != nil {
		d.log.Error("stopping after a fatal error", "err", err)
	} else {
		d.log.Info("shutdown requested")
	}
	return err
}

func (d *Daemon) fail(err error) {
	select {
	case d.fatal <- err:
	default:
	}
}

// Stop stops everything in reverse order. Idempotent; safe to call from
// any goroutine (concurrent calls wait for the first).
func (d *Daemon) Stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		<-d.stopDone
		return
	}
	d.stopped = true
	d.state = control.StateStopping
	if !d.opts.NoControlSocket {
		sdNotify("STOPPING=1")
	}
	svcs, srv, tr, w, b, ctrl, lock, dash := d.services, d.inbound, d.transport, d.wallet, d.backend, d.ctrl, d.lock, d.dash
	d.mu.Unlock()

	// The dashboard first: nothing new starts from it while the node
	// stops (a swap it started goes on in the taker service, which stops
	// it as it stops any).
	if dash != nil {
		dash.Stop()
	}

	// Work that needs the peers still connected (the offer's removal)
	// first, last started first, within one bound for all.
	dctx, dcancel := context.WithTimeout(context.Background(), service.DrainTimeout)
	for i := len(svcs) - 1; i >= 0; i-- {
		if dr, ok := svcs[i].(service.Drainer); ok {
			dr.Drain(dctx)
		}
	}
	dcancel()
	d.cancel()
	if srv != nil {
		srv.Stop()
	}
	for i := len(svcs) - 1; i >= 0; i-- {
		svcs[i].Stop()
	}
	if tr != nil {
		if err := tr.Close(); err != nil {
			d.log.Warn("closing tor", "err", err)
		}
	}
	d.wg.Wait()
	if w != nil {
		if err := w.Close(); err != nil {
			d.log.Warn("closing wallet", "err", err)
		}
	}
	if b != nil {
		b.Close()
	}
	lock.Release()
	if ctrl != nil {
		ctrl.Close()
	}
	d.log.Info("stopped")
	d.logs.Close()
	close(d.stopDone)
}

// healthLoop asks the backend for its tip every HealthInterval.
func (d *Daemon) healthLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
			d.checkChain(d.ctx)
		}
	}
}

// healthCallTimeout bounds one health check: a hung backend (accepting
// connections, never answering) must turn the node unhealthy quickly,
// well before the RPC client's own 20 s call timeout.
const healthCallTimeout = 5 * time.Second

func (d *Daemon) checkChain(ctx context.Context) {
	d.mu.Lock()
	b := d.backend
	wasErr := d.chainErr
	d.mu.Unlock()
	if b == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, healthCallTimeout)
	h, hash, err := b.Tip(cctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	d.chainErr = err
	if err == nil {
		d.tip, d.tipHash = h, hash.String()
	}
	d.mu.Unlock()
	switch {
	case err != nil && wasErr == nil:
		d.log.Warn("chain backend unhealthy: new swaps refused until it returns", "err", err)
	case err == nil && wasErr != nil:
		d.log.Info("chain backend healthy again", "tip", h)
	}
}

func (d *Daemon) healthy() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.backend != nil && d.chainErr == nil
}

func (d *Daemon) tipHeight() int32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tip
}

// Status is the control API's status.
func (d *Daemon) Status(ctx context.Context) *control.Status {
	d.mu.Lock()
	s := &control.Status{
		Version: d.opts.Version, Role: d.cfg.Role, Network: d.cfg.Network, PID: os.Getpid(),
		State: d.state, Onion: d.onion, TipHeight: d.tip, TipHash: d.tipHash,
		Faults: d.cfg.Faults, Started: d.started,
		TorBootstrap: d.torBoot.Progress, TorBootstrapSummary: d.torBoot.Summary,
	}
	if d.dash != nil {
		s.Dashboard = d.dash.URL()
		s.DashboardOnion = d.dashOnion
	}
	if d.chainErr != nil {
		s.ChainError = d.chainErr.Error()
	}
	chainOK := d.backend != nil && d.chainErr == nil
	torOK := true
	if d.transport != nil {
		ts := d.transport.Status()
		torOK = ts.Connected
		s.TorRestarts = ts.Restarts
		s.TorPoWDefense = ts.PoWDefense
		if !torOK {
			s.TorError = "tor not connected"
		}
	}
	svcs, w, published := d.services, d.wallet, d.published
	d.mu.Unlock()
	if w != nil {
		if h, err := w.SyncedHeight(ctx); err == nil {
			s.WalletHeight = h
		}
	}
	s.Healthy = chainOK && torOK
	switch {
	case s.State == control.StateStopping || s.State == control.StateStarting ||
		s.State == control.StateWaitingChain || s.State == control.StateWaitingTor:
		s.Blocker = stateBlocker(s.State)
	case !s.Healthy:
		s.State = control.StateDegraded
		s.Blocker = cmp.Or(s.ChainError, s.TorError)
	}
	if d.cfg.Role != RoleWallet && !published && s.Blocker == "" && s.State == control.StateReady {
		s.Blocker = "onion service not published yet"
	}
	if len(svcs) > 0 {
		s.Services = make(map[string]control.Readiness, len(svcs))
	}
	for _, svc := range svcs {
		r := svc.Readiness(ctx)
		s.Services[svc.Name()] = r
		if !r.Ready && s.Blocker == "" {
			s.Blocker = svc.Name() + ": " + r.Blocker
		}
		if c, ok := svc.(interface{ Unread(context.Context) int }); ok {
			s.ChatUnread = c.Unread(ctx)
		}
	}
	s.Ready = s.State == control.StateReady && s.Blocker == ""
	return s
}

func stateBlocker(state string) string {
	switch state {
	case control.StateWaitingChain:
		return "waiting for the chain backend"
	case control.StateWaitingTor:
		return "waiting for tor"
	case control.StateStopping:
		return "stopping"
	}
	return "starting"
}

// Router is the daemon's control API, for in-process use (one-shot CLI
// commands through control.NewLocalClient) without the socket.
func (d *Daemon) Router() *control.Router { return d.router }
