package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// The messages of one CoinJoin round (node/coinjoin, seed 002). They
// travel between the participants' per-round ephemeral onion services,
// never through the pool, and each is signed by its sender's round key: a
// fresh x-only BIP340 key the round's invite names. A message carries no
// key of its own: the receiver verifies it with the key of the peer it
// expects it from (Verify(pub)).
//
//	CJInvite  the initiator names the round: terms and peers in order
//	CJAccept  a participant takes part
//	CJPass    one step of the output shuffle (CoinShuffle)
//	CJReady   the sender found its output in the last pass
//	CJInput   a participant's coin
//	CJTxSig   its input's witness for the final transaction
//	CJBlame   a revealed round encryption key: anyone can replay the passes
//	CJAbort   the sender leaves the round
//
// Every message ends with Sig, a BIP340 signature over the tagged hash
// CJMsgTag of u16 type ‖ the payload without Sig (Digest), so a signature
// never transfers from one message type to another.

// CoinJoin message types (0x0500–0x05FF). All are required (even): a peer
// in a round that does not know one cannot take part.
const (
	TypeCJInvite MessageType = 0x0500
	TypeCJAccept MessageType = 0x0502
	TypeCJPass   MessageType = 0x0504
	TypeCJInput  MessageType = 0x0506
	TypeCJTxSig  MessageType = 0x0508
	TypeCJBlame  MessageType = 0x050A
	TypeCJAbort  MessageType = 0x050C
	TypeCJReady  MessageType = 0x050E
)

// CoinJoin tags and bounds.
const (
	// CJMsgTag: the BIP340 tag of what a round message's sender signs.
	CJMsgTag = "onionswap/coinjoin-msg"
	// CJRoundTag: the tag of a round's id (CJInvite.RoundID).
	CJRoundTag = "onionswap/coinjoin-round"

	// MinCJPeers, MaxCJPeers: participants of one round. Below 2 there is
	// nothing to mix; 100 keeps the largest pass (n entries of up to
	// n−1 layers) under half a megabyte.
	MinCJPeers = 2
	MaxCJPeers = 100

	// CJOutputLen: every output is a P2WPKH script (OP_0, push 20, hash).
	CJOutputLen = 22
	// CJLayerLen: what one shuffle layer adds to an entry (a 32-byte
	// X25519 ephemeral key and a 16-byte AEAD tag, internal/sealbox).
	CJLayerLen = 48
	// MaxCJEntryLen: an entry wrapped for 99 later peers.
	MaxCJEntryLen = CJOutputLen + CJLayerLen*(MaxCJPeers-1)

	// MaxCJWitnessItems, MaxCJWitnessItemLen: a P2WPKH witness is a
	// strict-DER signature with its sighash byte (≤ 73 bytes) and a
	// 33-byte compressed key.
	MaxCJWitnessItems   = 2
	MaxCJWitnessItemLen = MaxSigLen + 1

	// MaxCJAbortReason: a sentence for a log, in bytes of UTF-8.
	MaxCJAbortReason = 200
)

// CJBlame reasons.
const (
	CJBlameMissingOutput uint8 = 1 // our output is not in the last pass
	CJBlameUnopenable    uint8 = 2 // an entry we received does not open
	CJBlameTimeout       uint8 = 3 // a peer did not send its step in time
	CJBlameBadTx         uint8 = 4 // the transaction is not the one the round agreed
	CJBlameAnswer        uint8 = 5 // no complaint: revealed because another complained
	cjBlameLast                = CJBlameAnswer
)

// ErrCoinJoinSig: a round message's signature does not verify.
var ErrCoinJoinSig = errors.New("coinjoin signature invalid")

