package protocol

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// CoinSwap messages (taker ↔ maker) of the lead's swap design
// (swap-design.md; the reference's messages, coinswap-reference.md §2.2,
// were replaced). Every message that belongs to a swap starts with its
// SwapID (a different random id per maker); fees are integers (parts per
// billion, sat/kvB). Per maker and swap, over ONE connection:
//
//	RTT 1  OfferRequest            → Offer
//	RTT 2  SetupHop                → SetupHopReply   (all contracts signed, nothing funded)
//	RTT 3  FundHop                 → FundingBroadcast (maker's incoming confirmed)
//	RTT 4  Preimage                → PrivKeyHandover, then PrivKeyHandover (one-way)
//	       WaitingFundingConfirmation (one-way keep-alive), Abort (one-way, before funding)
//
// A taker that already holds the maker's offer (from the pool's offer
// book) skips RTT 1: it sends SetupHop right behind its Hello, naming the
// terms it priced the route with (SetupHop.OfferHash, Offer.TermsHash).
// A maker whose terms differ answers that SetupHop with its current
// Offer instead of a SetupHopReply, reserving nothing and keeping the
// connection open; the taker re-checks the offer and sets up again with
// it (no blame: offers change). Three round trips per maker.
//
// Contract transactions are sent unsigned (the receiver rebuilds and
// compares them); signatures are strict DER without the sighash byte
// (SIGHASH_ALL). Signed funding transactions are never sent: only their
// outpoints (segwit txids are fixed before signing).

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
//	[33] TweakablePoint | bool HasFidelity | FidelityProof (if HasFidelity)
type Offer struct {
	BaseFee          int64  // sat
	AmountFeePPB     uint32 // parts per billion of the amount
	TimeFeePPB       uint32 // parts per billion of the amount, per block of refund locktime
	MinSize          int64  // sat
	MaxSize          int64  // sat
	MinLocktime      uint16 // minimum refund locktime (CSV blocks) the maker accepts
	RequiredConfirms uint32 // confirmations the maker needs on incoming funding
	TweakablePoint   *btcec.PublicKey
	// Fidelity is the maker's bond certificate; absent (a nil BondPubKey)
	// for a maker whose pool offer is backed by an integrity fee instead
	// (node/market): such a maker is only taken from the book, where that
	// fee was verified.
	Fidelity FidelityProof
}

// HasBond reports whether the offer carries a fidelity certificate.
func (m *Offer) HasBond() bool { return m.Fidelity.BondPubKey != nil }

// TermsHash is SHA-256 of the terms a taker prices a route with, in
// Offer's encoding: BaseFee | AmountFeePPB | TimeFeePPB | MinSize |
// MinLocktime | RequiredConfirms | TweakablePoint. Left out: MaxSize
// follows the maker's liquidity (every swap and every confirmed coin
// moves it; an amount that no longer fits is refused as insufficient
// liquidity anyway) and Fidelity is re-certified with a new expiry at
// every block; hashing either would make nearly every offer from the book
// stale by the time it is used. A nil TweakablePoint hashes as 33 zeros.
func (m *Offer) TermsHash() [32]byte {
	var b [amountSize + 4 + 4 + amountSize + 2 + 4 + PubKeySize]byte
	w := NewWriter("Offer", b[:0])
	w.U64(uint64(m.BaseFee))
	w.U32(m.AmountFeePPB)
	w.U32(m.TimeFeePPB)
	w.U64(uint64(m.MinSize))
	w.U16(m.MinLocktime)
	w.U32(m.RequiredConfirms)
	if m.TweakablePoint != nil {
		w.Fixed(m.TweakablePoint.SerializeCompressed())
	} else {
		w.Fixed(make([]byte, PubKeySize))
	}
	return sha256.Sum256(w.Bytes())
}

const maxOfferPayload = amountSize + 4 + 4 + amountSize + amountSize + 2 + 4 + PubKeySize + 1 + maxFidelityProofSize

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
	w.Bool(m.HasBond())
	if m.HasBond() {
		m.Fidelity.encode(w, "Fidelity.")
	}
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
	if r.Bool("HasFidelity") {
		m.Fidelity.decode(r, "Fidelity.")
	}
	return r.Err()
}

