package daemon

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/tor"
)

// Roles a daemon can run.
const (
	RoleDirectory = "directory"
	RoleMaker     = "maker"
	RoleTaker     = "taker"
	// RoleWallet runs only the wallet and the control API (no tor): the
	// wallet commands use it in tests; operators rarely need it.
	RoleWallet = "wallet"
)

// File names inside the data directory.
const (
	WalletDBName    = "onionswap.db"
	DirectoryDBName = "directory.db"
	LogName         = "onionswap.log"
	TorDirName      = "tor"
	// OnionKeyName is the onion service key, inside TorDirName.
	OnionKeyName = "onion_ed25519_key"
)

// Defaults and bounds of the runtime (named, with their derivation).
const (
	// DefaultHealthInterval: how often the chain backend's tip is asked
	// for. The wallet watcher polls every chain.DefaultPollInterval (5 s)
	// anyway; 5 s here means status and fail-closed decisions are at most
	// one poll stale.
	DefaultHealthInterval = 5 * time.Second
	// MinHealthInterval keeps a misconfigured node from hammering its
	// backend: 100 ms is still far below one RPC's worst case.
	MinHealthInterval = 100 * time.Millisecond
	// chainRetryMax caps the back-off between attempts to reach a chain
	// backend that is down at start (a Raspberry Pi often starts
	// onionswap before bitcoind has finished its own start): 30 s keeps
	// the log quiet while still noticing the backend within half a minute.
	chainRetryMax = 30 * time.Second
	// chainRetryMin is the first back-off step.
	chainRetryMin = 500 * time.Millisecond
	// MaxPassphraseFile bounds the passphrase file (a passphrase, not a
	// document): 4 KiB.
	MaxPassphraseFile = 4096
)

// Config is a daemon's whole configuration. The zero value is not valid:
// start from NewConfig, set what the operator chose (the command line and
// the config file, cmd/onionswap) and call Validate.
type Config struct {
	// Role is one of the Role* constants.
	Role string
	// DataDir holds everything of this instance (created 0700).
	DataDir string
	// Network: regtest, testnet (testnet3), signet or mainnet.
	Network string

	Tor TorConfig
	RPC RPCConfig

	// LogLevel: debug, info, warn, error.
	LogLevel string
	// LogFormat of the log file: json (default) or text.
	LogFormat string
	// LogStderr: text, json or off.
	LogStderr string
	// LogMaxMB: the log file is rotated once it would pass this many MiB
	// (0: never). LogKeep rotated files are kept (0: DefaultLogKeep).
	LogMaxMB int
	LogKeep  int

	// PassphraseFile holds the wallet encryption passphrase (first line).
	PassphraseFile string
	// WalletPassphrase, when not nil, is the passphrase itself (typed at
	// a prompt); it takes the place of PassphraseFile.
	WalletPassphrase []byte

	// ChainPoll is the wallet watcher's poll interval (0: the wallet's
	// default); HealthInterval the chain health check's.
	ChainPoll      time.Duration
	HealthInterval time.Duration

	// Directories are the directory onion addresses (maker registers with
	// every one; taker lists every one).
	Directories []string
	// NeedMakers: this taker must be able to find makers (taker run), so
	// Validate asks for a --directory. A taker that only recovers its
	// swaps, or lists them, needs none: its makers may be gone.
	NeedMakers bool

	Maker MakerConfig
	Taker TakerConfig
	// Pool configures the message pool of makers and takers
	// (config_pool.go).
	Pool PoolConfig
	// CoinJoin configures the CoinJoin of makers and takers
	// (config_coinjoin.go).
	CoinJoin CoinJoinConfig
	// Dashboard configures the web dashboard (config_dashboard.go).
	Dashboard DashboardConfig

	// Faults is the fault-injection plan (node/swap FaultPlan strings),
	// refused on every network but regtest.
	Faults []string
}

// TorConfig selects and reaches tor.
type TorConfig struct {
	// Mode: managed (start our own tor) or attach (use a running one).
	Mode string
	// Control: control port "host:port" or unix socket path (attach).
	Control string
	// Password for HASHEDPASSWORD authentication (attach); cookie
	// authentication needs nothing: tor names its cookie file itself.
	Password string
	// PasswordFile holds Password (preferred: not visible in ps).
	PasswordFile string
	// Exe is the tor binary (managed); empty: "tor" on PATH.
	Exe string
	// TornetDir joins the private test network in that directory (managed
	// mode; reads its client.torrc).
	TornetDir string
}

