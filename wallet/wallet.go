package wallet

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
)

// Fee defaults.
const (
	// DefaultFeeTargetBlocks is the confirmation target asked of the fee
	// estimator when a caller passes no fee rate: 6 blocks (~1 hour) suits
	// payments and swap funding that wait for confirmations anyway.
	DefaultFeeTargetBlocks = 6
	// MinFeeRate is the lowest fee rate the wallet builds with: 1000 sat/kvB
	// (1 sat/vB), btcd's and Core's long-standing default min relay fee
	// (still so in Core 29.0). Core 30.0 and 29.1 relay down to 100 sat/kvB
	// by default, but a node with the old default would not relay our
	// transactions below 1000.
	MinFeeRate = 1000
	// MaxFeeRate guards against a unit mix-up (sat/vB passed as sat/kvB is
	// 1000× too low, the other way 1000× too high): 1,000,000 sat/kvB =
	// 1000 sat/vB, above any fee market seen so far.
	MaxFeeRate = 1_000_000
)

// Config configures Create, Restore and Open.
type Config struct {
	// Path of the SQLite wallet file.
	Path string
	// Params is the network; the file and the backend must match it.
	Params *chaincfg.Params
	// Backend reaches the chain (chain.DialRPC checks auth and network).
	Backend chain.Backend
	// Passphrase encrypts the seed at rest (argon2id + XChaCha20-Poly1305).
	// Empty: the seed is stored in clear (the file is still mode 0600).
	// Create/Restore set it for good; Open needs the same one.
	Passphrase []byte
	// FeeTargetBlocks for fee estimates (DefaultFeeTargetBlocks when zero).
	FeeTargetBlocks int
	// PollInterval of the background watcher started by Start
	// (chain.DefaultPollInterval when zero).
	PollInterval time.Duration
	// Logger; nil means slog.Default().With("subsystem", "wallet").
	Logger *slog.Logger
	// Now is the clock (reservation expiry); nil means time.Now.
	Now func() time.Time
}

func (c *Config) check() error {
	switch {
	case c.Path == "":
		return errors.New("wallet config: no Path")
	case c.Params == nil:
		return errors.New("wallet config: no Params")
	case c.Backend == nil:
		return errors.New("wallet config: no Backend")
	}
	if bp := c.Backend.Params(); bp == nil || bp.Name != c.Params.Name {
		return fmt.Errorf("%w: wallet configured for %s, chain backend is on %v", ErrNetworkMismatch, c.Params.Name, paramsName(bp))
	}
	if c.FeeTargetBlocks <= 0 {
		c.FeeTargetBlocks = DefaultFeeTargetBlocks
	}
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "wallet")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func paramsName(p *chaincfg.Params) string {
	if p == nil {
		return "an unknown network"
	}
	return p.Name
}

// Wallet is an open wallet. Its methods are safe for concurrent use.
type Wallet struct {
	cfg      Config
	log      *slog.Logger
	store    *store
	keys     *keys.Keyring
	backend  chain.Backend
	watcher  *chain.Watcher
	birthday int32

	// loaded is set once the watcher has loaded its saved state; before
	// that, Watch calls are deferred to the scripts merged in by
	// LoadWatchState (a Watch before the load would save an empty state).
	loaded      atomic.Bool
	rebroadcast atomic.Bool // publish-state transactions rebroadcast since Open
	closed      atomic.Bool
	closeOnce   sync.Once
	startOnce   sync.Once

	hmu      sync.Mutex
	handlers []chain.Handler // AddEventHandler

	imu sync.Mutex // one PayIntegrityFee at a time: each extends the last one's output
}

// CreateOptions for Create.
type CreateOptions struct {
	// Words: 12 or 24 (24 when zero).
	Words int
	// SeedPassphrase is the optional BIP39 passphrase ("25th word"); it is
	// part of the backup, unlike Config.Passphrase.
	SeedPassphrase string
}

