package tornet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultAuthorities and DefaultRelays: 3 + 3 is the network tornet.md
	// recommends. Onion circuits need up to 4 distinct nodes; 5 is the
	// smallest that worked without "No available nodes" retries, and the
	// sixth costs ~12 MiB.
	DefaultAuthorities = 3
	DefaultRelays      = 3
	// DefaultExits: exits are not needed for onion services; one keeps
	// clear streams to 127.0.0.1 possible for experiments.
	DefaultExits = 1
	// DefaultReadyTimeout bounds the wait for a complete consensus. Measured:
	// 6.3-6.8 s phase-aligned, up to 17 s unaligned on 2 cores; 2 minutes
	// leaves room for a loaded CI machine or a Raspberry Pi.
	DefaultReadyTimeout = 2 * time.Minute
	// consensusPoll is how often the authorities' cached consensus is read.
	consensusPoll = 250 * time.Millisecond
	// listenTimeout bounds the wait for a started tor to bind its port.
	listenTimeout = 30 * time.Second
	// votingPhase: authorities vote every 5 s until the first consensus;
	// starting at unix_time mod 5 == 4 gets every relay into the first
	// vote (tornet.md gotcha 2), which removes the 10 s tail.
	votingPeriod = 5
	votingPhase  = 4
	// markerFile marks a directory as ours, so a later Start may clear it.
	markerFile = ".tornet"
	// ClientTorrcName is the file, in the network directory, holding the
	// client settings as torrc lines.
	ClientTorrcName = "client.torrc"
)

// ErrTorNotFound is returned when tor or tor-gencert is not installed.
var ErrTorNotFound = errors.New("tor not found (install it with: sudo apt-get install tor)")

// Options configures a private network.
type Options struct {
	// Dir is the network's directory (keys, torrcs, data, logs). It must be
	// empty, absent, or hold an earlier network of ours (which is cleared).
	Dir string
	// Authorities, Relays and Exits (relays that are exits); 0 = defaults.
	Authorities, Relays, Exits int
	// NoPhaseAlign starts at once instead of at unix_time mod 5 == 4:
	// a lower mean start time, but about 1 run in 3 waits 10 s longer.
	NoPhaseAlign bool
	// TorPath and GencertPath; empty means "tor" and "tor-gencert" from PATH.
	TorPath, GencertPath string
	// ReadyTimeout bounds the wait for a complete consensus (default
	// DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Logger; nil means slog.Default() with subsystem=tornet.
	Logger *slog.Logger
}

// Timings of a Start, for reports.
type Timings struct {
	KeyGen    time.Duration // authority keys, generated in parallel
	PhaseWait time.Duration // sleep to the voting phase
	Consensus time.Duration // first tor launched -> complete consensus at every authority
	Total     time.Duration // Start called -> network ready
}

// Network is a running private Tor network on 127.0.0.1. Callers must call
// Stop: in a defer, and also from their SIGINT/SIGTERM handler, because a
// signal ends the process without running defers. Stop is idempotent and
// safe to call concurrently. As a second safety net every tor of the
// network is told (__OwningControllerProcess) to exit by itself within
// about 15 s once our process is gone.
type Network struct {
	opts     Options
	log      *slog.Logger
	ports    *portBlock
	nodes    []nodeSpec
	dirAuths []string
	timings  Timings

	mu    sync.Mutex
	procs []*proc

	stopOnce sync.Once
	stopErr  error
}

// Start builds and starts a network and returns once a consensus at every
// authority lists every node with the flags it needs. On error everything
// started so far is stopped.
func Start(ctx context.Context, opts Options) (*Network, error) {
	t0 := time.Now()
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	n := &Network{opts: opts, log: opts.Logger}
	if err := prepareDir(opts.Dir); err != nil {
		return nil, err
	}
	ports, err := reservePorts(opts.Authorities + opts.Relays)
	if err != nil {
		return nil, err
	}
	n.ports = ports
	if err := n.start(ctx, t0); err != nil {
		n.log.Warn("private tor network failed to start; stopping it", "err", err, "dir", opts.Dir)
		return nil, errors.Join(err, n.Stop())
	}
	return n, nil
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return errors.New("tornet: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	o.Dir = dir
	o.Authorities = cmp.Or(o.Authorities, DefaultAuthorities)
	o.Relays = cmp.Or(o.Relays, DefaultRelays)
	o.Exits = cmp.Or(o.Exits, DefaultExits)
	if o.Authorities < 1 || o.Relays < 0 || o.Exits > o.Relays {
		return fmt.Errorf("tornet: invalid sizes: %d authorities, %d relays, %d exits", o.Authorities, o.Relays, o.Exits)
	}
	o.ReadyTimeout = cmp.Or(o.ReadyTimeout, DefaultReadyTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default().With("subsystem", "tornet")
	}
	if o.TorPath, err = lookPath(o.TorPath, "tor"); err != nil {
		return err
	}
	o.GencertPath, err = lookPath(o.GencertPath, "tor-gencert")
	return err
}

func lookPath(p, def string) (string, error) {
	p = cmp.Or(p, def)
	abs, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("tornet: %s: %w", p, ErrTorNotFound)
	}
	return abs, nil
}