// IncomingOutput is one funding output of the hop that pays the maker
// (hop i−1), as the maker must check and countersign it: the 2-of-2 holds
// the maker's key P+MultisigNonce·G, the contract's hashlock key is
// P+HashlockNonce·G, the timelock key is the sender's.
//
//	outpoint FundingOutPoint | u64 FundingValue | script MultisigScript |
//	[32] MultisigNonce | [32] HashlockNonce | [33] TimelockPubKey |
//	tx ContractTx (unsigned, ≤ MaxContractTxSize) | sig SenderSig |
//	FundingProof Proof
type IncomingOutput struct {
	FundingOutPoint wire.OutPoint
	FundingValue    int64 // sat
	MultisigScript  []byte
	MultisigNonce   *btcec.PrivateKey
	HashlockNonce   *btcec.PrivateKey
	TimelockPubKey  *btcec.PublicKey
	ContractTx      *wire.MsgTx
	SenderSig       []byte // the hop sender's signature on ContractTx
	// Proof: the hop sender's funding tx spends its own unspent coins.
	Proof FundingProof
}

const (
	maxIncomingOutput = OutPointSize + amountSize + maxScriptField + 2*ScalarSize + PubKeySize + maxContractTxField + maxSigField + maxFundingProof
	minIncomingOutput = OutPointSize + amountSize + u16Size + 2*ScalarSize + PubKeySize + minTxField + u16Size + MinSigLen + minFundingProof
)

func (o *IncomingOutput) encode(w *Writer) {
	w.OutPoint(o.FundingOutPoint)
	w.Amount("Incoming[].FundingValue", o.FundingValue)
	w.Script("Incoming[].MultisigScript", o.MultisigScript)
	w.Scalar("Incoming[].MultisigNonce", o.MultisigNonce)
	w.Scalar("Incoming[].HashlockNonce", o.HashlockNonce)
	w.PubKey("Incoming[].TimelockPubKey", o.TimelockPubKey)
	w.Tx("Incoming[].ContractTx", o.ContractTx, MaxContractTxSize)
	w.Sig("Incoming[].SenderSig", o.SenderSig)
	o.Proof.encode(w, "Incoming[].Proof")
}

func (o *IncomingOutput) decode(r *Reader) {
	o.FundingOutPoint = r.OutPoint("Incoming[].FundingOutPoint")
	o.FundingValue = r.Amount("Incoming[].FundingValue")
	o.MultisigScript = r.Script("Incoming[].MultisigScript")
	o.MultisigNonce = r.Scalar("Incoming[].MultisigNonce")
	o.HashlockNonce = r.Scalar("Incoming[].HashlockNonce")
	o.TimelockPubKey = r.PubKey("Incoming[].TimelockPubKey")
	o.ContractTx = r.Tx("Incoming[].ContractTx", MaxContractTxSize)
	o.SenderSig = r.Sig("Incoming[].SenderSig")
	o.Proof.decode(r, "Incoming[].Proof")
}

// NextHopKeys are the receiver's keys of one outgoing output (hop i),
// derived by the taker from the next maker's tweakable point (or the
// taker's own keys for the last hop).
//
//	[33] MultisigPubKey | [33] HashlockPubKey
type NextHopKeys struct {
	MultisigPubKey *btcec.PublicKey
	HashlockPubKey *btcec.PublicKey
}

const nextHopKeysSize = 2 * PubKeySize

