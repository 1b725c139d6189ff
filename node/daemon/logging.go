package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// Logging is the daemon's log setup: one root logger writing to
// DATADIR/onionswap.log (mode 0600: Debug records may hold peers' onion
// addresses) and to stderr, and one child logger per subsystem.
type Logging struct {
	Root *slog.Logger
	file *os.File
}

// NewLogging opens the log file (appending) and builds the handlers.
// stderr may be nil (no stderr output).
func NewLogging(dataDir, level, fileFormat, stderrFormat string, stderr io.Writer) (*Logging, error) {
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dataDir, LogName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	handlers := []slog.Handler{newHandler(f, fileFormat, opts)}
	if stderr != nil && stderrFormat != "off" {
		handlers = append(handlers, newHandler(stderr, stderrFormat, opts))
	}
	var h slog.Handler = handlers[0]
	if len(handlers) > 1 {
		h = slog.NewMultiHandler(handlers...)
	}
	return &Logging{Root: slog.New(h), file: f}, nil
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
