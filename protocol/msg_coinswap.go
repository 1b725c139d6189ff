package protocol

import (
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"
)

// CoinSwap messages (taker ↔ maker), after coinswap-reference.md §2.2 with
// these changes: every message that belongs to a swap starts with its
// SwapID; floats became integers (fees in parts per billion, fee rates in
// sat/kvB); a ProofOfFunding no longer carries a merkle proof (the maker
// checks the funding output on its own node); next-hop nonces are NOT sent
// to the previous maker (the taker keeps them and hands them to the maker
// they belong to; the previous maker could check nothing with them).
// The hello is the generic Hello. Flow and checks: coinswap-reference §2.6.

// OfferRequest asks a maker for its current Offer. Empty payload.
type OfferRequest struct{}

func (m *OfferRequest) Type() MessageType    { return TypeOfferRequest }
func (m *OfferRequest) MaxPayload() uint32   { return 0 }
func (m *OfferRequest) Encode(*Writer) error { return nil }
func (m *OfferRequest) Decode(*Reader) error { return nil }

// Offer is a maker's terms. The fee for a swap of amount A (sat) with a
// refund locktime of L blocks is
//
//	BaseFee + A·AmountFeePPB/1e9 + A·L·TimeFeePPB/1e9   (integer, rounded up)
//
//	u64 BaseFee | u32 AmountFeePPB | u32 TimeFeePPB | u64 MinSize |
//	u64 MaxSize | u16 MinLocktime | u32 RequiredConfirms |
//	[33] TweakablePoint | FidelityProof
type Offer struct {
	BaseFee          int64  // sat
	AmountFeePPB     uint32 // parts per billion of the amount
	TimeFeePPB       uint32 // parts per billion of the amount, per block of refund locktime
	MinSize          int64  // sat
	MaxSize          int64  // sat
	MinLocktime      uint16 // minimum refund locktime (CSV blocks) the maker accepts
	RequiredConfirms uint32 // confirmations the maker needs on incoming funding
	TweakablePoint   *btcec.PublicKey
	Fidelity         FidelityProof
}

const maxOfferPayload = amountSize + 4 + 4 + amountSize + amountSize + 2 + 4 + PubKeySize + maxFidelityProofSize

func (m *Offer) Type() MessageType  { return TypeOffer }
func (m *Offer) MaxPayload() uint32 { return maxOfferPayload }

func (m *Offer) Encode(w *Writer) error {
	w.Amount("BaseFee", m.BaseFee)
	w.U32(m.AmountFeePPB)
	w.U32(m.TimeFeePPB)
	w.Amount("MinSize", m.MinSize)
	w.Amount("MaxSize", m.MaxSize)
	w.U16(m.MinLocktime)
	w.U32(m.RequiredConfirms)
	w.PubKey("TweakablePoint", m.TweakablePoint)
	m.Fidelity.encode(w, "Fidelity.")
	return w.Err()
}

func (m *Offer) Decode(r *Reader) error {
	m.BaseFee = r.Amount("BaseFee")
	m.AmountFeePPB = r.U32("AmountFeePPB")
	m.TimeFeePPB = r.U32("TimeFeePPB")
	m.MinSize = r.Amount("MinSize")
	m.MaxSize = r.Amount("MaxSize")
	m.MinLocktime = r.U16("MinLocktime")
	m.RequiredConfirms = r.U32("RequiredConfirms")
	m.TweakablePoint = r.PubKey("TweakablePoint")
	m.Fidelity.decode(r, "Fidelity.")
	return r.Err()
}

// ContractTxInfoForSender is one funding output's contract the sender
// asks the receiver (maker) to sign. The nonces tweak the maker's
// tweakable point into its multisig and hashlock keys.
//
//	[32] MultisigNonce | [32] HashlockNonce | [33] TimelockPubKey |
//	tx SendersContractTx (≤ MaxContractTxSize) | script MultisigRedeemScript |
//	u64 FundingValue
type ContractTxInfoForSender struct {
	MultisigNonce        *btcec.PrivateKey
	HashlockNonce        *btcec.PrivateKey
	TimelockPubKey       *btcec.PublicKey
	SendersContractTx    *wire.MsgTx
	MultisigRedeemScript []byte
	FundingValue         int64 // sat
}

const (
	maxContractTxInfoForSender = ScalarSize*2 + PubKeySize + maxContractTxField + maxScriptField + amountSize
	minContractTxInfoForSender = ScalarSize*2 + PubKeySize + u32Size + minTxSize + u16Size + amountSize
)

