package protocol

import "fmt"

// CoinJoin announcements (node/coinjoin, issue 14): a wallet that wants to
// join a round says so on the pool's CoinJoin topic every few minutes,
// with a fresh round key and nothing of its node's identity. The body is
// not a framed message: the pool carries it, signed by SignKey as the
// envelope's origin.

// CoinJoinAnnounceVersion is the only announcement version this code
// knows.
const CoinJoinAnnounceVersion = 1

// An announcement's T is bounded as a round's participants are
// (MinCJPeers, MaxCJPeers); node/coinjoin applies the round's own terms,
// tx.go, on top.

// CoinJoinAnnounce is one announcement: the round's terms, the
// announcer's fresh keys for the round and the ephemeral onion where it
// takes the round's messages. Stamp is the proof of work every relay of
// the topic checks (node/coinjoin: bound to the envelope's origin and to
// this body with Stamp zeroed).
//
//	u8 Version=1 | u64 Denomination (sat, ≤ MaxSatoshi) | u8 T (2..100) |
//	u32 FeeRate (sat/vB, ≥ 1) | [32] SignKey (x-only BIP340) |
//	[32] EncKey (X25519) | u16 len(Contact) ≤ MaxAddrLen, Contact
//	(printable ASCII "host:port") | u64 Stamp
type CoinJoinAnnounce struct {
	// Denomination of every output of the round, in sat.
	Denomination int64
	// T: how many participants the announcer wants at least.
	T uint8
	// FeeRate: the least fee rate of the round's transaction, sat/vB.
	FeeRate uint32
	// SignKey: the round identity, fresh per announcement; it signs the
	// envelope and the announcer's shuffle passes.
	SignKey [XOnlyKeySize]byte
	// EncKey: the X25519 key the announcer's shuffle layers are sealed to.
	EncKey [X25519KeySize]byte
	// Contact: the announcer's ephemeral onion, "host:port".
	Contact string
	// Stamp: the hashcash nonce.
	Stamp uint64
}

const (
	coinJoinAnnounceFixed = 1 + amountSize + 1 + u32Size + XOnlyKeySize + X25519KeySize + u64Size
	// MaxCoinJoinAnnounce is the largest encoding (188 bytes): the
	// CoinJoin topic's body cap.
	MaxCoinJoinAnnounce = coinJoinAnnounceFixed + maxAddrField
)

func checkCoinJoinTerms(t uint8, feeRate uint32) error {
	switch {
	case t < MinCJPeers || t > MaxCJPeers:
		return fmt.Errorf("%w: T %d not in [%d, %d]", ErrInvalidField, t, MinCJPeers, MaxCJPeers)
	case feeRate < 1:
		return fmt.Errorf("%w: fee rate 0", ErrInvalidField)
	}
	return nil
}

// EncodeCoinJoinAnnounce returns the body of an announcement envelope.
func EncodeCoinJoinAnnounce(a *CoinJoinAnnounce) ([]byte, error) {
	w := NewWriter("CoinJoinAnnounce", make([]byte, 0, coinJoinAnnounceFixed+u16Size+len(a.Contact)))
	w.U8(CoinJoinAnnounceVersion)
	w.Amount("Denomination", a.Denomination)
	if w.err == nil {
		if err := checkCoinJoinTerms(a.T, a.FeeRate); err != nil {
			w.fail("Terms", err)
		}
	}
	w.U8(a.T)
	w.U32(a.FeeRate)
	w.Fixed(a.SignKey[:])
	w.Fixed(a.EncKey[:])
	w.Addr("Contact", a.Contact)
	w.U64(a.Stamp)
	if err := w.Err(); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

// Encode is EncodeCoinJoinAnnounce(a).
func (a *CoinJoinAnnounce) Encode() ([]byte, error) { return EncodeCoinJoinAnnounce(a) }

// DecodeCoinJoinAnnounce decodes an announcement that fills raw exactly;
// it is bounded before anything is allocated and refuses an unknown
// version (syntax and the encoding's bounds only: the stamp and the
// round's terms are node/coinjoin's).
func DecodeCoinJoinAnnounce(raw []byte) (*CoinJoinAnnounce, error) {
	if len(raw) > MaxCoinJoinAnnounce {
		return nil, &DecodeError{Msg: "CoinJoinAnnounce", Index: -1,
			Err: fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, len(raw), MaxCoinJoinAnnounce)}
	}
	r := NewReader("CoinJoinAnnounce", raw)
	a := new(CoinJoinAnnounce)
	if v := r.U8("Version"); r.err == nil && v != CoinJoinAnnounceVersion {
		r.Fail("Version", fmt.Errorf("%w: version %d", ErrInvalidField, v))
	}
	a.Denomination = r.Amount("Denomination")
	a.T = r.U8("T")
	a.FeeRate = r.U32("FeeRate")
	if r.err == nil {
		if err := checkCoinJoinTerms(a.T, a.FeeRate); err != nil {
			r.Fail("Terms", err)
		}
	}
	r.Fixed("SignKey", a.SignKey[:])
	r.Fixed("EncKey", a.EncKey[:])
	a.Contact = r.Addr("Contact")
	a.Stamp = r.U64("Stamp")
	if r.err == nil && r.Len() != 0 {
		r.Fail("", fmt.Errorf("%w: %d bytes", ErrTrailingBytes, r.Len()))
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return a, nil
}