// RPCConfig reaches btcd or bitcoind.
type RPCConfig struct {
	Host, User, Pass string
	// Cookie is bitcoind's .cookie file (instead of User/Pass).
	Cookie string
	// NoTLS talks plain HTTP: allowed only to a loopback host.
	NoTLS bool
	// Cert is btcd's rpc.cert when TLS is on.
	Cert string
}

// MakerConfig holds the maker role's own settings.
type MakerConfig struct {
	// BondAmount (sat) to lock when the wallet has no usable bond
	// (0: the engine's default).
	BondAmount int64
	// BondLockBlocks: the bond's lock height is tip + BondLockBlocks
	// (0: the engine's default).
	BondLockBlocks uint32
	// RequiredConfirms of incoming funding (0: the engine's default).
	RequiredConfirms int
	// Fee terms: base fee (sat), amount-relative and amount×locktime-
	// relative fees in parts per billion.
	BaseFee      int64
	AmountFeePPB uint
	TimeFeePPB   uint
	// MaxSize caps the swap size (sat; 0: from the spendable liquidity).
	MaxSize int64
	// OfferProof: what backs the maker's offer in the pool's book: "bond"
	// (a fidelity bond; also listed by directories) or "integrity" (a
	// daily fee paid to miners, no bond; found in the book only).
	OfferProof string
	// IntegrityLevel: the integrity fee's level (low, normal, high).
	IntegrityLevel string
	// IdleTimeout: a swap with no taker message for this long is
	// abandoned or recovered (0: the engine's default, 15 min). Regtest
	// only: tests shorten it; elsewhere the default is what keep-alives
	// are tuned to.
	IdleTimeout time.Duration
}

// Default maker fee terms. For a 0.01 BTC swap with a 40-block refund
// locktime they sum to 1000 + 1000 + 400 = 2400 sat (0.24 %), in the range
// the reference's makers ask.
const (
	DefaultBaseFee      = 1000      // sat
	DefaultAmountFeePPB = 1_000_000 // 0.1 % of the amount
	DefaultTimeFeePPB   = 10_000    // 0.001 % of the amount per block of refund locktime
	// DefaultBondAmount: 0.005 BTC, five times the default acceptance
	// floor (script.DefaultMinBondAmount), so a new maker is listed.
	DefaultBondAmount = 500_000
)

// TakerConfig holds the taker role's own settings.
type TakerConfig struct {
	// RequiredConfirms the taker waits for on each hop (0: default).
	RequiredConfirms int
	// KeepAliveInterval between WaitingFundingConfirmation messages (0:
	// the engine's default). Regtest only, with the maker's IdleTimeout.
	KeepAliveInterval time.Duration
}

// Networks maps --network values to chain parameters.
var Networks = map[string]*chaincfg.Params{
	"regtest": &chaincfg.RegressionNetParams,
	"testnet": &chaincfg.TestNet3Params,
	"signet":  &chaincfg.SigNetParams,
	"mainnet": &chaincfg.MainNetParams,
}

// DefaultDataDir is ~/.onionswap (or ./onionswap-data without a home).
func DefaultDataDir() string {
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".onionswap")
	}
	return "onionswap-data"
}

// NewConfig returns a Config of role holding every default: what a
// command-line parser fills and Validate checks.
func NewConfig(role string) Config {
	c := Config{
		Role:      role,
		DataDir:   DefaultDataDir(),
		Network:   "mainnet",
		LogLevel:  "info",
		LogFormat: "json",
		LogStderr: "text",
		LogMaxMB:  DefaultLogMaxMB,
		LogKeep:   DefaultLogKeep,
		Tor:       TorConfig{Mode: string(tor.ModeManaged)},
	}
	if role == RoleMaker {
		c.Maker = MakerConfig{BondAmount: DefaultBondAmount, BaseFee: DefaultBaseFee,
			AmountFeePPB: DefaultAmountFeePPB, TimeFeePPB: DefaultTimeFeePPB}
	}
	return c
}

// Params returns the chain parameters of c.Network.
func (c *Config) Params() *chaincfg.Params { return Networks[c.Network] }

// Validation errors.
var (
	ErrConfig = errors.New("invalid configuration")
)

func cfgErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
}