// SetupHop asks a maker to accept its incoming hop and build its outgoing
// one. Nothing is funded yet. OfferHash is the TermsHash of the offer the
// taker priced the route with; when it is not the maker's current one,
// the maker answers with its current Offer (nothing reserved, connection
// kept) instead of a SetupHopReply. All zeros names no terms: the maker
// applies its own, as before OfferHash existed (the taker then catches a
// different fee as a short forwarded total).
//
//	[16] SwapID | [20] Hash | u16 InLocktime | u16 OutLocktime |
//	u32 FundingFeeRate | u32 ContractFeeRate | u64 Reimbursement |
//	[32] OfferHash |
//	u16 count ≤ MaxFundingTxs, IncomingOutput × count |
//	u16 count ≤ MaxFundingTxs, NextHopKeys × count
type SetupHop struct {
	SwapID          SwapID
	Hash            [Hash160Size]byte // HASH160(preimage)
	InLocktime      uint16            // CSV of the incoming contracts (hop i−1)
	OutLocktime     uint16            // CSV of the outgoing contracts (hop i)
	FundingFeeRate  uint32            // sat/kvB, for the reimbursement formula
	ContractFeeRate uint32            // sat/kvB of every contract tx
	Reimbursement   int64             // sat the taker pays for the maker's funding txs
	OfferHash       [32]byte          // Offer.TermsHash of the terms the taker used
	Incoming        []IncomingOutput
	Outgoing        []NextHopKeys
}

const maxSetupHopPayload = SwapIDSize + Hash160Size + 2 + 2 + 4 + 4 + amountSize + sha256.Size +
	u16Size + MaxFundingTxs*maxIncomingOutput + u16Size + MaxFundingTxs*nextHopKeysSize

func (m *SetupHop) Type() MessageType  { return TypeSetupHop }
func (m *SetupHop) MaxPayload() uint32 { return maxSetupHopPayload }

func (m *SetupHop) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Fixed(m.Hash[:])
	w.U16(m.InLocktime)
	w.U16(m.OutLocktime)
	w.U32(m.FundingFeeRate)
	w.U32(m.ContractFeeRate)
	w.Amount("Reimbursement", m.Reimbursement)
	w.Fixed(m.OfferHash[:])
	w.Count("Incoming", len(m.Incoming), MaxFundingTxs)
	for i := range m.Incoming {
		w.SetIndex(i)
		m.Incoming[i].encode(w)
	}
	w.SetIndex(-1)
	w.Count("Outgoing", len(m.Outgoing), MaxFundingTxs)
	for i := range m.Outgoing {
		w.SetIndex(i)
		w.PubKey("Outgoing[].MultisigPubKey", m.Outgoing[i].MultisigPubKey)
		w.PubKey("Outgoing[].HashlockPubKey", m.Outgoing[i].HashlockPubKey)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *SetupHop) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	r.Fixed("Hash", m.Hash[:])
	m.InLocktime = r.U16("InLocktime")
	m.OutLocktime = r.U16("OutLocktime")
	m.FundingFeeRate = r.U32("FundingFeeRate")
	m.ContractFeeRate = r.U32("ContractFeeRate")
	m.Reimbursement = r.Amount("Reimbursement")
	r.Fixed("OfferHash", m.OfferHash[:])
	if n := r.Count("Incoming", MaxFundingTxs, minIncomingOutput); n > 0 {
		m.Incoming = make([]IncomingOutput, n)
	}
	for i := range m.Incoming {
		if r.err != nil {
			break
		}
		r.SetIndex(i)
		m.Incoming[i].decode(r)
	}
	r.SetIndex(-1)
	if n := r.Count("Outgoing", MaxFundingTxs, nextHopKeysSize); n > 0 {
		m.Outgoing = make([]NextHopKeys, n)
	}
	for i := range m.Outgoing {
		if r.err != nil {
			break
		}
		r.SetIndex(i)
		m.Outgoing[i].MultisigPubKey = r.PubKey("Outgoing[].MultisigPubKey")
		m.Outgoing[i].HashlockPubKey = r.PubKey("Outgoing[].HashlockPubKey")
	}
	r.SetIndex(-1)
	return r.Err()
}