// ReqContractSigsForSender asks the receiver of a hop to sign the sender's
// contract transactions.
//
//	[16] SwapID | [20] Hash | u16 Locktime | u16 count ≤ MaxFundingTxs,
//	then ContractTxInfoForSender × count
type ReqContractSigsForSender struct {
	SwapID   SwapID
	Hash     [Hash160Size]byte // HASH160(preimage)
	Locktime uint16            // contract CSV locktime, blocks
	TxsInfo  []ContractTxInfoForSender
}

const maxReqContractSigsForSenderPayload = SwapIDSize + Hash160Size + 2 + u16Size + MaxFundingTxs*maxContractTxInfoForSender

func (m *ReqContractSigsForSender) Type() MessageType { return TypeReqContractSigsForSender }
func (m *ReqContractSigsForSender) MaxPayload() uint32 {
	return maxReqContractSigsForSenderPayload
}

func (m *ReqContractSigsForSender) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Fixed(m.Hash[:])
	w.U16(m.Locktime)
	w.Count("TxsInfo", len(m.TxsInfo), MaxFundingTxs)
	for i := range m.TxsInfo {
		t := &m.TxsInfo[i]
		w.SetIndex(i)
		w.Scalar("TxsInfo[].MultisigNonce", t.MultisigNonce)
		w.Scalar("TxsInfo[].HashlockNonce", t.HashlockNonce)
		w.PubKey("TxsInfo[].TimelockPubKey", t.TimelockPubKey)
		w.Tx("TxsInfo[].SendersContractTx", t.SendersContractTx, MaxContractTxSize)
		w.Script("TxsInfo[].MultisigRedeemScript", t.MultisigRedeemScript)
		w.Amount("TxsInfo[].FundingValue", t.FundingValue)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *ReqContractSigsForSender) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	r.Fixed("Hash", m.Hash[:])
	m.Locktime = r.U16("Locktime")
	if n := r.Count("TxsInfo", MaxFundingTxs, minContractTxInfoForSender); n > 0 {
		m.TxsInfo = make([]ContractTxInfoForSender, n)
	}
	for i := range m.TxsInfo {
		if r.err != nil {
			break
		}
		t := &m.TxsInfo[i]
		r.SetIndex(i)
		t.MultisigNonce = r.Scalar("TxsInfo[].MultisigNonce")
		t.HashlockNonce = r.Scalar("TxsInfo[].HashlockNonce")
		t.TimelockPubKey = r.PubKey("TxsInfo[].TimelockPubKey")
		t.SendersContractTx = r.Tx("TxsInfo[].SendersContractTx", MaxContractTxSize)
		t.MultisigRedeemScript = r.Script("TxsInfo[].MultisigRedeemScript")
		t.FundingValue = r.Amount("TxsInfo[].FundingValue")
	}
	r.SetIndex(-1)
	return r.Err()
}

// sigList encodes a list of ≤ MaxFundingTxs DER signatures.
const (
	maxSigList = u16Size + MaxFundingTxs*maxSigField
	minSigElem = u16Size + MinSigLen
)

func encodeSigs(w *Writer, field string, sigs [][]byte) {
	w.Count(field, len(sigs), MaxFundingTxs)
	for i, s := range sigs {
		w.SetIndex(i)
		w.Sig(field+"[]", s)
	}
	w.SetIndex(-1)
}

func decodeSigs(r *Reader, field string) [][]byte {
	n := r.Count(field, MaxFundingTxs, minSigElem)
	if n == 0 {
		return nil
	}
	sigs := make([][]byte, n)
	for i := range sigs {
		r.SetIndex(i)
		sigs[i] = r.Sig(field + "[]")
	}
	r.SetIndex(-1)
	return sigs
}

// RespContractSigsForSender carries the receiver's signatures on the
// sender's contract transactions, in request order.
//
//	[16] SwapID | u16 count ≤ MaxFundingTxs, then sig × count
type RespContractSigsForSender struct {
	SwapID SwapID
	Sigs   [][]byte // strict DER, no sighash byte
}

func (m *RespContractSigsForSender) Type() MessageType  { return TypeRespContractSigsForSender }
func (m *RespContractSigsForSender) MaxPayload() uint32 { return SwapIDSize + maxSigList }

func (m *RespContractSigsForSender) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	encodeSigs(w, "Sigs", m.Sigs)
	return w.Err()
}

func (m *RespContractSigsForSender) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	m.Sigs = decodeSigs(r, "Sigs")
	return r.Err()
}

