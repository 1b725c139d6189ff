package regtest

import (
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
)

const (
	// p2wpkhInputVBytes upper-bounds a P2WPKH input: 41 bytes outpoint +
	// sequence + empty scriptSig, plus a witness of ≤ 108 bytes (count,
	// 73-byte DER signature, 33-byte key) / 4 = 27: 68 vB.
	p2wpkhInputVBytes = 68
	// txOverheadVBytes: version 4 + locktime 4 + in/out counts 2 + segwit
	// marker and flag 2/4 = 10.5, rounded up.
	txOverheadVBytes = 11
	// faucetDustChange: change below this is left to the fee rather than
	// creating an output near the 294-sat P2WPKH dust limit.
	faucetDustChange = 1000
)

func p2wpkhScript(a btcutil.Address) []byte {
	pk, err := txscript.PayToAddrScript(a)
	if err != nil {
		panic(err)
	}
	return pk
}

// Fund pays amount to addr from the faucet's mature coinbase outputs and
// broadcasts the transaction (not mined: call Mine). Change goes back to the
// faucet address (and is not reused). Safe for concurrent use.
func (n *Node) Fund(ctx context.Context, addr btcutil.Address, amount btcutil.Amount) (*wire.MsgTx, error) {
	pk, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("regtest: fund: %w", err)
	}
	return n.FundScript(ctx, pk, amount)
}

// FundScript is Fund to a raw output script (P2WSH contracts, bonds...).
func (n *Node) FundScript(ctx context.Context, pkScript []byte, amount btcutil.Amount) (*wire.MsgTx, error) {
	if amount <= 0 {
		return nil, errors.New("regtest: fund: amount must be positive")
	}
	n.mu.Lock()
	defer n.mu.Unlock()

	tip, _, err := n.direct.Tip(ctx)
	if err != nil {
		return nil, err
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxOut(wire.NewTxOut(int64(amount), pkScript))
	changePk := n.faucetPk
	outVBytes := int64(0)
	for _, o := range tx.TxOut {
		outVBytes += int64(o.SerializeSize())
	}
	outVBytes += int64(wire.NewTxOut(0, changePk).SerializeSize())

	var (
		used  int
		in    int64
		fee   int64
		prevs = map[wire.OutPoint]*wire.TxOut{}
	)
	for {
		if used == len(n.coins) {
			ok, err := n.discoverCoin(ctx, tip)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			continue
		}
		c := n.coins[used]
		used++
		tx.AddTxIn(wire.NewTxIn(&c.op, nil, nil))
		prevs[c.op] = wire.NewTxOut(c.value, n.faucetPk)
		in += c.value
		fee = (txOverheadVBytes + outVBytes + p2wpkhInputVBytes*int64(len(tx.TxIn))) * FaucetFeeRate
		if in >= int64(amount)+fee {
			break
		}
	}
	if in < int64(amount)+fee {
		return nil, fmt.Errorf("regtest: fund %v: %w", amount, ErrFaucetEmpty)
	}
	if change := in - int64(amount) - fee; change >= faucetDustChange {
		tx.AddTxOut(wire.NewTxOut(change, changePk))
	}

	fetcher := txscript.NewMultiPrevOutFetcher(prevs)
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, txIn := range tx.TxIn {
		prev := prevs[txIn.PreviousOutPoint]
		w, err := txscript.WitnessSignature(tx, sigHashes, i, prev.Value, prev.PkScript,
			txscript.SigHashAll, n.faucetKey, true)
		if err != nil {
			return nil, fmt.Errorf("regtest: fund: signing: %w", err)
		}
		txIn.Witness = w
	}
	for i, txIn := range tx.TxIn {
		prev := prevs[txIn.PreviousOutPoint]
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, sigHashes, prev.Value, fetcher)
		if err != nil {
			return nil, err
		}
		if err := vm.Execute(); err != nil {
			return nil, fmt.Errorf("regtest: fund: input %d does not verify: %w", i, err)
		}
	}
	if vs := mempool.GetTxVirtualSize(btcutil.NewTx(tx)); fee < vs*FaucetFeeRate/2 {
		return nil, fmt.Errorf("regtest: fund: fee %d too low for %d vB (estimate bug)", fee, vs)
	}

	if _, err := n.direct.Broadcast(ctx, tx); err != nil {
		if errors.Is(err, chain.ErrMissingInputs) || errors.Is(err, chain.ErrDoubleSpend) {
			// A coin went away (reorg, or spent outside the faucet):
			// forget the coins we tried so the next call moves on.
			n.coins = n.coins[used:]
		}
		return nil, fmt.Errorf("regtest: fund: %w", err)
	}
	n.coins = n.coins[used:]
	n.log.Debug("faucet paid", "txid", tx.TxHash(), "amount", amount, "inputs", len(tx.TxIn))
	return tx, nil
}

// discoverCoin appends the faucet coinbase outputs of the next mature block
// the faucet has not looked at; false when no mature block is left.
func (n *Node) discoverCoin(ctx context.Context, tip int32) (bool, error) {
	for ; n.nextHeight+CoinbaseMaturity <= tip; n.nextHeight++ {
		h, err := n.direct.BlockHash(ctx, n.nextHeight)
		if err != nil {
			return false, err
		}
		b, err := n.direct.Block(ctx, h)
		if err != nil {
			return false, err
		}
		cb := b.Transactions[0]
		found := false
		for i, out := range cb.TxOut {
			if string(out.PkScript) == string(n.faucetPk) && out.Value > 0 {
				n.coins = append(n.coins, faucetCoin{
					op: wire.OutPoint{Hash: cb.TxHash(), Index: uint32(i)}, value: out.Value, height: n.nextHeight})
				found = true
			}
		}
		if found {
			n.nextHeight++
			return true, nil
		}
	}
	return false, nil
}

// Faucet returns the faucet's address (the mining address).
func (n *Node) Faucet() btcutil.Address { return n.faucetAddr }
