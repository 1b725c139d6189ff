package protocol

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// The swap marketplace (node/market): a maker's offer is the body of a
// pool envelope on the offer topic, signed by the envelope's origin key.
// It is not a framed message: the pool carries it.

// Market offer anti-spam proof kinds. A kind this code does not know is
// refused, so a new one needs no new version.
const (
	// OfferProofBond: the offer's fidelity bond (Offer.Fidelity), bound
	// to the envelope's origin key by OriginSig.
	OfferProofBond uint8 = 1
	// OfferProofIntegrity: an integrity fee paid to miners
	// (MarketOffer.Integrity); the offer carries no bond.
	OfferProofIntegrity uint8 = 2
)

// MarketOfferVersion is the only offer body version this code knows.
const MarketOfferVersion = 1

// MarketOffer is a maker's offer on the pool: its terms as in Offer, the
// kind of its anti-spam proof and the proof.
//
// A bond offer carries the fidelity certificate inside Offer (the
// certificate names the maker's onion address, the one takers dial) and
// the bond key's signature over market.OriginDigest(origin, CertExpiry),
// which binds the bond to the envelope's origin, so that nobody else can
// publish an offer backed by this bond.
//
// An integrity offer carries no certificate: the maker's onion address
// and the integrity fee's proof, whose key signs the origin.
//
//	u8 Version | u8 ProofKind=1 | Offer (with fidelity) | sig OriginSig
//	u8 Version | u8 ProofKind=2 | Offer (without fidelity) | addr Addr | IntegrityProof
type MarketOffer struct {
	ProofKind uint8
	Offer     Offer
	OriginSig []byte // bond offers

	Addr      string          // integrity offers: the onion "host:port" takers dial
	Integrity *IntegrityProof // integrity offers
}

// IntegrityProof proves that a transaction confirmed in the main chain
// paid miners a fee and that the key of its integrity output (a P2WPKH
// output of the payer's dedicated integrity branch) signed the offer's
// origin. Every node verifies it on its own chain backend with two cheap
// calls (the block hash at Height and its header) and no transaction
// index:
//
//   - the fee is Σ InputValues − Σ outputs; every input spends a P2WPKH
//     output, and its BIP143 signature commits to the value it spends,
//     so a wrong InputValue makes the witness invalid;
//
//   - Branch links the txid to the header's merkle root at TxIndex.
//
//     tx Tx (with witnesses, ≤ MaxIntegrityTxSize) | u16 count, u64 InputValue × count |
//     u16 Vout | [33] Key | u32 Height | [32] Block | u32 TxIndex |
//     u16 count ≤ MaxMerkleBranch, [32] × count | sig Sig
type IntegrityProof struct {
	Tx          *wire.MsgTx
	InputValues []int64
	Vout        uint16
	Key         *btcec.PublicKey
	Height      uint32
	Block       chainhash.Hash
	TxIndex     uint32
	Branch      []chainhash.Hash
	Sig         []byte
}

// Integrity proof bounds.
const (
	// MaxIntegrityInputs: the daily payment spends the previous integrity
	// output alone; a top-up from the wallet adds a few coins. 10 P2WPKH
	// inputs (~68 vB each) is far more than either needs.
	MaxIntegrityInputs = 10
	// MaxIntegrityTxSize: 10 P2WPKH inputs (~150 bytes each with their
	// witnesses) and a few outputs fit in 2,000 bytes.
	MaxIntegrityTxSize = 2000
	// MaxMerkleBranch: a block of 4 MWU holds fewer than 2^16 minimal
	// transactions, so a branch has at most 16 hashes; 24 leaves slack.
	MaxMerkleBranch = 24

	maxIntegrityProof = u32Size + MaxIntegrityTxSize + u16Size + MaxIntegrityInputs*amountSize + u16Size + PubKeySize +
		u32Size + chainhash.HashSize + u32Size + u16Size + MaxMerkleBranch*chainhash.HashSize + maxSigField
)

// MaxMarketOfferSize is the largest encoding: ~3.4 KB for an integrity
// offer with the most inputs and the longest branch, below the offer
// topic's 4 KB body cap.
const MaxMarketOfferSize = 2 + maxOfferPayload + maxAddrField + maxIntegrityProof

