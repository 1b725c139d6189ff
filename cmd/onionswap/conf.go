package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The config file: DATADIR/onionswap.conf, or --conf FILE. One setting a
// line, `key = value`, the keys named as the flags without their dashes;
// `#` starts a comment line; a repeatable setting (directory, fault) may
// be given on several lines. A flag on the command line overrides the
// file's lines of that key. A key no command knows is an error naming the
// line; a key of another command (base-fee read by `wallet balance`) is
// ignored, so one file serves every command of a node.

// maxConfSize bounds the file: a config, not a document.
const maxConfSize = 1 << 20

// confLine is one setting of the file.
type confLine struct {
	line       int
	key, value string
}

// parseConf reads the settings of r; name is for errors.
func parseConf(r io.Reader, name string) ([]confLine, error) {
	var out []confLine
	sc := bufio.NewScanner(io.LimitReader(r, maxConfSize))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s:%d: want key = value, got %q", name, n, line)
		case strings.HasPrefix(k, "-"):
			return nil, fmt.Errorf("%s:%d: %q: keys are the flag names without dashes", name, n, k)
		case k == "":
			return nil, fmt.Errorf("%s:%d: empty key", name, n)
		}
		out = append(out, confLine{line: n, key: k, value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// loadConf applies the config file to e.cfg under the flags given on the
// command line. A missing DATADIR/onionswap.conf is no error; a missing
// --conf file is.
func (e *env) loadConf() error {
	path, explicit := e.conf, e.conf != ""
	if !explicit {
		path = filepath.Join(e.cfg.DataDir, confName)
	}
	f, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		// Owner read-write, group read at most: it may hold secrets.
		if perm := fi.Mode().Perm(); perm&0o037 != 0 {
			fmt.Fprintf(e.stderr, "onionswap: warning: %s has mode %#o but may hold secrets (rpc-pass, tor-password): run chmod 600 %s\n",
				path, perm, path)
		}
	}
	lines, err := parseConf(f, path)
	if err != nil {
		return err
	}
	first := map[string]int{}
	for _, l := range lines {
		o, ok := optionByName[l.key]
		if !ok {
			return fmt.Errorf("%s:%d: unknown key %q", path, l.line, l.key)
		}
		if prev, dup := first[l.key]; dup && !o.repeat {
			return fmt.Errorf("%s:%d: %s is already set on line %d", path, l.line, l.key, prev)
		}
		first[l.key] = l.line
		if l.key == "datadir" && !explicit {
			return fmt.Errorf("%s:%d: datadir cannot be set in the data directory's own %s (use --conf FILE elsewhere)", path, l.line, confName)
		}
		if o.uses&e.cmd.opts == 0 || e.cli[l.key] {
			continue // another command's setting, or overridden
		}
		if err := o.set(e.cfg, l.value); err != nil {
			return fmt.Errorf("%s:%d: %s: %v", path, l.line, l.key, err)
		}
	}
	return nil
}
