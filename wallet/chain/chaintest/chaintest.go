// Package chaintest is an in-memory Bitcoin chain implementing
// chain.Backend, for unit tests of the wallet, its watcher and the swap
// engine: no btcd, no bitcoind, no network.
//
// It is faithful where a swap's safety is decided:
//
//   - blocks are real wire.MsgBlocks (coinbase with the BIP34 height and a
//     witness commitment, merkle root, previous-block link), so block hashes
//     and the watcher's reorg walk behave as on a node;
//   - every broadcast transaction is checked as a node's mempool would:
//     sanity, standardness and dust, finality of nLockTime against the next
//     block, BIP68 relative locks (CSV) against the confirmations of each
//     input, coinbase maturity, input values and the minimum relay fee, and
//     every input script with txscript under the standard verify flags
//     (witness, CLTV, CSV...): a badly signed contract, a premature refund
//     or a sweep with the wrong key is refused, as a real node refuses it;
//   - refusals carry the sentinel errors of package chain (ErrDoubleSpend,
//     ErrMissingInputs, ErrRejected) with a node's reason, and a
//     transaction the node already has (mempool or chain) is success;
//   - UTXO, MempoolSpender and Tx answer as wallet/chain's RPC backend
//     does (a mempool spend hides an output; confirmations tip − height + 1).
//
// What it leaves out: proof of work, block size and sigop limits, package
// relay and replacement (a conflicting transaction is always refused, as
// btcd without BIP125 signalling does; Bitcoin Core ≥ 28 would replace a
// lower-paying one), mempool eviction and fee estimation (FeeRate is a
// setting).
//
// Coins enter through Fund, which confirms a transaction paying the given
// outputs from a faucet outpoint that exists nowhere else (the faucet's
// transactions are the only ones not validated). Blocks come from Mine,
// which puts the whole mempool in the first block, and the chain can be
// reorganized with Disconnect and Reorg.
package chaintest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
)

// Defaults of Options.
const (
	// DefaultHeight is the tip height of a new chain: above the coinbase
	// maturity, so nothing about a young chain (BIP34 heights, median
	// time) shows.
	DefaultHeight = 200
	// DefaultFeeRate is what FeeRate answers: 2 sat/vB.
	DefaultFeeRate = 2000
	// DefaultMinRelayFee is the relay floor, as btcd's and Core's default
	// -minrelaytxfee: 1 sat/vB.
	DefaultMinRelayFee = 1000
	// BlockInterval is the timestamp step between blocks.
	BlockInterval = 10 * time.Minute
	// CoinbaseMaturity: a coinbase output is spendable once it has this
	// many confirmations (consensus).
	CoinbaseMaturity = 100
	// maxTxVersion accepted into the mempool (Core ≥ 28 relays v3).
	maxTxVersion = 3
	// medianTimeBlocks: blocks in the median-time-past.
	medianTimeBlocks = 11
)

// Options configures New. The zero value is a regtest chain at
// DefaultHeight.
type Options struct {
	// Params is the network (RegressionNetParams when nil). Mine works on
	// regtest only, as on a real node.
	Params *chaincfg.Params
	// Height of the tip after New (DefaultHeight when 0; -1 for genesis
	// alone).
	Height int32
	// FeeRate answered by FeeRate, sat/kvB (DefaultFeeRate when 0).
	FeeRate int64
	// MinRelayFee: transactions paying less per kvB are refused
	// (DefaultMinRelayFee when 0).
	MinRelayFee int64
	// TipTime is the timestamp of the initial tip (now when zero); block
	// h+1 is BlockInterval after block h.
	TipTime time.Time
}