const (
	// cjPassPeak: the entry count of the largest pass. Pass j of n has
	// j+1 entries of CJOutputLen + CJLayerLen·(n−1−j) bytes; with n =
	// MaxCJPeers, x = j+1 entries weigh x·(u16Size + CJOutputLen +
	// CJLayerLen·(MaxCJPeers−x)), largest at x = 50 (121,200 bytes).
	// TestCJPassShapes checks it against every pass of a full round. The
	// loose bound (MaxCJPeers entries of MaxCJEntryLen) would be 477,700.
	cjPassPeak = 50

	cjPeerFixed = XOnlyKeySize + X25519KeySize
	minCJPeer   = cjPeerFixed + u16Size + 1
	maxCJPeer   = cjPeerFixed + maxAddrField
	cjInviteFix = 32 + u64Size + u32Size + 1 + u64Size

	maxCJInvitePayload = cjInviteFix + u16Size + MaxCJPeers*maxCJPeer + SchnorrSigSize
	maxCJAcceptPayload = 32 + SchnorrSigSize
	maxCJPassPayload   = 32 + u16Size + u16Size + cjPassPeak*(u16Size+CJOutputLen+CJLayerLen*(MaxCJPeers-cjPassPeak)) + SchnorrSigSize
	maxCJInputPayload  = 32 + OutPointSize + amountSize + u16Size + CJOutputLen + SchnorrSigSize
	maxCJTxSigPayload  = 32 + OutPointSize + u16Size + MaxCJWitnessItems*(u16Size+MaxCJWitnessItemLen) + SchnorrSigSize
	maxCJBlamePayload  = 32 + ScalarSize + 1 + SchnorrSigSize
	maxCJAbortPayload  = 32 + u16Size + MaxCJAbortReason + SchnorrSigSize
	maxCJReadyPayload  = 32 + 32 + SchnorrSigSize
)

// A frame must hold the largest of them (compile-time check).
const (
	_ = uint(MaxFramePayload - maxCJInvitePayload)
	_ = uint(MaxFramePayload - maxCJPassPayload)
)

// cjSigned is what the shared digest, signing and verification need.
type cjSigned interface {
	Type() MessageType
	encodeUnsigned(w *Writer)
	sig() *[SchnorrSigSize]byte
}

// cjDigest: the tagged hash CJMsgTag of u16 type ‖ payload without Sig.
func cjDigest(m cjSigned) ([32]byte, error) {
	w := NewWriter(m.Type().String(), binary.BigEndian.AppendUint16(nil, uint16(m.Type())))
	m.encodeUnsigned(w)
	if err := w.Err(); err != nil {
		return [32]byte{}, err
	}
	return *chainhash.TaggedHash([]byte(CJMsgTag), w.Bytes()), nil
}

func cjSign(m cjSigned, key *btcec.PrivateKey) error {
	d, err := cjDigest(m)
	if err != nil {
		return err
	}
	s, err := SchnorrSign(key, d[:])
	if err != nil {
		return err
	}
	*m.sig() = s
	return nil
}

func cjVerify(m cjSigned, pub [XOnlyKeySize]byte) error {
	d, err := cjDigest(m)
	if err != nil {
		return err
	}
	k, err := schnorr.ParsePubKey(pub[:])
	if err != nil {
		return fmt.Errorf("%w: key: %v", ErrCoinJoinSig, err)
	}
	s, err := schnorr.ParseSignature(m.sig()[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCoinJoinSig, err)
	}
	if !s.Verify(d[:], k) {
		return fmt.Errorf("%w: %s", ErrCoinJoinSig, m.Type())
	}
	return nil
}

func cjEncode(m cjSigned, w *Writer) error {
	m.encodeUnsigned(w)
	w.Fixed(m.sig()[:])
	return w.Err()
}

// CJPeer is one participant of a round, as the invite names it.
//
//	[32] SignKey | [32] EncKey | u16 len(Contact) ≤ MaxAddrLen, Contact
type CJPeer struct {
	// SignKey: the round key (x-only) that signs the peer's messages.
	SignKey [XOnlyKeySize]byte
	// EncKey: the X25519 key its shuffle layers are sealed to.
	EncKey [X25519KeySize]byte
	// Contact: its ephemeral onion ("host:port").
	Contact string
}

