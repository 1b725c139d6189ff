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
	"strings"

	"github.com/onionswap/onionswap/internal/securefile"
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
		// Off on regtest: see tor.Config.PoWDefense.
		PoWDefense: c.Network != "regtest",
		Logger:     log,
	}
	switch tc.Mode {
	case tor.ModeManaged:
		tc.TorPath = c.Tor.Exe
		tc.DataDir = c.TorDir()
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
	if err := securefile.WriteExclusive(path, data, 0o600); err != nil {
		return false, fmt.Errorf("onion key: %w", err)
	}
	// Check that package tor reads it back.
	if _, err := tor.LoadOnionKey(path); err != nil {
		return false, err
	}
	return true, nil
}