// Create makes a new wallet file with a fresh mnemonic and returns it. The
// caller shows the words to the user once; the wallet keeps only the seed
// (encrypted when Config.Passphrase is set) and cannot show them again.
// The birthday is the current tip: blocks below it are never scanned.
func Create(ctx context.Context, cfg Config, opts CreateOptions) (*Wallet, keys.Mnemonic, error) {
	if err := cfg.check(); err != nil {
		return nil, keys.Mnemonic{}, err
	}
	opts.Words = cmp.Or(opts.Words, 24)
	m, err := keys.NewMnemonic(opts.Words)
	if err != nil {
		return nil, keys.Mnemonic{}, err
	}
	tipH, tipHash, err := cfg.Backend.Tip(ctx)
	if err != nil {
		return nil, keys.Mnemonic{}, fmt.Errorf("create wallet: chain tip for the birthday: %w", err)
	}
	initial := &chain.WatchState{Version: chain.WatchStateVersion, Height: tipH,
		Blocks: []chain.BlockRecord{{Height: tipH, Hash: tipHash}}}
	w, err := create(ctx, cfg, m, opts.SeedPassphrase, tipH, initial)
	if err != nil {
		return nil, keys.Mnemonic{}, err
	}
	return w, m, nil
}

// RestoreOptions for Restore.
type RestoreOptions struct {
	// Mnemonic: the backed-up words.
	Mnemonic string
	// SeedPassphrase: the BIP39 passphrase used at creation, if any.
	SeedPassphrase string
	// Birthday: the first block that can hold the wallet's coins; the
	// first Sync scans from there (1 when zero: the whole chain).
	Birthday int32
}

// Restore makes a wallet file from backed-up words. The first Sync scans
// the chain from the birthday, following the gap limit on every branch.
func Restore(ctx context.Context, cfg Config, opts RestoreOptions) (*Wallet, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	m, err := keys.ParseMnemonic(opts.Mnemonic)
	if err != nil {
		return nil, fmt.Errorf("restore wallet: %w", err)
	}
	return create(ctx, cfg, m, opts.SeedPassphrase, max(opts.Birthday, 1), nil)
}