// CJInvite names a round: its terms and its participants in their agreed
// order (positions 0 … n−1 of the shuffle), signed by the initiator.
//
//	[32] Round | u64 Denomination | u32 FeeRate | u8 T | u64 Deadline |
//	u16 count ∈ [MinCJPeers, MaxCJPeers], CJPeer × count | [64] Sig
//
// Round must be RoundID(); T is in [2, count]; no SignKey repeats.
type CJInvite struct {
	Round        [32]byte
	Denomination int64  // sat, every output's value
	FeeRate      uint32 // sat/vB
	T            uint8  // the least number of participants
	Deadline     uint64 // unix seconds
	Peers        []CJPeer
	Sig          [SchnorrSigSize]byte
}

// RoundID is the tagged hash CJRoundTag of the terms and the peers' keys
// in order:
//
//	u64 Denomination | u32 FeeRate | u8 T | u64 Deadline | u16 count |
//	([32] SignKey | [32] EncKey) × count
//
// Contacts are not part of it (they are under the invite's Sig).
func (m *CJInvite) RoundID() [32]byte {
	b := make([]byte, 0, u64Size+u32Size+1+u64Size+u16Size+len(m.Peers)*cjPeerFixed)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Denomination))
	b = binary.BigEndian.AppendUint32(b, m.FeeRate)
	b = append(b, m.T)
	b = binary.BigEndian.AppendUint64(b, m.Deadline)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Peers)))
	for i := range m.Peers {
		b = append(b, m.Peers[i].SignKey[:]...)
		b = append(b, m.Peers[i].EncKey[:]...)
	}
	return *chainhash.TaggedHash([]byte(CJRoundTag), b)
}

// check: the rules beyond field syntax, shared by Encode and Decode.
func (m *CJInvite) check() (string, error) {
	n := len(m.Peers)
	if m.T < MinCJPeers || int(m.T) > n {
		return "T", fmt.Errorf("%w: threshold %d with %d peers", ErrInvalidField, m.T, n)
	}
	seen := make(map[[XOnlyKeySize]byte]bool, n)
	for i := range m.Peers {
		if seen[m.Peers[i].SignKey] {
			return "Peers", fmt.Errorf("%w: peer %d repeats a sign key", ErrInvalidField, i)
		}
		seen[m.Peers[i].SignKey] = true
	}
	if m.Round != m.RoundID() {
		return "Round", fmt.Errorf("%w: round id is not the hash of the terms and peers", ErrInvalidField)
	}
	return "", nil
}

func (m *CJInvite) Type() MessageType                { return TypeCJInvite }
func (m *CJInvite) MaxPayload() uint32               { return maxCJInvitePayload }
func (m *CJInvite) sig() *[SchnorrSigSize]byte       { return &m.Sig }
func (m *CJInvite) Encode(w *Writer) error           { return cjEncode(m, w) }
func (m *CJInvite) Digest() ([32]byte, error)        { return cjDigest(m) }
func (m *CJInvite) Sign(key *btcec.PrivateKey) error { return cjSign(m, key) }
func (m *CJInvite) Verify(pub [32]byte) error        { return cjVerify(m, pub) }

func (m *CJInvite) encodeUnsigned(w *Writer) {
	if len(m.Peers) < MinCJPeers {
		w.fail("Peers", fmt.Errorf("%w: %d peers", ErrInvalidField, len(m.Peers)))
	} else if len(m.Peers) <= MaxCJPeers {
		if field, err := m.check(); err != nil {
			w.fail(field, err)
		}
	}
	w.Fixed(m.Round[:])
	w.Amount("Denomination", m.Denomination)
	w.U32(m.FeeRate)
	w.U8(m.T)
	w.U64(m.Deadline)
	w.Count("Peers", len(m.Peers), MaxCJPeers)
	for i := range m.Peers {
		w.SetIndex(i)
		w.Fixed(m.Peers[i].SignKey[:])
		w.Fixed(m.Peers[i].EncKey[:])
		w.Addr("Peers[].Contact", m.Peers[i].Contact)
	}
	w.SetIndex(-1)
}