// Chain is the in-memory chain. Its methods are safe for concurrent use.
type Chain struct {
	params *chaincfg.Params

	mu       sync.Mutex
	all      map[chainhash.Hash]*wire.MsgBlock // every block ever made, stale ones too
	main     []*wire.MsgBlock                  // main chain by height
	utxos    map[wire.OutPoint]utxo
	index    map[chainhash.Hash]txLoc // main-chain transactions
	pool     []*poolTx                // mempool, parents before children
	poolByID map[chainhash.Hash]*poolTx
	spends   map[wire.OutPoint]chainhash.Hash // mempool spends
	faucet   map[chainhash.Hash]bool          // Fund's transactions
	accepted []*wire.MsgTx                    // every transaction that entered the mempool
	refused  []Refusal
	feeRate  int64
	minRelay int64
	nonce    uint64
	faucetN  uint64
	closed   bool
	down     bool
	subs     map[chan struct{}]struct{}
}

var _ chain.Backend = (*Chain)(nil)

type utxo struct {
	out      *wire.TxOut
	height   int32
	coinbase bool
}

type txLoc struct {
	tx     *wire.MsgTx
	height int32
	block  chainhash.Hash
}

type poolTx struct {
	tx    *wire.MsgTx
	txid  chainhash.Hash
	fee   int64
	vsize int64
}

// Refusal is a transaction the chain refused (Broadcast only, not
// TestAccept).
type Refusal struct {
	Tx  *wire.MsgTx
	Err error
}

// New returns a chain of opts.Height blocks on top of the network's
// genesis block.
func New(opts Options) *Chain {
	if opts.Params == nil {
		opts.Params = &chaincfg.RegressionNetParams
	}
	if opts.Height == 0 {
		opts.Height = DefaultHeight
	}
	if opts.Height < 0 {
		opts.Height = 0
	}
	if opts.FeeRate == 0 {
		opts.FeeRate = DefaultFeeRate
	}
	if opts.MinRelayFee == 0 {
		opts.MinRelayFee = DefaultMinRelayFee
	}
	if opts.TipTime.IsZero() {
		opts.TipTime = time.Now()
	}
	c := &Chain{params: opts.Params, all: map[chainhash.Hash]*wire.MsgBlock{}, utxos: map[wire.OutPoint]utxo{},
		index: map[chainhash.Hash]txLoc{}, poolByID: map[chainhash.Hash]*poolTx{}, spends: map[wire.OutPoint]chainhash.Hash{},
		faucet: map[chainhash.Hash]bool{}, feeRate: opts.FeeRate, minRelay: opts.MinRelayFee, subs: map[chan struct{}]struct{}{}}
	genesis := copyBlock(opts.Params.GenesisBlock)
	c.connect(genesis)
	// Block 1's timestamp such that the initial tip is at TipTime.
	first := opts.TipTime.Add(-time.Duration(opts.Height-1) * BlockInterval).Truncate(time.Second)
	for h := int32(1); h <= opts.Height; h++ {
		c.connect(c.newBlock(first.Add(time.Duration(h-1)*BlockInterval), nil))
	}
	return c
}

// Params implements chain.Backend.
func (c *Chain) Params() *chaincfg.Params { return c.params }

// Close implements chain.Backend: later calls fail with chain.ErrClosed.
func (c *Chain) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// SetUnreachable makes every chain.Backend call fail with
// chain.ErrUnreachable (true) or answer again (false): a node that went
// away. The test helpers (Fund, Mine's helpers, inspection) still work.
func (c *Chain) SetUnreachable(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// SetFeeRate sets what FeeRate answers (sat/kvB).
func (c *Chain) SetFeeRate(satPerKVB int64) {
	c.mu.Lock()
	c.feeRate = satPerKVB
	c.mu.Unlock()
}

// enter locks c and checks it answers; on error the lock is released.
func (c *Chain) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("chaintest: %w", err)
	}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return chain.ErrClosed
	case c.down:
		c.mu.Unlock()
		return fmt.Errorf("%w: chaintest: node set unreachable", chain.ErrUnreachable)
	}
	return nil
}

func (c *Chain) tip() *wire.MsgBlock { return c.main[len(c.main)-1] }

func (c *Chain) tipHeight() int32 { return int32(len(c.main) - 1) }

// Tip implements chain.Backend.
func (c *Chain) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	if err := c.enter(ctx); err != nil {
		return 0, chainhash.Hash{}, err
	}
	defer c.mu.Unlock()
	return c.tipHeight(), c.tip().BlockHash(), nil
}

