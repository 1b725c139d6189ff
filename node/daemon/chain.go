package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/onionswap/onionswap/internal/backoff"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
)

// RPCConfig converts the flags into chain.RPCConfig.
func (c *Config) ChainRPCConfig(log *slog.Logger) (chain.RPCConfig, error) {
	rc := chain.RPCConfig{
		Host:       c.RPC.Host,
		User:       c.RPC.User,
		Pass:       c.RPC.Pass,
		CookieFile: c.RPC.Cookie,
		DisableTLS: c.RPC.NoTLS,
		Params:     c.Params(),
		Logger:     log,
	}
	if c.RPC.Cert != "" {
		pem, err := os.ReadFile(c.RPC.Cert)
		if err != nil {
			return rc, fmt.Errorf("--rpc-cert: %w", err)
		}
		rc.CertPEM = pem
	}
	return rc, nil
}

// DialChain dials the chain backend once (no retry).
func DialChain(ctx context.Context, c *Config, log *slog.Logger) (*chain.RPC, error) {
	rc, err := c.ChainRPCConfig(log)
	if err != nil {
		return nil, err
	}
	return chain.DialRPC(ctx, rc)
}

// chainDialVerdict says what the start-up loop does with a dial error:
// retry (and the log line saying why) or give up. Permanent: retrying
// cannot help (wrong network, credentials, missing index, too old a node,
// an answer this version of onionswap cannot read): the operator must fix
// the configuration or upgrade, so fail closed at once. A node that is
// still loading (bitcoind -28) is waited for, and said so.
func chainDialVerdict(err error) (retry bool, msg string) {
	switch {
	case errors.Is(err, chain.ErrAuth), errors.Is(err, chain.ErrWrongNetwork),
		errors.Is(err, chain.ErrNoTxIndex), errors.Is(err, chain.ErrUnsupported),
		errors.Is(err, chain.ErrUndecodable):
		return false, ""
	case errors.Is(err, chain.ErrWarmingUp):
		return true, "bitcoind is starting, waiting for it to finish loading"
	case errors.Is(err, chain.ErrUnreachable):
		return true, "chain backend unreachable, retrying"
	}
	return true, "chain backend not usable yet, retrying"
}

// dialChainRetry dials until the backend answers, ctx ends, or the error is
// permanent. onWait is called with each failure (for status).
func dialChainRetry(ctx context.Context, c *Config, log *slog.Logger, onWait func(error)) (*chain.RPC, error) {
	delays := backoff.Backoff{Min: chainRetryMin, Max: chainRetryMax}
	for attempt := 1; ; attempt++ {
		b, err := DialChain(ctx, c, log)
		if err == nil {
			return b, nil
		}
		retry, msg := chainDialVerdict(err)
		if !retry || ctx.Err() != nil {
			return nil, err
		}
		if onWait != nil {
			onWait(err)
		}
		wait := delays.Next()
		log.Warn(msg, "host", c.RPC.Host, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the chain backend: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// WalletPath is DATADIR/onionswap.db.
func (c *Config) WalletPath() string { return filepath.Join(c.DataDir, WalletDBName) }

// WalletConfig builds the wallet.Config for backend.
func (c *Config) WalletConfig(backend chain.Backend, log *slog.Logger) (wallet.Config, error) {
	pass, err := c.Passphrase()
	if err != nil {
		return wallet.Config{}, err
	}
	return wallet.Config{
		Path:         c.WalletPath(),
		Params:       c.Params(),
		Backend:      backend,
		Passphrase:   pass,
		PollInterval: c.ChainPoll,
		Logger:       log,
	}, nil
}

// ErrNoWallet: the data dir has no wallet yet.
var ErrNoWallet = errors.New("no wallet in the data directory")

// OpenWallet opens DATADIR/onionswap.db on backend.
func OpenWallet(ctx context.Context, c *Config, backend chain.Backend, log *slog.Logger) (*wallet.Wallet, error) {
	wc, err := c.WalletConfig(backend, log)
	if err != nil {
		return nil, err
	}
	w, err := wallet.Open(ctx, wc)
	switch {
	case errors.Is(err, wallet.ErrWalletNotFound):
		return nil, fmt.Errorf("%w: %s (create one with `onionswap wallet create --datadir %s --network %s`)",
			ErrNoWallet, c.WalletPath(), c.DataDir, c.Network)
	case errors.Is(err, wallet.ErrPassphraseRequired):
		return nil, fmt.Errorf("%w: give it with --passphrase-file FILE (or passphrase-file in onionswap.conf): the file's first line is the passphrase", err)
	case errors.Is(err, wallet.ErrWrongPassphrase) && c.PassphraseFile != "":
		return nil, fmt.Errorf("%w (the first line of --passphrase-file %s)", err, c.PassphraseFile)
	}
	return w, err
}

// EnsureDataDir creates the data dir with mode 0700 and refuses one that
// group or others can read (it holds the wallet, keys and the control
// cookie).
func EnsureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("data dir %s has mode %#o: it holds the wallet and keys; run `chmod 700 %s`",
			dir, fi.Mode().Perm(), dir)
	}
	return nil
}