// FundingTxInfo proves one funding output of the previous hop.
//
//	tx FundingTx (≤ MaxFundingTxSize) | script MultisigRedeemScript |
//	[32] MultisigNonce | script ContractRedeemScript | [32] HashlockNonce
type FundingTxInfo struct {
	FundingTx            *wire.MsgTx
	MultisigRedeemScript []byte
	MultisigNonce        *btcec.PrivateKey
	ContractRedeemScript []byte
	HashlockNonce        *btcec.PrivateKey
}

const (
	maxFundingTxInfo = maxFundingTxField + maxScriptField + ScalarSize + maxScriptField + ScalarSize
	minFundingTxInfo = u32Size + minTxSize + u16Size + ScalarSize + u16Size + ScalarSize
)

// NextHopInfo gives the maker the keys of its outgoing hop's receiver,
// derived by the taker from the next maker's tweakable point.
//
//	[33] NextMultisigPubKey | [33] NextHashlockPubKey
type NextHopInfo struct {
	NextMultisigPubKey *btcec.PublicKey
	NextHashlockPubKey *btcec.PublicKey
}

const nextHopInfoSize = 2 * PubKeySize

// ProofOfFunding tells a maker its incoming funding is confirmed and what
// its outgoing hop must look like.
//
//	[16] SwapID | u16 count ≤ MaxFundingTxs, FundingTxInfo × count |
//	u16 count ≤ MaxFundingTxs, NextHopInfo × count | u16 RefundLocktime |
//	u32 ContractFeeRate (sat/kvB)
type ProofOfFunding struct {
	SwapID          SwapID
	FundingTxs      []FundingTxInfo
	NextHops        []NextHopInfo
	RefundLocktime  uint16 // outgoing contract CSV locktime, blocks
	ContractFeeRate uint32 // sat/kvB
}

const maxProofOfFundingPayload = SwapIDSize + u16Size + MaxFundingTxs*maxFundingTxInfo +
	u16Size + MaxFundingTxs*nextHopInfoSize + 2 + 4

func (m *ProofOfFunding) Type() MessageType  { return TypeProofOfFunding }
func (m *ProofOfFunding) MaxPayload() uint32 { return maxProofOfFundingPayload }

func (m *ProofOfFunding) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Count("FundingTxs", len(m.FundingTxs), MaxFundingTxs)
	for i := range m.FundingTxs {
		f := &m.FundingTxs[i]
		w.SetIndex(i)
		w.Tx("FundingTxs[].FundingTx", f.FundingTx, MaxFundingTxSize)
		w.Script("FundingTxs[].MultisigRedeemScript", f.MultisigRedeemScript)
		w.Scalar("FundingTxs[].MultisigNonce", f.MultisigNonce)
		w.Script("FundingTxs[].ContractRedeemScript", f.ContractRedeemScript)
		w.Scalar("FundingTxs[].HashlockNonce", f.HashlockNonce)
	}
	w.SetIndex(-1)
	w.Count("NextHops", len(m.NextHops), MaxFundingTxs)
	for i := range m.NextHops {
		w.SetIndex(i)
		w.PubKey("NextHops[].NextMultisigPubKey", m.NextHops[i].NextMultisigPubKey)
		w.PubKey("NextHops[].NextHashlockPubKey", m.NextHops[i].NextHashlockPubKey)
	}
	w.SetIndex(-1)
	w.U16(m.RefundLocktime)
	w.U32(m.ContractFeeRate)
	return w.Err()
}

func (m *ProofOfFunding) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	if n := r.Count("FundingTxs", MaxFundingTxs, minFundingTxInfo); n > 0 {
		m.FundingTxs = make([]FundingTxInfo, n)
	}
	for i := range m.FundingTxs {
		if r.err != nil {
			break
		}
		f := &m.FundingTxs[i]
		r.SetIndex(i)
		f.FundingTx = r.Tx("FundingTxs[].FundingTx", MaxFundingTxSize)
		f.MultisigRedeemScript = r.Script("FundingTxs[].MultisigRedeemScript")
		f.MultisigNonce = r.Scalar("FundingTxs[].MultisigNonce")
		f.ContractRedeemScript = r.Script("FundingTxs[].ContractRedeemScript")
		f.HashlockNonce = r.Scalar("FundingTxs[].HashlockNonce")
	}
	r.SetIndex(-1)
	if n := r.Count("NextHops", MaxFundingTxs, nextHopInfoSize); n > 0 {
		m.NextHops = make([]NextHopInfo, n)
	}
	for i := range m.NextHops {
		if r.err != nil {
			break
		}
		r.SetIndex(i)
		m.NextHops[i].NextMultisigPubKey = r.PubKey("NextHops[].NextMultisigPubKey")
		m.NextHops[i].NextHashlockPubKey = r.PubKey("NextHops[].NextHashlockPubKey")
	}
	r.SetIndex(-1)
	m.RefundLocktime = r.U16("RefundLocktime")
	m.ContractFeeRate = r.U32("ContractFeeRate")
	return r.Err()
}