// EncodeMarketOffer returns the body of an offer envelope.
func EncodeMarketOffer(m *MarketOffer) ([]byte, error) {
	w := NewWriter("MarketOffer", nil)
	w.U8(MarketOfferVersion)
	w.U8(m.ProofKind)
	if w.err == nil {
		if err := checkOfferKind(m.ProofKind, m.Offer.HasBond()); err != nil {
			w.fail("ProofKind", err)
		}
	}
	if w.err == nil {
		if err := m.Offer.Encode(w); err != nil {
			return nil, err
		}
	}
	switch m.ProofKind {
	case OfferProofBond:
		w.Sig("OriginSig", m.OriginSig)
	case OfferProofIntegrity:
		w.Addr("Addr", m.Addr)
		if w.err == nil && m.Integrity == nil {
			w.fail("Integrity", fmt.Errorf("%w: no integrity proof", ErrInvalidField))
		}
		if w.err == nil {
			m.Integrity.encode(w)
		}
	}
	if err := w.Err(); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

// checkOfferKind: a known kind, and a certificate exactly for bond offers
// (one offer, one meaning).
func checkOfferKind(kind uint8, hasBond bool) error {
	switch {
	case kind != OfferProofBond && kind != OfferProofIntegrity:
		return fmt.Errorf("%w: proof kind %d", ErrInvalidField, kind)
	case kind == OfferProofBond && !hasBond:
		return fmt.Errorf("%w: a bond offer without its certificate", ErrInvalidField)
	case kind == OfferProofIntegrity && hasBond:
		return fmt.Errorf("%w: an integrity offer with a bond certificate", ErrInvalidField)
	}
	return nil
}

func (p *IntegrityProof) encode(w *Writer) {
	w.Tx("Integrity.Tx", p.Tx, MaxIntegrityTxSize)
	if w.err == nil && len(p.InputValues) != len(p.Tx.TxIn) {
		w.fail("Integrity.InputValues", fmt.Errorf("%w: %d values for %d inputs", ErrInvalidField,
			len(p.InputValues), len(p.Tx.TxIn)))
	}
	w.Count("Integrity.InputValues", len(p.InputValues), MaxIntegrityInputs)
	for _, v := range p.InputValues {
		w.Amount("Integrity.InputValues[]", v)
	}
	w.U16(p.Vout)
	w.PubKey("Integrity.Key", p.Key)
	w.U32(p.Height)
	w.Fixed(p.Block[:])
	w.U32(p.TxIndex)
	w.Count("Integrity.Branch", len(p.Branch), MaxMerkleBranch)
	for _, h := range p.Branch {
		w.Fixed(h[:])
	}
	w.Sig("Integrity.Sig", p.Sig)
}

func (p *IntegrityProof) decode(r *Reader) {
	p.Tx = r.Tx("Integrity.Tx", MaxIntegrityTxSize)
	n := r.Count("Integrity.InputValues", MaxIntegrityInputs, amountSize)
	if r.err == nil && n != len(p.Tx.TxIn) {
		r.Fail("Integrity.InputValues", fmt.Errorf("%w: %d values for %d inputs", ErrInvalidField, n, len(p.Tx.TxIn)))
	}
	if r.err == nil {
		p.InputValues = make([]int64, n)
		for i := range p.InputValues {
			p.InputValues[i] = r.Amount("Integrity.InputValues[]")
		}
	}
	p.Vout = r.U16("Integrity.Vout")
	if r.err == nil && int(p.Vout) >= len(p.Tx.TxOut) {
		r.Fail("Integrity.Vout", fmt.Errorf("%w: output %d of %d", ErrInvalidField, p.Vout, len(p.Tx.TxOut)))
	}
	p.Key = r.PubKey("Integrity.Key")
	p.Height = r.U32("Integrity.Height")
	r.Fixed("Integrity.Block", p.Block[:])
	p.TxIndex = r.U32("Integrity.TxIndex")
	n = r.Count("Integrity.Branch", MaxMerkleBranch, chainhash.HashSize)
	if r.err == nil && n > 0 {
		p.Branch = make([]chainhash.Hash, n)
		for i := range p.Branch {
			r.Fixed("Integrity.Branch[]", p.Branch[i][:])
		}
	}
	p.Sig = r.Sig("Integrity.Sig")
}

// DecodeMarketOffer decodes an offer body; it is bounded before anything
// is allocated and refuses trailing bytes.
func DecodeMarketOffer(b []byte) (*MarketOffer, error) {
	if len(b) > MaxMarketOfferSize {
		return nil, &DecodeError{Msg: "MarketOffer", Index: -1,
			Err: fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, len(b), MaxMarketOfferSize)}
	}
	r := NewReader("MarketOffer", b)
	m := new(MarketOffer)
	if v := r.U8("Version"); r.err == nil && v != MarketOfferVersion {
		r.Fail("Version", fmt.Errorf("%w: version %d", ErrInvalidField, v))
	}
	m.ProofKind = r.U8("ProofKind")
	if r.err == nil && m.ProofKind != OfferProofBond && m.ProofKind != OfferProofIntegrity {
		r.Fail("ProofKind", fmt.Errorf("%w: proof kind %d", ErrInvalidField, m.ProofKind))
	}
	if r.err == nil {
		_ = m.Offer.Decode(r)
	}
	if r.err == nil {
		if err := checkOfferKind(m.ProofKind, m.Offer.HasBond()); err != nil {
			r.Fail("ProofKind", err)
		}
	}
	if r.err == nil {
		switch m.ProofKind {
		case OfferProofBond:
			m.OriginSig = r.Sig("OriginSig")
		case OfferProofIntegrity:
			m.Addr = r.Addr("Addr")
			m.Integrity = new(IntegrityProof)
			m.Integrity.decode(r)
		}
	}
	if r.err == nil && r.Len() != 0 {
		r.Fail("", fmt.Errorf("%w: %d bytes", ErrTrailingBytes, r.Len()))
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// MakerAddr is the onion address a taker dials for this offer.
func (m *MarketOffer) MakerAddr() string {
	if m.ProofKind == OfferProofIntegrity {
		return m.Addr
	}
	return m.Offer.Fidelity.Addr
}

// Fee is what the payment paid miners: its inputs' values less its
// outputs (meaningful once the proof verified).
func (p *IntegrityProof) Fee() int64 {
	var fee int64
	for _, v := range p.InputValues {
		fee += v
	}
	for _, o := range p.Tx.TxOut {
		fee -= o.Value
	}
	return fee
}
