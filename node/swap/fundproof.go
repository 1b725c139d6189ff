package swap

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/script"
)

// Funding proofs (issue 10 item 1): a SetupHop reserves the maker's coins
// for funding that is not on chain yet, so every incoming output comes
// with proof that its funding tx spends real, unspent coins of the hop's
// sender (protocol.FundingProof), and a coin backs at most one unfunded
// reservation at a time. Locking a maker's liquidity then takes as much
// of one's own, for at most the unfunded lifetime, instead of nothing.
//
// What it shows the receiver: the funding tx without witnesses (its
// inputs, their keys, its change output), which it would see on chain
// once the hop is funded anyway; only earlier, and also for a swap that
// is then aborted.

// ProveFunding builds the proof for tx, a funding tx the wallet built:
// tx without its witnesses and each input's owner signature.
func ProveFunding(ctx context.Context, w *wallet.Wallet, tx *wire.MsgTx) (protocol.FundingProof, error) {
	owners, err := w.ProveFunding(ctx, tx)
	if err != nil {
		return protocol.FundingProof{}, err
	}
	bare := tx.Copy()
	for _, in := range bare.TxIn {
		in.Witness = nil
	}
	p := protocol.FundingProof{Tx: bare, Inputs: make([]protocol.InputProof, len(owners))}
	for i, o := range owners {
		p.Inputs[i] = protocol.InputProof{PubKey: o.PubKey, Sig: o.Sig}
	}
	return p, nil
}

// CheckFundingProof verifies that p proves the funding of op (value sat
// to P2WSH(ms)): p.Tx has op's txid and that output, every input is
// signed for by its owner and is an unspent P2WPKH coin of that key as
// our node sees it (confirmed or in the mempool), and the inputs hold at
// least value. It returns the coins the proof rests on. Cheapest first:
// the transaction and the signatures before the chain is asked, and the
// chain lookups stop at the first input that fails.
func CheckFundingProof(ctx context.Context, b Chain, p *protocol.FundingProof, op wire.OutPoint, value int64, ms []byte) ([]wire.OutPoint, error) {
	if p.Tx == nil || len(p.Inputs) != len(p.Tx.TxIn) {
		return nil, refuse(ErrFundingProof, "missing or incomplete")
	}
	txid := p.Tx.TxHash()
	if txid != op.Hash {
		return nil, refuse(ErrFundingProof, "transaction %v is not the funding tx of %v", txid, op)
	}
	if int(op.Index) >= len(p.Tx.TxOut) {
		return nil, refuse(ErrFundingProof, "funding tx has no output %d", op.Index)
	}
	if out := p.Tx.TxOut[op.Index]; out.Value != value || !bytes.Equal(out.PkScript, script.WitnessScriptHash(ms)) {
		return nil, refuse(ErrFundingProof, "output %d of the funding tx is not %d sat to the agreed 2-of-2", op.Index, value)
	}
	coins := make([]wire.OutPoint, len(p.Tx.TxIn))
	seen := make(map[wire.OutPoint]bool, len(coins))
	for i, in := range p.Tx.TxIn {
		coins[i] = in.PreviousOutPoint
		if seen[coins[i]] {
			return nil, refuse(ErrFundingProof, "input %d spends %v twice", i, coins[i])
		}
		seen[coins[i]] = true
		// The key's own P2WPKH script stands in for the coin's until the
		// chain is asked; the signature does not depend on it.
		pub := p.Inputs[i].PubKey
		if err := script.VerifyFundingProof(pub, script.P2WPKHPkScript(pub), txid, uint32(i), p.Inputs[i].Sig); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFundingProof, err)
		}
	}
	var total int64
	for i, c := range coins {
		out, _, err := b.UTXO(ctx, c)
		if errors.Is(err, chain.ErrNotFound) {
			return nil, refuse(ErrFundingProof, "input %d (%v) is not an unspent coin", i, c)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if !bytes.Equal(out.PkScript, script.P2WPKHPkScript(p.Inputs[i].PubKey)) {
			return nil, refuse(ErrFundingProof, "input %d (%v) is not a P2WPKH coin of the proof's key", i, c)
		}
		total += out.Value
	}
	if total < value {
		return nil, refuse(ErrFundingProof, "inputs hold %d sat, less than the %d sat output", total, value)
	}
	return coins, nil
}
