//go:build itest

package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
)

// clu is the package's one cluster (private Tor network + regtest chain),
// started in TestMain; the processes are spawned on first use (fixture).
var clu *cluster.Cluster

// baseDir holds the cluster and the test's own tor: every process of the
// package has it on its command line, which is how TestMain finds
// leftovers.
var baseDir string

// autoMineInterval: the mempool is checked this often and a block mined
// when it holds anything; the children poll the chain every 500 ms
// (cluster.DefaultChainPoll), so a shorter interval gains nothing.
const autoMineInterval = 250 * time.Millisecond

// leftoverWait bounds waiting for processes to be gone after the cluster
// stopped: a managed tor whose owner was SIGKILLed notices within ~15 s
// (__OwningControllerProcess polling), so 45 s is ample.
const leftoverWait = 45 * time.Second

type runner struct {
	m    *testing.M
	stop func()
}

func (r *runner) Run() int {
	defer func() {
		if r.stop != nil {
			r.stop()
		}
	}()
	code := r.m.Run()
	// The leftover check below must be able to see the package's
	// processes: while they run, it finds them.
	if fx != nil && len(processesUnder(baseDir)) == 0 {
		fmt.Fprintln(os.Stderr, "scenario: the process scan finds none of the running processes")
		code = 1
	}
	return code
}

func TestMain(m *testing.M) {
	var err error
	if baseDir, err = os.MkdirTemp("", "osw-scn-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	t0 := time.Now()
	r := &runner{m: m}
	code := cluster.RunMain(r, cluster.Options{Dir: filepath.Join(baseDir, "c")}, func(c *cluster.Cluster) {
		clu = c
		r.stop = c.AutoMine(context.Background(), cluster.AutoMineOptions{Interval: autoMineInterval})
	})
	// No onionswap, tor or btcd process of the package may outlive it.
	if left := waitNoProcesses(baseDir, leftoverWait); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "scenario: processes left behind:\n%s\n", strings.Join(left, "\n"))
		code = 1
	}
	if code == 0 {
		os.RemoveAll(baseDir)
	} else {
		fmt.Fprintln(os.Stderr, "scenario: directory kept:", baseDir)
	}
	fmt.Fprintf(os.Stderr, "scenario: package wall time %s\n", time.Since(t0).Round(time.Second))
	os.Exit(code)
}

// waitNoProcesses waits until no process has dir on its command line and
// returns the ones still there after d ("pid: cmdline").
func waitNoProcesses(dir string, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		left := processesUnder(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func processesUnder(dir string) []string {
	ents, _ := os.ReadDir("/proc")
	self := fmt.Sprint(os.Getpid())
	var out []string
	for _, e := range ents {
		if e.Name() == self || strings.Trim(e.Name(), "0123456789") != "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if strings.Contains(cmd, dir) {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
				continue // a zombie is gone, only not reaped yet
			}
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}