// prepareDir creates dir, or clears an earlier network of ours in it. It
// refuses a non-empty directory that is not ours rather than delete it.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		entries, err = nil, os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	if len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
			return fmt.Errorf("tornet: %s is not empty and holds no earlier network; refusing to use it", dir)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("tornet: clearing %s: %w", dir, err)
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, markerFile), []byte("private tor network made by onionswap tornet\n"), 0o600)
}

func (n *Network) start(ctx context.Context, t0 time.Time) error {
	o := n.opts
	for i := 0; i < o.Authorities+o.Relays; i++ {
		s := nodeSpec{kind: kindAuthority, orPort: n.ports.orPort(i)}
		if i < o.Authorities {
			s.name = "a" + strconv.Itoa(i)
			s.dirPort = n.ports.dirPort(i)
		} else {
			r := i - o.Authorities
			s.name, s.kind, s.exit = "r"+strconv.Itoa(r), kindRelay, r < o.Exits
		}
		s.dir = filepath.Join(o.Dir, s.name)
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return fmt.Errorf("tornet: %w", err)
		}
		n.nodes = append(n.nodes, s)
	}
	empty := filepath.Join(o.Dir, "torrc-defaults")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return fmt.Errorf("tornet: %w", err)
	}

	keys, err := n.genKeys(ctx, empty)
	if err != nil {
		return err
	}
	n.timings.KeyGen = time.Since(t0)
	var hsdirs []string
	for i, k := range keys {
		n.dirAuths = append(n.dirAuths, dirAuthorityLine(n.nodes[i], k))
		hsdirs = append(hsdirs, "$"+k.relayFP)
	}
	var dirAuthLines []string
	for _, d := range n.dirAuths {
		dirAuthLines = append(dirAuthLines, "DirAuthority "+d)
	}
	for _, s := range n.nodes {
		lines := commonLines(s, dirAuthLines, hsdirs, os.Getpid())
		if s.kind == kindAuthority {
			lines = append(lines, authorityLines(s)...)
		} else {
			lines = append(lines, relayLines(s)...)
		}
		if err := writeTorrc(filepath.Join(s.dir, "torrc"), lines); err != nil {
			return fmt.Errorf("tornet: %w", err)
		}
	}
	if err := writeTorrc(n.ClientTorrcPath(), n.ClientTorrcLines()); err != nil {
		return fmt.Errorf("tornet: %w", err)
	}

	if !o.NoPhaseAlign {
		w := phaseWait(time.Now())
		n.timings.PhaseWait = w
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w):
		}
	}
	launched := time.Now()
	// Authorities first, listening, then relays (tornet.md step 3):
	// relays upload their descriptors to the authorities ~2 s after start.
	if err := n.launch(empty, kindAuthority); err != nil {
		return err
	}
	if err := n.launch(empty, kindRelay); err != nil {
		return err
	}
	if err := n.waitConsensus(ctx); err != nil {
		return err
	}
	n.timings.Consensus = time.Since(launched)
	n.timings.Total = time.Since(t0)
	n.log.Info("private tor network ready", "dir", o.Dir,
		"authorities", o.Authorities, "relays", o.Relays,
		"keygen", n.timings.KeyGen.Round(time.Millisecond),
		"phase_wait", n.timings.PhaseWait.Round(time.Millisecond),
		"time_to_consensus", n.timings.Consensus.Round(time.Millisecond),
		"total", n.timings.Total.Round(time.Millisecond))
	return nil
}

func (n *Network) genKeys(ctx context.Context, empty string) ([]authorityKeys, error) {
	keys := make([]authorityKeys, n.opts.Authorities)
	errs := make([]error, n.opts.Authorities)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			keys[i], errs[i] = genAuthorityKeys(ctx, n.opts.TorPath, n.opts.GencertPath, empty, n.nodes[i])
		})
	}
	wg.Wait()
	return keys, errors.Join(errs...)
}

