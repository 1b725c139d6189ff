// Package chain is onionswap's view of the Bitcoin chain.
//
// Backend is the small, poll-friendly interface every other package uses to
// read the chain and to broadcast; RPC implements it over btcd's rpcclient in
// HTTP-POST mode, which works against both btcd (≥ 0.24.1) and Bitcoin Core's
// bitcoind (≥ 24). Watcher sits on top of any Backend: it scans new blocks and
// the mempool for watched scripts and outpoints, follows reorgs, persists its
// progress through a WatchStore and delivers Received, Spent and Disconnected
// events at least once.
//
// Only a few RPC methods differ between the backends (Tip, FeeRate, Mine,
// MempoolSpender and the argument format of sendrawtransaction); everything
// else is the same JSON-RPC call on both.
package chain

import (
	"context"
	"errors"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Sentinel errors. Test with errors.Is; the returned errors wrap these with the
// node's own message.
var (
	// ErrNotFound: the transaction, block or unspent output is unknown to the
	// node (or, for UTXO, already spent).
	ErrNotFound = errors.New("not found")

	// ErrDoubleSpend: Broadcast/TestAccept was refused because an input is
	// already spent by a different transaction in the mempool.
	ErrDoubleSpend = errors.New("transaction conflicts with a mempool transaction (double spend)")

	// ErrMissingInputs: an input refers to an output the node does not know
	// as unspent. Bitcoin Core reports an input already spent in a block the
	// same way ("bad-txns-inputs-missingorspent"), so this can also mean
	// "spent in the chain".
	ErrMissingInputs = errors.New("transaction inputs are missing or already spent")

	// ErrRejected: the node refused the transaction for another policy or
	// consensus reason (fee too low, non-final, non-standard, script
	// failure...). The wrapped message carries the node's reason.
	ErrRejected = errors.New("transaction rejected by the node")

	// ErrUnreachable: the node did not answer within the call timeout, or
	// refused the TCP connection.
	ErrUnreachable = errors.New("chain backend unreachable")

	// ErrAuth: the node refused our RPC credentials.
	ErrAuth = errors.New("RPC authentication failed")

	// ErrWrongNetwork: the node's genesis block is not the one of the
	// configured network.
	ErrWrongNetwork = errors.New("chain backend is on a different network")

	// ErrNoTxIndex: the node cannot look up confirmed transactions by txid
	// because it runs without a transaction index (btcd --txindex,
	// bitcoind -txindex=1).
	ErrNoTxIndex = errors.New("node has no transaction index (start btcd with --txindex or bitcoind with -txindex=1)")

	// ErrUnsupported: the node lacks an RPC this package needs (for example
	// gettxspendingprevout before btcd 0.24.1 / Bitcoin Core 24), or the
	// operation is not allowed on this network (Mine outside regtest).
	ErrUnsupported = errors.New("not supported by this chain backend")

	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("chain backend closed")

	// ErrUndecodable: the node answered, but with something this version
	// of onionswap cannot read (a field of another type than expected, a
	// reply that is not JSON-RPC). The error names the RPC method. Asking
	// again gets the same answer: fail closed, do not retry as if the node
	// were unreachable.
	ErrUndecodable = errors.New("the node answered something this version of onionswap cannot read")

	// ErrWarmingUp: bitcoind is starting and answers every call with
	// RPC_IN_WARMUP (-28: loading the block index, verifying blocks,
	// loading P2P addresses...). It is neither unreachable nor broken: ask
	// again later. The error carries the node's message in parentheses,
	// "bitcoind is starting (Loading block index…)".
	ErrWarmingUp = errors.New("bitcoind is starting")
)

// TxStatus is where a transaction currently is.
type TxStatus struct {
	// InMempool is true when the transaction is unconfirmed in the node's
	// mempool (then Height is 0 and BlockHash nil).
	InMempool bool
	// Height of the block that confirmed the transaction, 0 when unconfirmed.
	Height int32
	// BlockHash of the confirming block, nil when unconfirmed.
	BlockHash *chainhash.Hash
	// Confirmations is tip - Height + 1 for a confirmed transaction, 0
	// otherwise.
	Confirmations int32
}

// Backend is the chain access the wallet and the swap engine need. Every
// method bounds its own duration (the RPC implementation applies a per-call
// timeout on top of ctx) and is safe for concurrent use.
type Backend interface {
	// Params is the network the backend was checked to be on.
	Params() *chaincfg.Params
	// Tip returns the height and hash of the best block.
	Tip(ctx context.Context) (height int32, hash chainhash.Hash, err error)
	// BlockHash returns the hash of the main-chain block at height
	// (ErrNotFound above the tip).
	BlockHash(ctx context.Context, height int32) (chainhash.Hash, error)
	// Block returns a full block (ErrNotFound if unknown).
	Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error)
	// BlockHeader returns a block header (ErrNotFound if unknown).
	BlockHeader(ctx context.Context, hash chainhash.Hash) (*wire.BlockHeader, error)
	// Broadcast submits tx to the node's mempool. A transaction the node
	// already has (in its mempool or in the chain, also when all its
	// outputs are spent by now) counts as success, so Broadcast is
	// idempotent. Refusals map to ErrDoubleSpend, ErrMissingInputs or
	// ErrRejected. Success does not mean that no conflicting transaction
	// existed: Bitcoin Core ≥ 28 replaces a conflicting mempool transaction
	// that pays less (full RBF), signalling or not.
	Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error)
	// TestAccept asks the node whether tx would enter its mempool now,
	// without broadcasting it. err is only set when the question could not be
	// asked; a refusal is ok=false with the node's reason.
	TestAccept(ctx context.Context, tx *wire.MsgTx) (ok bool, reason string, err error)
	// Tx looks a transaction up in the mempool and (with a transaction index)
	// in the chain. ErrNotFound if neither has it; ErrNoTxIndex if the node
	// cannot look confirmed transactions up.
	Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, TxStatus, error)
	// MempoolTxids lists the mempool.
	MempoolTxids(ctx context.Context) ([]chainhash.Hash, error)
	// MempoolSpender returns the txid of the mempool transaction that spends
	// op, or nil, nil when no mempool transaction does. It does not look at
	// the chain: an outpoint spent in a block, or one that never existed,
	// also gives nil, nil (Core's gettxspendingprevout answers those like an
	// unspent outpoint). Ask UTXO whether an outpoint is unspent.
	MempoolSpender(ctx context.Context, op wire.OutPoint) (*chainhash.Hash, error)
	// UTXO returns an unspent output and its confirmations (0 when created
	// by a mempool transaction). An output spent in the chain or by a mempool
	// transaction, or unknown, is ErrNotFound, on both backends.
	UTXO(ctx context.Context, op wire.OutPoint) (*wire.TxOut, int32, error)
	// FeeRate estimates the fee rate for confirmation within targetBlocks,
	// in sat per 1000 vbytes, never below the configured floor; when the
	// node has no estimate the configured fallback is returned.
	FeeRate(ctx context.Context, targetBlocks int) (satPerKVB int64, err error)
	// Close releases the backend; later calls fail with ErrClosed.
	Close()
}

// Miner mines blocks: a regtest chain in tests, the demo and `onionswap
// regtest` (*RPC implements it; production code never needs it, so it is
// not part of Backend).
type Miner interface {
	// Mine mines n blocks (regtest only; ErrUnsupported elsewhere).
	Mine(ctx context.Context, n int) ([]chainhash.Hash, error)
}
