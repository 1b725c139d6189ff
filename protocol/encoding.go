package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Encoding rules shared by every message (all integers big-endian, except
// inside btcd serializations, which keep Bitcoin's little-endian):
//
//	fixed fields      written as is (u8/u16/u32/u64, 16-byte swap id,
//	                  20-byte hash160, 32-byte hash/preimage/scalar,
//	                  33-byte compressed public key)
//	lists             u16 count, then the elements
//	byte strings      u16 length, then the bytes (scripts, signatures,
//	                  UTF-8 text, addresses, feature vectors, padding)
//	transactions      u32 length, then btcd's MsgTx.Serialize (witness
//	                  encoding when the tx has witnesses)
//	outpoints         btcd's layout: 32-byte hash, u32 little-endian index
//	amounts           u64 satoshis, at most btcutil.MaxSatoshi
//
// Every length and count has its own named bound below, checked before
// anything is allocated; a count is also checked against the bytes left
// (count × smallest element ≤ remaining), so a short frame cannot make the
// decoder allocate a large slice.

// Field sizes and bounds. Each bound is the largest value a legitimate
// peer sends, with headroom, and is small enough that the largest message
// still fits a frame (asserted at compile time in frame.go).
const (
	// SwapIDSize: 128 random bits cannot collide in practice, and are half
	// the bytes of a 32-byte id on every swap message.
	SwapIDSize = 16
	// PubKeySize: compressed secp256k1 point.
	PubKeySize = 33
	// ScalarSize: private keys, tweak nonces and preimages.
	ScalarSize = 32
	// Hash160Size: HASH160(preimage) in the HTLC contract.
	Hash160Size = 20
	// OutPointSize: btcd's outpoint serialization (hash + u32 index).
	OutPointSize = chainhash.HashSize + 4

	// MaxSigLen: a strict-DER secp256k1 ECDSA signature without the
	// sighash byte is at most 72 bytes (2 × 33-byte integers + 6 bytes of
	// DER framing); MinSigLen is btcec's lower bound.
	MaxSigLen = 72
	MinSigLen = 8

	// MaxRedeemScriptLen: our witness scripts are the 71-byte 2-of-2
	// multisig and the ~110-byte HTLC contract; 520 (the historic script
	// push limit) leaves 4× headroom while keeping lists of them small.
	MaxRedeemScriptLen = 520

	// MaxFundingTxSize: a funding tx is a wallet payment with coin
	// selection. A P2WPKH input serializes to ~149 bytes with its witness,
	// so 100,000 bytes (also the non-witness ceiling of a standard tx,
	// 400,000 WU / 4) allows ~650 inputs, far beyond real coin selection.
	MaxFundingTxSize = 100_000

	// MaxContractTxSize: a contract tx is 1 input, 1 P2WSH output: 94
	// bytes unsigned, < 400 bytes with the largest (HTLC) witness.
	MaxContractTxSize = 1_000

	// MaxFundingTxs: funding transactions per hop (tx_count). The
	// reference uses 1–5 in practice (tests use 3); 8 is the cap every
	// per-hop list (txs, sigs, next-hop keys, private keys) shares.
	MaxFundingTxs = 8

	// MaxAddrLen: "<56-char v3 onion>.onion:65535" is 68 bytes; loopback
	// "host:port" forms used in tests are shorter. 100 leaves headroom.
	MaxAddrLen = 100

	// MaxUserAgentLen: "onionswap/1.2.3 (+extras)"; short on purpose, a
	// long agent string is a fingerprint and costs Tor bandwidth.
	MaxUserAgentLen = 128

	// MaxFeatureBytes: 256 feature bits, several times what lnd uses.
	MaxFeatureBytes = 32

	// MaxErrorTextLen: a sentence for a human, not a log dump.
	MaxErrorTextLen = 256

	// MaxPongPadding: lnd's pongSizeCeiling, "precious Tor bandwidth".
	MaxPongPadding = 4096

	// MaxDirEntries: entries per directory ListReply. A directory with
	// more makers pages (later); 1000 × ~380 bytes ≈ 380 kB per reply.
	MaxDirEntries = 1000
)

// Encoded sizes of composite fields (prefix + maximum content).
const (
	u16Size            = 2
	u32Size            = 4
	u64Size            = 8
	amountSize         = u64Size
	maxSigField        = u16Size + MaxSigLen
	maxScriptField     = u16Size + MaxRedeemScriptLen
	maxFundingTxField  = u32Size + MaxFundingTxSize
	maxContractTxField = u32Size + MaxContractTxSize
	maxAddrField       = u16Size + MaxAddrLen

	// minTxInSize/minTxOutSize/minTxSize: smallest serializations, used
	// to bound counts against the bytes left.
	minTxInSize  = OutPointSize + 1 + 4
	minTxOutSize = 8 + 1
	minTxSize    = 4 + 1 + minTxInSize + 1 + minTxOutSize + 4
)

// SwapID identifies one swap on every message that belongs to it. The
// taker draws it at random (it is NOT derived from the preimage, unlike
// the reference's hex(preimage[0..8])) and should use a different id per
// maker, so colluding makers cannot link hops by id.
type SwapID [SwapIDSize]byte

func (id SwapID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText makes a SwapID read as hex in JSON logs and APIs instead of
// an array of sixteen numbers.
func (id SwapID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the hex form written by MarshalText.
func (id *SwapID) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != SwapIDSize {
		return fmt.Errorf("swap id: want %d hex characters, got %d", 2*SwapIDSize, len(b))
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// Writer builds one message payload. Errors are sticky: after the first,
// every call is a no-op and Err returns it, so Encode methods read as a
// flat list of fields.
type Writer struct {
	b   []byte
	msg string
	idx int
	err error
}

// NewWriter returns a Writer that appends to buf (which may be nil); msg
// names the message in errors.
func NewWriter(msg string, buf []byte) *Writer { return &Writer{b: buf, msg: msg, idx: -1} }

// Bytes returns the encoded payload.
func (w *Writer) Bytes() []byte { return w.b }

// Err returns the first error.
func (w *Writer) Err() error { return w.err }

// SetIndex sets the list index reported in errors (-1: not in a list).
func (w *Writer) SetIndex(i int) { w.idx = i }

// Write appends p (io.Writer for btcd serializers).
func (w *Writer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *Writer) fail(field string, err error) {
	if w.err == nil {
		w.err = &EncodeError{Msg: w.msg, Field: field, Index: w.idx, Err: err}
	}
}

// U8 writes a byte.
func (w *Writer) U8(v uint8) {
	if w.err == nil {
		w.b = append(w.b, v)
	}
}

// U16 writes a big-endian u16.
func (w *Writer) U16(v uint16) {
	if w.err == nil {
		w.b = binary.BigEndian.AppendUint16(w.b, v)
	}
}

// U32 writes a big-endian u32.
func (w *Writer) U32(v uint32) {
	if w.err == nil {
		w.b = binary.BigEndian.AppendUint32(w.b, v)
	}
}

// U64 writes a big-endian u64.
func (w *Writer) U64(v uint64) {
	if w.err == nil {
		w.b = binary.BigEndian.AppendUint64(w.b, v)
	}
}

// Fixed writes p without a length prefix.
func (w *Writer) Fixed(p []byte) {
	if w.err == nil {
		w.b = append(w.b, p...)
	}
}

// Bool writes 0 or 1.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// Count writes a u16 list count after checking it against max.
func (w *Writer) Count(field string, n, max int) {
	if w.err != nil {
		return
	}
	if n > max {
		w.fail(field, fmt.Errorf("%w: count %d > %d", ErrFieldTooLarge, n, max))
		return
	}
	w.U16(uint16(n))
}

// VarBytes writes a u16 length and p, checking len(p) ≤ max.
func (w *Writer) VarBytes(field string, p []byte, max int) {
	if w.err != nil {
		return
	}
	if len(p) > max {
		w.fail(field, fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, len(p), max))
		return
	}
	w.U16(uint16(len(p)))
	w.b = append(w.b, p...)
}

// String writes UTF-8 text with a u16 length.
func (w *Writer) String(field, s string, max int) {
	if w.err != nil {
		return
	}
	if !utf8.ValidString(s) {
		w.fail(field, fmt.Errorf("%w: not UTF-8", ErrInvalidField))
		return
	}
	if len(s) > max {
		w.fail(field, fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, len(s), max))
		return
	}
	w.U16(uint16(len(s)))
	w.b = append(w.b, s...)
}

// Addr writes a network address: printable ASCII, ≤ MaxAddrLen.
func (w *Writer) Addr(field, s string) {
	if w.err != nil {
		return
	}
	if err := checkAddr(s); err != nil {
		w.fail(field, err)
		return
	}
	w.String(field, s, MaxAddrLen)
}

// Amount writes a satoshi amount in [0, MaxSatoshi].
func (w *Writer) Amount(field string, v int64) {
	if w.err != nil {
		return
	}
	if v < 0 || v > btcutil.MaxSatoshi {
		w.fail(field, fmt.Errorf("%w: amount %d out of range", ErrInvalidField, v))
		return
	}
	w.U64(uint64(v))
}

// PubKey writes a 33-byte compressed public key.
func (w *Writer) PubKey(field string, k *btcec.PublicKey) {
	if w.err != nil {
		return
	}
	if k == nil {
		w.fail(field, fmt.Errorf("%w: nil public key", ErrInvalidField))
		return
	}
	w.b = append(w.b, k.SerializeCompressed()...)
}

// Scalar writes a 32-byte private key / nonce; zero is invalid.
func (w *Writer) Scalar(field string, k *btcec.PrivateKey) {
	if w.err != nil {
		return
	}
	if k == nil || k.Key.IsZero() {
		w.fail(field, fmt.Errorf("%w: nil or zero scalar", ErrInvalidField))
		return
	}
	b := k.Key.Bytes()
	w.b = append(w.b, b[:]...)
}

// Sig writes a strict-DER ECDSA signature (no sighash byte).
func (w *Writer) Sig(field string, sig []byte) {
	if w.err != nil {
		return
	}
	if err := checkSig(sig); err != nil {
		w.fail(field, err)
		return
	}
	w.VarBytes(field, sig, MaxSigLen)
}

// Script writes a redeem/witness script, ≤ MaxRedeemScriptLen.
func (w *Writer) Script(field string, s []byte) { w.VarBytes(field, s, MaxRedeemScriptLen) }

// Tx writes a transaction with a u32 length prefix, ≤ max bytes.
func (w *Writer) Tx(field string, tx *wire.MsgTx, max int) {
	if w.err != nil {
		return
	}
	if tx == nil {
		w.fail(field, fmt.Errorf("%w: nil transaction", ErrInvalidField))
		return
	}
	if len(tx.TxIn) == 0 || len(tx.TxOut) == 0 {
		// A 0-input tx is ambiguous with the segwit marker and cannot
		// round-trip; a tx without outputs is never meaningful here.
		w.fail(field, fmt.Errorf("%w: transaction needs inputs and outputs", ErrInvalidField))
		return
	}
	n := tx.SerializeSize()
	if n > max {
		w.fail(field, fmt.Errorf("%w: transaction %d bytes > %d", ErrFieldTooLarge, n, max))
		return
	}
	w.U32(uint32(n))
	w.b = slices.Grow(w.b, n)
	if err := tx.Serialize(w); err != nil {
		w.fail(field, err)
	}
}

// OutPoint writes btcd's outpoint serialization.
func (w *Writer) OutPoint(op wire.OutPoint) {
	if w.err == nil {
		w.b = append(w.b, op.Hash[:]...)
		w.b = binary.LittleEndian.AppendUint32(w.b, op.Index)
	}
}

// Reader decodes one payload held in memory. The framer has already
// bounded the payload's length, so the Reader never reads past it; every
// variable-length read is checked against its field bound and the bytes
// left. Errors are sticky and name message and field.
type Reader struct {
	b   []byte
	off int
	msg string
	idx int
	err error
}

// NewReader returns a Reader over payload; msg names the message in errors.
func NewReader(msg string, payload []byte) *Reader {
	return &Reader{b: payload, msg: msg, idx: -1}
}

// Err returns the first error.
func (r *Reader) Err() error { return r.err }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) - r.off }

