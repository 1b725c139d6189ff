// Package regtest runs a throw-away btcd regtest node for tests and the demo.
//
// Start builds (once, cached by the go command) and starts btcd on free
// 127.0.0.1 ports with the flags of shared/notes/btcd-regtest.md §2, mines
// BootstrapBlocks blocks to a deterministic faucet key so segwit is active
// and hundreds of coinbase outputs are mature, and puts a TCP relay in front
// of the RPC port so tests can make the chain unreachable (Pause/Blackhole)
// and reachable again (Resume). The API takes no *testing.T: use it from a
// TestMain (start once per package, Stop after m.Run) or from a command.
//
// btcd wipes its regtest chain on every start, so a Node cannot be restarted
// with its chain; restart the wallet, not the node.
package regtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
)

const (
	// BootstrapBlocks is how many blocks Start mines. On btcd regtest segwit
	// is a BIP9 deployment (window 144): started at 144, locked in at 288,
	// active from 432, so witness transactions enter the mempool once the
	// tip is 432. Coinbase maturity is 100, so the faucet then owns the
	// mature coinbases of blocks 1..332 (332 outputs, about 12,000 BTC),
	// and every later block adds one more after 100 confirmations.
	BootstrapBlocks = 432

	// CoinbaseMaturity is Bitcoin's rule (consensus): a coinbase output can
	// be spent in a block at height ≥ its height + 100.
	CoinbaseMaturity = 100

	// readyTimeout bounds the wait for btcd's RPC to answer after exec
	// (measured 0.03–0.4 s; generous for a loaded 2-core CI machine).
	readyTimeout = 30 * time.Second

	// stopGrace is how long Stop waits after SIGTERM before SIGKILL (btcd
	// shuts down in about 20 ms).
	stopGrace = 10 * time.Second

	// harnessCallTimeout bounds the harness's own RPC calls; loopback calls
	// take ~0.5 ms, mining 432 blocks ~0.15 s.
	harnessCallTimeout = 30 * time.Second

	// FaucetFeeRate is the faucet's fee rate in sat/vB: twice btcd's
	// minimum relay fee (1 sat/vB with --norelaypriority --limitfreerelay=0).
	FaucetFeeRate = 2

	// maxStartAttempts retries start-up when a free port picked by
	// listening on :0 was taken by someone else before btcd bound it.
	maxStartAttempts = 3
)

// ErrFaucetEmpty means no mature coinbase output is left; Mine 100 blocks to
// mature more.
var ErrFaucetEmpty = errors.New("regtest faucet has no mature coinbase output left (mine 100 blocks)")

// Options configures Start. The zero value works.
type Options struct {
	// Dir holds btcd's data and logs. Empty: a temporary directory that
	// Stop removes. A given Dir is kept.
	Dir string
	// BtcdPath is the btcd binary. Empty: $ONIONSWAP_BTCD, else the path
	// printed by `go tool -n btcd` run in the module root (found by walking
	// up from the working directory to go.mod); cached for the process.
	BtcdPath string
	// ExtraArgs are appended to btcd's command line.
	ExtraArgs []string
	// CallTimeout for the RPCConfig handed out (default 10 s).
	CallTimeout time.Duration
	// Logger; nil means slog.Default().With("subsystem", "regtest").
	Logger *slog.Logger
}

// Node is a running btcd regtest node.
type Node struct {
	log      *slog.Logger
	dir      string
	ownDir   bool
	cmd      *exec.Cmd
	exited   chan struct{}
	rpcAddr  string // btcd's own RPC address
	user     string
	pass     string
	relay    *relay
	direct   *chain.RPC // bypasses the relay: harness operations keep working while paused
	backend  *chain.RPC // through the relay
	timeout  time.Duration
	stopOnce sync.Once
	// mineMu serializes Mine: btcd refuses a generate while another one
	// runs ("Server is already CPU mining"), and a harness mines from
	// several goroutines (an auto-miner, parallel process spawns).
	mineMu sync.Mutex

	faucetKey  *btcec.PrivateKey
	faucetAddr *btcutil.AddressWitnessPubKeyHash
	faucetPk   []byte

	mu         sync.Mutex
	nextHeight int32 // next coinbase height the faucet has not looked at
	coins      []faucetCoin
}

type faucetCoin struct {
	op     wire.OutPoint
	value  int64
	height int32
}

// FaucetKey returns the faucet's deterministic private key: sha256 of
// "onionswap regtest faucet". Regtest only: never use it elsewhere.
func FaucetKey() *btcec.PrivateKey {
	seed := sha256.Sum256([]byte("onionswap regtest faucet"))
	k, _ := btcec.PrivKeyFromBytes(seed[:])
	return k
}