// BlockHash implements chain.Backend.
func (c *Chain) BlockHash(ctx context.Context, height int32) (chainhash.Hash, error) {
	if err := c.enter(ctx); err != nil {
		return chainhash.Hash{}, err
	}
	defer c.mu.Unlock()
	if height < 0 || height > c.tipHeight() {
		return chainhash.Hash{}, fmt.Errorf("chaintest: block height %d out of range: %w", height, chain.ErrNotFound)
	}
	return c.main[height].BlockHash(), nil
}

// Block implements chain.Backend. Like a node it also returns blocks that
// a reorg took off the main chain.
func (c *Chain) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	b, ok := c.all[hash]
	if !ok {
		return nil, fmt.Errorf("chaintest: block %v: %w", hash, chain.ErrNotFound)
	}
	return copyBlock(b), nil
}

// BlockHeader implements chain.Backend.
func (c *Chain) BlockHeader(ctx context.Context, hash chainhash.Hash) (*wire.BlockHeader, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	b, ok := c.all[hash]
	if !ok {
		return nil, fmt.Errorf("chaintest: block header %v: %w", hash, chain.ErrNotFound)
	}
	h := b.Header
	return &h, nil
}

// Tx implements chain.Backend (the chain keeps a full transaction index).
func (c *Chain) Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, chain.TxStatus, error) {
	if err := c.enter(ctx); err != nil {
		return nil, chain.TxStatus{}, err
	}
	defer c.mu.Unlock()
	if p, ok := c.poolByID[txid]; ok {
		return p.tx.Copy(), chain.TxStatus{InMempool: true}, nil
	}
	if l, ok := c.index[txid]; ok {
		bh := l.block
		return l.tx.Copy(), chain.TxStatus{Height: l.height, BlockHash: &bh, Confirmations: c.tipHeight() - l.height + 1}, nil
	}
	return nil, chain.TxStatus{}, fmt.Errorf("chaintest: tx %v: %w", txid, chain.ErrNotFound)
}

// MempoolTxids implements chain.Backend (parents before children).
func (c *Chain) MempoolTxids(ctx context.Context) ([]chainhash.Hash, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	ids := make([]chainhash.Hash, 0, len(c.pool))
	for _, p := range c.pool {
		ids = append(ids, p.txid)
	}
	return ids, nil
}

// MempoolSpender implements chain.Backend: only the mempool is looked at.
func (c *Chain) MempoolSpender(ctx context.Context, op wire.OutPoint) (*chainhash.Hash, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	if h, ok := c.spends[op]; ok {
		return &h, nil
	}
	return nil, nil
}

// UTXO implements chain.Backend: an output spent in the chain or by a
// mempool transaction, or unknown, is chain.ErrNotFound; an output of a
// mempool transaction has 0 confirmations.
func (c *Chain) UTXO(ctx context.Context, op wire.OutPoint) (*wire.TxOut, int32, error) {
	if err := c.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer c.mu.Unlock()
	if sp, ok := c.spends[op]; ok {
		return nil, 0, fmt.Errorf("chaintest: %v spent by mempool tx %v: %w", op, sp, chain.ErrNotFound)
	}
	out, height, ok := c.lookup(op)
	if !ok {
		return nil, 0, fmt.Errorf("chaintest: %v not unspent: %w", op, chain.ErrNotFound)
	}
	confs := int32(0)
	if height > 0 {
		confs = c.tipHeight() - height + 1
	}
	return wire.NewTxOut(out.out.Value, append([]byte(nil), out.out.PkScript...)), confs, nil
}

// lookup finds an unspent output in the chain (height > 0) or created by
// a mempool transaction (height 0). Mempool spends are not looked at.
func (c *Chain) lookup(op wire.OutPoint) (utxo, int32, bool) {
	if u, ok := c.utxos[op]; ok {
		return u, u.height, true
	}
	if p, ok := c.poolByID[op.Hash]; ok && int(op.Index) < len(p.tx.TxOut) {
		return utxo{out: p.tx.TxOut[op.Index]}, 0, true
	}
	return utxo{}, 0, false
}