func create(ctx context.Context, cfg Config, m keys.Mnemonic, seedPass string, birthday int32, initial *chain.WatchState) (*Wallet, error) {
	seed, err := m.Seed(seedPass)
	if err != nil {
		return nil, fmt.Errorf("create wallet: %w", err)
	}
	defer seed.Zero()
	kr, err := keys.NewKeyring(seed, cfg.Params)
	if err != nil {
		return nil, err
	}
	blob, encrypted := seed[:], false
	if len(cfg.Passphrase) > 0 {
		if blob, err = keys.EncryptSecret(seed[:], cfg.Passphrase); err != nil {
			return nil, err
		}
		encrypted = true
	}
	st, err := openStore(ctx, cfg.Path, true)
	if err != nil {
		return nil, fmt.Errorf("create wallet: %w", err)
	}
	err = st.ExecTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (id, network, birthday_height, seed, seed_encrypted, created_at)
			VALUES (1, ?, ?, ?, ?, ?)`, cfg.Params.Name, birthday, blob, encrypted, cfg.Now().Unix()); err != nil {
			return err
		}
		for _, b := range keys.Branches {
			if _, err := topUpAddresses(ctx, tx, kr, b); err != nil {
				return err
			}
		}
		if initial != nil {
			return saveWatchState(ctx, tx, initial)
		}
		return nil
	})
	if err != nil {
		st.close()
		removeDBFiles(cfg.Path)
		return nil, fmt.Errorf("create wallet: %w", err)
	}
	cfg.Logger.Info("wallet created", "network", cfg.Params.Name, "birthday", birthday, "encrypted", encrypted)
	return newWallet(cfg, st, kr, birthday)
}

// Open opens an existing wallet file. The file is checked read-only first
// (SQLite header, PRAGMA quick_check, schema version, network, passphrase),
// so a corrupted or truncated file, a file from a newer version and a wrong
// passphrase are refused without a single byte of the file changing.
func Open(ctx context.Context, cfg Config) (*Wallet, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var seed *keys.Seed
	var birthday int32
	err := inspect(ctx, cfg.Path, func(db *sql.DB, _ int) error {
		var network string
		var blob []byte
		var encrypted bool
		err := db.QueryRowContext(ctx, `SELECT network, birthday_height, seed, seed_encrypted FROM meta WHERE id = 1`).
			Scan(&network, &birthday, &blob, &encrypted)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no wallet metadata", ErrCorrupt)
		}
		if err != nil {
			return corruptOr(err)
		}
		if network != cfg.Params.Name {
			return fmt.Errorf("%w: wallet file is for %s, configured network is %s", ErrNetworkMismatch, network, cfg.Params.Name)
		}
		if encrypted {
			if len(cfg.Passphrase) == 0 {
				return ErrPassphraseRequired
			}
			if blob, err = keys.DecryptSecret(blob, cfg.Passphrase); err != nil {
				return err
			}
		} else if len(cfg.Passphrase) > 0 {
			return ErrNotEncrypted
		}
		if len(blob) != keys.SeedLen {
			return fmt.Errorf("%w: seed has %d bytes", ErrCorrupt, len(blob))
		}
		seed = new(keys.Seed)
		copy(seed[:], blob)
		clear(blob)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open wallet: %w", err)
	}
	defer seed.Zero()
	kr, err := keys.NewKeyring(seed, cfg.Params)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg.Path, false)
	if err != nil {
		return nil, fmt.Errorf("open wallet: %w", err)
	}
	// A file created before a branch existed (the integrity branch came
	// with schema 7) has no watched window on it yet; every other branch is
	// already topped up, so this derives nothing for them.
	err = st.ExecTx(ctx, func(tx *sql.Tx) error {
		for _, b := range keys.Branches {
			if _, err := topUpAddresses(ctx, tx, kr, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		st.close()
		return nil, fmt.Errorf("open wallet: %w", err)
	}
	return newWallet(cfg, st, kr, birthday)
}

func newWallet(cfg Config, st *store, kr *keys.Keyring, birthday int32) (*Wallet, error) {
	w := &Wallet{cfg: cfg, log: cfg.Logger, store: st, keys: kr, backend: cfg.Backend, birthday: birthday}
	wt, err := chain.NewWatcher(chain.WatcherConfig{
		Backend:      cfg.Backend,
		Store:        (*watchStore)(w),
		Handler:      w.handleEvent,
		PollInterval: cfg.PollInterval,
		StartHeight:  birthday,
		Logger:       cfg.Logger.With("component", "watcher"),
	})
	if err != nil {
		st.close()
		return nil, err
	}
	w.watcher = wt
	return w, nil
}

// Start runs the watcher in the background (polling every PollInterval).
// Without Start, call Sync to catch up. Idempotent.
func (w *Wallet) Start(ctx context.Context) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	var err error
	w.startOnce.Do(func() {
		if err = w.watcher.Start(ctx); err == nil {
			w.loaded.Store(true)
		}
	})
	return err
}

// ChainChanges signals after every watcher poll that saw a new block, a
// reorg or a watched mempool transaction (coalesced; see
// chain.Watcher.Subscribe). cancel ends the subscription.
func (w *Wallet) ChainChanges() (<-chan struct{}, func()) {
	return w.watcher.Subscribe()
}

// Close stops the watcher and closes the database. Idempotent.
func (w *Wallet) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.closed.Store(true)
		w.watcher.Stop()
		err = w.store.close()
		w.keys.Zero()
	})
	return err
}

func (w *Wallet) checkOpen() error {
	if w.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (w *Wallet) now() time.Time { return w.cfg.Now() }

// Params is the wallet's network.
func (w *Wallet) Params() *chaincfg.Params { return w.cfg.Params }

// Birthday is the first block scanned for the wallet's coins.
func (w *Wallet) Birthday() int32 { return w.birthday }

// Keys gives the swap engine the node's key branches (tweakable point,
// swap keys, onion seed). Never log what it returns.
func (w *Wallet) Keys() *keys.Keyring { return w.keys }
