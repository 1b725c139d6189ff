package chain

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire"
)

const (
	// DefaultCallTimeout bounds one RPC call when RPCConfig.CallTimeout is
	// zero. The slowest call we make is getblock of a full 4 MB block (about
	// 8 MB of hex JSON): well under 2 s on a Raspberry Pi 4 against a local
	// node. Ten times that still detects a hung node within a couple of
	// watcher polls.
	DefaultCallTimeout = 20 * time.Second

	// DefaultFeeFloorSatPerKVB is the lowest fee rate FeeRate returns when
	// RPCConfig.FeeFloorSatPerKVB is zero: 1 sat/vB, the default minimum
	// relay fee (-minrelaytxfee) of btcd and of Bitcoin Core up to 29.0
	// (the recorded Core 29.99 of 2025-07 reports relayfee 0.00001000
	// BTC/kvB and refuses a zero-fee 96-vbyte tx with "0 < 96"). Core 30.0
	// lowered that default to 0.1 sat/vB (bitcoin/bitcoin#33106, backported
	// to 29.1): a floor above the node's only overpays a little, one below
	// an older node's would get transactions refused.
	DefaultFeeFloorSatPerKVB = 1000

	// DefaultFallbackFeeSatPerKVB is returned by FeeRate when the node has no
	// estimate yet (btcd's estimatefee errors until it has seen enough blocks
	// with transactions; Core's estimatesmartfee returns no feerate). 5 sat/vB
	// confirms within a few blocks on a quiet mainnet and is the same order
	// as Core's common -fallbackfee settings (0.0002 BTC/kvB = 20 sat/vB is
	// Core's own regtest test default; we stay lower because the user can
	// raise it and overpaying is irreversible).
	DefaultFallbackFeeSatPerKVB = 5000

	// MaxFeeRateSatPerKVB caps what FeeRate returns, so a broken or hostile
	// estimator cannot make the wallet burn its coins: 1000 sat/vB is above
	// every sustained mainnet fee level seen so far (peaks of a few hundred
	// sat/vB in 2017, 2023 and 2024).
	MaxFeeRateSatPerKVB = 1_000_000

	// maxConcurrentCalls bounds parallel HTTP requests to the node: btcd
	// answers 503 beyond --rpcmaxclients (default 10) and bitcoind queues
	// beyond -rpcworkqueue (16). 8 leaves room for other clients (btcctl,
	// bitcoin-cli).
	maxConcurrentCalls = 8

	// minBtcdVersion is btcd 0.24.1: the first release with
	// testmempoolaccept and gettxspendingprevout.
	minBtcdVersion = 240100
	// minCoreVersion is Bitcoin Core 24.0: the first with
	// gettxspendingprevout.
	minCoreVersion = 240000

	// maxFeeTargetCore is the largest conf_target estimatesmartfee accepts.
	maxFeeTargetCore = 1008
	// maxFeeTargetBtcd is the deepest target btcd's estimator tracks
	// (estimateFeeDepth in mempool/estimatefee.go).
	maxFeeTargetBtcd = 25
)

// RPCConfig configures DialRPC.
type RPCConfig struct {
	// Host is host:port of the node's RPC server.
	Host string
	// User and Pass authenticate with HTTP basic auth. When Pass is empty,
	// CookieFile is used instead.
	User, Pass string
	// CookieFile is bitcoind's .cookie (re-read when it changes, so a
	// restarted bitcoind with a new cookie is picked up).
	CookieFile string
	// DisableTLS talks plain HTTP (btcd --notls, bitcoind). Only use it on
	// loopback: credentials go in clear text otherwise.
	DisableTLS bool
	// CertPEM is the node's TLS certificate (btcd's rpc.cert) when TLS is on.
	CertPEM []byte
	// Params is the network the wallet is on; DialRPC refuses a node on
	// another network.
	Params *chaincfg.Params
	// CallTimeout bounds every RPC call (DefaultCallTimeout when zero).
	CallTimeout time.Duration
	// FeeFloorSatPerKVB and FallbackFeeSatPerKVB: see FeeRate
	// (DefaultFeeFloorSatPerKVB / DefaultFallbackFeeSatPerKVB when zero).
	FeeFloorSatPerKVB, FallbackFeeSatPerKVB int64
	// MiningAddr receives the coinbase of blocks mined with Mine on a
	// bitcoind regtest node (btcd mines to its own --miningaddr).
	MiningAddr string
	// AllowNoTxIndex lets DialRPC accept a node without a transaction
	// index. Tx then fails with ErrNoTxIndex for confirmed transactions.
	AllowNoTxIndex bool
	// Logger; nil means slog.Default().With("subsystem", "chain").
	Logger *slog.Logger
}