// FeeRate implements chain.Backend: the configured rate, whatever the
// target.
func (c *Chain) FeeRate(ctx context.Context, _ int) (int64, error) {
	if err := c.enter(ctx); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	return c.feeRate, nil
}

// Broadcast implements chain.Backend.
func (c *Chain) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	txid := tx.TxHash()
	if err := c.enter(ctx); err != nil {
		return txid, err
	}
	if c.known(txid) {
		c.mu.Unlock()
		return txid, nil
	}
	fee, vsize, err := c.check(tx)
	if err != nil {
		c.refused = append(c.refused, Refusal{Tx: tx.Copy(), Err: err})
		c.mu.Unlock()
		return txid, fmt.Errorf("chaintest: broadcast %v: %w", txid, err)
	}
	c.addPool(tx.Copy(), fee, vsize)
	c.accepted = append(c.accepted, tx.Copy())
	c.mu.Unlock()
	c.notify()
	return txid, nil
}

// TestAccept implements chain.Backend.
func (c *Chain) TestAccept(ctx context.Context, tx *wire.MsgTx) (bool, string, error) {
	if err := c.enter(ctx); err != nil {
		return false, "", err
	}
	defer c.mu.Unlock()
	txid := tx.TxHash()
	if _, ok := c.poolByID[txid]; ok {
		return false, "txn-already-in-mempool", nil
	}
	if _, ok := c.index[txid]; ok {
		return false, "txn-already-known", nil
	}
	if _, _, err := c.check(tx); err != nil {
		return false, err.Error(), nil
	}
	return true, "", nil
}

// known: the mempool or the main chain has txid.
func (c *Chain) known(txid chainhash.Hash) bool {
	if _, ok := c.poolByID[txid]; ok {
		return true
	}
	_, ok := c.index[txid]
	return ok
}

func (c *Chain) addPool(tx *wire.MsgTx, fee, vsize int64) {
	p := &poolTx{tx: tx, txid: tx.TxHash(), fee: fee, vsize: vsize}
	c.pool = append(c.pool, p)
	c.poolByID[p.txid] = p
	for _, in := range tx.TxIn {
		c.spends[in.PreviousOutPoint] = p.txid
	}
}

// refuse wraps a refusal with a node's reason.
func refuse(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

// check runs the mempool acceptance checks of tx against the tip (the
// next block is tip + 1), in btcd's order, and returns its fee and vsize.
// c.mu is held.
func (c *Chain) check(tx *wire.MsgTx) (fee, vsize int64, err error) {
	btx := btcutil.NewTx(tx)
	if blockchain.IsCoinBaseTx(tx) {
		return 0, 0, refuse(chain.ErrRejected, "coinbase: a coinbase transaction cannot be relayed")
	}
	if err := blockchain.CheckTransactionSanity(btx); err != nil {
		return 0, 0, refuse(chain.ErrRejected, "bad-txns: %v", err)
	}
	next := c.tipHeight() + 1
	mtp := c.medianTimePast(c.tipHeight())
	if err := mempool.CheckTransactionStandard(btx, next, mtp, btcutil.Amount(c.minRelay), maxTxVersion); err != nil {
		if !blockchain.IsFinalizedTransaction(btx, next, mtp) {
			return 0, 0, refuse(chain.ErrRejected, "non-final: locktime %d, next block %d", tx.LockTime, next)
		}
		return 0, 0, refuse(chain.ErrRejected, "non-standard: %v", err)
	}
	for i, in := range tx.TxIn {
		if sp, ok := c.spends[in.PreviousOutPoint]; ok {
			return 0, 0, refuse(chain.ErrDoubleSpend, "txn-mempool-conflict: input %d (%v) already spent by %v", i, in.PreviousOutPoint, sp)
		}
	}
	prevs := make(map[wire.OutPoint]*wire.TxOut, len(tx.TxIn))
	heights := make([]int32, len(tx.TxIn))
	var in int64
	for i, txIn := range tx.TxIn {
		u, h, ok := c.lookup(txIn.PreviousOutPoint)
		if !ok {
			return 0, 0, refuse(chain.ErrMissingInputs, "bad-txns-inputs-missingorspent: input %d (%v)", i, txIn.PreviousOutPoint)
		}
		if u.coinbase && next-u.height < CoinbaseMaturity {
			return 0, 0, refuse(chain.ErrRejected, "bad-txns-premature-spend-of-coinbase: input %d, %d confirmations", i, next-u.height)
		}
		if h == 0 {
			h = next // a mempool parent confirms in the next block at best
		}
		heights[i] = h
		prevs[txIn.PreviousOutPoint] = u.out
		in += u.out.Value
	}
	if err := c.checkSequenceLocks(tx, heights, next); err != nil {
		return 0, 0, err
	}
	var out int64
	for _, o := range tx.TxOut {
		out += o.Value
	}
	if in < out {
		return 0, 0, refuse(chain.ErrRejected, "bad-txns-in-belowout: %d < %d", in, out)
	}
	fee = in - out
	vsize = mempool.GetTxVirtualSize(btx)
	if minFee := vsize * c.minRelay / 1000; fee < minFee {
		return 0, 0, refuse(chain.ErrRejected, "min relay fee not met: %d < %d", fee, minFee)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prevs)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, txIn := range tx.TxIn {
		prev := prevs[txIn.PreviousOutPoint]
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return 0, 0, refuse(chain.ErrRejected, "mandatory-script-verify-flag-failed: input %d: %v", i, err)
		}
	}
	return fee, vsize, nil
}