// OutgoingOutput is one funding output of the maker's outgoing hop, from
// its unsigned funding transaction (whose txid is final: segwit).
//
//	outpoint FundingOutPoint | u64 FundingValue | script MultisigScript |
//	[33] TimelockPubKey | tx ContractTx (unsigned) | sig SenderSig |
//	FundingProof Proof
type OutgoingOutput struct {
	FundingOutPoint wire.OutPoint
	FundingValue    int64
	MultisigScript  []byte
	TimelockPubKey  *btcec.PublicKey
	ContractTx      *wire.MsgTx
	SenderSig       []byte
	// Proof: the maker's funding tx spends its own unspent coins (the
	// taker passes it on to the next maker as Incoming[].Proof).
	Proof FundingProof
}

const (
	maxOutgoingOutput = OutPointSize + amountSize + maxScriptField + PubKeySize + maxContractTxField + maxSigField + maxFundingProof
	minOutgoingOutput = OutPointSize + amountSize + u16Size + PubKeySize + minTxField + u16Size + MinSigLen + minFundingProof
)

// SetupHopReply: the maker's receiver signatures on its incoming contracts
// and its outgoing hop with its sender signatures.
//
//	[16] SwapID | sig list ReceiverSigs |
//	u16 count ≤ MaxFundingTxs, OutgoingOutput × count
type SetupHopReply struct {
	SwapID       SwapID
	ReceiverSigs [][]byte
	Outgoing     []OutgoingOutput
}

const maxSetupHopReplyPayload = SwapIDSize + maxSigList + u16Size + MaxFundingTxs*maxOutgoingOutput

func (m *SetupHopReply) Type() MessageType  { return TypeSetupHopReply }
func (m *SetupHopReply) MaxPayload() uint32 { return maxSetupHopReplyPayload }

func (m *SetupHopReply) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	encodeSigs(w, "ReceiverSigs", m.ReceiverSigs)
	w.Count("Outgoing", len(m.Outgoing), MaxFundingTxs)
	for i := range m.Outgoing {
		o := &m.Outgoing[i]
		w.SetIndex(i)
		w.OutPoint(o.FundingOutPoint)
		w.Amount("Outgoing[].FundingValue", o.FundingValue)
		w.Script("Outgoing[].MultisigScript", o.MultisigScript)
		w.PubKey("Outgoing[].TimelockPubKey", o.TimelockPubKey)
		w.Tx("Outgoing[].ContractTx", o.ContractTx, MaxContractTxSize)
		w.Sig("Outgoing[].SenderSig", o.SenderSig)
		o.Proof.encode(w, "Outgoing[].Proof")
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *SetupHopReply) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	m.ReceiverSigs = decodeSigs(r, "ReceiverSigs")
	if n := r.Count("Outgoing", MaxFundingTxs, minOutgoingOutput); n > 0 {
		m.Outgoing = make([]OutgoingOutput, n)
	}
	for i := range m.Outgoing {
		if r.err != nil {
			break
		}
		o := &m.Outgoing[i]
		r.SetIndex(i)
		o.FundingOutPoint = r.OutPoint("Outgoing[].FundingOutPoint")
		o.FundingValue = r.Amount("Outgoing[].FundingValue")
		o.MultisigScript = r.Script("Outgoing[].MultisigScript")
		o.TimelockPubKey = r.PubKey("Outgoing[].TimelockPubKey")
		o.ContractTx = r.Tx("Outgoing[].ContractTx", MaxContractTxSize)
		o.SenderSig = r.Sig("Outgoing[].SenderSig")
		o.Proof.decode(r, "Outgoing[].Proof")
	}
	r.SetIndex(-1)
	return r.Err()
}

// sigList encodes a list of ≤ MaxFundingTxs DER signatures.
const (
	maxSigList = u16Size + MaxFundingTxs*maxSigField
	minSigElem = u16Size + MinSigLen
	minTxField = u32Size + minTxSize
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

// FundHop gives the maker the next receiver's signatures on its outgoing
// contracts and asks it to fund its hop once its incoming funding has the
// confirmations it requires.
//
//	[16] SwapID | sig list ReceiverSigs
type FundHop struct {
	SwapID       SwapID
	ReceiverSigs [][]byte
}

func (m *FundHop) Type() MessageType  { return TypeFundHop }
func (m *FundHop) MaxPayload() uint32 { return SwapIDSize + maxSigList }

func (m *FundHop) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	encodeSigs(w, "ReceiverSigs", m.ReceiverSigs)
	return w.Err()
}