// RPC is a Backend over JSON-RPC (HTTP POST) to btcd or bitcoind.
//
// rpcclient calls take no context, and in HTTP-POST mode one client
// serializes its requests through a single goroutine that retries failed
// connections for about 22 s. RPC therefore makes a fresh rpcclient.Client
// for every call (btcd closes the connection after every request anyway, so
// nothing is lost), waits for the answer, ctx or the call timeout, and
// shuts the client down on return. A call abandoned on timeout stops at once
// if the node refuses connections; if the node accepted the connection and
// never answers, rpcclient's goroutine stays until that TCP connection ends
// (rpcclient offers no way to cancel an in-flight HTTP request).
type RPC struct {
	cfg     RPCConfig
	conn    rpcclient.ConnConfig // template, copied per call
	log     *slog.Logger
	timeout time.Duration

	isBtcd        bool
	version       int32 // btcd getinfo.version or Core getnetworkinfo.version
	useFeeRateArg bool  // Core ≥ 0.19: sendrawtransaction takes maxfeerate

	warnMu       sync.Mutex
	lastWarnings string // the node's warnings as last logged

	sem       chan struct{}
	quit      chan struct{}
	closeOnce sync.Once
}

var _ Backend = (*RPC)(nil)

// DialRPC connects to a node and checks, each with a clear error, that it
// answers (ErrUnreachable naming the host), that the credentials work
// (ErrAuth), that it is recent enough (ErrUnsupported), that it is on
// cfg.Params (ErrWrongNetwork) and that it has a transaction index
// (ErrNoTxIndex, unless cfg.AllowNoTxIndex). The whole check is bounded by
// ctx and a few call timeouts.
func DialRPC(ctx context.Context, cfg RPCConfig) (*RPC, error) {
	if cfg.Host == "" {
		return nil, errors.New("chain: RPCConfig.Host is empty")
	}
	if _, _, err := net.SplitHostPort(cfg.Host); err != nil {
		return nil, fmt.Errorf("chain: RPCConfig.Host %q must be host:port: %w", cfg.Host, err)
	}
	if cfg.Params == nil {
		return nil, errors.New("chain: RPCConfig.Params is nil")
	}
	if cfg.Pass == "" && cfg.CookieFile == "" {
		return nil, errors.New("chain: RPCConfig needs Pass or CookieFile")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.FeeFloorSatPerKVB <= 0 {
		cfg.FeeFloorSatPerKVB = DefaultFeeFloorSatPerKVB
	}
	if cfg.FallbackFeeSatPerKVB <= 0 {
		cfg.FallbackFeeSatPerKVB = DefaultFallbackFeeSatPerKVB
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("subsystem", "chain")
	}
	r := &RPC{
		cfg: cfg,
		conn: rpcclient.ConnConfig{
			Host:         cfg.Host,
			User:         cfg.User,
			Pass:         cfg.Pass,
			CookiePath:   cfg.CookieFile,
			DisableTLS:   cfg.DisableTLS,
			Certificates: cfg.CertPEM,
			HTTPPostMode: true,
		},
		log:     cfg.Logger,
		timeout: cfg.CallTimeout,
		sem:     make(chan struct{}, maxConcurrentCalls),
		quit:    make(chan struct{}),
	}
	if err := r.check(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *RPC) check(ctx context.Context) error {
	// 1. TCP: gives "connection refused" at once instead of rpcclient's
	// retries until the timeout.
	dctx, cancel := context.WithTimeout(ctx, r.timeout)
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", r.cfg.Host)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: cannot connect to the node's RPC server at %s: %v", ErrUnreachable, r.cfg.Host, err)
	}
	_ = c.Close()

	// 2. Which backend; this is also the auth check. A starting bitcoind
	// answers even this unknown method with -28 (ErrWarmingUp).
	var info infoResult
	err = r.call(ctx, "getinfo", btcjson.NewGetInfoCmd(), &info)
	var rpcErr *btcjson.RPCError
	switch {
	case err == nil:
		r.isBtcd = true
		r.version = info.Version
		if r.version < minBtcdVersion {
			return fmt.Errorf("%w: btcd version %d at %s is too old, need ≥ 0.24.1", ErrUnsupported, r.version, r.cfg.Host)
		}
	case errors.As(err, &rpcErr) && rpcErr.Code == btcjson.ErrRPCMethodNotFound.Code:
		var ni networkInfoResult
		if err := r.call(ctx, "getnetworkinfo", btcjson.NewGetNetworkInfoCmd(), &ni); err != nil {
			return err
		}
		r.version = ni.Version
		r.useFeeRateArg = true
		if r.version < minCoreVersion {
			return fmt.Errorf("%w: bitcoind version %d (%s) at %s is too old, need ≥ 24.0", ErrUnsupported, r.version, ni.SubVersion, r.cfg.Host)
		}
		r.noteWarnings(ni.Warnings)
	default:
		return err
	}

	// 3. Network: compare the genesis block.
	genesis, err := r.BlockHash(ctx, 0)
	if err != nil {
		return err
	}
	if genesis != *r.cfg.Params.GenesisHash {
		return fmt.Errorf("%w: node at %s is on %s but the wallet is configured for %s",
			ErrWrongNetwork, r.cfg.Host, networkName(genesis), r.cfg.Params.Name)
	}

	// 4. Transaction index: look up a txid nobody has.
	_, _, err = r.Tx(ctx, chainhash.Hash{})
	switch {
	case errors.Is(err, ErrNotFound):
	case errors.Is(err, ErrNoTxIndex):
		if !r.cfg.AllowNoTxIndex {
			return fmt.Errorf("node at %s: %w", r.cfg.Host, ErrNoTxIndex)
		}
		r.log.Warn("node has no transaction index; confirmed transactions cannot be looked up by txid", "host", r.cfg.Host)
	default:
		return err
	}
	r.log.Info("connected to chain backend", "host", r.cfg.Host, "backend", r.BackendName(),
		"version", r.version, "network", r.cfg.Params.Name)
	return nil
}

