package swap

import (
	"bytes"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/script"
)

// SerializeTx returns tx's serialization (witness included if any).
func SerializeTx(tx *wire.MsgTx) []byte {
	var b bytes.Buffer
	_ = tx.Serialize(&b)
	return b.Bytes()
}

// ContractFor builds the contract script of an output.
func ContractFor(hash [20]byte, hashlock, timelock *btcec.PublicKey, csv uint16) ([]byte, error) {
	s, err := (&script.Contract{Hash: hash, HashlockKey: hashlock, TimelockKey: timelock, CSV: csv}).Script()
	if err != nil {
		return nil, refuse(ErrScript, "contract: %v", err)
	}
	return s, nil
}

// CheckContractTx checks tx is exactly the contract tx of (funding, value,
// contract script) at contractFeeRate.
func CheckContractTx(tx *wire.MsgTx, funding wire.OutPoint, value int64, contractScript []byte, contractFeeRate int64) error {
	want, err := script.NewContractTx(funding, value, contractScript, ContractFee(contractFeeRate))
	if err != nil {
		return refuse(ErrContractTx, "%v", err)
	}
	for _, in := range tx.TxIn {
		if len(in.Witness) > 0 || len(in.SignatureScript) > 0 {
			return refuse(ErrContractTx, "contract tx must be sent unsigned")
		}
	}
	if !bytes.Equal(SerializeTx(tx), SerializeTx(want)) {
		return refuse(ErrContractTx, "does not spend %v paying %d to the agreed contract", funding, value-ContractFee(contractFeeRate))
	}
	return nil
}

// CheckSig verifies a counterparty's signature on a contract tx spending
// the 2-of-2 ms (value sat) with pub.
// Signatures are strict DER without the sighash byte (the wire form, also
// how records store them); SIGHASH_ALL is implied.
func CheckSig(tx *wire.MsgTx, ms []byte, value int64, pub *btcec.PublicKey, sig []byte) error {
	if err := script.VerifyInputSig(tx, 0, ms, value, script.WitnessScriptHash(ms), pub, WithSigHash(sig)); err != nil {
		return refuse(ErrSignature, "%v", err)
	}
	return nil
}

// OtherKey returns the key of the sorted 2-of-2 ms that is not mine, or
// ErrKeyNotMine when mine is not in it.
func OtherKey(ms []byte, mine *btcec.PublicKey) (*btcec.PublicKey, error) {
	lo, hi, err := script.ParseMultisig(ms)
	if err != nil {
		return nil, refuse(ErrScript, "multisig: %v", err)
	}
	switch {
	case lo.IsEqual(mine):
		return hi, nil
	case hi.IsEqual(mine):
		return lo, nil
	}
	return nil, refuse(ErrKeyNotMine, "")
}

// SignContract signs a contract tx spending the 2-of-2 ms with key and
// returns the DER signature without the sighash byte (wire form).
func SignContract(tx *wire.MsgTx, ms []byte, value int64, key *btcec.PrivateKey) ([]byte, error) {
	sig, err := script.SignInput(tx, 0, ms, value, script.WitnessScriptHash(ms), key)
	if err != nil {
		return nil, err
	}
	return sig[:len(sig)-1], nil
}

// WithSigHash appends the SIGHASH_ALL byte to a wire signature.
func WithSigHash(der []byte) []byte {
	return append(append([]byte(nil), der...), byte(script.SigHashType))
}

// MakerPolicy is what a maker checks a SetupHop against.
type MakerPolicy struct {
	MinSize, MaxSize int64
	MinLocktime      uint16
	ReactionBlocks   uint16
	// FeeRateFloor: the lowest funding fee rate accepted (from the
	// maker's own estimate × FeeRateTolerancePercent).
	FeeRateFloor int64
}

// CheckSetupTerms runs the checks of a SetupHop that need no keys:
// counts, locktimes and their gap, fee rates, the reimbursement formula,
// duplicate outpoints and the amount bounds. It returns the incoming total.
func CheckSetupTerms(m *protocol.SetupHop, p MakerPolicy) (int64, error) {
	n := len(m.Incoming)
	switch {
	case n < 1 || n > protocol.MaxFundingTxs:
		return 0, refuse(ErrTxCount, "%d incoming outputs", n)
	case len(m.Outgoing) != n:
		return 0, refuse(ErrTxCount, "%d outgoing keys for %d incoming outputs", len(m.Outgoing), n)
	case m.InLocktime > MaxLocktime:
		return 0, refuse(ErrLocktime, "incoming locktime %d > %d", m.InLocktime, MaxLocktime)
	case m.InLocktime < p.MinLocktime:
		return 0, refuse(ErrLocktime, "incoming locktime %d < our minimum %d", m.InLocktime, p.MinLocktime)
	case m.OutLocktime < MinReactionBlocks:
		return 0, refuse(ErrLocktime, "outgoing locktime %d < %d", m.OutLocktime, MinReactionBlocks)
	case m.InLocktime < m.OutLocktime || m.InLocktime-m.OutLocktime < p.ReactionBlocks:
		return 0, refuse(ErrReactionTime, "gap %d−%d < %d blocks", m.InLocktime, m.OutLocktime, p.ReactionBlocks)
	}
	if err := CheckFeeRate(int64(m.FundingFeeRate)); err != nil {
		return 0, err
	}
	if err := CheckFeeRate(int64(m.ContractFeeRate)); err != nil {
		return 0, err
	}
	if int64(m.FundingFeeRate) < p.FeeRateFloor {
		return 0, refuse(ErrFeeRate, "funding fee rate %d below our floor %d sat/kvB", m.FundingFeeRate, p.FeeRateFloor)
	}
	if m.ContractFeeRate < m.FundingFeeRate {
		return 0, refuse(ErrFeeRate, "contract fee rate %d below the funding fee rate %d", m.ContractFeeRate, m.FundingFeeRate)
	}
	if want := Reimbursement(n, int64(m.FundingFeeRate)); m.Reimbursement != want {
		return 0, refuse(ErrReimbursement, "%d, formula gives %d", m.Reimbursement, want)
	}
	seen := map[wire.OutPoint]bool{}
	var total int64
	for i := range m.Incoming {
		in := &m.Incoming[i]
		if seen[in.FundingOutPoint] {
			return 0, refuse(ErrDuplicate, "%v", in.FundingOutPoint)
		}
		seen[in.FundingOutPoint] = true
		if in.FundingValue < MinOutputValue {
			return 0, refuse(ErrAmount, "output %d of %d sat < %d", i, in.FundingValue, MinOutputValue)
		}
		total += in.FundingValue
	}
	if total < p.MinSize || total > p.MaxSize {
		return 0, refuse(ErrAmount, "%d sat outside [%d, %d]", total, p.MinSize, p.MaxSize)
	}
	return total, nil
}