// checkSequenceLocks applies BIP68 to a version ≥ 2 transaction whose
// inputs confirmed at heights (the next height for mempool parents): an
// input with a relative lock of n blocks may be in block next only if
// next − height ≥ n; a lock in time units needs the median time past of
// the tip to exceed the one before the input's block by n × 512 s.
func (c *Chain) checkSequenceLocks(tx *wire.MsgTx, heights []int32, next int32) error {
	if tx.Version < 2 {
		return nil
	}
	tipMTP := c.medianTimePast(next - 1)
	for i, in := range tx.TxIn {
		seq := in.Sequence
		if seq&wire.SequenceLockTimeDisabled != 0 {
			continue
		}
		lock := int64(seq & wire.SequenceLockTimeMask)
		if seq&wire.SequenceLockTimeIsSeconds != 0 {
			base := c.medianTimePast(max(heights[i]-1, 0))
			if need := base.Unix() + lock<<wire.SequenceLockTimeGranularity; tipMTP.Unix() < need {
				return refuse(chain.ErrRejected, "non-BIP68-final: input %d locked until median time %d, now %d", i, need, tipMTP.Unix())
			}
			continue
		}
		if got := int64(next - heights[i]); got < lock {
			return refuse(chain.ErrRejected, "non-BIP68-final: input %d needs %d blocks on its parent, the next block gives %d", i, lock, got)
		}
	}
	return nil
}

// medianTimePast of the main-chain block at height h.
func (c *Chain) medianTimePast(h int32) time.Time {
	ts := make([]int64, 0, medianTimeBlocks)
	for i := h; i >= 0 && len(ts) < medianTimeBlocks; i-- {
		ts = append(ts, c.main[i].Header.Timestamp.Unix())
	}
	sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
	return time.Unix(ts[len(ts)/2], 0)
}