// networkName names the network whose genesis block is h.
func networkName(h chainhash.Hash) string {
	for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params,
		&chaincfg.RegressionNetParams, &chaincfg.SigNetParams, &chaincfg.SimNetParams} {
		if *p.GenesisHash == h {
			return p.Name
		}
	}
	return "an unknown network (genesis " + h.String() + ")"
}

// BackendName is "btcd" or "bitcoind".
func (r *RPC) BackendName() string {
	if r.isBtcd {
		return "btcd"
	}
	return "bitcoind"
}

// IsBtcd reports whether the node is btcd (as opposed to bitcoind).
func (r *RPC) IsBtcd() bool { return r.isBtcd }

// Params implements Backend.
func (r *RPC) Params() *chaincfg.Params { return r.cfg.Params }

// Close implements Backend. Calls in flight return ErrClosed.
func (r *RPC) Close() { r.closeOnce.Do(func() { close(r.quit) }) }

// call runs one JSON-RPC command with the per-call timeout and unmarshals its
// result into out (if out is non-nil). JSON null leaves out untouched and
// returns errNull.
func (r *RPC) call(ctx context.Context, method string, cmd interface{}, out interface{}) error {
	return r.send(ctx, method, func(c *rpcclient.Client) chan *rpcclient.Response { return c.SendCmd(cmd) }, out)
}

// send is call with a custom request function.
func (r *RPC) send(ctx context.Context, method string, req func(*rpcclient.Client) chan *rpcclient.Response, out interface{}) error {
	select {
	case <-r.quit:
		return ErrClosed
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return r.ctxErr(ctx, method)
	case <-r.quit:
		return ErrClosed
	}

	cc := r.conn // per-call copy: the cookie cache inside is not goroutine-safe
	client, err := rpcclient.New(&cc, nil)
	if err != nil {
		return fmt.Errorf("chain: %s: %w", method, err)
	}
	defer client.Shutdown()

	ch := req(client)
	var resp *rpcclient.Response
	select {
	case resp = <-ch:
	case <-ctx.Done():
		return r.ctxErr(ctx, method)
	case <-r.quit:
		return ErrClosed
	}
	one := make(chan *rpcclient.Response, 1)
	one <- resp
	raw, err := rpcclient.ReceiveFuture(one)
	if err != nil {
		return r.classify(method, err)
	}
	if out == nil {
		return nil
	}
	if len(raw) == 0 || string(raw) == "null" {
		return errNull
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return undecodable(method, err)
	}
	return nil
}

var errNull = errors.New("null result")

// undecodable wraps a failure to read the node's answer to method.
func undecodable(method string, err error) error {
	return fmt.Errorf("chain: %s: %w: %v", method, ErrUndecodable, err)
}

// noteWarnings logs the node's warnings when they differ from the ones
// logged last (getnetworkinfo at dial time, getblockchaininfo on every
// Tip): an operator sees "disk space is low" once, when it appears.
func (r *RPC) noteWarnings(w nodeWarnings) {
	s := strings.Join(w, "; ")
	r.warnMu.Lock()
	changed := s != r.lastWarnings
	r.lastWarnings = s
	r.warnMu.Unlock()
	if changed && s != "" {
		r.log.Warn("the node reports warnings", "host", r.cfg.Host, "warnings", s)
	}
}

