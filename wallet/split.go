package wallet

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/keys"
)

// MaxSplit bounds the outputs of one Split: each takes a fresh address of
// one branch, and a restore from the words looks GapLimit addresses
// ahead; 16 leaves room for the other addresses the branch hands out.
const MaxSplit = 16

// Split cuts coins of cat (Regular or Swept) into count outputs of value
// each, paid to fresh addresses of the same category (Regular: the change
// branch, Swept: the swept branch), plus change: a CoinJoin premix, which
// turns a coin of any size into coins a round takes. It is stored, then
// broadcast, like any send. Every output of it is ours alone, so each
// records an anonymity set of 1 (anonSet) and stays traceable until it is
// mixed; the outputs are linked to each other until then.
func (w *Wallet) Split(ctx context.Context, cat Category, count int, value btcutil.Amount, feeRate int64) (*SentTx, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	var b keys.Branch
	switch cat {
	case Regular:
		b = keys.BranchInternal
	case Swept:
		b = keys.BranchSwept
	default:
		return nil, fmt.Errorf("split: category %s: only regular or swept coins are split", cat)
	}
	if count < 1 || count > MaxSplit {
		return nil, fmt.Errorf("split: %d outputs: 1 to %d", count, MaxSplit)
	}
	if value <= 0 {
		return nil, fmt.Errorf("split: output value %d", value)
	}
	// Enough confirmed coins, before fresh addresses are handed out
	// (a refused split must not walk the branch towards its gap limit).
	bals, err := w.Balances(ctx)
	if err != nil {
		return nil, err
	}
	if need := value * btcutil.Amount(count); bals[cat].Confirmed < need {
		return nil, &InsufficientFundsError{Category: cat, Need: need, Have: bals[cat].Confirmed}
	}
	outs := make([]*wire.TxOut, 0, count)
	for range count {
		addr, err := w.NewAddress(ctx, b)
		if err != nil {
			return nil, err
		}
		pk, err := txscript.PayToAddrScript(addr)
		if err != nil {
			return nil, err
		}
		outs = append(outs, wire.NewTxOut(int64(value), pk))
	}
	return w.build(ctx, buildReq{category: cat, outputs: outs, feeRate: feeRate, status: statusPublish, label: "split"})
}
