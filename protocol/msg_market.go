package protocol

import "fmt"

// The swap marketplace (node/market): a maker's offer is the body of a
// pool envelope on the offer topic, signed by the envelope's origin key.
// It is not a framed message: the pool carries it.

// Market offer anti-spam proof kinds. A kind this code does not know is
// refused, so a new one needs no new version.
const (
	// OfferProofBond: the offer's fidelity bond (Offer.Fidelity), bound
	// to the envelope's origin key by OriginSig.
	OfferProofBond uint8 = 1
)

// MarketOfferVersion is the only offer body version this code knows.
const MarketOfferVersion = 1

// MarketOffer is a maker's offer on the pool: its terms and fidelity
// certificate as in Offer (the certificate names the maker's onion
// address, the one takers dial), the kind of its anti-spam proof, and the
// bond key's signature over market.OriginDigest(origin, CertExpiry),
// which binds the bond to the envelope's origin, so that nobody else can
// publish an offer backed by this bond.
//
//	u8 Version | u8 ProofKind | Offer (as the Offer message) | sig OriginSig
type MarketOffer struct {
	ProofKind uint8
	Offer     Offer
	OriginSig []byte
}

// MaxMarketOfferSize is the largest encoding (~330 bytes), far below the
// offer topic's 4 KB body cap: the cap leaves room for trust proofs.
const MaxMarketOfferSize = 2 + maxOfferPayload + maxSigField

// EncodeMarketOffer returns the body of an offer envelope.
func EncodeMarketOffer(m *MarketOffer) ([]byte, error) {
	w := NewWriter("MarketOffer", nil)
	w.U8(MarketOfferVersion)
	w.U8(m.ProofKind)
	if w.err == nil && m.ProofKind != OfferProofBond {
		w.fail("ProofKind", fmt.Errorf("%w: proof kind %d", ErrInvalidField, m.ProofKind))
	}
	if w.err == nil {
		if err := m.Offer.Encode(w); err != nil {
			return nil, err
		}
	}
	w.Sig("OriginSig", m.OriginSig)
	if err := w.Err(); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
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
	if r.err == nil && m.ProofKind != OfferProofBond {
		r.Fail("ProofKind", fmt.Errorf("%w: proof kind %d", ErrInvalidField, m.ProofKind))
	}
	if r.err == nil {
		_ = m.Offer.Decode(r)
	}
	m.OriginSig = r.Sig("OriginSig")
	if r.err == nil && r.Len() != 0 {
		r.Fail("", fmt.Errorf("%w: %d bytes", ErrTrailingBytes, r.Len()))
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return m, nil
}
