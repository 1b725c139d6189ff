package tornet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL. With
	// ShutdownWaitLength 0 every tor of ours exits within ~100 ms of
	// SIGTERM; 5 s only matters on a badly overloaded machine.
	stopGrace = 5 * time.Second
	// listenPoll is the interval at which a freshly started tor's port is
	// probed. Tor binds its listeners within a few hundred ms.
	listenPoll = 50 * time.Millisecond
)

// proc is one tor process we started, in the foreground, as our child, so
// that we can wait for it (no zombies, no reparenting).
type proc struct {
	name  string
	torrc string
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited and was reaped
	err   error         // Wait result, valid after done
}

// startProc starts `tor -f torrc` with its output in dir/stdout.log.
func startProc(torPath, name, dir, torrc, defaults string) (*proc, error) {
	out, err := os.OpenFile(filepath.Join(dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tornet: %s: %w", name, err)
	}
	defer out.Close() // the child keeps its own descriptor
	cmd := exec.Command(torPath, "-f", torrc, "--defaults-torrc", defaults)
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: a Ctrl-C in the terminal reaches only us, and we
	// stop the network in order (Stop), instead of racing tor's handlers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tornet: start %s: %w", name, err)
	}
	p := &proc{name: name, torrc: torrc, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitListening returns once addr accepts TCP connections, or an error if
// the process exits first (bad config, port taken) or timeout passes.
func (p *proc) waitListening(addr string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(listenPoll)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", addr, listenPoll); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("tornet: %s exited before listening on %s: %v: %s", p.name, addr, p.err, p.logTail())
		case <-deadline.C:
			return fmt.Errorf("tornet: %s not listening on %s after %v: %s", p.name, addr, timeout, p.logTail())
		case <-tick.C:
		}
	}
}

// logTail returns the last lines tor wrote, for error messages.
func (p *proc) logTail() string {
	dir := filepath.Dir(p.torrc)
	var b []byte
	for _, f := range []string{"notice.log", "stdout.log"} {
		if d, err := os.ReadFile(filepath.Join(dir, f)); err == nil && len(d) > 0 {
			b = d
			break
		}
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// isOurs reports whether pid is a tor process started with torrc: before
// signalling a PID we make sure it still is what we started.
func isOurs(pid int, torrc string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return false
	}
	args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
	if !strings.HasPrefix(filepath.Base(args[0]), "tor") {
		return false
	}
	for _, a := range args[1:] {
		if a == torrc {
			return true
		}
	}
	return false
}

// stopProcs sends SIGTERM to every live process of ours, SIGKILL to those
// still running after stopGrace, and waits for all of them.
func stopProcs(procs []*proc) error {
	var errs []error
	for _, p := range procs {
		if p.exited() {
			continue
		}
		if !isOurs(p.pid(), p.torrc) {
			errs = append(errs, fmt.Errorf("tornet: pid %d (%s) is not our tor any more; not signalled", p.pid(), p.name))
			continue
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("tornet: SIGTERM %s: %w", p.name, err))
		}
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	killed := false
	for _, p := range procs {
		if !killed {
			select {
			case <-p.done:
				continue
			case <-grace.C:
				// Grace period over: kill every one still running.
				killed = true
				for _, q := range procs {
					if !q.exited() && isOurs(q.pid(), q.torrc) {
						_ = q.cmd.Process.Kill()
					}
				}
			}
		}
		<-p.done
	}
	return errors.Join(errs...)
}
