package tor

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
)

func TestReapOrphanTor(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	start := func(dataDir string, owner string) *exec.Cmd {
		args := []string{"-c", "sleep 30", "--DataDirectory", dataDir}
		if owner != "" {
			args = append(args, "--__OwningControllerProcess", owner)
		}
		cmd := exec.Command("/bin/sh", args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		// Until the child has exec'd, /proc shows the test binary's
		// command line: wait for the one the reaper reads.
		testutil.Eventually(t, 5*time.Second, "the child's command line", testutil.Holds(func() bool {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
			return strings.Contains(string(b), "--DataDirectory")
		}))
		return cmd
	}
	writePID := func(pid int) {
		if err := os.WriteFile(filepath.Join(dir, PIDFileName), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name     string
		dataDir  string
		owner    string
		wantDead bool
	}{
		{"another data dir (pid reused)", other, "", false},
		{"owner alive", dir, strconv.Itoa(os.Getpid()), false},
		{"orphan, owner gone", dir, "999999999", true},
		{"orphan without owner arg", dir, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := start(tc.dataDir, tc.owner)
			writePID(cmd.Process.Pid)
			reapOrphan(dir, log)
			if got := !processAlive(cmd.Process.Pid); got != tc.wantDead {
				t.Fatalf("dead = %v, want %v", got, tc.wantDead)
			}
		})
	}
}
