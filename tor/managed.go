package tor

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cretz/bine/control"
	"github.com/cretz/bine/process"
)

const (
	// torStartTimeout bounds the time from exec to tor's control port
	// being bound. ~0.3 s here without GeoIP; a Raspberry Pi with a large
	// cached consensus on an SD card can take several seconds.
	torStartTimeout = 60 * time.Second
	// torStopGrace is how long a managed tor gets to exit after HALT or
	// SIGTERM before it is killed. A client exits at once.
	torStopGrace = 5 * time.Second
	// startPoll is the interval for checking tor's control-port file.
	startPoll = 50 * time.Millisecond
	// torLogTail is how many lines of tor's output are kept for errors.
	torLogTail = 20
)

// managedArgs are the tor options every managed tor gets, before the
// caller's ExtraArgs (which may override them).
func managedArgs(cfg *Config) []string {
	args := []string{
		// SOCKS on loopback only; ExtendedErrors makes onion failures
		// distinguishable (0xF0-0xF7 instead of a bare 0x04).
		// IsolateSOCKSAuth is on by default: our per-peer credentials
		// select the circuit.
		"--SocksPort", "127.0.0.1:auto ExtendedErrors",
		// No GeoIP: ~35 MiB RSS and 0.4 s CPU saved per start, and a client
		// only needs it for country-based node exclusion.
		"--GeoIPFile", "", "--GeoIPv6File", "",
		// tor exits by itself (within ~15 s) if our process dies without
		// stopping it, so a crash never leaves a tor behind.
		"--__OwningControllerProcess", strconv.Itoa(os.Getpid()),
		// Spare the Raspberry Pi's SD card.
		"--AvoidDiskWrites", "1",
		// Notices go to our logger (Debug), warnings too; see lineLog.
		"--Log", "notice stdout",
		// So that the next start finds a tor a killed predecessor left
		// behind (reapOrphan).
		"--PidFile", filepath.Join(cfg.DataDir, PIDFileName),
	}
	return append(args, cfg.ExtraArgs...)
}

// findTor resolves the tor binary, with the install command in the error.
func findTor(path string) (string, error) {
	path = cmp.Or(path, "tor")
	abs, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("%w (looked for %q: %v)", ErrTorNotFound, path, err)
	}
	return abs, nil
}