// ctxErr explains why a call stopped waiting.
func (r *RPC) ctxErr(ctx context.Context, method string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Distinguish "refuses connections" from "accepts but does not
		// answer" with a quick dial (bounded; the caller's deadline has
		// already passed).
		reason := "no answer"
		d := net.Dialer{Timeout: probeTimeout}
		if c, err := d.Dial("tcp", r.cfg.Host); err != nil {
			reason = err.Error()
		} else {
			_ = c.Close()
		}
		return fmt.Errorf("%w: %s at %s: %s within %v", ErrUnreachable, method, r.cfg.Host, reason, r.timeout)
	}
	return fmt.Errorf("chain: %s: %w", method, ctx.Err())
}

// probeTimeout bounds the diagnostic dial after a timed-out call: loopback or
// LAN nodes answer a SYN in microseconds; 300 ms keeps the extra delay small.
const probeTimeout = 300 * time.Millisecond

// errRPCInWarmup is bitcoind's RPC_IN_WARMUP (src/rpc/protocol.h): every
// call gets it until the node has loaded; btcjson has no name for it.
const errRPCInWarmup btcjson.RPCErrorCode = -28

// classify maps transport and RPC errors to the package's sentinels while
// keeping the node's message (and the *btcjson.RPCError for errors.As).
func (r *RPC) classify(method string, err error) error {
	var rpcErr *btcjson.RPCError
	if errors.As(err, &rpcErr) {
		switch {
		case rpcErr.Code == errRPCInWarmup:
			return fmt.Errorf("chain: %s: %w (%s)", method, ErrWarmingUp, rpcErr.Message)
		case isNoTxIndexMsg(rpcErr.Message):
			return fmt.Errorf("chain: %s: %w: %w", method, ErrNoTxIndex, err)
		case rpcErr.Code == btcjson.ErrRPCInvalidAddressOrKey || // -5
			strings.Contains(strings.ToLower(rpcErr.Message), "out of range"): // getblockhash above tip
			return fmt.Errorf("chain: %s: %w: %w", method, ErrNotFound, err)
		case rpcErr.Code == btcjson.ErrRPCMethodNotFound.Code:
			return fmt.Errorf("chain: %s: %w: %w", method, ErrUnsupported, err)
		}
		return fmt.Errorf("chain: %s: %w", method, err)
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "status code: 401"):
		return fmt.Errorf("%w: the node at %s refused the RPC credentials (check rpcuser/rpcpassword or the cookie file)", ErrAuth, r.cfg.Host)
	case strings.HasPrefix(msg, "status code: 403"):
		return fmt.Errorf("%w: the node at %s forbids RPC from this address (bitcoind -rpcallowip)", ErrAuth, r.cfg.Host)
	case strings.HasPrefix(msg, "status code: 503"):
		return fmt.Errorf("%w: the node at %s is busy (too many RPC clients): %s", ErrUnreachable, r.cfg.Host, method)
	case strings.HasPrefix(msg, "status code: 200,"):
		// rpcclient could not read a 200 answer as a JSON-RPC reply
		// (other statuses without a JSON body come from proxies or a
		// wrong port and may pass: they stay plain errors).
		return undecodable(method, fmt.Errorf("not a JSON-RPC reply from %s: %w", r.cfg.Host, err))
	case errors.Is(err, rpcclient.ErrClientShutdown):
		return ErrClosed
	}
	return fmt.Errorf("chain: %s at %s: %w", method, r.cfg.Host, err)
}

func isNoTxIndexMsg(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "transaction index must be enabled") || // btcd
		strings.Contains(m, "use -txindex") // bitcoind
}

// Tip implements Backend (btcd getbestblock; bitcoind getblockchaininfo,
// whose height and hash are read atomically).
func (r *RPC) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	var height int32
	var hashStr string
	method := "getblockchaininfo"
	if r.isBtcd {
		method = "getbestblock"
		var res bestBlockResult
		if err := r.call(ctx, method, btcjson.NewGetBestBlockCmd(), &res); err != nil {
			return 0, chainhash.Hash{}, err
		}
		height, hashStr = res.Height, res.Hash
	} else {
		var res blockchainInfoResult
		if err := r.call(ctx, method, btcjson.NewGetBlockChainInfoCmd(), &res); err != nil {
			return 0, chainhash.Hash{}, err
		}
		height, hashStr = res.Blocks, res.BestBlockHash
		r.noteWarnings(res.Warnings)
	}
	h, err := parseHash(method, hashStr)
	if err != nil {
		return 0, chainhash.Hash{}, err
	}
	return height, h, nil
}

