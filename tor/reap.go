package tor

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PIDFileName is the managed tor's pid file (inside Config.DataDir), written by
// tor itself (--PidFile) so that a restarted node can find the tor its
// crashed predecessor left behind.
const PIDFileName = "tor.pid"

// orphanTorGrace is how long a stale tor gets to exit after SIGTERM before
// SIGKILL: a client tor exits at once; 5 s is tor's own shutdown delay
// bound for clients.
const orphanTorGrace = 5 * time.Second

// reapOrphan stops the managed tor left running by a predecessor that
// was killed (SIGKILL, power cut of the process): it still holds the data
// directory's lock, so our tor could not start until it notices its owner
// is gone (up to ~15 s). Only a process whose command line names our tor
// data directory and whose owning controller is dead is touched.
func reapOrphan(torDir string, log *slog.Logger) {
	b, err := os.ReadFile(filepath.Join(torDir, PIDFileName))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || pid == os.Getpid() {
		return
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return // gone
	}
	args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
	if !hasArg(args, "--DataDirectory", torDir) {
		return // the pid was reused by something else
	}
	if owner, ok := argValue(args, "--__OwningControllerProcess"); ok {
		if opid, err := strconv.Atoi(owner); err == nil && processAlive(opid) {
			return // its owner lives: not an orphan (another node on this dir?)
		}
	}
	log.Warn("stopping the tor left behind by a previous run", "pid", pid)
	p, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(orphanTorGrace)
	for time.Now().Before(deadline) {
		if !processAlive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = p.Signal(syscall.SIGKILL)
	for i := 0; i < 100 && processAlive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

func hasArg(args []string, k, v string) bool {
	got, ok := argValue(args, k)
	return ok && filepath.Clean(got) == filepath.Clean(v)
}

func argValue(args []string, k string) (string, bool) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == k {
			return args[i+1], true
		}
	}
	return "", false
}

// processAlive: the process exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the ")" closing the command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