// newBlock builds the next block on the tip with txs (not connected).
func (c *Chain) newBlock(ts time.Time, txs []*wire.MsgTx) *wire.MsgBlock {
	height := c.tipHeight() + 1
	c.nonce++
	// Coinbase: BIP34 height, an extra nonce (blocks at one height on two
	// branches differ), the subsidy plus fees to an anyone-can-spend
	// P2WSH(OP_TRUE), and the witness commitment.
	hb, _ := txscript.NewScriptBuilder().AddInt64(int64(height)).AddInt64(int64(c.nonce)).Script()
	cb := wire.NewMsgTx(2)
	cbIn := wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{}, wire.MaxPrevOutIndex), hb, nil)
	cbIn.Witness = wire.TxWitness{make([]byte, blockchain.CoinbaseWitnessDataLen)}
	cb.AddTxIn(cbIn)
	var fees int64
	for _, tx := range txs {
		if p, ok := c.poolByID[tx.TxHash()]; ok {
			fees += p.fee
		}
	}
	cb.AddTxOut(wire.NewTxOut(blockchain.CalcBlockSubsidy(height, c.params)+fees, MinerScript()))
	all := append([]*wire.MsgTx{cb}, txs...)
	utxs := make([]*btcutil.Tx, len(all))
	for i, tx := range all {
		utxs[i] = btcutil.NewTx(tx)
	}
	wroot := blockchain.CalcMerkleRoot(utxs, true)
	var buf [64]byte
	copy(buf[:32], wroot[:])
	commit := chainhash.DoubleHashB(buf[:])
	cb.AddTxOut(wire.NewTxOut(0, append(append([]byte(nil), blockchain.WitnessMagicBytes...), commit...)))
	utxs[0] = btcutil.NewTx(cb)
	prev := c.tip()
	if !ts.After(prev.Header.Timestamp) {
		ts = prev.Header.Timestamp.Add(BlockInterval)
	}
	return &wire.MsgBlock{Header: wire.BlockHeader{Version: 0x20000000, PrevBlock: prev.BlockHash(),
		MerkleRoot: blockchain.CalcMerkleRoot(utxs, false), Timestamp: ts, Bits: c.params.PowLimitBits,
		Nonce: uint32(c.nonce)}, Transactions: all}
}

// MinerScript is the script every coinbase pays: P2WSH(OP_TRUE), which
// anyone can spend (with the script as the only witness item) once the
// coinbase is mature.
func MinerScript() []byte {
	h := sha256.Sum256([]byte{txscript.OP_TRUE})
	s, _ := txscript.NewScriptBuilder().AddOp(txscript.OP_0).AddData(h[:]).Script()
	return s
}

// connect appends b to the main chain and applies it to the UTXO set and
// the index. c.mu is held (or c is not shared yet).
func (c *Chain) connect(b *wire.MsgBlock) {
	hash := b.BlockHash()
	c.all[hash] = b
	height := int32(len(c.main))
	c.main = append(c.main, b)
	for i, tx := range b.Transactions {
		txid := tx.TxHash()
		if i > 0 {
			for _, in := range tx.TxIn {
				delete(c.utxos, in.PreviousOutPoint)
			}
		}
		for k, o := range tx.TxOut {
			if txscript.GetScriptClass(o.PkScript) == txscript.NullDataTy {
				continue // provably unspendable: never in the UTXO set
			}
			c.utxos[wire.OutPoint{Hash: txid, Index: uint32(k)}] = utxo{out: o, height: height, coinbase: i == 0}
		}
		c.index[txid] = txLoc{tx: tx, height: height, block: hash}
	}
}

// mineLocked mines n blocks, the first with the whole mempool. c.mu is held.
func (c *Chain) mineLocked(n int) []chainhash.Hash {
	hashes := make([]chainhash.Hash, 0, n)
	for i := 0; i < n; i++ {
		var txs []*wire.MsgTx
		for _, p := range c.pool {
			txs = append(txs, p.tx)
		}
		b := c.newBlock(c.tip().Header.Timestamp.Add(BlockInterval), txs)
		c.pool, c.poolByID, c.spends = nil, map[chainhash.Hash]*poolTx{}, map[wire.OutPoint]chainhash.Hash{}
		c.connect(b)
		hashes = append(hashes, b.BlockHash())
	}
	return hashes
}

// Mine implements chain.Backend: n blocks, the first with every mempool
// transaction (regtest only, chain.ErrUnsupported elsewhere).
func (c *Chain) Mine(ctx context.Context, n int) ([]chainhash.Hash, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	if c.params.Net != chaincfg.RegressionNetParams.Net {
		c.mu.Unlock()
		return nil, fmt.Errorf("chaintest: mine on %s: %w (regtest only)", c.params.Name, chain.ErrUnsupported)
	}
	if n <= 0 {
		c.mu.Unlock()
		return nil, nil
	}
	hs := c.mineLocked(n)
	c.mu.Unlock()
	c.notify()
	return hs, nil
}