// parseHash reads a block hash or txid of method's answer.
func parseHash(method, s string) (chainhash.Hash, error) {
	if len(s) != 2*chainhash.HashSize { // NewHashFromStr pads short strings
		return chainhash.Hash{}, undecodable(method, fmt.Errorf("hash %q: want %d hex digits", s, 2*chainhash.HashSize))
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, undecodable(method, fmt.Errorf("hash %q: %w", s, err))
	}
	return *h, nil
}

// parseHashes reads an array of hashes (getrawmempool, generate*).
func parseHashes(method string, ss []string) ([]chainhash.Hash, error) {
	out := make([]chainhash.Hash, 0, len(ss))
	for _, s := range ss {
		h, err := parseHash(method, s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// decodeHex reads the hex string of method's answer into v (a block,
// header or transaction).
func decodeHex(method, s string, v interface{ Deserialize(io.Reader) error }) error {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return undecodable(method, err)
	}
	if err := v.Deserialize(bytes.NewReader(raw)); err != nil {
		return undecodable(method, err)
	}
	return nil
}

// BlockHash implements Backend.
func (r *RPC) BlockHash(ctx context.Context, height int32) (chainhash.Hash, error) {
	var s string
	if err := r.call(ctx, "getblockhash", btcjson.NewGetBlockHashCmd(int64(height)), &s); err != nil {
		if errors.Is(err, errNull) {
			return chainhash.Hash{}, fmt.Errorf("chain: getblockhash %d: %w", height, ErrNotFound)
		}
		return chainhash.Hash{}, err
	}
	return parseHash("getblockhash", s)
}

// Block implements Backend.
func (r *RPC) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	var s string
	if err := r.call(ctx, "getblock", btcjson.NewGetBlockCmd(hash.String(), btcjson.Int(0)), &s); err != nil {
		return nil, nullNotFound(err, "getblock "+hash.String())
	}
	var b wire.MsgBlock
	if err := decodeHex("getblock", s, &b); err != nil {
		return nil, err
	}
	if got := b.BlockHash(); got != hash {
		return nil, fmt.Errorf("chain: getblock %s: node returned block %s", hash, got)
	}
	return &b, nil
}

// BlockHeader implements Backend.
func (r *RPC) BlockHeader(ctx context.Context, hash chainhash.Hash) (*wire.BlockHeader, error) {
	var s string
	if err := r.call(ctx, "getblockheader", btcjson.NewGetBlockHeaderCmd(hash.String(), btcjson.Bool(false)), &s); err != nil {
		return nil, nullNotFound(err, "getblockheader "+hash.String())
	}
	var h wire.BlockHeader
	if err := decodeHex("getblockheader", s, &h); err != nil {
		return nil, err
	}
	if got := h.BlockHash(); got != hash {
		return nil, fmt.Errorf("chain: getblockheader %s: node returned header %s", hash, got)
	}
	return &h, nil
}

func nullNotFound(err error, what string) error {
	if errors.Is(err, errNull) {
		return fmt.Errorf("chain: %s: %w", what, ErrNotFound)
	}
	return err
}

func txHex(tx *wire.MsgTx) (string, error) {
	var buf bytes.Buffer
	buf.Grow(tx.SerializeSize())
	if err := tx.Serialize(&buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(buf.Bytes()), nil
}

// Broadcast implements Backend.
func (r *RPC) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	txid := tx.TxHash()
	s, err := txHex(tx)
	if err != nil {
		return txid, fmt.Errorf("chain: serializing %s: %w", txid, err)
	}
	var cmd *btcjson.SendRawTransactionCmd
	if r.useFeeRateArg {
		// Core ≥ 0.19 takes maxfeerate; 0 disables Core's own cap (fee
		// sanity is the wallet's job, and the node's default cap of
		// 0.1 BTC/kvB would make a broadcast of an already-signed
		// contract transaction fail unpredictably).
		cmd = btcjson.NewBitcoindSendRawTransactionCmd(s, 0)
	} else {
		cmd = btcjson.NewSendRawTransactionCmd(s, btcjson.Bool(true))
	}
	// The txid Core answers is ours (it is computed from the hex we
	// sent), so the answer is not read: a changed result type cannot
	// turn a broadcast into an error.
	err = r.call(ctx, "sendrawtransaction", cmd, nil)
	if err == nil {
		r.log.Debug("broadcast", "txid", txid)
		return txid, nil
	}
	var rpcErr *btcjson.RPCError
	if !errors.As(err, &rpcErr) {
		return txid, err // transport, auth, timeout, warm-up
	}
	kind := classifyReject(rpcErr.Code, rpcErr.Message)
	if kind == nil {
		r.log.Debug("broadcast: node already has the transaction", "txid", txid, "reason", rpcErr.Message)
		return txid, nil
	}
	if errors.Is(kind, ErrMissingInputs) {
		// A confirmed transaction whose outputs are all spent looks like
		// one with missing inputs: Core's "already in utxo set" check
		// finds none of its outputs and answers -25 missingorspent (btcd:
		// an orphan). It is in the chain all the same: success.
		known, lerr := r.knownTx(ctx, txid)
		if lerr != nil {
			// Neither "refused" nor "ok": a caller must not abandon a
			// transaction that may be confirmed.
			return txid, fmt.Errorf("chain: broadcast %s: the node says its inputs are missing or spent (%s) and looking it up failed: %w",
				txid, rpcErr.Message, lerr)
		}
		if known {
			r.log.Debug("broadcast: transaction already confirmed", "txid", txid, "reason", rpcErr.Message)
			return txid, nil
		}
	}
	return txid, fmt.Errorf("chain: broadcast %s: %w: %s", txid, kind, rpcErr.Message)
}

// knownTx reports whether the node has txid in its mempool or in a
// main-chain block. Without a transaction index a confirmed transaction is
// not found: false (the caller's refusal stands).
func (r *RPC) knownTx(ctx context.Context, txid chainhash.Hash) (bool, error) {
	_, _, err := r.Tx(ctx, txid)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoTxIndex):
		return false, nil
	}
	return false, err
}