// Validate checks c and fills derived defaults (RPC host from the network,
// absolute data dir, password from its file). It never touches the network.
func (c *Config) Validate() error {
	switch c.Role {
	case RoleDirectory, RoleMaker, RoleTaker, RoleWallet:
	default:
		return cfgErr("unknown role %q", c.Role)
	}
	if c.DataDir == "" {
		return cfgErr("--datadir is empty")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return cfgErr("--datadir: %v", err)
	}
	c.DataDir = abs
	if _, ok := Networks[c.Network]; !ok {
		return cfgErr("--network %q: want regtest, testnet, signet or mainnet", c.Network)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		return cfgErr("--log-format %q: want json or text", c.LogFormat)
	}
	switch c.LogStderr {
	case "json", "text", "off":
	default:
		return cfgErr("--log-stderr %q: want text, json or off", c.LogStderr)
	}
	if c.LogMaxMB < 0 || c.LogMaxMB > maxLogMaxMB {
		return cfgErr("--log-max-mb %d: want 0 (never rotate) to %d", c.LogMaxMB, maxLogMaxMB)
	}
	if c.LogKeep < 0 || c.LogKeep > maxLogKeep {
		return cfgErr("--log-keep %d: want 1 to %d", c.LogKeep, maxLogKeep)
	}
	if len(c.Faults) > 0 && c.Network != "regtest" {
		return cfgErr("--fault is accepted only on regtest (network is %s)", c.Network)
	}
	for _, f := range c.Faults {
		if !validFault(f) {
			return cfgErr("--fault %q: want [maker:|taker:]name[=value], e.g. maker:close-at=setup or crash-after=<phase>", f)
		}
	}
	if err := c.validateRPC(); err != nil {
		return err
	}
	if c.Role != RoleWallet {
		if err := c.validateTor(); err != nil {
			return err
		}
	}
	if c.ChainPoll < 0 || (c.ChainPoll > 0 && c.ChainPoll < MinHealthInterval) {
		return cfgErr("--chain-poll %s: must be at least %s", c.ChainPoll, MinHealthInterval)
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.HealthInterval < MinHealthInterval {
		return cfgErr("--health-interval %s: must be at least %s", c.HealthInterval, MinHealthInterval)
	}
	for _, d := range c.Directories {
		if _, err := tor.ParseOnionAddr(d); err != nil {
			return cfgErr("--directory %q: %v", d, err)
		}
	}
	if err := c.Pool.validate(); err != nil {
		return err
	}
	if err := c.CoinJoin.validate(c.Network); err != nil {
		return err
	}
	if err := c.Dashboard.validate(c.Network); err != nil {
		return err
	}
	switch c.Role {
	case RoleMaker:
		switch c.Maker.OfferProof {
		case "", "bond":
			if len(c.Directories) == 0 {
				return cfgErr("a maker needs at least one --directory to register with")
			}
		case "integrity":
			if c.Pool.Disabled || (len(c.Directories) == 0 && len(c.Pool.Bootstrap) == 0) {
				return cfgErr("an --offer-proof integrity maker is found in the pool's book only: it needs the pool and a --directory or --pool-peer to join it")
			}
			if _, err := market.ParseIntegrityLevel(cmp.Or(c.Maker.IntegrityLevel, "normal")); err != nil {
				return cfgErr("--integrity-level: low, normal or high")
			}
		default:
			return cfgErr("--offer-proof: bond or integrity")
		}
		if c.Maker.BondAmount < 0 || c.Maker.RequiredConfirms < 0 || c.Maker.BaseFee < 0 || c.Maker.MaxSize < 0 {
			return cfgErr("--bond-amount, --required-confirms, --base-fee and --max-size must not be negative")
		}
		if c.Maker.IdleTimeout != 0 && (c.Network != "regtest" || c.Maker.IdleTimeout < time.Second) {
			return cfgErr("--idle-timeout is a test setting: regtest only, at least 1s")
		}
		if c.Maker.AmountFeePPB > 1e9 || c.Maker.TimeFeePPB > 1e9 {
			return cfgErr("--amount-fee-ppb and --time-fee-ppb are parts per billion (at most 1e9)")
		}
	case RoleTaker:
		// Makers come from the pool's offer book, which needs a peer to
		// join through, or from directories.
		if c.NeedMakers && len(c.Directories) == 0 && (c.Pool.Disabled || len(c.Pool.Bootstrap) == 0) {
			return cfgErr("a taker needs at least one --directory or --pool-peer to find makers (taker recover needs none)")
		}
		if c.Taker.RequiredConfirms < 0 {
			return cfgErr("--required-confirms must not be negative")
		}
		if c.Taker.KeepAliveInterval != 0 && (c.Network != "regtest" || c.Taker.KeepAliveInterval < 100*time.Millisecond) {
			return cfgErr("--keepalive-interval is a test setting: regtest only, at least 100ms")
		}
	}
	return nil
}

func (c *Config) validateRPC() error {
	if c.RPC.Host == "" {
		c.RPC.Host = defaultRPCHost(c.Network)
	}
	if c.RPC.Cookie != "" && (c.RPC.User != "" || c.RPC.Pass != "") {
		return cfgErr("--rpc-cookie and --rpc-user/--rpc-pass are exclusive")
	}
	if c.RPC.Cookie == "" && (c.RPC.User == "" || c.RPC.Pass == "") {
		return cfgErr("chain backend credentials: give --rpc-user and --rpc-pass, or --rpc-cookie")
	}
	if c.RPC.NoTLS && !isLoopbackHost(c.RPC.Host) {
		return cfgErr("--rpc-notls to %s: plain-HTTP RPC sends the password in clear; only loopback hosts are allowed", c.RPC.Host)
	}
	if c.RPC.NoTLS && c.RPC.Cert != "" {
		return cfgErr("--rpc-cert and --rpc-notls are exclusive")
	}
	return nil
}

func (c *Config) validateTor() error {
	switch tor.Mode(c.Tor.Mode) {
	case tor.ModeManaged:
		if c.Tor.Control != "" || c.Tor.Password != "" || c.Tor.PasswordFile != "" {
			return cfgErr("--tor-control/--tor-password are for --tor attach")
		}
	case tor.ModeAttach:
		if c.Tor.TornetDir != "" {
			return cfgErr("--tornet-dir needs --tor managed (the private network's settings go to our own tor)")
		}
		if c.Tor.Exe != "" {
			return cfgErr("--tor-exe is for --tor managed")
		}
		if c.Tor.Password != "" && c.Tor.PasswordFile != "" {
			return cfgErr("--tor-password and --tor-password-file are exclusive")
		}
		if c.Tor.PasswordFile != "" {
			p, err := readSecretFile(c.Tor.PasswordFile)
			if err != nil {
				return cfgErr("--tor-password-file: %v", err)
			}
			c.Tor.Password = string(p)
		}
	default:
		return cfgErr("--tor %q: want managed or attach", c.Tor.Mode)
	}
	if c.Tor.TornetDir != "" {
		if c.Network != "regtest" {
			return cfgErr("--tornet-dir (a private test network) is for regtest only")
		}
		if _, err := os.Stat(filepath.Join(c.Tor.TornetDir, "client.torrc")); err != nil {
			return cfgErr("--tornet-dir: %v (is `onionswap tornet --dir %s` running?)", err, c.Tor.TornetDir)
		}
	}
	return nil
}

// defaultRPCHost is the usual local RPC port of bitcoind per network
// (btcd's differ: pass --rpc-host).
func defaultRPCHost(network string) string {
	switch network {
	case "regtest":
		return "127.0.0.1:18443"
	case "testnet":
		return "127.0.0.1:18332"
	case "signet":
		return "127.0.0.1:38332"
	default:
		return "127.0.0.1:8332"
	}
}

// isLoopbackHost accepts a literal loopback IP (127.0.0.0/8, ::1) or the
// name localhost, with or without a port. Nothing is resolved: a name such
// as 127.attacker.example is refused here, before anything looks it up.
func isLoopbackHost(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// validFault accepts "[maker:|taker:]name[=value]" with a lowercase name.
func validFault(f string) bool {
	f = strings.TrimPrefix(strings.TrimPrefix(f, "maker:"), "taker:")
	name, _, _ := strings.Cut(f, "=")
	if name == "" {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && r != '-' && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, cfgErr("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// readSecretFile returns the first line of a small file, without the
// newline. The content never appears in errors.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxPassphraseFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxPassphraseFile)
	}
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		if sc.Err() != nil {
			return nil, sc.Err()
		}
		return nil, fmt.Errorf("%s is empty", path)
	}
	line := strings.TrimRight(sc.Text(), "\r")
	if line == "" {
		return nil, fmt.Errorf("%s: the first line is empty", path)
	}
	return []byte(line), nil
}

// Passphrase returns WalletPassphrase, else reads the passphrase file (nil
// when neither is set).
func (c *Config) Passphrase() ([]byte, error) {
	if c.WalletPassphrase != nil {
		return c.WalletPassphrase, nil
	}
	if c.PassphraseFile == "" {
		return nil, nil
	}
	p, err := readSecretFile(c.PassphraseFile)
	if err != nil {
		return nil, fmt.Errorf("--passphrase-file: %w", err)
	}
	return p, nil
}