func (m *CJInvite) Decode(r *Reader) error {
	r.Fixed("Round", m.Round[:])
	m.Denomination = r.Amount("Denomination")
	m.FeeRate = r.U32("FeeRate")
	m.T = r.U8("T")
	m.Deadline = r.U64("Deadline")
	n := r.Count("Peers", MaxCJPeers, minCJPeer)
	if r.err == nil && n < MinCJPeers {
		r.Fail("Peers", fmt.Errorf("%w: %d peers", ErrInvalidField, n))
	}
	if r.err == nil {
		m.Peers = make([]CJPeer, n)
	}
	for i := range m.Peers {
		r.SetIndex(i)
		r.Fixed("Peers[].SignKey", m.Peers[i].SignKey[:])
		r.Fixed("Peers[].EncKey", m.Peers[i].EncKey[:])
		m.Peers[i].Contact = r.Addr("Peers[].Contact")
	}
	r.SetIndex(-1)
	if r.err == nil {
		if field, err := m.check(); err != nil {
			r.Fail(field, err)
		}
	}
	r.Fixed("Sig", m.Sig[:])
	return r.Err()
}

// CJAccept: the sender takes part in the round its invite named.
//
//	[32] Round | [64] Sig
type CJAccept struct {
	Round [32]byte
	Sig   [SchnorrSigSize]byte
}

func (m *CJAccept) Type() MessageType                { return TypeCJAccept }
func (m *CJAccept) MaxPayload() uint32               { return maxCJAcceptPayload }
func (m *CJAccept) sig() *[SchnorrSigSize]byte       { return &m.Sig }
func (m *CJAccept) Encode(w *Writer) error           { return cjEncode(m, w) }
func (m *CJAccept) Digest() ([32]byte, error)        { return cjDigest(m) }
func (m *CJAccept) Sign(key *btcec.PrivateKey) error { return cjSign(m, key) }
func (m *CJAccept) Verify(pub [32]byte) error        { return cjVerify(m, pub) }
func (m *CJAccept) encodeUnsigned(w *Writer)         { w.Fixed(m.Round[:]) }

func (m *CJAccept) Decode(r *Reader) error {
	r.Fixed("Round", m.Round[:])
	r.Fixed("Sig", m.Sig[:])
	return r.Err()
}

// CJPass is the list the participant at position Step sends after its
// shuffle step (node/coinjoin Step): Step+1 entries, all of one length
// CJOutputLen + CJLayerLen·k, k the layers left (n−1−Step), so
// Step + k ≤ MaxCJPeers−1.
//
//	[32] Round | u16 Step | u16 count = Step+1 ≤ MaxCJPeers,
//	(u16 len ≤ MaxCJEntryLen, entry) × count | [64] Sig
type CJPass struct {
	Round   [32]byte
	Step    uint16
	Entries [][]byte
	Sig     [SchnorrSigSize]byte
}

// checkCJPass: the shape of a pass, shared by Encode and Decode.
func checkCJPass(step uint16, entries [][]byte) error {
	if len(entries) != int(step)+1 {
		return fmt.Errorf("%w: %d entries at step %d", ErrInvalidField, len(entries), step)
	}
	l := len(entries[0])
	if l < CJOutputLen || (l-CJOutputLen)%CJLayerLen != 0 || int(step)+(l-CJOutputLen)/CJLayerLen > MaxCJPeers-1 {
		return fmt.Errorf("%w: entry of %d bytes at step %d", ErrInvalidField, l, step)
	}
	for i, e := range entries {
		if len(e) != l {
			return fmt.Errorf("%w: entry %d has %d bytes, entry 0 %d", ErrInvalidField, i, len(e), l)
		}
	}
	return nil
}

func (m *CJPass) Type() MessageType                { return TypeCJPass }
func (m *CJPass) MaxPayload() uint32               { return maxCJPassPayload }
func (m *CJPass) sig() *[SchnorrSigSize]byte       { return &m.Sig }
func (m *CJPass) Encode(w *Writer) error           { return cjEncode(m, w) }
func (m *CJPass) Digest() ([32]byte, error)        { return cjDigest(m) }
func (m *CJPass) Sign(key *btcec.PrivateKey) error { return cjSign(m, key) }
func (m *CJPass) Verify(pub [32]byte) error        { return cjVerify(m, pub) }