// classifyReject maps a sendrawtransaction / testmempoolaccept refusal to nil
// (the node already has it: success), ErrDoubleSpend, ErrMissingInputs or
// ErrRejected. It uses rpcclient's table of btcd and bitcoind messages.
// ErrMissingInputs may still be a confirmed transaction (see Broadcast).
func classifyReject(code btcjson.RPCErrorCode, msg string) error {
	if code == btcjson.ErrRPCTxAlreadyInChain { // -27, both backends
		return nil
	}
	lower := strings.ToLower(msg)
	mapped := rpcclient.MapRPCErr(errors.New(msg))
	switch {
	case errors.Is(mapped, rpcclient.ErrTxAlreadyInMempool),
		errors.Is(mapped, rpcclient.ErrTxAlreadyKnown),
		errors.Is(mapped, rpcclient.ErrTxAlreadyConfirmed),
		strings.Contains(lower, "txn-already-in-mempool"),
		// Core: the same txid with another witness is in the mempool
		// (btcd matches by txid and says "already have"). Our txids
		// are what we track, so the node has "our" transaction.
		strings.Contains(lower, "txn-same-nonwitness-data-in-mempool"),
		strings.Contains(lower, "already in block chain"),
		strings.Contains(lower, "outputs already in utxo set"):
		return nil
	case errors.Is(mapped, rpcclient.ErrMempoolConflict),
		errors.Is(mapped, rpcclient.ErrConflictingTx),
		strings.Contains(lower, "replacement"), // an RBF attempt that lost: still a conflicting spend
		strings.Contains(lower, "txn-mempool-conflict"):
		return ErrDoubleSpend
	case errors.Is(mapped, rpcclient.ErrMissingInputs),
		errors.Is(mapped, rpcclient.ErrMissingInputsOrSpent),
		strings.Contains(lower, "missing-inputs"),
		strings.Contains(lower, "missingorspent"):
		return ErrMissingInputs
	}
	return ErrRejected
}

// AlreadyKnown reports whether a rejection reason (testmempoolaccept's,
// sendrawtransaction's message) says the node already has the transaction:
// in its mempool or in the chain.
func AlreadyKnown(reason string) bool { return reason != "" && classifyReject(0, reason) == nil }

// TestAccept implements Backend (testmempoolaccept; a transaction already in
// the mempool or chain is ok=false with the node's "already" reason). The
// reason is Core's reject-details when given (it names, for instance, the
// transaction a replacement lost against), else reject-reason.
func (r *RPC) TestAccept(ctx context.Context, tx *wire.MsgTx) (bool, string, error) {
	s, err := txHex(tx)
	if err != nil {
		return false, "", fmt.Errorf("chain: serializing %s: %w", tx.TxHash(), err)
	}
	var res []mempoolAcceptResult
	if err := r.call(ctx, "testmempoolaccept", btcjson.NewTestMempoolAcceptCmd([]string{s}, 0), &res); err != nil {
		return false, "", err
	}
	if len(res) != 1 {
		return false, "", undecodable("testmempoolaccept", fmt.Errorf("%d results for 1 transaction", len(res)))
	}
	if res[0].Allowed {
		return true, "", nil
	}
	return false, res[0].reason(), nil
}

