// Package markettest makes real integrity-fee payments on a test chain
// (the in-memory chaintest chain in unit tests, btcd regtest in
// integration tests) and their proofs, as a maker's wallet does: each
// payment spends the previous integrity output alone, the first one a
// funded P2WPKH coin. Tests use it to publish integrity offers by hand,
// good and broken.
package markettest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/merkle"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// Chain is the test chain: a faucet, broadcasting, and its blocks.
type Chain interface {
	// Fund confirms an output of value to pkScript and returns it.
	Fund(ctx context.Context, pkScript []byte, value int64) (wire.OutPoint, error)
	Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error)
	Tip(ctx context.Context) (int32, chainhash.Hash, error)
	BlockHash(ctx context.Context, height int32) (chainhash.Hash, error)
	Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error)
}

// Payment is one payment: its integrity output, fee and, once mined,
// height.
type Payment struct {
	OutPoint wire.OutPoint
	Fee      int64
	VSize    int64
	Height   uint32 // 0 until mined

	Tx     *wire.MsgTx
	Values []int64
	Key    *btcec.PrivateKey // the integrity output's
	sent   int32             // the tip when it was broadcast
	block  chainhash.Hash
	index  int
}

// Payer makes the payments of one integrity chain.
type Payer struct {
	C Chain
	// MinChange: a payment spends the previous integrity output alone when
	// it keeps at least this much (otherwise a new funded coin tops up).
	MinChange int64

	mu   sync.Mutex
	pays []*Payment
}

// ErrUnconfirmed: the payment is not mined yet.
var ErrUnconfirmed = errors.New("markettest: payment not confirmed")

// Pay broadcasts a payment of fee to miners (not mined); a top-up funds
// topUp+fee into a new coin first.
func (p *Payer) Pay(ctx context.Context, fee, topUp int64) (*Payment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, err
	}
	var prevKey *btcec.PrivateKey
	var prevOut *wire.TxOut
	var prevOp wire.OutPoint
	if n := len(p.pays); n > 0 && p.pays[n-1].Tx.TxOut[0].Value >= fee+max(p.MinChange, 1000) {
		last := p.pays[n-1]
		prevKey, prevOut, prevOp = last.Key, last.Tx.TxOut[0], last.OutPoint
	} else {
		if prevKey, err = btcec.NewPrivateKey(); err != nil {
			return nil, err
		}
		pk := script.P2WPKHPkScript(prevKey.PubKey())
		if prevOp, err = p.C.Fund(ctx, pk, topUp+fee); err != nil {
			return nil, fmt.Errorf("markettest: funding: %w", err)
		}
		prevOut = wire.NewTxOut(topUp+fee, pk)
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&prevOp, nil, nil))
	tx.AddTxOut(wire.NewTxOut(prevOut.Value-fee, script.P2WPKHPkScript(key.PubKey())))
	sig, err := script.SignInput(tx, 0, nil, prevOut.Value, prevOut.PkScript, prevKey)
	if err != nil {
		return nil, err
	}
	tx.TxIn[0].Witness = script.P2WPKHWitness(sig, prevKey.PubKey())
	tip, _, err := p.C.Tip(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := p.C.Broadcast(ctx, tx); err != nil {
		return nil, fmt.Errorf("markettest: broadcast: %w", err)
	}
	q := &Payment{OutPoint: wire.OutPoint{Hash: tx.TxHash()}, Fee: fee,
		VSize: script.TxVSize(tx),
		Tx:    tx, Values: []int64{prevOut.Value}, Key: key, sent: tip}
	p.pays = append(p.pays, q)
	return q, nil
}

// Payments returns the payments so far, oldest first, each with its
// height once mined.
func (p *Payer) Payments(ctx context.Context) ([]*Payment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.pays {
		if err := p.confirm(ctx, q); err != nil && !errors.Is(err, ErrUnconfirmed) {
			return nil, err
		}
	}
	return append([]*Payment(nil), p.pays...), nil
}

// confirm finds q's block, looking from the tip when it was sent.
func (p *Payer) confirm(ctx context.Context, q *Payment) error {
	if q.Height > 0 {
		return nil
	}
	tip, _, err := p.C.Tip(ctx)
	if err != nil {
		return err
	}
	for h := q.sent + 1; h <= tip; h++ {
		bh, err := p.C.BlockHash(ctx, h)
		if err != nil {
			return err
		}
		b, err := p.C.Block(ctx, bh)
		if err != nil {
			return err
		}
		for i, tx := range b.Transactions {
			if tx.TxHash() == q.OutPoint.Hash {
				q.Height, q.block, q.index = uint32(h), bh, i
				return nil
			}
		}
	}
	return ErrUnconfirmed
}

// Proof is q's proof with its key signing digest.
func (p *Payer) Proof(ctx context.Context, q *Payment, digest [32]byte) (*protocol.IntegrityProof, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.confirm(ctx, q); err != nil {
		return nil, err
	}
	b, err := p.C.Block(ctx, q.block)
	if err != nil {
		return nil, err
	}
	txids := make([]chainhash.Hash, len(b.Transactions))
	for i, tx := range b.Transactions {
		txids[i] = tx.TxHash()
	}
	br, err := merkle.Branch(txids, q.index)
	if err != nil {
		return nil, err
	}
	return &protocol.IntegrityProof{Tx: q.Tx.Copy(), InputValues: append([]int64(nil), q.Values...), Vout: 0,
		Key: q.Key.PubKey(), Height: q.Height, Block: q.block, TxIndex: uint32(q.index), Branch: br,
		Sig: ecdsa.Sign(q.Key, digest[:]).Serialize()}, nil
}

// UnminedProof is a proof of q as if it were the only transaction of a
// block at height that does not exist (an unconfirmed payment).
func UnminedProof(q *Payment, height uint32, digest [32]byte) *protocol.IntegrityProof {
	return &protocol.IntegrityProof{Tx: q.Tx.Copy(), InputValues: append([]int64(nil), q.Values...), Key: q.Key.PubKey(),
		Height: height, Block: chainhash.Hash{2}, Sig: ecdsa.Sign(q.Key, digest[:]).Serialize()}
}