// phaseWait is the time from now to the next second at which
// unix_time mod votingPeriod == votingPhase.
func phaseWait(now time.Time) time.Duration {
	next := now.Truncate(time.Second).Add(time.Second)
	for next.Unix()%votingPeriod != votingPhase {
		next = next.Add(time.Second)
	}
	return next.Sub(now)
}

// launch starts every node of one kind and waits until each listens.
func (n *Network) launch(empty string, kind nodeKind) error {
	var started []*proc
	var addrs []string
	for _, s := range n.nodes {
		if s.kind != kind {
			continue
		}
		p, err := startProc(n.opts.TorPath, s.name, s.dir, filepath.Join(s.dir, "torrc"), empty)
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.procs = append(n.procs, p)
		n.mu.Unlock()
		port := s.orPort
		if kind == kindAuthority {
			port = s.dirPort
		}
		started = append(started, p)
		addrs = append(addrs, fmt.Sprintf("%s:%d", loopback, port))
	}
	for i, p := range started {
		if err := p.waitListening(addrs[i], listenTimeout); err != nil {
			return err
		}
	}
	return nil
}

// waitConsensus polls the authorities' cached consensus until each lists
// every node with the flags it needs. Clients must not start earlier: a
// client bootstrapping from a partial consensus builds its guard and
// vanguard sets from 2-3 nodes and fails circuits for 10-30 s (gotcha 2).
func (n *Network) waitConsensus(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(consensusPoll)
	defer tick.Stop()
	for {
		lack := n.consensusLacks()
		if len(lack) == 0 {
			return nil
		}
		if err := n.checkAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tornet: no complete consensus after %v (%s): %w",
				n.opts.ReadyTimeout, strings.Join(lack, "; "), ctx.Err())
		case <-tick.C:
		}
	}
}

// consensusLacks lists what the authorities' consensus still lacks.
func (n *Network) consensusLacks() []string {
	var lack []string
	for _, s := range n.nodes {
		if s.kind != kindAuthority {
			continue
		}
		routers, err := parseConsensusFlags(filepath.Join(s.dir, consensusFile))
		if err != nil {
			lack = append(lack, s.name+": no consensus yet")
			continue
		}
		for _, m := range missingFromConsensus(routers, n.nodes) {
			lack = append(lack, s.name+": "+m)
		}
	}
	return lack
}

// checkAlive fails if any tor of the network has exited.
func (n *Network) checkAlive() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		if p.exited() {
			return fmt.Errorf("tornet: %s exited: %v: %s", p.name, p.err, p.logTail())
		}
	}
	return nil
}

// DirAuthorities returns the values of the DirAuthority options of the
// network, one per authority.
func (n *Network) DirAuthorities() []string { return append([]string(nil), n.dirAuths...) }

// ClientArgs returns tor command-line arguments (bine StartConf.ExtraArgs,
// or tor.Config.ExtraArgs) that make a client tor join this network and
// nothing else.
func (n *Network) ClientArgs() []string {
	var a []string
	for _, o := range clientOptions(n.dirAuths) {
		a = append(a, "--"+o[0], o[1])
	}
	return a
}

// ClientTorrcLines returns the same settings as torrc lines.
func (n *Network) ClientTorrcLines() []string { return clientLines(n.dirAuths) }

// ClientTorrcPath is DIR/client.torrc, holding ClientTorrcLines.
func (n *Network) ClientTorrcPath() string { return filepath.Join(n.opts.Dir, ClientTorrcName) }

// Dir is the network's directory.
func (n *Network) Dir() string { return n.opts.Dir }

// Timings reports how long Start took, by stage.
func (n *Network) Timings() Timings { return n.timings }

// PIDs returns the process ids of every tor the network started.
func (n *Network) PIDs() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	pids := make([]int, 0, len(n.procs))
	for _, p := range n.procs {
		pids = append(pids, p.pid())
	}
	return pids
}

// Stop stops every tor the network started, by PID (checked against
// /proc/PID/cmdline first): SIGTERM, SIGKILL after a grace period, then
// waits for each. Idempotent; concurrent calls wait for the first.
func (n *Network) Stop() error {
	n.stopOnce.Do(func() {
		n.mu.Lock()
		procs := append([]*proc(nil), n.procs...)
		n.mu.Unlock()
		n.stopErr = stopProcs(procs)
		n.ports.release()
		n.log.Info("private tor network stopped", "dir", n.opts.Dir, "processes", len(procs))
	})
	return n.stopErr
}