// Tx implements Backend (getrawtransaction verbose; then getblockheader for
// the height of a confirmed transaction).
func (r *RPC) Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, TxStatus, error) {
	var res rawTxResult
	if err := r.call(ctx, "getrawtransaction", btcjson.NewGetRawTransactionCmd(txid.String(), btcjson.Int(1)), &res); err != nil {
		return nil, TxStatus{}, nullNotFound(err, "getrawtransaction "+txid.String())
	}
	var tx wire.MsgTx
	if err := decodeHex("getrawtransaction", res.Hex, &tx); err != nil {
		return nil, TxStatus{}, err
	}
	if tx.TxHash() != txid {
		return nil, TxStatus{}, fmt.Errorf("chain: getrawtransaction %s: node returned %s", txid, tx.TxHash())
	}
	if res.BlockHash == "" {
		return &tx, TxStatus{InMempool: true}, nil
	}
	bh, err := parseHash("getrawtransaction", res.BlockHash)
	if err != nil {
		return nil, TxStatus{}, err
	}
	var hdr blockHeaderResult
	if err := r.call(ctx, "getblockheader", btcjson.NewGetBlockHeaderCmd(bh.String(), btcjson.Bool(true)), &hdr); err != nil {
		return nil, TxStatus{}, nullNotFound(err, "getblockheader "+bh.String())
	}
	if hdr.Confirmations <= 0 {
		// The block is no longer on the main chain (reorg in between):
		// report it as not found rather than as confirmed.
		return nil, TxStatus{}, fmt.Errorf("chain: tx %s: block %s is not on the main chain: %w", txid, bh, ErrNotFound)
	}
	return &tx, TxStatus{Height: hdr.Height, BlockHash: &bh, Confirmations: int32(min(hdr.Confirmations, math.MaxInt32))}, nil
}

// MempoolTxids implements Backend.
func (r *RPC) MempoolTxids(ctx context.Context) ([]chainhash.Hash, error) {
	var ss []string
	if err := r.call(ctx, "getrawmempool", btcjson.NewGetRawMempoolCmd(btcjson.Bool(false)), &ss); err != nil {
		if errors.Is(err, errNull) {
			return nil, nil
		}
		return nil, err
	}
	return parseHashes("getrawmempool", ss)
}

// MempoolSpender implements Backend with gettxspendingprevout (btcd ≥ 0.24.1
// and Core ≥ 24, checked by DialRPC; same call and answer on both). It only
// sees the mempool: use UTXO to know whether op is spent at all.
func (r *RPC) MempoolSpender(ctx context.Context, op wire.OutPoint) (*chainhash.Hash, error) {
	var res []spendingPrevOutResult
	if err := r.call(ctx, "gettxspendingprevout", btcjson.NewGetTxSpendingPrevOutCmd([]wire.OutPoint{op}), &res); err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, undecodable("gettxspendingprevout", fmt.Errorf("%d results for 1 outpoint", len(res)))
	}
	if res[0].SpendingTxid == "" {
		return nil, nil
	}
	h, err := parseHash("gettxspendingprevout", res[0].SpendingTxid)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// UTXO implements Backend: gettxout with include_mempool (it knows spends
// in the chain, and on Core also spends in the mempool), then
// gettxspendingprevout, because btcd's gettxout ignores mempool spends;
// this way both backends answer the same. gettxspendingprevout alone would
// not do: it sees only the mempool.
func (r *RPC) UTXO(ctx context.Context, op wire.OutPoint) (*wire.TxOut, int32, error) {
	var res txOutResult
	err := r.call(ctx, "gettxout", btcjson.NewGetTxOutCmd(op.Hash.String(), op.Index, btcjson.Bool(true)), &res)
	if err != nil {
		return nil, 0, nullNotFound(err, "gettxout "+op.String())
	}
	spender, err := r.MempoolSpender(ctx, op)
	if err != nil {
		return nil, 0, err
	}
	if spender != nil {
		return nil, 0, fmt.Errorf("chain: gettxout %s: spent by mempool tx %s: %w", op, spender, ErrNotFound)
	}
	pk, err := hex.DecodeString(res.ScriptPubKey.Hex)
	if err != nil {
		return nil, 0, undecodable("gettxout", fmt.Errorf("script: %w", err))
	}
	amt, err := btcutil.NewAmount(res.Value)
	if err != nil || amt < 0 || amt > btcutil.MaxSatoshi {
		return nil, 0, undecodable("gettxout", fmt.Errorf("value %v: %v", res.Value, err))
	}
	return wire.NewTxOut(int64(amt), pk), int32(min(res.Confirmations, math.MaxInt32)), nil
}

