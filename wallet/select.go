package wallet

import (
	"sort"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/script"
)

// candidate is a coin coin selection may use.
type candidate struct {
	op    wire.OutPoint
	value int64
	kind  script.InputKind
}

// selection is the result of coin selection: inputs, the change value (0 =
// no change output) and the fee the transaction pays.
type selection struct {
	inputs []candidate
	change int64
	fee    int64
}

// selectParams describe the transaction around the inputs.
type selectParams struct {
	// outputs are the payment outputs (their values sum to target).
	outputs []*wire.TxOut
	// changePkScript is the pkScript a change output would pay (sizes only).
	changePkScript []byte
	// feeRate in sat per 1000 vbytes.
	feeRate int64
	// sendMax: spend every candidate, no change; the single output in outputs
	// receives everything after the fee.
	sendMax bool
}

func (p *selectParams) weight(inputs []candidate, withChange bool) int64 {
	kinds := make([]script.InputKind, len(inputs))
	for i, c := range inputs {
		kinds[i] = c.kind
	}
	pks := make([][]byte, 0, len(p.outputs)+1)
	for _, o := range p.outputs {
		pks = append(pks, o.PkScript)
	}
	if withChange {
		pks = append(pks, p.changePkScript)
	}
	return script.EstimateWeight(kinds, pks)
}

func (p *selectParams) fee(inputs []candidate, withChange bool) int64 {
	return script.FeeForVSize((p.weight(inputs, withChange)+3)/4, p.feeRate)
}

// selectCoins chooses inputs for a payment of target sat.
//
// Coins are compared by effective value (value minus the fee of spending
// them at feeRate); a coin worth less than its own input fee is never used.
// First, the smallest single coin that pays target + fee without a change
// output and wastes less than a change output would cost is taken (no change
// output: cheaper and no change to link). Otherwise coins are added largest
// first until they cover target, fee and a change output of at least the dust
// limit; if the remainder after the fee is too small for a change output
// (below dust + its own fee), it goes to the fee instead. Largest-first keeps
// the input count, and so the fee, low on a Raspberry Pi-sized wallet; it
// does not try to minimise the UTXO set (a later optimisation).
func selectCoins(cands []candidate, target int64, p selectParams) (selection, error) {
	inFee := func(c candidate) int64 { return script.FeeForVSize((c.kind.Weight()+3)/4, p.feeRate) }
	usable := make([]candidate, 0, len(cands))
	var have int64
	for _, c := range cands {
		if c.value-inFee(c) > 0 {
			usable = append(usable, c)
			have += c.value
		}
	}
	if p.sendMax {
		if len(usable) == 0 {
			return selection{}, &InsufficientFundsError{Need: btcutil.Amount(p.fee(nil, false) + 1)}
		}
		fee := p.fee(usable, false)
		return selection{inputs: usable, fee: fee}, nil
	}
	dustChange := script.DustLimit(p.changePkScript)
	// Cost of adding a change output now, at this fee rate.
	changeCost := script.FeeForVSize((script.OutputWeight(p.changePkScript)+3)/4, p.feeRate)

	// 1. A single coin without change.
	sort.Slice(usable, func(i, j int) bool { return usable[i].value < usable[j].value })
	for _, c := range usable {
		one := []candidate{c}
		fee := p.fee(one, false)
		if c.value < target+fee {
			continue
		}
		if c.value-target-fee < changeCost+dustChange {
			return selection{inputs: one, fee: c.value - target}, nil // the remainder is fee
		}
		break // larger coins waste even more without change
	}
	// 2. Largest first.
	var chosen []candidate
	var sum int64
	for i := len(usable) - 1; i >= 0; i-- {
		chosen = append(chosen, usable[i])
		sum += usable[i].value
		feeNoChange := p.fee(chosen, false)
		if sum < target+feeNoChange {
			continue
		}
		feeChange := p.fee(chosen, true)
		if change := sum - target - feeChange; change >= dustChange {
			return selection{inputs: chosen, change: change, fee: feeChange}, nil
		}
		// Too little left for a change output: it becomes fee.
		return selection{inputs: chosen, fee: sum - target}, nil
	}
	need := target + p.fee(usable, true)
	if need <= have {
		// Only reachable when rounding differs; ask for one more sat.
		need = have + 1
	}
	return selection{}, &InsufficientFundsError{Need: btcutil.Amount(need), Have: btcutil.Amount(have)}
}