// FaucetAddress is the bcrt1 P2WPKH address of FaucetKey, btcd's
// --miningaddr.
func FaucetAddress() *btcutil.AddressWitnessPubKeyHash {
	a, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(FaucetKey().PubKey().SerializeCompressed()),
		&chaincfg.RegressionNetParams)
	if err != nil {
		panic(err) // 20-byte hash: cannot fail
	}
	return a
}

// Start starts btcd, waits for its RPC and mines BootstrapBlocks. On error
// nothing is left running.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default().With("subsystem", "regtest")
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	bin := opts.BtcdPath
	if bin == "" {
		var err error
		if bin, err = BtcdPath(ctx); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for attempt := 0; attempt < maxStartAttempts; attempt++ {
		n, err := start(ctx, bin, opts)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if ctx.Err() != nil || !errors.Is(err, errPortRace) {
			break
		}
	}
	return nil, lastErr
}

var errPortRace = errors.New("btcd exited early (port taken?)")

func start(ctx context.Context, bin string, opts Options) (_ *Node, err error) {
	t0 := time.Now()
	n := &Node{
		log:        opts.Logger,
		dir:        opts.Dir,
		exited:     make(chan struct{}),
		user:       "onionswap",
		pass:       randomHex(16),
		timeout:    opts.CallTimeout,
		faucetKey:  FaucetKey(),
		faucetAddr: FaucetAddress(),
		nextHeight: 1,
	}
	n.faucetPk = p2wpkhScript(n.faucetAddr)
	if n.dir == "" {
		if n.dir, err = os.MkdirTemp("", "onionswap-btcd-"); err != nil {
			return nil, err
		}
		n.ownDir = true
	} else if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()
	conf := filepath.Join(n.dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return nil, err
	}
	rpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	p2pPort, err := freePort()
	if err != nil {
		return nil, err
	}
	n.rpcAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(rpcPort))
	args := []string{
		"--regtest",
		"-C", conf, // never read ~/.btcd/btcd.conf
		"--datadir=" + filepath.Join(n.dir, "data"),
		"--logdir=" + filepath.Join(n.dir, "logs"),
		"--notls", // loopback only: 15× faster per call than TLS
		"--rpcuser=" + n.user, "--rpcpass=" + n.pass,
		"--rpclisten=" + n.rpcAddr,
		"--listen=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p2pPort)),
		"--txindex", "--addrindex",
		"--miningaddr=" + n.faucetAddr.EncodeAddress(),
		"--nodnsseed",
		// Core-like mempool policy: standardness and the 1 sat/vB floor.
		"--rejectnonstd", "--norelaypriority", "--limitfreerelay=0",
		"--utxocachemaxsize=5", // 139 MB -> 33 MB RSS, faster start
		// Several RPC clients per test (harness, backend, wallet, watcher):
		// the default of 10 concurrent HTTP clients answers 503 beyond that.
		"--rpcmaxclients=100",
	}
	args = append(args, opts.ExtraArgs...)
	n.cmd = exec.Command(bin, args...)
	out, err := os.Create(filepath.Join(n.dir, "btcd.out"))
	if err != nil {
		return nil, err
	}
	n.cmd.Stdout, n.cmd.Stderr = out, out
	// If this process dies without Stop (test binary killed), the kernel
	// kills btcd too.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("regtest: starting %s: %w", bin, err)
	}
	_ = os.WriteFile(filepath.Join(n.dir, "btcd.pid"), []byte(strconv.Itoa(n.cmd.Process.Pid)+"\n"), 0o600)
	go func() {
		_ = n.cmd.Wait()
		_ = out.Close()
		close(n.exited)
	}()

	if n.relay, err = newRelay(n.rpcAddr); err != nil {
		return nil, err
	}

	// Wait until the RPC answers.
	deadline := time.Now().Add(readyTimeout)
	for {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n.direct, err = chain.DialRPC(dctx, chain.RPCConfig{
			Host: n.rpcAddr, User: n.user, Pass: n.pass, DisableTLS: true,
			Params: &chaincfg.RegressionNetParams, CallTimeout: harnessCallTimeout,
			Logger: n.log.With("rpc", "direct"),
		})
		cancel()
		if err == nil {
			break
		}
		select {
		case <-n.exited:
			return nil, fmt.Errorf("regtest: %w: %s", errPortRace, n.tailLog())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("regtest: btcd RPC not ready after %v: %w", readyTimeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	ready := time.Since(t0)
	t1 := time.Now()
	if _, err := n.direct.Mine(ctx, BootstrapBlocks); err != nil {
		return nil, fmt.Errorf("regtest: bootstrap mining: %w", err)
	}
	n.backend, err = chain.DialRPC(ctx, n.RPCConfig())
	if err != nil {
		return nil, fmt.Errorf("regtest: backend through relay: %w", err)
	}
	n.log.Info("btcd regtest ready", "rpc", n.rpcAddr, "relay", n.relay.addr(), "pid", n.cmd.Process.Pid,
		"dir", n.dir, "start_to_ready", ready, "bootstrap", time.Since(t1), "blocks", BootstrapBlocks)
	return n, nil
}

// RPCConfig returns a config for chain.DialRPC that goes through the relay
// (so Pause/Resume affect it).
func (n *Node) RPCConfig() chain.RPCConfig {
	return chain.RPCConfig{
		Host: n.relay.addr(), User: n.user, Pass: n.pass, DisableTLS: true,
		Params: &chaincfg.RegressionNetParams, CallTimeout: n.timeout,
		MiningAddr: n.faucetAddr.EncodeAddress(),
		Logger:     n.log.With("rpc", "relay"),
	}
}

// DirectRPCConfig is RPCConfig without the relay (unaffected by Pause).
func (n *Node) DirectRPCConfig() chain.RPCConfig {
	c := n.RPCConfig()
	c.Host = n.rpcAddr
	return c
}

// Backend is a chain.Backend through the relay, owned by the Node (do not
// Close it; Stop does).
func (n *Node) Backend() chain.Backend { return n.backend }

// RPC is Backend as its concrete type.
func (n *Node) RPC() *chain.RPC { return n.backend }

// Dir is the node's directory (btcd logs are in Dir/logs/regtest/btcd.log).
func (n *Node) Dir() string { return n.dir }

// PID of the btcd process.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// Mine mines n blocks (coinbases to the faucet), bypassing the relay.
func (n *Node) Mine(ctx context.Context, blocks int) ([]chainhash.Hash, error) {
	n.mineMu.Lock()
	defer n.mineMu.Unlock()
	return n.direct.Mine(ctx, blocks)
}

// InvalidateBlock marks hash invalid: btcd disconnects it and its
// descendants and returns their transactions to the mempool.
func (n *Node) InvalidateBlock(ctx context.Context, hash chainhash.Hash) error {
	return n.direct.InvalidateBlock(ctx, hash)
}

// ReconsiderBlock undoes InvalidateBlock.
func (n *Node) ReconsiderBlock(ctx context.Context, hash chainhash.Hash) error {
	return n.direct.ReconsiderBlock(ctx, hash)
}

// Pause makes the RPC look down: open connections through the relay are
// dropped and new ones closed at once.
func (n *Node) Pause() { n.relay.setMode(relayRefuse) }

// Blackhole makes the RPC look hung: new connections are accepted and never
// answered (until Resume, which closes them).
func (n *Node) Blackhole() { n.relay.setMode(relayBlackhole) }

// Resume restores the relay after Pause or Blackhole.
func (n *Node) Resume() { n.relay.setMode(relayForward) }

// Stop stops btcd (SIGTERM, then SIGKILL after a grace period), the relay and
// the RPC clients, and removes a temporary Dir. Idempotent.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		if n.backend != nil {
			n.backend.Close()
		}
		if n.direct != nil {
			n.direct.Close()
		}
		if n.relay != nil {
			n.relay.close()
		}
		if n.cmd != nil && n.cmd.Process != nil {
			// The process is ours: we started it and reap it in the Wait
			// goroutine, so its PID cannot have been reused before exited
			// is closed (and os.Process uses a pidfd on Linux).
			select {
			case <-n.exited:
			default:
				_ = n.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-n.exited:
				case <-time.After(stopGrace):
					n.log.Warn("btcd did not stop after SIGTERM, killing", "pid", n.cmd.Process.Pid)
					_ = n.cmd.Process.Kill()
					<-n.exited
				}
			}
		}
		if n.ownDir {
			_ = os.RemoveAll(n.dir)
		}
	})
}