func (m *FundHop) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	m.ReceiverSigs = decodeSigs(r, "ReceiverSigs")
	return r.Err()
}

// FundingBroadcast: the maker broadcast its outgoing funding txs.
//
//	[16] SwapID | u16 count ≤ MaxFundingTxs, [32] txid × count
type FundingBroadcast struct {
	SwapID SwapID
	Txids  []chainhash.Hash
}

func (m *FundingBroadcast) Type() MessageType { return TypeFundingBroadcast }
func (m *FundingBroadcast) MaxPayload() uint32 {
	return SwapIDSize + u16Size + MaxFundingTxs*chainhash.HashSize
}

func (m *FundingBroadcast) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Count("Txids", len(m.Txids), MaxFundingTxs)
	for i := range m.Txids {
		w.Fixed(m.Txids[i][:])
	}
	return w.Err()
}

func (m *FundingBroadcast) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	if n := r.Count("Txids", MaxFundingTxs, chainhash.HashSize); n > 0 {
		m.Txids = make([]chainhash.Hash, n)
	}
	for i := range m.Txids {
		r.SetIndex(i)
		r.Fixed("Txids[]", m.Txids[i][:])
	}
	r.SetIndex(-1)
	return r.Err()
}

// Preimage reveals the hash preimage to a maker (settlement, route order).
//
//	[16] SwapID | [32] Preimage
type Preimage struct {
	SwapID   SwapID
	Preimage [ScalarSize]byte
}

func (m *Preimage) Type() MessageType  { return TypePreimage }
func (m *Preimage) MaxPayload() uint32 { return SwapIDSize + ScalarSize }

func (m *Preimage) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Fixed(m.Preimage[:])
	return w.Err()
}

func (m *Preimage) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	r.Fixed("Preimage", m.Preimage[:])
	return r.Err()
}

// PrivKeyHandover hands over the sender's multisig private keys of a hop,
// one per funding output in output order: maker → taker for its outgoing
// hop (answer to Preimage), taker → maker for the maker's incoming hop.
//
//	[16] SwapID | u16 count ≤ MaxFundingTxs, [32] key × count
type PrivKeyHandover struct {
	SwapID SwapID
	Keys   []*btcec.PrivateKey
}

func (m *PrivKeyHandover) Type() MessageType { return TypePrivKeyHandover }
func (m *PrivKeyHandover) MaxPayload() uint32 {
	return SwapIDSize + u16Size + MaxFundingTxs*ScalarSize
}

func (m *PrivKeyHandover) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.Count("Keys", len(m.Keys), MaxFundingTxs)
	for i := range m.Keys {
		w.SetIndex(i)
		w.Scalar("Keys[]", m.Keys[i])
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *PrivKeyHandover) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	if n := r.Count("Keys", MaxFundingTxs, ScalarSize); n > 0 {
		m.Keys = make([]*btcec.PrivateKey, n)
	}
	for i := range m.Keys {
		r.SetIndex(i)
		m.Keys[i] = r.Scalar("Keys[]")
	}
	r.SetIndex(-1)
	return r.Err()
}

// WaitingFundingConfirmation is the taker's keep-alive while funding
// confirms: it resets the maker's per-swap idle timer (never its block
// deadline). No reply. Odd type: optional, a maker may ignore it.
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

// Abort ends a swap before any funding was broadcast: the maker releases
// its reservation and forgets its unbroadcast transactions. One-way; a
// maker that already funded ignores it (recovery decides instead).
//
//	[16] SwapID | u16 len(Reason) ≤ MaxErrorTextLen, UTF-8
type Abort struct {
	SwapID SwapID
	Reason string
}

func (m *Abort) Type() MessageType  { return TypeAbort }
func (m *Abort) MaxPayload() uint32 { return SwapIDSize + u16Size + MaxErrorTextLen }