func (m *CJPass) encodeUnsigned(w *Writer) {
	w.Fixed(m.Round[:])
	w.U16(m.Step)
	w.Count("Entries", len(m.Entries), MaxCJPeers)
	for i, e := range m.Entries {
		w.SetIndex(i)
		w.VarBytes("Entries[]", e, MaxCJEntryLen)
	}
	w.SetIndex(-1)
	if w.err == nil {
		if err := checkCJPass(m.Step, m.Entries); err != nil {
			w.fail("Entries", err)
		}
	}
}

func (m *CJPass) Decode(r *Reader) error {
	r.Fixed("Round", m.Round[:])
	m.Step = r.U16("Step")
	if n := r.Count("Entries", MaxCJPeers, u16Size+CJOutputLen); r.err == nil {
		m.Entries = make([][]byte, n)
	}
	for i := range m.Entries {
		r.SetIndex(i)
		m.Entries[i] = r.VarBytes("Entries[]", MaxCJEntryLen)
		if r.err == nil && i > 0 && len(m.Entries[i]) != len(m.Entries[0]) {
			r.Fail("Entries[]", fmt.Errorf("%w: %d bytes, entry 0 %d", ErrInvalidField, len(m.Entries[i]), len(m.Entries[0])))
		}
	}
	r.SetIndex(-1)
	if r.err == nil {
		if err := checkCJPass(m.Step, m.Entries); err != nil {
			r.Fail("Entries", err)
		}
	}
	r.Fixed("Sig", m.Sig[:])
	return r.Err()
}

// CJInput is the sender's coin: a P2WPKH output it spends into the
// round's transaction.
//
//	[32] Round | outpoint OutPoint | u64 Value | u16 len = 22, PkScript
//	(0x00 0x14 ‖ 20-byte key hash) | [64] Sig
type CJInput struct {
	Round    [32]byte
	OutPoint wire.OutPoint
	Value    int64 // sat
	PkScript []byte
	Sig      [SchnorrSigSize]byte
}

func isCJP2WPKH(s []byte) bool { return len(s) == CJOutputLen && s[0] == 0x00 && s[1] == 0x14 }

func (m *CJInput) Type() MessageType                { return TypeCJInput }
func (m *CJInput) MaxPayload() uint32               { return maxCJInputPayload }
func (m *CJInput) sig() *[SchnorrSigSize]byte       { return &m.Sig }
func (m *CJInput) Encode(w *Writer) error           { return cjEncode(m, w) }
func (m *CJInput) Digest() ([32]byte, error)        { return cjDigest(m) }
func (m *CJInput) Sign(key *btcec.PrivateKey) error { return cjSign(m, key) }
func (m *CJInput) Verify(pub [32]byte) error        { return cjVerify(m, pub) }

func (m *CJInput) encodeUnsigned(w *Writer) {
	w.Fixed(m.Round[:])
	w.OutPoint(m.OutPoint)
	w.Amount("Value", m.Value)
	if w.err == nil && !isCJP2WPKH(m.PkScript) {
		w.fail("PkScript", fmt.Errorf("%w: not a P2WPKH script", ErrInvalidField))
	}
	w.VarBytes("PkScript", m.PkScript, CJOutputLen)
}

func (m *CJInput) Decode(r *Reader) error {
	r.Fixed("Round", m.Round[:])
	m.OutPoint = r.OutPoint("OutPoint")
	m.Value = r.Amount("Value")
	m.PkScript = r.VarBytes("PkScript", CJOutputLen)
	if r.err == nil && !isCJP2WPKH(m.PkScript) {
		r.Fail("PkScript", fmt.Errorf("%w: not a P2WPKH script", ErrInvalidField))
	}
	r.Fixed("Sig", m.Sig[:])
	return r.Err()
}

// CJTxSig is the witness of the sender's input (OutPoint) in the round's
// final transaction.
//
//	[32] Round | outpoint OutPoint | u16 count ≤ MaxCJWitnessItems,
//	(u16 len ≤ MaxCJWitnessItemLen, item) × count | [64] Sig
//
// Only sizes are checked here; whether the witness spends the input is
// the transaction's check.
type CJTxSig struct {
	Round    [32]byte
	OutPoint wire.OutPoint
	Witness  wire.TxWitness
	Sig      [SchnorrSigSize]byte
}

