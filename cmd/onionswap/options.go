package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/onionswap/onionswap/node/daemon"
	"github.com/onionswap/onionswap/tor"
)

// The node's settings: one table gives the command-line flags of every
// command, the keys of the config file, the --help groups, the sample
// config (contrib/onionswap.conf) and the bash completion. A setting is
// added here and nowhere else.

// group is a heading of --help and of the sample config.
type group int

const (
	grpNode group = iota
	grpChain
	grpTor
	grpMaker
	grpTaker
	grpCoinJoin
	grpLogging
	// grpTesting: knobs the tests and the demo turn; refused or useless
	// off regtest.
	grpTesting
)

var groupTitles = map[group]string{
	grpNode:     "node",
	grpChain:    "chain backend",
	grpTor:      "tor",
	grpMaker:    "maker",
	grpTaker:    "taker",
	grpCoinJoin: "CoinJoin",
	grpLogging:  "logging",
	grpTesting:  "testing (regtest only)",
}

// uses says which commands take a setting: a command registers every
// option whose uses meet its own.
type uses int

const (
	// useInfo: commands that only ask a running daemon (status, stop, …).
	useInfo uses = 1 << iota
	// useWallet: the wallet commands (an in-process wallet node).
	useWallet
	useDirectory
	useMaker
	useTaker

	useRun  = useDirectory | useMaker | useTaker
	useNode = useWallet | useRun
	useAll  = useInfo | useNode
)

// completion kinds of an option's value.
type complete int

const (
	compNone complete = iota
	compFile
	compDir
)

// option is one setting: a flag --name and a config-file key name.
type option struct {
	name  string
	group group
	uses  uses
	// arg is the value's placeholder in --help (DIR, HOST:PORT); empty
	// for a boolean.
	arg   string
	usage string
	// repeat: the flag may be given several times (and the key on several
	// lines); values accumulate.
	repeat bool
	// values are the choices (for --help and completion).
	values []string
	comp   complete
	// secret: the value is a secret; the sample config leaves it empty.
	secret bool
	// sample is the value the sample config shows, when not the default
	// (a default that depends on the machine, such as the data dir).
	sample string
	set    func(c *daemon.Config, v string) error
	get    func(c *daemon.Config) string
}

func (o *option) isBool() bool { return o.arg == "" }

func strOpt(name string, g group, u uses, arg, usage string, p func(*daemon.Config) *string) *option {
	return &option{name: name, group: g, uses: u, arg: arg, usage: usage,
		set: func(c *daemon.Config, v string) error { *p(c) = v; return nil },
		get: func(c *daemon.Config) string { return *p(c) }}
}

func boolOpt(name string, g group, u uses, usage string, p func(*daemon.Config) *bool) *option {
	return &option{name: name, group: g, uses: u, usage: usage,
		set: func(c *daemon.Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			*p(c) = b
			return nil
		},
		get: func(c *daemon.Config) string { return strconv.FormatBool(*p(c)) }}
}

func intOpt(name string, g group, u uses, arg, usage string, p func(*daemon.Config) *int) *option {
	return &option{name: name, group: g, uses: u, arg: arg, usage: usage,
		set: func(c *daemon.Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("want a whole number")
			}
			*p(c) = n
			return nil
		},
		get: func(c *daemon.Config) string { return strconv.Itoa(*p(c)) }}
}

func int64Opt(name string, g group, u uses, arg, usage string, p func(*daemon.Config) *int64) *option {
	return &option{name: name, group: g, uses: u, arg: arg, usage: usage,
		set: func(c *daemon.Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("want a whole number")
			}
			*p(c) = n
			return nil
		},
		get: func(c *daemon.Config) string { return strconv.FormatInt(*p(c), 10) }}
}

func uintOpt(name string, g group, u uses, arg, usage string, bits int, set func(*daemon.Config, uint64), get func(*daemon.Config) uint64) *option {
	return &option{name: name, group: g, uses: u, arg: arg, usage: usage,
		set: func(c *daemon.Config, v string) error {
			n, err := strconv.ParseUint(v, 10, bits)
			if err != nil {
				return fmt.Errorf("want a whole number from 0 to %d", uint64(1)<<bits-1)
			}
			set(c, n)
			return nil
		},
		get: func(c *daemon.Config) string { return strconv.FormatUint(get(c), 10) }}
}

func durOpt(name string, g group, u uses, usage string, p func(*daemon.Config) *time.Duration) *option {
	return &option{name: name, group: g, uses: u, arg: "DURATION", usage: usage,
		set: func(c *daemon.Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("want a duration such as 500ms, 5s or 15m")
			}
			*p(c) = d
			return nil
		},
		get: func(c *daemon.Config) string {
			if *p(c) == 0 {
				return "0"
			}
			return p(c).String()
		}}
}