// MineN mines n blocks (the first with the whole mempool) on any network,
// reachable or not, and returns the new tip height. For tests.
func (c *Chain) MineN(n int) int32 {
	c.mu.Lock()
	c.mineLocked(n)
	h := c.tipHeight()
	c.mu.Unlock()
	c.notify()
	return h
}

// Fund confirms, in a new block of its own, a transaction paying value
// to pkScript from the faucet, and returns it. The faucet's inputs exist
// nowhere else; its transactions are the only ones not validated.
func (c *Chain) Fund(pkScript []byte, value int64) *wire.MsgTx {
	return c.FundOutputs(wire.NewTxOut(value, pkScript))
}

// FundOutputs is Fund with several outputs in one transaction.
func (c *Chain) FundOutputs(outs ...*wire.TxOut) *wire.MsgTx {
	c.mu.Lock()
	c.faucetN++
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], c.faucetN)
	src := chainhash.Hash(sha256.Sum256(append([]byte("chaintest faucet"), seed[:]...)))
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&src, 0), nil, nil))
	for _, o := range outs {
		tx.AddTxOut(wire.NewTxOut(o.Value, append([]byte(nil), o.PkScript...)))
	}
	c.faucet[tx.TxHash()] = true
	c.connect(c.newBlock(c.tip().Header.Timestamp.Add(BlockInterval), []*wire.MsgTx{tx}))
	c.mu.Unlock()
	c.notify()
	return tx.Copy()
}

// Disconnect takes the top n blocks off the main chain (they stay known
// to Block). Their transactions go back to the mempool ahead of the ones
// there, and every mempool transaction is checked again against the new
// tip: what is no longer valid (a spend of a coinbase that lost its
// maturity, a relative lock no longer met...) is dropped, as a node does.
// It returns the transactions dropped.
func (c *Chain) Disconnect(n int) []*wire.MsgTx {
	c.mu.Lock()
	if n > int(c.tipHeight()) {
		n = int(c.tipHeight())
	}
	var back []*wire.MsgTx
	for i := len(c.main) - n; i < len(c.main); i++ {
		back = append(back, c.main[i].Transactions[1:]...)
	}
	c.main = c.main[:len(c.main)-n]
	c.rebuild()
	old := c.pool
	c.pool, c.poolByID, c.spends = nil, map[chainhash.Hash]*poolTx{}, map[wire.OutPoint]chainhash.Hash{}
	var dropped []*wire.MsgTx
	readd := func(tx *wire.MsgTx) {
		txid := tx.TxHash()
		if c.known(txid) {
			return
		}
		if c.faucet[txid] {
			c.addPool(tx, 0, 0)
			return
		}
		fee, vsize, err := c.check(tx)
		if err != nil {
			dropped = append(dropped, tx.Copy())
			return
		}
		c.addPool(tx, fee, vsize)
	}
	for _, tx := range back {
		readd(tx)
	}
	for _, p := range old {
		readd(p.tx)
	}
	c.mu.Unlock()
	c.notify()
	return dropped
}

// Reorg replaces the top depth blocks by depth+1 new ones; the
// disconnected transactions (still valid) are in the first new block.
// It returns the new tip height.
func (c *Chain) Reorg(depth int) int32 {
	c.Disconnect(depth)
	return c.MineN(depth + 1)
}

// Drop removes a mempool transaction and its mempool descendants (an
// eviction, or a replacement seen by another node) and reports whether
// it was there.
func (c *Chain) Drop(txid chainhash.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.poolByID[txid]; !ok {
		return false
	}
	gone := map[chainhash.Hash]bool{txid: true}
	keep := c.pool[:0]
	for _, p := range c.pool {
		dep := gone[p.txid]
		for _, in := range p.tx.TxIn {
			dep = dep || gone[in.PreviousOutPoint.Hash]
		}
		if dep {
			gone[p.txid] = true
			delete(c.poolByID, p.txid)
			for _, in := range p.tx.TxIn {
				delete(c.spends, in.PreviousOutPoint)
			}
			continue
		}
		keep = append(keep, p)
	}
	c.pool = keep
	return true
}