func (m *CJTxSig) Type() MessageType                { return TypeCJTxSig }
func (m *CJTxSig) MaxPayload() uint32               { return maxCJTxSigPayload }
func (m *CJTxSig) sig() *[SchnorrSigSize]byte       { return &m.Sig }
func (m *CJTxSig) Encode(w *Writer) error           { return cjEncode(m, w) }
func (m *CJTxSig) Digest() ([32]byte, error)        { return cjDigest(m) }
func (m *CJTxSig) Sign(key *btcec.PrivateKey) error { return cjSign(m, key) }
func (m *CJTxSig) Verify(pub [32]byte) error        { return cjVerify(m, pub) }

func (m *CJTxSig) encodeUnsigned(w *Writer) {
	w.Fixed(m.Round[:])
	w.OutPoint(m.OutPoint)
	w.Count("Witness", len(m.Witness), MaxCJWitnessItems)
	for i, item := range m.Witness {
		w.SetIndex(i)
		w.VarBytes("Witness[]", item, MaxCJWitnessItemLen)
	}
	w.SetIndex(-1)
}

func (m *CJTxSig) Decode(r *Reader) error {
	r.Fixed("Round", m.Round[:])
	m.OutPoint = r.OutPoint("OutPoint")
	if n := r.Count("Witness", MaxCJWitnessItems, u16Size); n > 0 {
		m.Witness = make(wire.TxWitness, n)
	}
	for i := range m.Witness {
		r.SetIndex(i)
		m.Witness[i] = r.VarBytes("Witness[]", MaxCJWitnessItemLen)
	}
	r.SetIndex(-1)
	r.Fixed("Sig", m.Sig[:])
	return r.Err()
}

// CJBlame is the seed's "attack complaint": the sender reveals its round
// encryption key (X25519, fresh for the round) so that anyone can replay
// the passes (node/coinjoin Blame) and find who spoilt the shuffle.
//
//	[32] Round | [32] EncPriv | u8 Reason (CJBlame*) | [64] Sig
type CJBlame struct {
	Round   [32]byte
	EncPriv [X25519KeySize]byte
	Reason  uint8
	Sig     [SchnorrSigSize]byte
}

func (m *CJBlame) Type() MessageType                { return TypeCJBlame }
func (m *CJBlame) MaxPayload() uint32               { return maxCJBlamePayload }
func (m *CJBlame) sig() *[SchnorrSigSize]byte       { return &m.Sig }
func (m *CJBlame) Encode(w *Writer) error           { return cjEncode(m, w) }
func (m *CJBlame) Digest() ([32]byte, error)        { return cjDigest(m) }
func (m *CJBlame) Sign(key *btcec.PrivateKey) error { return cjSign(m, key) }
func (m *CJBlame) Verify(pub [32]byte) error        { return cjVerify(m, pub) }

func (m *CJBlame) encodeUnsigned(w *Writer) {
	if m.Reason == 0 || m.Reason > cjBlameLast {
		w.fail("Reason", fmt.Errorf("%w: reason %d", ErrInvalidField, m.Reason))
	}
	w.Fixed(m.Round[:])
	w.Fixed(m.EncPriv[:])
	w.U8(m.Reason)
}

func (m *CJBlame) Decode(r *Reader) error {
	r.Fixed("Round", m.Round[:])
	r.Fixed("EncPriv", m.EncPriv[:])
	m.Reason = r.U8("Reason")
	if r.err == nil && (m.Reason == 0 || m.Reason > cjBlameLast) {
		r.Fail("Reason", fmt.Errorf("%w: reason %d", ErrInvalidField, m.Reason))
	}
	r.Fixed("Sig", m.Sig[:])
	return r.Err()
}

// CJAbort: the sender leaves the round.
//
//	[32] Round | u16 len ≤ MaxCJAbortReason, Reason (UTF-8) | [64] Sig
type CJAbort struct {
	Round  [32]byte
	Reason string
	Sig    [SchnorrSigSize]byte
}