// listOpt is repeatable; a value may also hold several, comma-separated.
func listOpt(name string, g group, u uses, arg, usage string, p func(*daemon.Config) *[]string) *option {
	return &option{name: name, group: g, uses: u, arg: arg, usage: usage, repeat: true,
		set: func(c *daemon.Config, v string) error {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					*p(c) = append(*p(c), s)
				}
			}
			return nil
		},
		get: func(c *daemon.Config) string { return strings.Join(*p(c), ",") }}
}

func (o *option) choices(vs ...string) *option { o.values = vs; return o }
func (o *option) files() *option               { o.comp = compFile; return o }
func (o *option) dirs() *option                { o.comp = compDir; return o }
func (o *option) secretValue() *option         { o.secret = true; return o }
func (o *option) sampleValue(v string) *option { o.sample = v; return o }

// confName is DATADIR/onionswap.conf.
const confName = "onionswap.conf"

// options is the table, in --help order within each group.
var options = []*option{
	strOpt("datadir", grpNode, useAll, "DIR", "data directory: wallet, tor, log, control socket, "+confName,
		func(c *daemon.Config) *string { return &c.DataDir }).dirs().sampleValue("~/.onionswap"),
	strOpt("network", grpNode, useNode, "NAME", "bitcoin network: regtest, testnet, signet or mainnet",
		func(c *daemon.Config) *string { return &c.Network }).choices("mainnet", "testnet", "signet", "regtest"),
	strOpt("passphrase-file", grpNode, useWallet|useMaker|useTaker, "FILE", "file whose first line is the wallet encryption passphrase",
		func(c *daemon.Config) *string { return &c.PassphraseFile }).files(),
	listOpt("directory", grpNode, useMaker|useTaker, "ONION:PORT", "directory onion address (repeatable or comma-separated): a maker registers with each, a taker finds makers there",
		func(c *daemon.Config) *[]string { return &c.Directories }),
	{name: "required-confirms", group: grpNode, uses: useMaker | useTaker, arg: "N",
		usage: "confirmations required of swap funding: a maker's incoming, a taker's every hop (0: default 1)",
		set: func(c *daemon.Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("want a whole number")
			}
			c.Maker.RequiredConfirms, c.Taker.RequiredConfirms = n, n
			return nil
		},
		get: func(c *daemon.Config) string {
			return strconv.Itoa(max(c.Maker.RequiredConfirms, c.Taker.RequiredConfirms))
		}},

	strOpt("rpc-host", grpChain, useNode, "HOST:PORT", "btcd or bitcoind RPC address (default: the network's local bitcoind port, 127.0.0.1:8332 on mainnet)",
		func(c *daemon.Config) *string { return &c.RPC.Host }),
	strOpt("rpc-user", grpChain, useNode, "USER", "RPC user",
		func(c *daemon.Config) *string { return &c.RPC.User }),
	strOpt("rpc-pass", grpChain, useNode, "PASSWORD", "RPC password (a flag shows in ps: prefer rpc-pass in "+confName+", or --rpc-cookie)",
		func(c *daemon.Config) *string { return &c.RPC.Pass }).secretValue(),
	strOpt("rpc-cookie", grpChain, useNode, "FILE", "bitcoind's .cookie file, instead of --rpc-user and --rpc-pass",
		func(c *daemon.Config) *string { return &c.RPC.Cookie }).files(),
	boolOpt("rpc-notls", grpChain, useNode, "plain-HTTP RPC (bitcoind, btcd --notls): loopback addresses only",
		func(c *daemon.Config) *bool { return &c.RPC.NoTLS }),
	strOpt("rpc-cert", grpChain, useNode, "FILE", "btcd's rpc.cert when its RPC uses TLS",
		func(c *daemon.Config) *string { return &c.RPC.Cert }).files(),

	strOpt("tor", grpTor, useRun, "MODE", "managed (start our own tor) or attach (use a running tor's control port)",
		func(c *daemon.Config) *string { return &c.Tor.Mode }).choices(string(tor.ModeManaged), string(tor.ModeAttach)),
	strOpt("tor-control", grpTor, useRun, "ADDR", "attach: tor's control port host:port or unix socket ("+tor.DebianControlSocket+" for Debian's tor)",
		func(c *daemon.Config) *string { return &c.Tor.Control }).files(),
	strOpt("tor-password-file", grpTor, useRun, "FILE", "attach: file holding the control port password (HashedControlPassword); cookie authentication needs nothing",
		func(c *daemon.Config) *string { return &c.Tor.PasswordFile }).files(),
	strOpt("tor-password", grpTor, useRun, "PASSWORD", "attach: control port password (a flag shows in ps: prefer tor-password in "+confName+", or --tor-password-file)",
		func(c *daemon.Config) *string { return &c.Tor.Password }).secretValue(),
	strOpt("tor-exe", grpTor, useRun, "FILE", "managed: the tor binary (default: tor on PATH)",
		func(c *daemon.Config) *string { return &c.Tor.Exe }).files(),

	int64Opt("bond-amount", grpMaker, useMaker, "SAT", "fidelity bond to lock when the wallet has none, in sat",
		func(c *daemon.Config) *int64 { return &c.Maker.BondAmount }),
	uintOpt("bond-lock-blocks", grpMaker, useMaker, "N", "fidelity bond lock: tip + N blocks (0: default)", 32,
		func(c *daemon.Config, n uint64) { c.Maker.BondLockBlocks = uint32(n) },
		func(c *daemon.Config) uint64 { return uint64(c.Maker.BondLockBlocks) }),
	int64Opt("base-fee", grpMaker, useMaker, "SAT", "fee: base per swap, in sat",
		func(c *daemon.Config) *int64 { return &c.Maker.BaseFee }),
	uintOpt("amount-fee-ppb", grpMaker, useMaker, "PPB", "fee: parts per billion of the amount", 32,
		func(c *daemon.Config, n uint64) { c.Maker.AmountFeePPB = uint(n) },
		func(c *daemon.Config) uint64 { return uint64(c.Maker.AmountFeePPB) }),
	uintOpt("time-fee-ppb", grpMaker, useMaker, "PPB", "fee: parts per billion of the amount per block of refund locktime", 32,
		func(c *daemon.Config, n uint64) { c.Maker.TimeFeePPB = uint(n) },
		func(c *daemon.Config) uint64 { return uint64(c.Maker.TimeFeePPB) }),
	int64Opt("max-size", grpMaker, useMaker, "SAT", "largest swap in sat (0: from the spendable liquidity)",
		func(c *daemon.Config) *int64 { return &c.Maker.MaxSize }),
	strOpt("offer-proof", grpMaker, useMaker, "KIND", "what backs the offer in the pool's book: bond (a fidelity bond; directories list it too) or integrity (a daily fee to miners, no bond; the book only)",
		func(c *daemon.Config) *string { return &c.Maker.OfferProof }).choices("bond", "integrity"),
	strOpt("integrity-level", grpMaker, useMaker, "LEVEL", "integrity fee: low (0.01 %), normal (0.1 %) or high (0.5 %) of the offer's maximum, daily",
		func(c *daemon.Config) *string { return &c.Maker.IntegrityLevel }).choices("low", "normal", "high"),

	listOpt("pool-peer", grpNode, useMaker|useTaker, "ONION:PORT", "message pool peer to dial first (repeatable or comma-separated)",
		func(c *daemon.Config) *[]string { return &c.Pool.Bootstrap }),
	intOpt("pool-outbound", grpNode, useMaker|useTaker, "N", "message pool peers to dial (0: default 8); up to 2 of them only from --pool-peer or peers connected before",
		func(c *daemon.Config) *int { return &c.Pool.Outbound }),
	boolOpt("pool-off", grpNode, useMaker|useTaker, "run no message pool (a node that only swaps)",
		func(c *daemon.Config) *bool { return &c.Pool.Disabled }),
	strOpt("dashboard", grpNode, useRun, "ADDR", "the web dashboard's address, 127.0.0.1:PORT, or off (default: port 8720 on mainnet, 18720 testnet, 38720 signet, any free port on regtest)",
		func(c *daemon.Config) *string { return &c.Dashboard.Listen }),
	boolOpt("dashboard-onion", grpNode, useRun, "also publish the dashboard as its own onion service, readable only with the client key in DATADIR/dashboard.auth_private",
		func(c *daemon.Config) *bool { return &c.Dashboard.Onion }),

	boolOpt("coinjoin-auto", grpCoinJoin, useMaker|useTaker, "join traceable coins of the right size by itself (off: only coinjoin start)",
		func(c *daemon.Config) *bool { return &c.CoinJoin.Auto }),
	int64Opt("coinjoin-denomination", grpCoinJoin, useMaker|useTaker, "SAT", "every output of a round, in sat (0: default 100000); an input pays its fee share plus at most 4500 sat more",
		func(c *daemon.Config) *int64 { return &c.CoinJoin.Denomination }),
	intOpt("coinjoin-t", grpCoinJoin, useMaker|useTaker, "N", "least participants of a round, and the anonymity set below which a coin is traceable (0: default 5)",
		func(c *daemon.Config) *int { return &c.CoinJoin.T }),
	intOpt("coinjoin-start-at", grpCoinJoin, useMaker|useTaker, "N", "announcements a round's leader waits for (0: 3T)",
		func(c *daemon.Config) *int { return &c.CoinJoin.StartAt }),
	durOpt("coinjoin-patience", grpCoinJoin, useMaker|useTaker, "after this long, T announcements are enough to start (0: default 10m)",
		func(c *daemon.Config) *time.Duration { return &c.CoinJoin.Patience }),
	int64Opt("coinjoin-fee-rate", grpCoinJoin, useMaker|useTaker, "SAT/VB", "the highest fee rate a round may ask of us (0: default 2)",
		func(c *daemon.Config) *int64 { return &c.CoinJoin.FeeRate }),

	strOpt("log-level", grpLogging, useNode, "LEVEL", "debug, info, warn or error",
		func(c *daemon.Config) *string { return &c.LogLevel }).choices("debug", "info", "warn", "error"),
	strOpt("log-format", grpLogging, useNode, "FORMAT", "format of DATADIR/onionswap.log: json or text",
		func(c *daemon.Config) *string { return &c.LogFormat }).choices("json", "text"),
	strOpt("log-stderr", grpLogging, useNode, "FORMAT", "log to stderr as text or json, or off",
		func(c *daemon.Config) *string { return &c.LogStderr }).choices("text", "json", "off"),
	intOpt("log-max-mb", grpLogging, useNode, "MIB", "rotate DATADIR/onionswap.log at this size (0: never)",
		func(c *daemon.Config) *int { return &c.LogMaxMB }),
	intOpt("log-keep", grpLogging, useNode, "N", "rotated log files to keep (onionswap.log.1 is the newest)",
		func(c *daemon.Config) *int { return &c.LogKeep }),

	durOpt("coinjoin-phase-timeout", grpTesting, useMaker|useTaker, "a CoinJoin round phase's timeout (0: default 60s)",
		func(c *daemon.Config) *time.Duration { return &c.CoinJoin.PhaseTimeout }),
	strOpt("coinjoin-fault", grpTesting, useMaker|useTaker, "FAULT", "CoinJoin misbehaviour: no-sign, alter-output or crash-after-input",
		func(c *daemon.Config) *string { return &c.CoinJoin.Fault }).choices("no-sign", "alter-output", "crash-after-input"),
	listOpt("fault", grpTesting, useMaker|useTaker, "FAULT", "fault injection (repeatable), e.g. maker:close-at=setup or crash-after=PHASE",
		func(c *daemon.Config) *[]string { return &c.Faults }),
	durOpt("chain-poll", grpTesting, useRun, "chain poll interval of the wallet watcher (0: default 5s)",
		func(c *daemon.Config) *time.Duration { return &c.ChainPoll }),
	durOpt("health-interval", grpTesting, useRun, "chain health check interval (0: default 5s)",
		func(c *daemon.Config) *time.Duration { return &c.HealthInterval }),
	durOpt("idle-timeout", grpTesting, useMaker, "recover a swap whose taker is silent this long (0: default 15m)",
		func(c *daemon.Config) *time.Duration { return &c.Maker.IdleTimeout }),
	durOpt("keepalive-interval", grpTesting, useTaker, "keep-alive interval while waiting for confirmations (0: default)",
		func(c *daemon.Config) *time.Duration { return &c.Taker.KeepAliveInterval }),
	strOpt("tornet-dir", grpTesting, useRun, "DIR", "managed tor joins the private test network in DIR (see onionswap tornet)",
		func(c *daemon.Config) *string { return &c.Tor.TornetDir }).dirs(),
}

// optionByName indexes options.
var optionByName = func() map[string]*option {
	m := make(map[string]*option, len(options))
	for _, o := range options {
		if m[o.name] != nil {
			panic("duplicate option " + o.name)
		}
		m[o.name] = o
	}
	return m
}()

// optValue adapts an option to flag.Value, writing into cfg.
type optValue struct {
	o   *option
	cfg *daemon.Config
}

func (v optValue) String() string {
	if v.o == nil || v.cfg == nil {
		return ""
	}
	return v.o.get(v.cfg)
}

func (v optValue) Set(s string) error { return v.o.set(v.cfg, s) }

// IsBoolFlag lets --rpc-notls stand without a value.
func (v optValue) IsBoolFlag() bool { return v.o != nil && v.o.isBool() }