func (m *Abort) Encode(w *Writer) error {
	w.Fixed(m.SwapID[:])
	w.String("Reason", m.Reason, MaxErrorTextLen)
	return w.Err()
}

func (m *Abort) Decode(r *Reader) error {
	r.Fixed("SwapID", m.SwapID[:])
	m.Reason = r.String("Reason", MaxErrorTextLen)
	return r.Err()
}

// FundingProof shows that the funding transaction of an output spends
// real, unspent coins of whoever will fund it, without handing over
// anything that could be broadcast: the transaction without its witnesses
// (its txid is final, segwit) and, per input, the coin's P2WPKH key and
// its signature over script.FundingProofDigest(txid, input). A maker
// reserves its liquidity only against such a proof, and a coin backs one
// unfunded reservation at a time, so locking a maker's coins takes as many
// of one's own (issue 10 item 1).
//
//	tx Tx (no witness, ≤ MaxFundingProofTxSize) |
//	u16 count = inputs of Tx ≤ MaxProofInputs, ([33] PubKey | sig Sig) × count
type FundingProof struct {
	Tx     *wire.MsgTx
	Inputs []InputProof
}

// InputProof is one input's owner key and signature.
type InputProof struct {
	PubKey *btcec.PublicKey
	Sig    []byte
}

const (
	// MaxProofInputs bounds the inputs of a proven funding tx. Coin
	// selection for one swap output takes a handful of coins; 100 leaves
	// a dusty wallet room, and bounds what a maker checks per output (two
	// local RPCs per input, stopping at the first that fails).
	MaxProofInputs = 100
	// MaxFundingProofTxSize: a witness-free tx of MaxProofInputs inputs
	// (41 bytes each) and a few outputs (≤ 43 bytes each) is ~4.5 kB.
	MaxFundingProofTxSize = 10_000

	inputProofMax   = PubKeySize + maxSigField
	inputProofMin   = PubKeySize + u16Size + MinSigLen
	maxFundingProof = u32Size + MaxFundingProofTxSize + u16Size + MaxProofInputs*inputProofMax
	minFundingProof = minTxField + u16Size + inputProofMin
)

func (p *FundingProof) encode(w *Writer, field string) {
	if w.err == nil && p.Tx != nil && p.Tx.HasWitness() {
		w.fail(field+".Tx", fmt.Errorf("%w: a funding proof carries no witness (it would be broadcastable)", ErrInvalidField))
		return
	}
	w.Tx(field+".Tx", p.Tx, MaxFundingProofTxSize)
	if w.err == nil && len(p.Inputs) != len(p.Tx.TxIn) {
		w.fail(field+".Inputs", fmt.Errorf("%w: %d proofs for %d inputs", ErrInvalidField, len(p.Inputs), len(p.Tx.TxIn)))
		return
	}
	w.Count(field+".Inputs", len(p.Inputs), MaxProofInputs)
	for i := range p.Inputs {
		w.PubKey(field+".Inputs[].PubKey", p.Inputs[i].PubKey)
		w.Sig(field+".Inputs[].Sig", p.Inputs[i].Sig)
	}
}

func (p *FundingProof) decode(r *Reader, field string) {
	p.Tx = r.Tx(field+".Tx", MaxFundingProofTxSize)
	if r.err != nil {
		return
	}
	if p.Tx.HasWitness() {
		r.Fail(field+".Tx", fmt.Errorf("%w: a funding proof carries no witness", ErrInvalidField))
		return
	}
	n := r.Count(field+".Inputs", MaxProofInputs, inputProofMin)
	if r.err != nil {
		return
	}
	if n != len(p.Tx.TxIn) {
		r.Fail(field+".Inputs", fmt.Errorf("%w: %d proofs for %d inputs", ErrInvalidField, n, len(p.Tx.TxIn)))
		return
	}
	p.Inputs = make([]InputProof, n)
	for i := range p.Inputs {
		p.Inputs[i].PubKey = r.PubKey(field + ".Inputs[].PubKey")
		p.Inputs[i].Sig = r.Sig(field + ".Inputs[].Sig")
	}
}
