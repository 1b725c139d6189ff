package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Log rotation. A node on a Raspberry Pi runs for months on an SD card:
// the log must not grow without bound. At info level a busy maker writes
// well under 1 MiB a day, so 10 MiB × (1 + 3 kept) = 40 MiB at most holds
// weeks of history; debug level (every block, every message) fills a file
// in hours, which is what rotation is for.
const (
	DefaultLogMaxMB = 10
	DefaultLogKeep  = 3
	maxLogMaxMB     = 1 << 14 // 16 GiB: a typo guard, not a policy
	maxLogKeep      = 100
)

// Logging is the daemon's log setup: one root logger writing to
// DATADIR/onionswap.log (mode 0600: Debug records may hold peers' onion
// addresses; rotated by size) and to stderr, and one child logger per
// subsystem.
type Logging struct {
	Root *slog.Logger
	file *rotatingFile
}

// NewLogging opens the log file of c.DataDir (appending) and builds the
// handlers from c's log settings. stderr may be nil (no stderr output).
func NewLogging(c *Config, stderr io.Writer) (*Logging, error) {
	return newLogging(c, stderr, true)
}

// newLogging is NewLogging with the log file optional: without it (and
// without stderr) records are dropped.
func newLogging(c *Config, stderr io.Writer, withFile bool) (*Logging, error) {
	lvl, err := parseLevel(c.LogLevel)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var handlers []slog.Handler
	var f *rotatingFile
	if withFile {
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		keep := c.LogKeep
		if keep <= 0 {
			keep = DefaultLogKeep
		}
		f, err = openRotating(filepath.Join(c.DataDir, LogName), int64(c.LogMaxMB)<<20, keep)
		if err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		handlers = append(handlers, newHandler(f, c.LogFormat, opts))
	}
	if stderr != nil && c.LogStderr != "off" {
		handlers = append(handlers, newHandler(stderr, c.LogStderr, opts))
	}
	var h slog.Handler
	switch len(handlers) {
	case 0:
		h = slog.DiscardHandler
	case 1:
		h = handlers[0]
	default:
		h = slog.NewMultiHandler(handlers...)
	}
	return &Logging{Root: slog.New(h), file: f}, nil
}

// rotatingFile appends to path; a write that would take the file past
// max bytes first renames it to path.1 (path.1 to path.2, …, dropping
// path.<keep>) and starts a new file. slog handlers write one record per
// Write, so records are never split across files. A failed rotation keeps
// appending to the current file (a log line is never dropped for it) and
// is retried at the next write.
type rotatingFile struct {
	mu   sync.Mutex
	path string
	max  int64 // 0: never rotate
	keep int
	f    *os.File
	size int64
}

func openRotating(path string, max int64, keep int) (*rotatingFile, error) {
	r := &rotatingFile{path: path, max: max, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, fi.Size()
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.max > 0 && r.size > 0 && r.size+int64(len(p)) > r.max {
		r.rotate()
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *rotatingFile) rotate() {
	for i := r.keep - 1; i >= 1; i-- {
		_ = os.Rename(r.path+"."+strconv.Itoa(i), r.path+"."+strconv.Itoa(i+1))
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return
	}
	old := r.f
	if err := r.open(); err != nil {
		// Keep writing to the renamed file rather than lose records.
		r.f = old
		return
	}
	old.Close()
}

func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

func newHandler(w io.Writer, format string, opts *slog.HandlerOptions) slog.Handler {
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// For returns the logger of one subsystem.
func (l *Logging) For(subsystem string) *slog.Logger {
	return l.Root.With("subsystem", subsystem)
}

// Close closes the log file. Idempotent.
func (l *Logging) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}