// rebuild recomputes the UTXO set and the index from the main chain.
func (c *Chain) rebuild() {
	blocks := c.main
	c.main, c.utxos, c.index = nil, map[wire.OutPoint]utxo{}, map[chainhash.Hash]txLoc{}
	for _, b := range blocks {
		c.connect(b)
	}
}

// Subscribe returns a channel signalled (coalesced) whenever a
// transaction enters the mempool or the chain changes; cancel ends the
// subscription.
func (c *Chain) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

func (c *Chain) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Height is the tip height.
func (c *Chain) Height() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tipHeight()
}

// MempoolSize is the number of mempool transactions.
func (c *Chain) MempoolSize() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pool)
}

// Accepted returns every transaction Broadcast let into the mempool, in
// order (also those later mined, dropped or reorganized away).
func (c *Chain) Accepted() []*wire.MsgTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*wire.MsgTx, len(c.accepted))
	for i, tx := range c.accepted {
		out[i] = tx.Copy()
	}
	return out
}

// Refused returns every Broadcast the chain refused, in order.
func (c *Chain) Refused() []Refusal {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Refusal(nil), c.refused...)
}

// Confirmations of txid: > 0 in the main chain, 0 in the mempool, -1
// unknown.
func (c *Chain) Confirmations(txid chainhash.Hash) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.poolByID[txid]; ok {
		return 0
	}
	if l, ok := c.index[txid]; ok {
		return c.tipHeight() - l.height + 1
	}
	return -1
}

// Spender returns the transaction spending op in the mempool or the main
// chain (nil when op is unspent or unknown) and its confirmations (0 in
// the mempool).
func (c *Chain) Spender(op wire.OutPoint) (*wire.MsgTx, int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.spends[op]; ok {
		return c.poolByID[h].tx.Copy(), 0
	}
	for h := c.tipHeight(); h > 0; h-- {
		for _, tx := range c.main[h].Transactions[1:] {
			for _, in := range tx.TxIn {
				if in.PreviousOutPoint == op {
					return tx.Copy(), c.tipHeight() - h + 1
				}
			}
		}
	}
	return nil, 0
}

// ErrUnknownPrevout: Fee cannot price a transaction whose inputs it does
// not know (a faucet transaction, or one never seen).
var ErrUnknownPrevout = errors.New("chaintest: input not found")

// Fee returns the fee of a mempool or main-chain transaction.
func (c *Chain) Fee(txid chainhash.Hash) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var tx *wire.MsgTx
	if p, ok := c.poolByID[txid]; ok {
		tx = p.tx
	} else if l, ok := c.index[txid]; ok {
		tx = l.tx
	} else {
		return 0, fmt.Errorf("chaintest: tx %v: %w", txid, chain.ErrNotFound)
	}
	if c.faucet[txid] {
		return 0, ErrUnknownPrevout
	}
	var fee int64
	for _, in := range tx.TxIn {
		var parent *wire.MsgTx
		if p, ok := c.poolByID[in.PreviousOutPoint.Hash]; ok {
			parent = p.tx
		} else if l, ok := c.index[in.PreviousOutPoint.Hash]; ok {
			parent = l.tx
		}
		if parent == nil || int(in.PreviousOutPoint.Index) >= len(parent.TxOut) {
			return 0, fmt.Errorf("%w: %v", ErrUnknownPrevout, in.PreviousOutPoint)
		}
		fee += parent.TxOut[in.PreviousOutPoint.Index].Value
	}
	for _, o := range tx.TxOut {
		fee -= o.Value
	}
	return fee, nil
}

func copyBlock(b *wire.MsgBlock) *wire.MsgBlock {
	var buf bytes.Buffer
	if err := b.Serialize(&buf); err != nil {
		panic(err)
	}
	var out wire.MsgBlock
	if err := out.Deserialize(&buf); err != nil {
		panic(err)
	}
	return &out
}
