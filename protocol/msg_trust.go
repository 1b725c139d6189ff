package protocol

import (
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Trust proofs (issue 12 item 4): a maker that chose to share a completed
// swap proves it to a taker that asks, over their direct connection:
//
//	TrustRequest → TrustProofs
//
// A proof names one funding output of the swap, its 2-of-2 keys, amount
// and the blocks holding the funding and the cooperative spend (so a
// verifier on a node without txindex checks it with getblock only), and is
// signed by one key of that 2-of-2 over the maker's pool identity and a
// timestamp: the swap is bound to the identity its offers carry.

// SwapProofTag tags the digest a proof's signer signs.
const SwapProofTag = "onionswap/swap-proof"

// Swap proof roles: what the signer's side did with the funding output.
const (
	// ProofRoleSender: the signer funded the output.
	ProofRoleSender uint8 = 1
	// ProofRoleReceiver: the signer received (swept) it.
	ProofRoleReceiver uint8 = 2
)

// MaxTrustProofs bounds the proofs of one TrustProofs. A verifier fetches
// two blocks per proof; the score saturates at 20 full proofs
// (node/market TrustMaxProofPoints), so 50 leaves room for proofs that
// fail (too young, reorganized away) while a maker cannot make a taker
// fetch more than 100 blocks per ask.
const MaxTrustProofs = 50

// SwapProof proves one completed swap output.
//
//	outpoint FundingOutPoint | u64 Value | [33] PubKeys[0] | [33] PubKeys[1] |
//	u8 Signer | u8 Role | [32] FundingBlock | [32] SpendBlock |
//	[32] Origin | u64 Timestamp | sig Sig
type SwapProof struct {
	FundingOutPoint wire.OutPoint
	Value           int64 // sat
	// PubKeys: the 2-of-2 keys in the order of the multisig script.
	PubKeys [2]*btcec.PublicKey
	// Signer: index in PubKeys of the key that signs (0 or 1).
	Signer uint8
	// Role: ProofRoleSender or ProofRoleReceiver.
	Role         uint8
	FundingBlock chainhash.Hash
	SpendBlock   chainhash.Hash
	// Origin: the maker's pool identity (x-only), its offers' origin.
	Origin    [XOnlyKeySize]byte
	Timestamp uint64 // unix seconds
	// Sig: DER ECDSA by PubKeys[Signer] over Digest().
	Sig []byte
}

const (
	swapProofFixed  = OutPointSize + amountSize + 2*PubKeySize + 1 + 1 + 2*chainhash.HashSize + XOnlyKeySize + u64Size
	maxSwapProof    = swapProofFixed + maxSigField
	minSwapProof    = swapProofFixed + u16Size + MinSigLen
	maxTrustPayload = XOnlyKeySize + u16Size + MaxTrustProofs*maxSwapProof
)

// Digest is what PubKeys[Signer] signs: the tagged hash of
// origin ‖ timestamp ‖ outpoint ‖ value ‖ role (integers big-endian).
func (p *SwapProof) Digest() [32]byte {
	var b [XOnlyKeySize + 8 + OutPointSize + 8 + 1]byte
	n := copy(b[:], p.Origin[:])
	binary.BigEndian.PutUint64(b[n:], p.Timestamp)
	n += 8
	n += copy(b[n:], p.FundingOutPoint.Hash[:])
	binary.LittleEndian.PutUint32(b[n:], p.FundingOutPoint.Index)
	n += 4
	binary.BigEndian.PutUint64(b[n:], uint64(p.Value))
	n += 8
	b[n] = p.Role
	return *chainhash.TaggedHash([]byte(SwapProofTag), b[:])
}

func (p *SwapProof) encode(w *Writer) {
	w.OutPoint(p.FundingOutPoint)
	w.Amount("Proofs[].Value", p.Value)
	w.PubKey("Proofs[].PubKeys[0]", p.PubKeys[0])
	w.PubKey("Proofs[].PubKeys[1]", p.PubKeys[1])
	if w.err == nil && (p.Signer > 1 || (p.Role != ProofRoleSender && p.Role != ProofRoleReceiver)) {
		w.fail("Proofs[].Signer", fmt.Errorf("%w: signer %d, role %d", ErrInvalidField, p.Signer, p.Role))
	}
	w.U8(p.Signer)
	w.U8(p.Role)
	w.Fixed(p.FundingBlock[:])
	w.Fixed(p.SpendBlock[:])
	w.Fixed(p.Origin[:])
	w.U64(p.Timestamp)
	w.Sig("Proofs[].Sig", p.Sig)
}

func (p *SwapProof) decode(r *Reader) {
	p.FundingOutPoint = r.OutPoint("Proofs[].FundingOutPoint")
	p.Value = r.Amount("Proofs[].Value")
	p.PubKeys[0] = r.PubKey("Proofs[].PubKeys[0]")
	p.PubKeys[1] = r.PubKey("Proofs[].PubKeys[1]")
	p.Signer = r.U8("Proofs[].Signer")
	if r.err == nil && p.Signer > 1 {
		r.Fail("Proofs[].Signer", fmt.Errorf("%w: signer %d", ErrInvalidField, p.Signer))
	}
	p.Role = r.U8("Proofs[].Role")
	if r.err == nil && p.Role != ProofRoleSender && p.Role != ProofRoleReceiver {
		r.Fail("Proofs[].Role", fmt.Errorf("%w: role %d", ErrInvalidField, p.Role))
	}
	r.Fixed("Proofs[].FundingBlock", p.FundingBlock[:])
	r.Fixed("Proofs[].SpendBlock", p.SpendBlock[:])
	r.Fixed("Proofs[].Origin", p.Origin[:])
	p.Timestamp = r.U64("Proofs[].Timestamp")
	p.Sig = r.Sig("Proofs[].Sig")
}

// TrustRequest asks a maker for the proofs of the swaps it shares. Empty
// payload; the answer is TrustProofs (with no proofs when it shares none).
type TrustRequest struct{}

func (m *TrustRequest) Type() MessageType    { return TypeTrustRequest }
func (m *TrustRequest) MaxPayload() uint32   { return 0 }
func (m *TrustRequest) Encode(*Writer) error { return nil }
func (m *TrustRequest) Decode(*Reader) error { return nil }

// TrustProofs answers TrustRequest.
//
//	[32] Origin | u16 count ≤ MaxTrustProofs, SwapProof × count
type TrustProofs struct {
	Origin [XOnlyKeySize]byte
	Proofs []SwapProof
}

func (m *TrustProofs) Type() MessageType  { return TypeTrustProofs }
func (m *TrustProofs) MaxPayload() uint32 { return maxTrustPayload }

func (m *TrustProofs) Encode(w *Writer) error {
	w.Fixed(m.Origin[:])
	w.Count("Proofs", len(m.Proofs), MaxTrustProofs)
	for i := range m.Proofs {
		w.SetIndex(i)
		m.Proofs[i].encode(w)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *TrustProofs) Decode(r *Reader) error {
	r.Fixed("Origin", m.Origin[:])
	if n := r.Count("Proofs", MaxTrustProofs, minSwapProof); n > 0 {
		m.Proofs = make([]SwapProof, n)
	}
	for i := range m.Proofs {
		r.SetIndex(i)
		m.Proofs[i].decode(r)
	}
	r.SetIndex(-1)
	return r.Err()
}