// SenderContractTxInfo describes one of the maker's outgoing contracts,
// which the taker gets signed by the next receiver.
//
//	tx ContractTx (≤ MaxContractTxSize) | [33] TimelockPubKey |
//	script MultisigRedeemScript | u64 FundingAmount | tx FundingTx (≤ MaxFundingTxSize)
type SenderContractTxInfo struct {
	ContractTx           *wire.MsgTx
	TimelockPubKey       *btcec.PublicKey
	MultisigRedeemScript []byte
	FundingAmount        int64 // sat
	FundingTx            *wire.MsgTx
}

const (
	maxSenderContractTxInfo = maxContractTxField + PubKeySize + maxScriptField + amountSize + maxFundingTxField
	minSenderContractTxInfo = u32Size + minTxSize + PubKeySize + u16Size + amountSize + u32Size + minTxSize
	minTxField              = u32Size + minTxSize
)

// ReqContractSigsAsRecvrAndSender is the maker's answer to a
// ProofOfFunding: its receiver copies of the incoming contracts (to be
// signed by the previous sender) and its outgoing contracts (to be signed
// by the next receiver).
//
//	[16] SwapID | u16 count ≤ MaxFundingTxs, tx × count |
//	u16 count ≤ MaxFundingTxs, SenderContractTxInfo × count
type ReqContractSigsAsRecvrAndSender struct {
	SwapID                 SwapID
	ReceiversContractTxs   []*wire.MsgTx
	SendersContractTxsInfo []SenderContractTxInfo
}

const maxReqContractSigsAsRecvrAndSenderPayload = SwapIDSize + u16Size + MaxFundingTxs*maxContractTxField +
	u16Size + MaxFundingTxs*maxSenderContractTxInfo

func (m *ReqContractSigsAsRecvrAndSender) Type() MessageType {
	return TypeReqContractSigsAsRecvrAndSender
}
func (m *ReqContractSigsAsRecvrAndSender) MaxPayload() uint32 {
	return maxReqContractSigsAsRecvrAndSenderPayload
}

func (m *ReqContractSigsAsRecvrAndSender) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Count("ReceiversContractTxs", len(m.ReceiversContractTxs), MaxFundingTxs)
	for i, tx := range m.ReceiversContractTxs {
		w.SetIndex(i)
		w.Tx("ReceiversContractTxs[]", tx, MaxContractTxSize)
	}
	w.SetIndex(-1)
	w.Count("SendersContractTxsInfo", len(m.SendersContractTxsInfo), MaxFundingTxs)
	for i := range m.SendersContractTxsInfo {
		s := &m.SendersContractTxsInfo[i]
		w.SetIndex(i)
		w.Tx("SendersContractTxsInfo[].ContractTx", s.ContractTx, MaxContractTxSize)
		w.PubKey("SendersContractTxsInfo[].TimelockPubKey", s.TimelockPubKey)
		w.Script("SendersContractTxsInfo[].MultisigRedeemScript", s.MultisigRedeemScript)
		w.Amount("SendersContractTxsInfo[].FundingAmount", s.FundingAmount)
		w.Tx("SendersContractTxsInfo[].FundingTx", s.FundingTx, MaxFundingTxSize)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *ReqContractSigsAsRecvrAndSender) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	if n := r.Count("ReceiversContractTxs", MaxFundingTxs, minTxField); n > 0 {
		m.ReceiversContractTxs = make([]*wire.MsgTx, n)
	}
	for i := range m.ReceiversContractTxs {
		r.SetIndex(i)
		m.ReceiversContractTxs[i] = r.Tx("ReceiversContractTxs[]", MaxContractTxSize)
	}
	r.SetIndex(-1)
	if n := r.Count("SendersContractTxsInfo", MaxFundingTxs, minSenderContractTxInfo); n > 0 {
		m.SendersContractTxsInfo = make([]SenderContractTxInfo, n)
	}
	for i := range m.SendersContractTxsInfo {
		if r.err != nil {
			break
		}
		s := &m.SendersContractTxsInfo[i]
		r.SetIndex(i)
		s.ContractTx = r.Tx("SendersContractTxsInfo[].ContractTx", MaxContractTxSize)
		s.TimelockPubKey = r.PubKey("SendersContractTxsInfo[].TimelockPubKey")
		s.MultisigRedeemScript = r.Script("SendersContractTxsInfo[].MultisigRedeemScript")
		s.FundingAmount = r.Amount("SendersContractTxsInfo[].FundingAmount")
		s.FundingTx = r.Tx("SendersContractTxsInfo[].FundingTx", MaxFundingTxSize)
	}
	r.SetIndex(-1)
	return r.Err()
}

