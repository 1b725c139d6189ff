package script

import (
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// pkScript lengths of the output types we build.
const (
	// P2WPKHPkScriptLen: OP_0 + push 20 + 20-byte key hash.
	P2WPKHPkScriptLen = 22
	// P2WSHPkScriptLen: OP_0 + push 32 + 32-byte script hash.
	P2WSHPkScriptLen = 34
)

// Transaction weights (BIP141: weight = 4·non-witness bytes + witness bytes,
// vsize = ⌈weight/4⌉). Signatures are counted at their maximum policy size,
// 72 bytes: DER with a 33-byte r and a low-S (≤ 32-byte) s is 6+33+32 = 71,
// plus the sighash byte. Estimates are therefore upper bounds (real
// signatures are usually 71 bytes).
//
// Every input has the same non-witness part: outpoint 36 + empty scriptSig
// length 1 + nSequence 4 = 41 bytes = 164 WU. Witness parts (item count 1 +
// each item's length prefix and bytes):
const (
	// TxOverheadWeight: version 4 + input count 1 + output count 1 +
	// nLockTime 4 = 10 bytes (40 WU) + segwit marker and flag (2 WU).
	// Counts ≥ 253 take 2 more bytes; EstimateWeight accounts for it.
	TxOverheadWeight = 42
	// inputBaseWeight is the non-witness part of every input (41 bytes).
	inputBaseWeight = 41 * 4

	// P2WPKHInputWeight: 164 + 1 + (1+72 sig) + (1+33 pubkey) = 272 (68 vB).
	P2WPKHInputWeight = inputBaseWeight + 1 + 73 + 34
	// MultisigInputWeight (2-of-2 P2WSH): 164 + 1 + 1 (empty) + 2·(1+72)
	// + (1+71 script) = 384 (96 vB).
	MultisigInputWeight = inputBaseWeight + 1 + 1 + 2*73 + 1 + MultisigScriptLen
	// HashlockInputWeight: 164 + 1 + (1+72 sig) + (1+32 preimage)
	// + (1+105 script, CSV push of up to 4 bytes) = 377 (94.25 vB).
	HashlockInputWeight = inputBaseWeight + 1 + 73 + 1 + PreimageLen + 1 + MaxContractLen
	// TimelockInputWeight: 164 + 1 + (1+72 sig) + (1+105 script) = 344 (86 vB).
	TimelockInputWeight = inputBaseWeight + 1 + 73 + 1 + MaxContractLen
	// BondInputWeight: 164 + 1 + (1+72 sig) + (1+41 script: push 33-byte key,
	// OP_CHECKSIGVERIFY, push of a ≤4-byte height, OP_CLTV) = 280 (70 vB).
	BondInputWeight = inputBaseWeight + 1 + 73 + 1 + MaxBondScriptLen

	// P2WPKHOutputWeight: value 8 + length 1 + 22 = 31 bytes = 124 WU (31 vB).
	P2WPKHOutputWeight = (8 + 1 + P2WPKHPkScriptLen) * 4
	// P2WSHOutputWeight: value 8 + length 1 + 34 = 43 bytes = 172 WU (43 vB).
	// A P2TR output has the same size.
	P2WSHOutputWeight = (8 + 1 + P2WSHPkScriptLen) * 4
)

// The same sizes in virtual bytes, rounded up (for quick estimates and
// documentation; EstimateVSize sums weights and rounds once).
const (
	TxOverheadVSize    = (TxOverheadWeight + 3) / 4    // 11
	P2WPKHInputVSize   = (P2WPKHInputWeight + 3) / 4   // 68
	MultisigInputVSize = (MultisigInputWeight + 3) / 4 // 96
	HashlockInputVSize = (HashlockInputWeight + 3) / 4 // 95
	TimelockInputVSize = (TimelockInputWeight + 3) / 4 // 86
	BondInputVSize     = (BondInputWeight + 3) / 4     // 70
	P2WPKHOutputVSize  = P2WPKHOutputWeight / 4        // 31
	P2WSHOutputVSize   = P2WSHOutputWeight / 4         // 43
)

// InputKind names the input types whose size we know in advance.
type InputKind uint8

// Input kinds for EstimateVSize.
const (
	InputP2WPKH   InputKind = iota // single-key wallet coin
	InputMultisig                  // 2-of-2 funding output (contract tx, cooperative sweep)
	InputHashlock                  // contract output, hashlock branch
	InputTimelock                  // contract output, timelock branch
	InputBond                      // fidelity bond redemption
)

// Weight returns the maximum weight of an input of this kind (0 if unknown).
func (k InputKind) Weight() int64 {
	switch k {
	case InputP2WPKH:
		return P2WPKHInputWeight
	case InputMultisig:
		return MultisigInputWeight
	case InputHashlock:
		return HashlockInputWeight
	case InputTimelock:
		return TimelockInputWeight
	case InputBond:
		return BondInputWeight
	}
	return 0
}

// OutputWeight returns the weight of an output paying pkScript.
func OutputWeight(pkScript []byte) int64 {
	return int64(8+wire.VarIntSerializeSize(uint64(len(pkScript)))+len(pkScript)) * 4
}

// EstimateWeight returns the maximum weight of a segwit transaction with
// the given inputs and outputs (output pkScripts are known exactly).
func EstimateWeight(inputs []InputKind, outputPkScripts [][]byte) int64 {
	w := int64(TxOverheadWeight)
	// Extra bytes of the input/output count varints beyond 1 byte each.
	w += int64(wire.VarIntSerializeSize(uint64(len(inputs)))-1) * 4
	w += int64(wire.VarIntSerializeSize(uint64(len(outputPkScripts)))-1) * 4
	for _, in := range inputs {
		w += in.Weight()
	}
	for _, pk := range outputPkScripts {
		w += OutputWeight(pk)
	}
	return w
}

// EstimateVSize returns ⌈EstimateWeight/4⌉, the virtual size to pay fees for.
func EstimateVSize(inputs []InputKind, outputPkScripts [][]byte) int64 {
	return (EstimateWeight(inputs, outputPkScripts) + 3) / 4
}

// TxVSize returns the exact virtual size of a (signed) transaction:
// ⌈(3·stripped size + total size)/4⌉.
func TxVSize(tx *wire.MsgTx) int64 {
	return (int64(tx.SerializeSizeStripped())*3 + int64(tx.SerializeSize()) + 3) / 4
}

// FeeForVSize returns the fee in satoshis for vsize virtual bytes at
// satPerKVB satoshis per 1000 virtual bytes, rounded up so the rate is never
// below the requested one (node fee floors are ≥ comparisons).
func FeeForVSize(vsize, satPerKVB int64) int64 {
	if vsize <= 0 || satPerKVB <= 0 {
		return 0
	}
	return (vsize*satPerKVB + 999) / 1000
}

// Dust limits at Bitcoin Core's default dust relay fee of 3000 sat/kvB
// (GetDustThreshold): 3 × (output size + size of the input that would spend
// it), where a segwit input counts 32+4+1+⌊107/4⌋+4 = 67 bytes and a legacy
// one 32+4+1+107+4 = 148 bytes.
const (
	dustRelayFeeSatPerKVB = 3000
	// DustP2WPKH = 3 × (31 + 67) = 294 sat.
	DustP2WPKH = (8 + 1 + P2WPKHPkScriptLen + 67) * dustRelayFeeSatPerKVB / 1000
	// DustP2WSH = 3 × (43 + 67) = 330 sat (also P2TR).
	DustP2WSH = (8 + 1 + P2WSHPkScriptLen + 67) * dustRelayFeeSatPerKVB / 1000
)

// DustLimit returns the smallest non-dust value of an output paying
// pkScript, by Core's rule above (0 for provably unspendable OP_RETURN
// outputs, which are exempt).
func DustLimit(pkScript []byte) int64 {
	if len(pkScript) > 0 && pkScript[0] == txscript.OP_RETURN {
		return 0
	}
	size := int64(8 + wire.VarIntSerializeSize(uint64(len(pkScript))) + len(pkScript))
	if txscript.IsWitnessProgram(pkScript) {
		size += 67
	} else {
		size += 148
	}
	return size * dustRelayFeeSatPerKVB / 1000
}