// tailLog returns the end of btcd's output for error messages.
func (n *Node) tailLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "btcd.out"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var btcdPath struct {
	sync.Mutex
	path string
}

// BtcdPath locates the btcd binary: $ONIONSWAP_BTCD, else `go tool -n btcd`
// in the module root (builds it once; the go command caches the build). The
// result is cached for the life of the process.
func BtcdPath(ctx context.Context) (string, error) {
	btcdPath.Lock()
	defer btcdPath.Unlock()
	if btcdPath.path != "" {
		return btcdPath.path, nil
	}
	if p := os.Getenv("ONIONSWAP_BTCD"); p != "" {
		btcdPath.path = p
		return p, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "btcd")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("regtest: `go tool -n btcd` in %s: %w: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var p string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			p = l
		}
	}
	if p == "" {
		return "", fmt.Errorf("regtest: `go tool -n btcd` printed nothing")
	}
	btcdPath.path = p
	return p, nil
}

// ModuleRoot walks up from the working directory to onionswap's own
// go.mod (a nested module, such as the browser tests', is skipped: the
// tools and the binary are onionswap's).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/onionswap/onionswap\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("onionswap's go.mod not found above the working directory (set the binary's path: $ONIONSWAP_BIN, $ONIONSWAP_BTCD)")
		}
		dir = parent
	}
}