// FeeRate implements Backend: btcd estimatefee (BTC per 1000 bytes of
// serialized size, its estimator predates segwit) or Core estimatesmartfee
// (BTC per 1000 vbytes, conservative mode). An estimator error or an empty
// answer gives the fallback; the result is clamped to
// [floor, MaxFeeRateSatPerKVB]. Only transport errors, ErrWarmingUp and
// ErrUndecodable are returned: an answer we cannot read is not "no data".
func (r *RPC) FeeRate(ctx context.Context, targetBlocks int) (int64, error) {
	if targetBlocks < 1 {
		targetBlocks = 1
	}
	est := int64(-1)
	if r.isBtcd {
		targetBlocks = min(targetBlocks, maxFeeTargetBtcd)
		var btcPerKB float64
		err := r.call(ctx, "estimatefee", btcjson.NewEstimateFeeCmd(int64(targetBlocks)), &btcPerKB)
		var rpcErr *btcjson.RPCError
		switch {
		case err == nil && btcPerKB > 0:
			est = btcToSat(btcPerKB)
		case err == nil, errors.Is(err, errNull), errors.As(err, &rpcErr):
			r.log.Debug("fee estimate unavailable, using fallback", "target", targetBlocks, "err", err)
		default:
			return 0, err
		}
	} else {
		targetBlocks = min(targetBlocks, maxFeeTargetCore)
		var res smartFeeResult
		mode := btcjson.EstimateModeConservative
		err := r.call(ctx, "estimatesmartfee", btcjson.NewEstimateSmartFeeCmd(int64(targetBlocks), &mode), &res)
		var rpcErr *btcjson.RPCError
		switch {
		case err == nil && res.FeeRate != nil && *res.FeeRate > 0:
			est = btcToSat(*res.FeeRate)
		case err == nil, errors.Is(err, errNull), errors.As(err, &rpcErr):
			r.log.Debug("fee estimate unavailable, using fallback", "target", targetBlocks, "errors", string(res.Errors), "err", err)
		default:
			return 0, err
		}
	}
	return clampFee(est, r.cfg.FeeFloorSatPerKVB, r.cfg.FallbackFeeSatPerKVB, r.log), nil
}

func btcToSat(btc float64) int64 { return int64(math.Round(btc * btcutil.SatoshiPerBitcoin)) }

// clampFee applies fallback (est < 0 means "no estimate"), floor and cap.
func clampFee(est, floor, fallback int64, log *slog.Logger) int64 {
	if est < 0 {
		est = fallback
	}
	if est < floor {
		est = floor
	}
	if est > MaxFeeRateSatPerKVB {
		if log != nil {
			log.Warn("fee estimate above the cap, clamping", "sat_per_kvb", est, "cap", MaxFeeRateSatPerKVB)
		}
		est = MaxFeeRateSatPerKVB
	}
	return est
}

// Mine implements Miner: btcd generate (coinbase to its --miningaddr),
// bitcoind generatetoaddress to RPCConfig.MiningAddr. Regtest only.
func (r *RPC) Mine(ctx context.Context, n int) ([]chainhash.Hash, error) {
	if r.cfg.Params.Net != chaincfg.RegressionNetParams.Net {
		return nil, fmt.Errorf("chain: mine on %s: %w (regtest only)", r.cfg.Params.Name, ErrUnsupported)
	}
	if n <= 0 {
		return nil, nil
	}
	var ss []string
	method := "generate"
	if r.isBtcd {
		if err := r.call(ctx, method, btcjson.NewGenerateCmd(uint32(n)), &ss); err != nil {
			return nil, err
		}
	} else {
		if r.cfg.MiningAddr == "" {
			return nil, fmt.Errorf("chain: mine: RPCConfig.MiningAddr is empty (needed for bitcoind)")
		}
		method = "generatetoaddress"
		if err := r.call(ctx, method, btcjson.NewGenerateToAddressCmd(int64(n), r.cfg.MiningAddr, nil), &ss); err != nil {
			return nil, err
		}
	}
	return parseHashes(method, ss)
}

// InvalidateBlock marks a block invalid (reorg tests; both backends).
func (r *RPC) InvalidateBlock(ctx context.Context, hash chainhash.Hash) error {
	return r.call(ctx, "invalidateblock", btcjson.NewInvalidateBlockCmd(hash.String()), nil)
}

// ReconsiderBlock undoes InvalidateBlock.
func (r *RPC) ReconsiderBlock(ctx context.Context, hash chainhash.Hash) error {
	return r.call(ctx, "reconsiderblock", btcjson.NewReconsiderBlockCmd(hash.String()), nil)
}

// RawCall runs any other command (for example btcd's searchrawtransactions)
// with the same timeout and error mapping; out receives the JSON result.
func (r *RPC) RawCall(ctx context.Context, method string, params []json.RawMessage, out interface{}) error {
	return r.send(ctx, method, func(c *rpcclient.Client) chan *rpcclient.Response {
		return c.RawRequestAsync(method, params)
	}, out)
}