// startManaged starts our own tor, connects to it and waits for bootstrap.
// startCtx bounds the start. The process lives until the session closes
// it (HALT first, then SIGTERM/SIGKILL through its own context), so that
// closing the transport stops tor gracefully.
func startManaged(startCtx context.Context, cfg *Config) (*session, error) {
	exe, err := findTor(cfg.TorPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("tor: data dir: %w", err)
	}
	reapOrphan(cfg.DataDir, cfg.Logger)
	torrc := cfg.TorrcFile
	if torrc == "" {
		torrc = filepath.Join(cfg.DataDir, "torrc")
		if err := os.WriteFile(torrc, nil, 0o600); err != nil {
			return nil, fmt.Errorf("tor: %w", err)
		}
	}
	// bine leaves one control-port-* file per start; drop the old ones.
	if old, _ := filepath.Glob(filepath.Join(cfg.DataDir, "control-port-*")); len(old) > 0 {
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	procCtx, cancel := context.WithCancel(context.Background())
	cr := &torCreator{exe: exe, startCtx: startCtx, log: cfg.Logger, cancel: cancel}
	bt, err := startBineTor(procCtx, cr, cfg.DataDir, torrc, managedArgs(cfg))
	p := cr.proc
	if err != nil {
		if p != nil {
			p.stop(false)
			if !strings.Contains(err.Error(), "tor said:") {
				err = fmt.Errorf("%w: %s", err, p.out.tail())
			}
		}
		cancel()
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(bt.ControlPort))
	conn, raw, err := dialControl(startCtx, addr, "")
	if err != nil {
		p.stop(false)
		return nil, err
	}
	replaceControl(bt, conn)
	ev, err := newEventConn(startCtx, addr, "")
	if err != nil {
		raw.Close()
		p.stop(false)
		return nil, err
	}
	s := newSession(cfg.Logger, bt, raw, ev, p)
	cfg.Logger.Info("tor started", "pid", p.pid(), "data_dir", cfg.DataDir)
	if err := s.cmd(startCtx, func(*control.Conn) error { return enableNetwork(startCtx, bt) }); err != nil {
		s.close()
		return nil, err
	}
	if err := finishSession(startCtx, cfg, s); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// torCreator is bine's process.Creator for our tor: it records the
// process so we can stop it even when bine.Start fails.
type torCreator struct {
	exe      string
	startCtx context.Context
	log      *slog.Logger
	cancel   context.CancelFunc
	proc     *torProcess
}

func (c *torCreator) New(ctx context.Context, args ...string) (process.Process, error) {
	cmd := exec.CommandContext(ctx, c.exe, args...)
	// Cancelling the lifetime context asks tor to exit, then kills it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = torStopGrace
	// Own process group: a terminal's Ctrl-C reaches the node, which then
	// stops tor in order, rather than tor dying under the node.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &lineLog{log: c.log}
	cmd.Stdout, cmd.Stderr = out, out
	portFile := ""
	for i, a := range args {
		if a == "--ControlPortWriteToFile" && i+1 < len(args) {
			portFile = args[i+1]
		}
	}
	c.proc = &torProcess{cmd: cmd, portFile: portFile, startCtx: c.startCtx, out: out, cancel: c.cancel, done: make(chan struct{})}
	return c.proc, nil
}

// torProcess implements bine's process.Process. Start returns only once
// tor has written its control-port file (bine itself waits 2 s at most),
// and Wait may be called any number of times.
type torProcess struct {
	cmd      *exec.Cmd
	portFile string
	startCtx context.Context
	out      *lineLog
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
}

func (p *torProcess) Start() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("tor: exec %s: %w", p.cmd.Path, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if p.portFile == "" {
		return nil
	}
	timeout := time.NewTimer(torStartTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(startPoll)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(p.portFile); err == nil && bytes.HasPrefix(b, []byte("PORT=")) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("tor exited during startup (%v): %s", p.err, p.out.tail())
		case <-p.startCtx.Done():
			return fmt.Errorf("tor start: %w", p.startCtx.Err())
		case <-timeout.C:
			return fmt.Errorf("tor did not open its control port within %v: %s", torStartTimeout, p.out.tail())
		case <-tick.C:
		}
	}
}

func (p *torProcess) Wait() error {
	<-p.done
	return p.err
}

func (p *torProcess) EmbeddedControlConn() (net.Conn, error) {
	return nil, process.ErrControlConnUnsupported
}

func (p *torProcess) pid() int { return p.cmd.Process.Pid }

func (p *torProcess) exitErr() error {
	<-p.done
	if p.err == nil {
		return errors.New("exit status 0")
	}
	return p.err
}

// stop ends the process and waits until it is reaped. If halted (HALT
// was sent) it first gets torStopGrace to exit by itself; then the process
// context is cancelled: SIGTERM, and SIGKILL after torStopGrace.
func (p *torProcess) stop(halted bool) {
	if p.cmd.Process == nil { // never started
		p.cancel()
		return
	}
	if halted {
		select {
		case <-p.done:
		case <-time.After(torStopGrace):
		}
	}
	p.cancel()
	<-p.done
}

// lineLog forwards tor's output to our logger at Debug and keeps the last
// lines for error messages.
type lineLog struct {
	log     *slog.Logger
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimSpace(l.partial[:i]))
		l.partial = l.partial[i+1:]
		if line == "" {
			continue
		}
		l.log.Debug("tor output", "line", line)
		l.lines = append(l.lines, line)
		if len(l.lines) > torLogTail {
			l.lines = l.lines[1:]
		}
	}
	return len(b), nil
}

func (l *lineLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "tor said: " + strings.Join(l.lines, " | ")
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