// RespContractSigsForRecvrAndSender answers the above: signatures for the
// maker's receiver contracts (by the previous sender) and for its sender
// contracts (by the next receiver).
//
//	[16] SwapID | sig list ReceiversSigs | sig list SendersSigs
type RespContractSigsForRecvrAndSender struct {
	SwapID        SwapID
	ReceiversSigs [][]byte
	SendersSigs   [][]byte
}

func (m *RespContractSigsForRecvrAndSender) Type() MessageType {
	return TypeRespContractSigsForRecvrAndSender
}
func (m *RespContractSigsForRecvrAndSender) MaxPayload() uint32 { return SwapIDSize + 2*maxSigList }

func (m *RespContractSigsForRecvrAndSender) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	encodeSigs(w, "ReceiversSigs", m.ReceiversSigs)
	encodeSigs(w, "SendersSigs", m.SendersSigs)
	return w.Err()
}

func (m *RespContractSigsForRecvrAndSender) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	m.ReceiversSigs = decodeSigs(r, "ReceiversSigs")
	m.SendersSigs = decodeSigs(r, "SendersSigs")
	return r.Err()
}

// ContractTxInfoForRecvr is a receiver's contract the sender is asked to
// sign.
//
//	script MultisigRedeemScript | tx ContractTx (≤ MaxContractTxSize)
type ContractTxInfoForRecvr struct {
	MultisigRedeemScript []byte
	ContractTx           *wire.MsgTx
}

const (
	maxContractTxInfoForRecvr = maxScriptField + maxContractTxField
	minContractTxInfoForRecvr = u16Size + minTxField
)

// ReqContractSigsForRecvr asks a sender to sign the receiver's contracts.
//
//	[16] SwapID | u16 count ≤ MaxFundingTxs, ContractTxInfoForRecvr × count
type ReqContractSigsForRecvr struct {
	SwapID SwapID
	Txs    []ContractTxInfoForRecvr
}

func (m *ReqContractSigsForRecvr) Type() MessageType { return TypeReqContractSigsForRecvr }
func (m *ReqContractSigsForRecvr) MaxPayload() uint32 {
	return SwapIDSize + u16Size + MaxFundingTxs*maxContractTxInfoForRecvr
}

func (m *ReqContractSigsForRecvr) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Count("Txs", len(m.Txs), MaxFundingTxs)
	for i := range m.Txs {
		w.SetIndex(i)
		w.Script("Txs[].MultisigRedeemScript", m.Txs[i].MultisigRedeemScript)
		w.Tx("Txs[].ContractTx", m.Txs[i].ContractTx, MaxContractTxSize)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *ReqContractSigsForRecvr) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	if n := r.Count("Txs", MaxFundingTxs, minContractTxInfoForRecvr); n > 0 {
		m.Txs = make([]ContractTxInfoForRecvr, n)
	}
	for i := range m.Txs {
		if r.err != nil {
			break
		}
		r.SetIndex(i)
		m.Txs[i].MultisigRedeemScript = r.Script("Txs[].MultisigRedeemScript")
		m.Txs[i].ContractTx = r.Tx("Txs[].ContractTx", MaxContractTxSize)
	}
	r.SetIndex(-1)
	return r.Err()
}

// RespContractSigsForRecvr carries the sender's signatures on the
// receiver's contracts.
//
//	[16] SwapID | sig list Sigs
type RespContractSigsForRecvr struct {
	SwapID SwapID
	Sigs   [][]byte
}

func (m *RespContractSigsForRecvr) Type() MessageType  { return TypeRespContractSigsForRecvr }
func (m *RespContractSigsForRecvr) MaxPayload() uint32 { return SwapIDSize + maxSigList }

func (m *RespContractSigsForRecvr) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	encodeSigs(w, "Sigs", m.Sigs)
	return w.Err()
}

