package tor

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// Mode says where the Tor comes from.
type Mode string

const (
	// ModeManaged starts our own tor process (the system tor binary) with
	// its data directory inside the node's data directory.
	ModeManaged Mode = "managed"
	// ModeAttach uses an already running tor through its control port or
	// control socket, e.g. Debian's system tor on a Raspberry Pi.
	ModeAttach Mode = "attach"
)

const (
	// DefaultControlAddr is tor's conventional control port.
	DefaultControlAddr = "127.0.0.1:9051"
	// DebianControlSocket is the control socket of Debian's tor service
	// (with CookieAuthentication 1); use it as Config.ControlAddr to attach
	// to the system tor of a Raspberry Pi.
	DebianControlSocket = "/run/tor/control"
	// DefaultOnionPort is the virtual port of our onion service. It is only
	// visible inside the onion address; any value works for every peer
	// that learns the full address.
	DefaultOnionPort = 80
	// DefaultBootstrapTimeout bounds waiting for tor to reach 100 %. A
	// fresh client on the public network needs 5-60 s (longer on a
	// Raspberry Pi on a slow link); bine's README also uses 3 minutes.
	DefaultBootstrapTimeout = 3 * time.Minute
	// DefaultPublishTimeout bounds waiting for the first HS_DESC UPLOADED.
	// The service first opens its 3 introduction circuits, then uploads:
	// 1-2 s on the private network, typically 10-60 s on the public one.
	DefaultPublishTimeout = 3 * time.Minute
	// DefaultDialTimeout bounds one onion dial (descriptor fetch,
	// introduction, rendezvous). 90 s stays below tor's own SocksTimeout
	// (120 s) so the caller, not tor, decides, and lets lnd-like slow
	// onion circuits (~5-30 s on the public network) complete.
	DefaultDialTimeout = 90 * time.Second
	// DefaultHealthInterval is how often the control connection is pinged.
	// Death of the process or connection is noticed at once through the
	// event connection; the ping only catches a hung tor. 30 s costs
	// nothing measurable on a Raspberry Pi.
	DefaultHealthInterval = 30 * time.Second
)

// Config configures a TorTransport. Zero durations take the defaults.
type Config struct {
	Mode Mode

	// TorPath is the tor binary (managed mode); empty means "tor" on PATH.
	TorPath string
	// DataDir is tor's data directory (managed mode, required): put it
	// inside the node's data directory. Reusing it across restarts keeps
	// the cached consensus and guards, so restarts bootstrap in seconds.
	DataDir string
	// TorrcFile is an optional torrc for the managed tor.
	TorrcFile string
	// ExtraArgs are extra tor command-line options for the managed tor,
	// e.g. tornet.Network.ClientArgs() to join a private test network.
	ExtraArgs []string

	// ControlAddr is the control port ("127.0.0.1:9051") or socket
	// ("/run/tor/control" or "unix:/run/tor/control") of the tor to attach
	// to (attach mode); empty means DefaultControlAddr.
	ControlAddr string
	// ControlPassword is used when tor offers HASHEDPASSWORD; otherwise the
	// cookie whose path PROTOCOLINFO reports is used (or no auth at all).
	ControlPassword string

	// KeyFile holds the onion service's ed25519 key, so the .onion
	// address survives restarts. Created (mode 0600) on first Listen.
	// Empty means a key that lives only as long as the transport.
	KeyFile string
	// PoWDefense asks tor for its proof-of-work defence on our onion
	// service (when the installed tor offers it). Under a backlog of
	// introductions tor raises the puzzle effort, which a CPU-starved test
	// machine's own clients then pay: the daemon leaves it off on regtest,
	// whose private test networks have no attacker.
	PoWDefense bool
	// OnionPort is the service's virtual port; 0 means DefaultOnionPort.
	OnionPort int

	BootstrapTimeout time.Duration
	PublishTimeout   time.Duration
	DialTimeout      time.Duration
	HealthInterval   time.Duration

	// IsolateEachStream gives every Dial fresh SOCKS credentials, hence
	// a fresh circuit, instead of one circuit per remote peer.
	IsolateEachStream bool

	// OnBootstrap, if set, is called with each bootstrap progress change
	// (progress is also logged at Info). It must not block.
	OnBootstrap func(BootstrapStatus)

	// Logger; nil means slog.Default() with subsystem=tor.
	Logger *slog.Logger
}

// BootstrapStatus is tor's bootstrap progress (STATUS_CLIENT BOOTSTRAP).
type BootstrapStatus struct {
	Progress int    // percent, 100 = ready
	Tag      string // phase, e.g. "conn_done", "done"
	Summary  string // human-readable phase
	Warning  string // last bootstrap warning, if any
}

func (b BootstrapStatus) String() string {
	s := fmt.Sprintf("%d%% %s (%s)", b.Progress, b.Tag, b.Summary)
	if b.Warning != "" {
		s += "; last warning: " + b.Warning
	}
	return s
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	switch c.Mode {
	case ModeManaged:
		if c.DataDir == "" {
			return c, errors.New("tor: managed mode needs Config.DataDir")
		}
		dir, err := filepath.Abs(c.DataDir)
		if err != nil {
			return c, fmt.Errorf("tor: data dir: %w", err)
		}
		c.DataDir = dir
	case ModeAttach:
		c.ControlAddr = cmp.Or(c.ControlAddr, DefaultControlAddr)
	default:
		return c, fmt.Errorf("tor: unknown mode %q (want %q or %q)", c.Mode, ModeManaged, ModeAttach)
	}
	c.OnionPort = cmp.Or(c.OnionPort, DefaultOnionPort)
	if c.OnionPort < 1 || c.OnionPort > 65535 {
		return c, fmt.Errorf("tor: invalid onion port %d", c.OnionPort)
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.BootstrapTimeout, DefaultBootstrapTimeout},
		{&c.PublishTimeout, DefaultPublishTimeout},
		{&c.DialTimeout, DefaultDialTimeout},
		{&c.HealthInterval, DefaultHealthInterval},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 {
			return c, errors.New("tor: negative timeout in config")
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "tor")
	}
	return c, nil
}
