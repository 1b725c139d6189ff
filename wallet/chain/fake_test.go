package chain

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// fakeChain is a scripted Backend for the Watcher's unit tests: a main
// chain of blocks, a mempool, and a switch to make every call fail.
type fakeChain struct {
	mu      sync.Mutex
	blocks  []*wire.MsgBlock // blocks[h] is at height h; blocks[0] is genesis
	mempool []*wire.MsgTx
	down    error
	nonce   uint32
	calls   int
}

var _ Backend = (*fakeChain)(nil)

func newFakeChain() *fakeChain {
	f := &fakeChain{}
	f.blocks = []*wire.MsgBlock{f.newBlock(chainhash.Hash{})}
	return f
}

func (f *fakeChain) newBlock(prev chainhash.Hash, txs ...*wire.MsgTx) *wire.MsgBlock {
	f.nonce++
	cb := wire.NewMsgTx(1)
	cb.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{}, wire.MaxPrevOutIndex), []byte{byte(f.nonce), byte(f.nonce >> 8)}, nil))
	cb.AddTxOut(wire.NewTxOut(50, []byte{0x51}))
	b := &wire.MsgBlock{Header: wire.BlockHeader{PrevBlock: prev, Nonce: f.nonce}}
	b.Transactions = append([]*wire.MsgTx{cb}, txs...)
	return b
}

// mine appends a block with the given txs (removing them from the mempool)
// and returns its hash.
func (f *fakeChain) mine(txs ...*wire.MsgTx) chainhash.Hash {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.newBlock(f.blocks[len(f.blocks)-1].BlockHash(), txs...)
	f.blocks = append(f.blocks, b)
	in := map[chainhash.Hash]bool{}
	for _, tx := range txs {
		in[tx.TxHash()] = true
	}
	keep := f.mempool[:0]
	for _, tx := range f.mempool {
		if !in[tx.TxHash()] {
			keep = append(keep, tx)
		}
	}
	f.mempool = keep
	return b.BlockHash()
}

// mineMempool mines every mempool tx.
func (f *fakeChain) mineMempool() chainhash.Hash {
	f.mu.Lock()
	txs := append([]*wire.MsgTx(nil), f.mempool...)
	f.mu.Unlock()
	return f.mine(txs...)
}

// disconnect removes the top n blocks; their txs return to the mempool.
func (f *fakeChain) disconnect(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		b := f.blocks[len(f.blocks)-1]
		f.blocks = f.blocks[:len(f.blocks)-1]
		f.mempool = append(append([]*wire.MsgTx(nil), b.Transactions[1:]...), f.mempool...)
	}
}

func (f *fakeChain) addMempool(txs ...*wire.MsgTx) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mempool = append(f.mempool, txs...)
}

func (f *fakeChain) setDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
}

func (f *fakeChain) enter() error {
	f.mu.Lock()
	f.calls++
	return f.down
}

func (f *fakeChain) Params() *chaincfg.Params { return &chaincfg.RegressionNetParams }

func (f *fakeChain) Tip(context.Context) (int32, chainhash.Hash, error) {
	err := f.enter()
	defer f.mu.Unlock()
	if err != nil {
		return 0, chainhash.Hash{}, err
	}
	return int32(len(f.blocks) - 1), f.blocks[len(f.blocks)-1].BlockHash(), nil
}

func (f *fakeChain) BlockHash(_ context.Context, h int32) (chainhash.Hash, error) {
	err := f.enter()
	defer f.mu.Unlock()
	if err != nil {
		return chainhash.Hash{}, err
	}
	if h < 0 || int(h) >= len(f.blocks) {
		return chainhash.Hash{}, fmt.Errorf("height %d: %w", h, ErrNotFound)
	}
	return f.blocks[h].BlockHash(), nil
}

func (f *fakeChain) Block(_ context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	err := f.enter()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, b := range f.blocks {
		if b.BlockHash() == hash {
			return b, nil
		}
	}
	return nil, ErrNotFound
}

func (f *fakeChain) BlockHeader(ctx context.Context, hash chainhash.Hash) (*wire.BlockHeader, error) {
	b, err := f.Block(ctx, hash)
	if err != nil {
		return nil, err
	}
	return &b.Header, nil
}

func (f *fakeChain) Tx(_ context.Context, txid chainhash.Hash) (*wire.MsgTx, TxStatus, error) {
	err := f.enter()
	defer f.mu.Unlock()
	if err != nil {
		return nil, TxStatus{}, err
	}
	for _, tx := range f.mempool {
		if tx.TxHash() == txid {
			return tx, TxStatus{InMempool: true}, nil
		}
	}
	for h, b := range f.blocks {
		for _, tx := range b.Transactions {
			if tx.TxHash() == txid {
				bh := b.BlockHash()
				return tx, TxStatus{Height: int32(h), BlockHash: &bh, Confirmations: int32(len(f.blocks) - h)}, nil
			}
		}
	}
	return nil, TxStatus{}, ErrNotFound
}

func (f *fakeChain) MempoolTxids(context.Context) ([]chainhash.Hash, error) {
	err := f.enter()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var ids []chainhash.Hash
	// Newest first: children before parents, to exercise the two passes.
	for i := len(f.mempool) - 1; i >= 0; i-- {
		ids = append(ids, f.mempool[i].TxHash())
	}
	return ids, nil
}

var errFakeUnsupported = errors.New("fake: unsupported")

func (f *fakeChain) Broadcast(context.Context, *wire.MsgTx) (chainhash.Hash, error) {
	return chainhash.Hash{}, errFakeUnsupported
}
func (f *fakeChain) TestAccept(context.Context, *wire.MsgTx) (bool, string, error) {
	return false, "", errFakeUnsupported
}
func (f *fakeChain) MempoolSpender(context.Context, wire.OutPoint) (*chainhash.Hash, error) {
	return nil, errFakeUnsupported
}
func (f *fakeChain) UTXO(context.Context, wire.OutPoint) (*wire.TxOut, int32, error) {
	return nil, 0, errFakeUnsupported
}
func (f *fakeChain) FeeRate(context.Context, int) (int64, error) { return 0, errFakeUnsupported }
func (f *fakeChain) Mine(context.Context, int) ([]chainhash.Hash, error) {
	return nil, errFakeUnsupported
}
func (f *fakeChain) Close() {}

// payTx pays value to pkScript, spending prev (or a unique fake outpoint).
func payTx(prev *wire.OutPoint, pkScript []byte, value int64, tag byte) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	if prev == nil {
		prev = &wire.OutPoint{Hash: chainhash.Hash{0xee, tag}, Index: 0}
	}
	in := wire.NewTxIn(prev, nil, wire.TxWitness{[]byte{0x30, tag}, []byte("preimage-" + string(rune('a'+tag)))})
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(value, pkScript))
	return tx
}