func (m *CJAbort) Type() MessageType                { return TypeCJAbort }
func (m *CJAbort) MaxPayload() uint32               { return maxCJAbortPayload }
func (m *CJAbort) sig() *[SchnorrSigSize]byte       { return &m.Sig }
func (m *CJAbort) Encode(w *Writer) error           { return cjEncode(m, w) }
func (m *CJAbort) Digest() ([32]byte, error)        { return cjDigest(m) }
func (m *CJAbort) Sign(key *btcec.PrivateKey) error { return cjSign(m, key) }
func (m *CJAbort) Verify(pub [32]byte) error        { return cjVerify(m, pub) }

func (m *CJAbort) encodeUnsigned(w *Writer) {
	w.Fixed(m.Round[:])
	w.String("Reason", m.Reason, MaxCJAbortReason)
}

func (m *CJAbort) Decode(r *Reader) error {
	r.Fixed("Round", m.Round[:])
	m.Reason = r.String("Reason", MaxCJAbortReason)
	r.Fixed("Sig", m.Sig[:])
	return r.Err()
}

// CJReady: the sender found its output in the last pass of the shuffle,
// whose outputs hash to Outputs (OutputsHash). A participant signs the
// transaction only when every other one said so of the same outputs: a
// last peer that showed different lists to different peers, or a peer
// whose output is missing, stops the round before any signature exists.
//
//	[32] Round | [32] Outputs | [64] Sig
type CJReady struct {
	Round   [32]byte
	Outputs [32]byte
	Sig     [SchnorrSigSize]byte
}

// CJOutputsTag: the tag of CJReady.Outputs.
const CJOutputsTag = "onionswap/coinjoin-outputs"

// OutputsHash is the tagged hash CJOutputsTag of the outputs, sorted, each
// with its u16 length: the same for every order of one list.
func OutputsHash(outputs [][]byte) [32]byte {
	s := slices.Clone(outputs)
	slices.SortFunc(s, bytes.Compare)
	var b []byte
	for _, o := range s {
		b = binary.BigEndian.AppendUint16(b, uint16(len(o)))
		b = append(b, o...)
	}
	return *chainhash.TaggedHash([]byte(CJOutputsTag), b)
}

func (m *CJReady) Type() MessageType                { return TypeCJReady }
func (m *CJReady) MaxPayload() uint32               { return maxCJReadyPayload }
func (m *CJReady) sig() *[SchnorrSigSize]byte       { return &m.Sig }
func (m *CJReady) Encode(w *Writer) error           { return cjEncode(m, w) }
func (m *CJReady) Digest() ([32]byte, error)        { return cjDigest(m) }
func (m *CJReady) Sign(key *btcec.PrivateKey) error { return cjSign(m, key) }
func (m *CJReady) Verify(pub [32]byte) error        { return cjVerify(m, pub) }

func (m *CJReady) encodeUnsigned(w *Writer) {
	w.Fixed(m.Round[:])
	w.Fixed(m.Outputs[:])
}

func (m *CJReady) Decode(r *Reader) error {
	r.Fixed("Round", m.Round[:])
	r.Fixed("Outputs", m.Outputs[:])
	r.Fixed("Sig", m.Sig[:])
	return r.Err()
}

func init() {
	RegisterType(TypeCJReady, "CJReady", func() Message { return new(CJReady) })
	RegisterType(TypeCJInvite, "CJInvite", func() Message { return new(CJInvite) })
	RegisterType(TypeCJAccept, "CJAccept", func() Message { return new(CJAccept) })
	RegisterType(TypeCJPass, "CJPass", func() Message { return new(CJPass) })
	RegisterType(TypeCJInput, "CJInput", func() Message { return new(CJInput) })
	RegisterType(TypeCJTxSig, "CJTxSig", func() Message { return new(CJTxSig) })
	RegisterType(TypeCJBlame, "CJBlame", func() Message { return new(CJBlame) })
	RegisterType(TypeCJAbort, "CJAbort", func() Message { return new(CJAbort) })
}