func (m *RespContractSigsForRecvr) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	m.Sigs = decodeSigs(r, "Sigs")
	return r.Err()
}

// scriptList encodes ≤ MaxFundingTxs redeem scripts.
func encodeScripts(w *Writer, field string, s [][]byte) {
	w.Count(field, len(s), MaxFundingTxs)
	for i := range s {
		w.SetIndex(i)
		w.Script(field+"[]", s[i])
	}
	w.SetIndex(-1)
}

func decodeScripts(r *Reader, field string) [][]byte {
	n := r.Count(field, MaxFundingTxs, u16Size)
	if n == 0 {
		return nil
	}
	out := make([][]byte, n)
	for i := range out {
		r.SetIndex(i)
		out[i] = r.Script(field + "[]")
	}
	r.SetIndex(-1)
	return out
}

// HashPreimage reveals the preimage to a maker, naming the multisig
// outputs (incoming and outgoing) it settles.
//
//	[16] SwapID | script list SendersMultisigRedeemScripts |
//	script list ReceiversMultisigRedeemScripts | [32] Preimage
type HashPreimage struct {
	SwapID                         SwapID
	SendersMultisigRedeemScripts   [][]byte
	ReceiversMultisigRedeemScripts [][]byte
	Preimage                       [ScalarSize]byte
}

func (m *HashPreimage) Type() MessageType { return TypeHashPreimage }
func (m *HashPreimage) MaxPayload() uint32 {
	return SwapIDSize + 2*(u16Size+MaxFundingTxs*maxScriptField) + ScalarSize
}

func (m *HashPreimage) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	encodeScripts(w, "SendersMultisigRedeemScripts", m.SendersMultisigRedeemScripts)
	encodeScripts(w, "ReceiversMultisigRedeemScripts", m.ReceiversMultisigRedeemScripts)
	w.Fixed(m.Preimage[:])
	return w.Err()
}

func (m *HashPreimage) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	m.SendersMultisigRedeemScripts = decodeScripts(r, "SendersMultisigRedeemScripts")
	m.ReceiversMultisigRedeemScripts = decodeScripts(r, "ReceiversMultisigRedeemScripts")
	r.Fixed("Preimage", m.Preimage[:])
	return r.Err()
}

// MultisigPrivKey is one party's private key for a 2-of-2 output.
type MultisigPrivKey struct {
	MultisigRedeemScript []byte
	Key                  *btcec.PrivateKey
}

// PrivKeyHandover hands over multisig private keys, completing the swap.
//
//	[16] SwapID | u16 count ≤ MaxFundingTxs, {script, [32] key} × count
type PrivKeyHandover struct {
	SwapID SwapID
	Keys   []MultisigPrivKey
}

func (m *PrivKeyHandover) Type() MessageType { return TypePrivKeyHandover }
func (m *PrivKeyHandover) MaxPayload() uint32 {
	return SwapIDSize + u16Size + MaxFundingTxs*(maxScriptField+ScalarSize)
}

func (m *PrivKeyHandover) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Count("Keys", len(m.Keys), MaxFundingTxs)
	for i := range m.Keys {
		w.SetIndex(i)
		w.Script("Keys[].MultisigRedeemScript", m.Keys[i].MultisigRedeemScript)
		w.Scalar("Keys[].Key", m.Keys[i].Key)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *PrivKeyHandover) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	if n := r.Count("Keys", MaxFundingTxs, u16Size+ScalarSize); n > 0 {
		m.Keys = make([]MultisigPrivKey, n)
	}
	for i := range m.Keys {
		if r.err != nil {
			break
		}
		r.SetIndex(i)
		m.Keys[i].MultisigRedeemScript = r.Script("Keys[].MultisigRedeemScript")
		m.Keys[i].Key = r.Scalar("Keys[].Key")
	}
	r.SetIndex(-1)
	return r.Err()
}

// WaitingFundingConfirmation is the taker's keep-alive while funding
// confirms: it resets the maker's per-swap idle timer. No reply. Odd type:
// optional, a maker may ignore it.
//
//	[16] SwapID
type WaitingFundingConfirmation struct {
	SwapID SwapID
}

func (m *WaitingFundingConfirmation) Type() MessageType  { return TypeWaitingFundingConfirmation }
func (m *WaitingFundingConfirmation) MaxPayload() uint32 { return SwapIDSize }

func (m *WaitingFundingConfirmation) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	return w.Err()
}

func (m *WaitingFundingConfirmation) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	return r.Err()
}
