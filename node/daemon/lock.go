package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse: another process (a daemon, or a wallet command working
// on the wallet file offline) holds the data dir.
var ErrDataDirInUse = errors.New("data dir in use")

// lockFileName is the data dir's lock file. It holds the owner's PID for
// the error message; the lock itself is the flock on it, which the kernel
// drops when the process dies however it dies (a SIGKILL included), so a
// crash never leaves a stale lock behind.
const lockFileName = "lock"

// DataDirLock is an exclusive lock on a data dir. One process at a time
// works on a data dir's wallet and swap state: the persist-then-act order
// of swaps, coin reservations and the onion key assume a single writer.
// SQLite alone would let a second process in.
type DataDirLock struct {
	f *os.File
}

// LockDataDir takes the exclusive lock on dir without waiting.
func LockDataDir(dir string) (*DataDirLock, error) {
	p := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner := "another process"
		if b, rerr := os.ReadFile(p); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				owner = fmt.Sprintf("process %d", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is used by %s (a running onionswap daemon or wallet command); stop it first",
				ErrDataDirInUse, dir, owner)
		}
		return nil, fmt.Errorf("data dir lock %s: %w", p, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DataDirLock{f: f}, nil
}

// Release drops the lock. Idempotent; nil-safe.
func (l *DataDirLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	// Empty the PID first: a reader that finds the file without a lock
	// holder must not name a process that is gone.
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
