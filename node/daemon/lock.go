package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse: another process (a daemon, or a wallet command working
// on the wallet file) holds the data dir.
var ErrDataDirInUse = errors.New("data dir in use")

// legacyLockName is the lock file of earlier versions, removed when found.
const legacyLockName = "lock"

// DataDirLock is an exclusive lock on a data dir. One process at a time
// works on a data dir's wallet and swap state: the persist-then-act order
// of swaps, coin reservations and the onion key assume a single writer.
// SQLite alone would let a second process in.
//
// The lock is an flock on the directory itself (no lock file: taking it
// writes nothing), which the kernel drops when the process dies however
// it dies (a SIGKILL included), so a crash never leaves a stale lock.
type DataDirLock struct {
	f *os.File
}

// LockDataDir takes the exclusive lock on dir without waiting. dir must
// exist.
func LockDataDir(dir string) (*DataDirLock, error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("data dir lock %s: %w", dir, &os.PathError{Op: "open", Path: dir, Err: err})
	}
	f := os.NewFile(uintptr(fd), dir)
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if pid := flockHolder(f); pid > 0 {
				return nil, fmt.Errorf("%w: %s is used by process %d (a running onionswap daemon or wallet command); stop it first",
					ErrDataDirInUse, dir, pid)
			}
			return nil, fmt.Errorf("%w: another onionswap process uses %s; stop it first", ErrDataDirInUse, dir)
		}
		return nil, fmt.Errorf("data dir lock %s: %w", dir, err)
	}
	_ = os.Remove(filepath.Join(dir, legacyLockName))
	return &DataDirLock{f: f}, nil
}

// flockHolder finds the PID holding an flock on f's inode in /proc/locks
// (Linux), for the error message only; 0 when it cannot tell.
func flockHolder(f *os.File) int {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	id := fmt.Sprintf("%02x:%02x:%d", major, minor, st.Ino)
	pl, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer pl.Close()
	sc := bufio.NewScanner(pl)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters
		// have "->" after the number.
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != "FLOCK" || fs[5] != id {
			continue
		}
		if pid, err := strconv.Atoi(fs[4]); err == nil {
			return pid
		}
	}
	return 0
}

// Release drops the lock. Idempotent; nil-safe.
func (l *DataDirLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