// SetIndex sets the list index reported in errors (-1: not in a list).
func (r *Reader) SetIndex(i int) { r.idx = i }

// Fail records err for field unless an error is already recorded.
func (r *Reader) Fail(field string, err error) {
	if r.err == nil {
		r.err = &DecodeError{Msg: r.msg, Field: field, Index: r.idx, Err: err}
	}
}

func (r *Reader) next(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > r.Len() {
		r.Fail(field, fmt.Errorf("%w: need %d bytes, have %d", ErrTruncated, n, r.Len()))
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

// U8 reads a byte.
func (r *Reader) U8(field string) uint8 {
	if p := r.next(field, 1); p != nil {
		return p[0]
	}
	return 0
}

// U16 reads a big-endian u16.
func (r *Reader) U16(field string) uint16 {
	if p := r.next(field, 2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

// U32 reads a big-endian u32.
func (r *Reader) U32(field string) uint32 {
	if p := r.next(field, 4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// U64 reads a big-endian u64.
func (r *Reader) U64(field string) uint64 {
	if p := r.next(field, 8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// Fixed fills dst.
func (r *Reader) Fixed(field string, dst []byte) {
	if p := r.next(field, len(dst)); p != nil {
		copy(dst, p)
	}
}

// Bool reads a byte that must be 0 or 1.
func (r *Reader) Bool(field string) bool {
	v := r.U8(field)
	if v > 1 {
		r.Fail(field, fmt.Errorf("%w: boolean byte %d", ErrNonCanonical, v))
	}
	return v == 1
}

// Count reads a u16 list count, checks it against max and against the
// bytes left given the smallest encoded element (minElem ≥ 1).
func (r *Reader) Count(field string, max, minElem int) int {
	n := int(r.U16(field))
	if r.err != nil {
		return 0
	}
	if n > max {
		r.Fail(field, fmt.Errorf("%w: count %d > %d", ErrFieldTooLarge, n, max))
		return 0
	}
	if n*minElem > r.Len() {
		r.Fail(field, fmt.Errorf("%w: count %d needs ≥ %d bytes, have %d", ErrTruncated, n, n*minElem, r.Len()))
		return 0
	}
	return n
}

// VarBytes reads a u16 length (≤ max) and returns a copy of the bytes
// (nil when empty), so messages never alias the frame buffer.
func (r *Reader) VarBytes(field string, max int) []byte {
	p := r.varBytes(field, max)
	if len(p) == 0 {
		return nil
	}
	return bytes.Clone(p)
}

func (r *Reader) varBytes(field string, max int) []byte {
	n := int(r.U16(field))
	if r.err != nil {
		return nil
	}
	if n > max {
		r.Fail(field, fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, n, max))
		return nil
	}
	return r.next(field, n)
}

// String reads UTF-8 text with a u16 length ≤ max.
func (r *Reader) String(field string, max int) string {
	p := r.varBytes(field, max)
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(p) {
		r.Fail(field, fmt.Errorf("%w: not UTF-8", ErrInvalidField))
		return ""
	}
	return string(p)
}

// Addr reads a network address (printable ASCII, ≤ MaxAddrLen).
func (r *Reader) Addr(field string) string {
	s := r.String(field, MaxAddrLen)
	if r.err != nil {
		return ""
	}
	if err := checkAddr(s); err != nil {
		r.Fail(field, err)
		return ""
	}
	return s
}

// Amount reads a satoshi amount ≤ MaxSatoshi.
func (r *Reader) Amount(field string) int64 {
	v := r.U64(field)
	if v > btcutil.MaxSatoshi {
		r.Fail(field, fmt.Errorf("%w: amount %d > MaxSatoshi", ErrInvalidField, v))
		return 0
	}
	return int64(v)
}

// PubKey reads and validates a 33-byte compressed public key.
func (r *Reader) PubKey(field string) *btcec.PublicKey {
	p := r.next(field, PubKeySize)
	if p == nil {
		return nil
	}
	if p[0] != 0x02 && p[0] != 0x03 {
		r.Fail(field, fmt.Errorf("%w: public key not compressed (prefix 0x%02x)", ErrInvalidField, p[0]))
		return nil
	}
	k, err := btcec.ParsePubKey(p)
	if err != nil {
		r.Fail(field, fmt.Errorf("%w: %v", ErrInvalidField, err))
		return nil
	}
	return k
}

// Scalar reads a 32-byte private key / nonce in [1, n-1].
func (r *Reader) Scalar(field string) *btcec.PrivateKey {
	p := r.next(field, ScalarSize)
	if p == nil {
		return nil
	}
	var s btcec.ModNScalar
	if overflow := s.SetByteSlice(p); overflow || s.IsZero() {
		r.Fail(field, fmt.Errorf("%w: scalar zero or ≥ group order", ErrInvalidField))
		return nil
	}
	return btcec.PrivKeyFromScalar(&s)
}

// Sig reads a strict-DER ECDSA signature (no sighash byte).
func (r *Reader) Sig(field string) []byte {
	p := r.varBytes(field, MaxSigLen)
	if r.err != nil {
		return nil
	}
	if err := checkSig(p); err != nil {
		r.Fail(field, err)
		return nil
	}
	return bytes.Clone(p)
}

// Script reads a redeem/witness script ≤ MaxRedeemScriptLen.
func (r *Reader) Script(field string) []byte { return r.VarBytes(field, MaxRedeemScriptLen) }

// Tx reads a u32-length-prefixed transaction of at most max bytes. The
// length is bounded BEFORE btcd sees the bytes (btcd's own limits allow
// 32 MiB), the blob is pre-scanned so no count inside it can make btcd
// allocate more than the blob justifies, and btcd must consume it exactly.
func (r *Reader) Tx(field string, max int) *wire.MsgTx {
	n := r.U32(field)
	if r.err != nil {
		return nil
	}
	if n > uint32(max) {
		r.Fail(field, fmt.Errorf("%w: transaction %d bytes > %d", ErrFieldTooLarge, n, max))
		return nil
	}
	blob := r.next(field, int(n))
	if r.err != nil {
		return nil
	}
	if err := scanTx(blob); err != nil {
		r.Fail(field, err)
		return nil
	}
	br := bytes.NewReader(blob)
	tx := new(wire.MsgTx)
	if err := tx.Deserialize(br); err != nil {
		r.Fail(field, fmt.Errorf("%w: %v", ErrInvalidField, err))
		return nil
	}
	if br.Len() != 0 || tx.SerializeSize() != len(blob) {
		r.Fail(field, fmt.Errorf("%w: transaction does not re-serialize to its blob", ErrNonCanonical))
		return nil
	}
	return tx
}

// OutPoint reads btcd's outpoint serialization.
func (r *Reader) OutPoint(field string) wire.OutPoint {
	var op wire.OutPoint
	if p := r.next(field, OutPointSize); p != nil {
		copy(op.Hash[:], p[:chainhash.HashSize])
		op.Index = binary.LittleEndian.Uint32(p[chainhash.HashSize:])
	}
	return op
}

func checkSig(sig []byte) error {
	if len(sig) < MinSigLen || len(sig) > MaxSigLen {
		return fmt.Errorf("%w: signature length %d not in [%d, %d]", ErrInvalidField, len(sig), MinSigLen, MaxSigLen)
	}
	// btcec ignores bytes after the DER sequence; we do not.
	if int(sig[1])+2 != len(sig) {
		return fmt.Errorf("%w: DER length %d does not match %d bytes", ErrNonCanonical, sig[1], len(sig))
	}
	if _, err := ecdsa.ParseDERSignature(sig); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidField, err)
	}
	return nil
}

func checkAddr(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty address", ErrInvalidField)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f {
			return fmt.Errorf("%w: address byte 0x%02x not printable ASCII", ErrInvalidField, c)
		}
	}
	return nil
}

// scanTx walks a serialized transaction without allocating, checking that
// every count fits in the bytes left (so btcd's make([]TxIn, count) and
// friends stay proportional to the blob) and that the blob ends exactly
// after the locktime.
func scanTx(b []byte) error {
	bad := func(what string) error {
		return fmt.Errorf("%w: transaction %s", ErrInvalidField, what)
	}
	p := 4 // version
	if len(b) < minTxSize {
		return bad("shorter than the smallest transaction")
	}
	witness := false
	if b[p] == 0x00 {
		if b[p+1] != 0x01 {
			return bad("has a bad segwit flag")
		}
		witness = true
		p += 2
	}
	varint := func() (uint64, bool) {
		if p >= len(b) {
			return 0, false
		}
		d := b[p]
		var v uint64
		var n int
		switch {
		case d < 0xfd:
			p++
			return uint64(d), true
		case d == 0xfd:
			n = 2
		case d == 0xfe:
			n = 4
		default:
			n = 8
		}
		if p+1+n > len(b) {
			return 0, false
		}
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[p+1+i])
		}
		p += 1 + n
		// Canonical: the shortest form must have been used.
		var min uint64
		switch n {
		case 2:
			min = 0xfd
		case 4:
			min = 0x10000
		default:
			min = 0x100000000
		}
		return v, v >= min
	}
	skip := func(n uint64) bool {
		if n > uint64(len(b)-p) {
			return false
		}
		p += int(n)
		return true
	}
	nIn, ok := varint()
	if !ok || nIn == 0 || nIn > uint64(len(b)-p)/minTxInSize {
		return bad("input count invalid")
	}
	for i := uint64(0); i < nIn; i++ {
		if !skip(OutPointSize) {
			return bad("input truncated")
		}
		l, ok := varint()
		if !ok || !skip(l) || !skip(4) {
			return bad("input script invalid")
		}
	}
	nOut, ok := varint()
	if !ok || nOut == 0 || nOut > uint64(len(b)-p)/minTxOutSize {
		return bad("output count invalid")
	}
	for i := uint64(0); i < nOut; i++ {
		if !skip(8) {
			return bad("output truncated")
		}
		l, ok := varint()
		if !ok || !skip(l) {
			return bad("output script invalid")
		}
	}
	if witness {
		for i := uint64(0); i < nIn; i++ {
			items, ok := varint()
			if !ok || items > uint64(len(b)-p) {
				return bad("witness count invalid")
			}
			for j := uint64(0); j < items; j++ {
				l, ok := varint()
				if !ok || !skip(l) {
					return bad("witness item invalid")
				}
			}
		}
	}
	if !skip(4) {
		return bad("locktime truncated")
	}
	if p != len(b) {
		return fmt.Errorf("%w: %d bytes after the transaction", ErrNonCanonical, len(b)-p)
	}
	return nil
}
