package daemon

import (
	"bufio"
	"crypto/sha512"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/onionswap/onionswap/tor"
	"github.com/onionswap/onionswap/tor/tornet"
	"github.com/onionswap/onionswap/wallet/keys"
)

// TorDir is DATADIR/tor: the managed tor's DataDirectory and the onion key.
func (c *Config) TorDir() string { return filepath.Join(c.DataDir, TorDirName) }

// OnionKeyPath is DATADIR/tor/onion_ed25519_key.
func (c *Config) OnionKeyPath() string { return filepath.Join(c.TorDir(), OnionKeyName) }

// TorConfig builds the tor.Config of this node.
func (c *Config) TorTransportConfig(log *slog.Logger) (tor.Config, error) {
	tc := tor.Config{
		Mode:    tor.Mode(c.Tor.Mode),
		KeyFile: c.OnionKeyPath(),
		Logger:  log,
	}
	switch tc.Mode {
	case tor.ModeManaged:
		tc.TorPath = c.Tor.Exe
		tc.DataDir = c.TorDir()
		tc.ExtraArgs = []string{"--PidFile", filepath.Join(c.TorDir(), TorPIDFileName)}
		if c.Tor.TornetDir != "" {
			args, err := TornetClientArgs(c.Tor.TornetDir)
			if err != nil {
				return tc, err
			}
			tc.ExtraArgs = append(tc.ExtraArgs, args...)
		}
	case tor.ModeAttach:
		tc.ControlAddr = c.Tor.Control
		tc.ControlPassword = c.Tor.Password
	}
	return tc, nil
}

// TornetClientArgs reads DIR/client.torrc of a private network (written by
// `onionswap tornet`) and returns it as tor command-line arguments.
func TornetClientArgs(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, tornet.ClientTorrcName))
	if err != nil {
		return nil, fmt.Errorf("tornet: %w", err)
	}
	defer f.Close()
	var args []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		args = append(args, "--"+k, strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tornet: %w", err)
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("tornet: %s is empty", f.Name())
	}
	return args, nil
}

// onionKeyHeader is the header of tor's hs_ed25519_secret_key file, the
// format package tor stores (tor.LoadOnionKey).
const onionKeyHeader = "== ed25519v1-secret: type0 ==\x00\x00\x00"

// ensureOnionKeyFromSeed writes the onion key derived from the wallet's
// onion identity seed (m/175'/coin'/3', package keys) when the node has no
// key file yet, so that the words restore the node's onion address. An
// existing key is never replaced. The expanded ed25519 secret is RFC 8032's
// SHA-512(seed) with the scalar half clamped: exactly what tor derives from
// an ed25519 seed.
func ensureOnionKeyFromSeed(path string, kr *keys.Keyring) (created bool, err error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	seed, err := kr.OnionIdentitySeed()
	if err != nil {
		return false, err
	}
	h := sha512.Sum512(seed[:])
	clear(seed[:])
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	data := append([]byte(onionKeyHeader), h[:]...)
	clear(h[:])
	defer clear(data)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	if err := writeFileExclusive(path, data, 0o600); err != nil {
		return false, fmt.Errorf("onion key: %w", err)
	}
	// Check that package tor reads it back.
	if _, err := tor.LoadOnionKey(path); err != nil {
		return false, err
	}
	return true, nil
}

// writeFileExclusive writes data to a temp file, fsyncs it and links it to
// path, failing if path exists.
func writeFileExclusive(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Link(tmp, path)
}

// TorPIDFileName is the managed tor's pid file (inside TorDir), written by
// tor itself (--PidFile) so that a restarted node can find the tor its
// crashed predecessor left behind.
const TorPIDFileName = "tor.pid"

// orphanTorGrace is how long a stale tor gets to exit after SIGTERM before
// SIGKILL: a client tor exits at once; 5 s is tor's own shutdown delay
// bound for clients.
const orphanTorGrace = 5 * time.Second

// reapOrphanTor stops the managed tor left running by a predecessor that
// was killed (SIGKILL, power cut of the process): it still holds the data
// directory's lock, so our tor could not start until it notices its owner
// is gone (up to ~15 s). Only a process whose command line names our tor
// data directory and whose owning controller is dead is touched.
func reapOrphanTor(torDir string, log *slog.Logger) {
	b, err := os.ReadFile(filepath.Join(torDir, TorPIDFileName))
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
