package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// The message pool (node/pool): signed envelopes flooded peer to peer by
// announce (inv) and fetch (getdata), and reconciled at join time.
//
// A pool connection is opened by the dialer's PoolHello (its first
// message, routed to the pool service by node/service), usually pipelined
// behind the protocol Hello together with a PoolSync, so that join sync
// costs no round trip of its own. After that both sides send any of the
// messages below at any time.
//
// Ids: an envelope's id is the BIP340 tagged SHA-256 (tag PoolIDTag) of
// its encoding without the signature, i.e. of exactly the bytes the
// signature signs; the signature is over the id. Relay and sync name
// envelopes by their ShortID, the id's first 8 bytes: 4× fewer
// announcement bytes than full ids (Erlay uses 32-bit short ids), and a
// collision with a chosen honest message needs ~2^64 work, so a peer
// cannot make us skip someone else's message; two of an attacker's own
// messages colliding only costs the attacker.
const (
	TypePoolHello     MessageType = 0x0300
	TypePoolSync      MessageType = 0x0302
	TypePoolSyncReply MessageType = 0x0304
	TypePoolInv       MessageType = 0x0306
	TypePoolGetData   MessageType = 0x0308
	TypePoolMsgs      MessageType = 0x030A
	TypePoolGetAddrs  MessageType = 0x030C
	TypePoolAddrs     MessageType = 0x030E
)

// Pool field sizes and bounds.
const (
	// PoolIDSize: SHA-256.
	PoolIDSize = 32
	// ShortIDSize: the id prefix used in inv, getdata and sync (see above).
	ShortIDSize = 8
	// PoolItemSize: 128 random bits name an item of one origin (an offer);
	// they cannot collide by chance and are half a hash.
	PoolItemSize = 16
	// XOnlyKeySize and SchnorrSigSize: BIP340.
	XOnlyKeySize   = 32
	SchnorrSigSize = 64

	// PoolEnvelopeVersion is the only envelope version this code knows.
	PoolEnvelopeVersion = 1

	// MaxTopicLen: topics are short names ("offer/v1", "coinjoin/v1");
	// 32 bytes leave room for a version and a sub-topic.
	MaxTopicLen = 32

	// MaxPoolBodyLen is the wire ceiling of any topic's body. Each topic
	// has its own, lower cap in node/pool (an offer ≤ 4 KB:
	// market-reference §6 puts Bisq offers at ≈ 2 KB); 16 KiB leaves room
	// for a CoinJoin message with a partially signed transaction while a
	// batch of them still fits a frame many times over.
	MaxPoolBodyLen = 16 * 1024

	// MaxPoolEnvelopeSize is the largest encoded envelope.
	MaxPoolEnvelopeSize = 3 + u16Size + MaxTopicLen + XOnlyKeySize + PoolItemSize + 3*u64Size +
		PoolIDSize + u16Size + MaxPoolBodyLen + SchnorrSigSize
	// MinPoolEnvelopeSize is the smallest (empty topic is refused, so 1).
	MinPoolEnvelopeSize = 3 + u16Size + 1 + XOnlyKeySize + PoolItemSize + 3*u64Size + u16Size + SchnorrSigSize

	// MaxPoolIDs: short ids in one PoolInv or PoolGetData. 10,000 is the
	// default cap of envelopes a node holds (node/pool MaxMessages), so a
	// whole pool is fetched in one request (80 kB); Bitcoin allows 50,000
	// (MAX_INV_SZ).
	MaxPoolIDs = 10_000

	// MaxSyncBits: a PoolSync splits the id space into 2^Bits buckets by
	// the ids' leading bits; 12 bits = 4096 buckets × 10 bytes = 40 kB,
	// enough for ~65,000 envelopes at 16 per bucket.
	MaxSyncBits = 12

	// MaxSyncIDs: short ids in one PoolSyncReply: 100,000 × 8 bytes =
	// 800 kB, within a frame, and 10× the default pool.
	MaxSyncIDs = 100_000

	// MaxPoolBatch: envelopes in one PoolMsgs. The frame (1 MiB) bounds
	// the bytes; the count bounds the slice header allocation, which the
	// decoder also checks against the bytes left at the smallest envelope.
	MaxPoolBatch = 1024

	// MaxPoolAddrs: addresses in one PoolAddrs. Bitcoin sends at most
	// 1000 (MAX_ADDR_TO_SEND); a pool peer needs a few dozen to fill its
	// 8 outbound slots, so 250 (≈ 27 kB of onion addresses) is plenty.
	MaxPoolAddrs = 250
)

// PoolIDTag is the BIP340 tag of envelope ids.
const PoolIDTag = "onionswap/pool/v1"

// Envelope flags.
const (
	// PoolFlagRemoval: the envelope removes its item (signed tombstone);
	// its body must be empty.
	PoolFlagRemoval uint8 = 1 << 0
	// PoolFlagRecipient: the envelope is addressed to one recipient,
	// named by Recipient (a hash of its key); the body is encrypted to it
	// by the topic's owner. Relays treat it like any other envelope.
	PoolFlagRecipient uint8 = 1 << 1

	poolKnownFlags = PoolFlagRemoval | PoolFlagRecipient
)

// PoolID is an envelope id.
type PoolID [PoolIDSize]byte

// Short returns the id's short form.
func (id PoolID) Short() ShortID {
	var s ShortID
	copy(s[:], id[:ShortIDSize])
	return s
}

func (id PoolID) String() string { return hex.EncodeToString(id[:]) }

// ShortID is an id's first 8 bytes. Compared as a big-endian u64.
type ShortID [ShortIDSize]byte

// Uint64 is the short id as a big-endian integer (its sort order).
func (s ShortID) Uint64() uint64 { return binary.BigEndian.Uint64(s[:]) }

func (s ShortID) String() string { return hex.EncodeToString(s[:]) }

// ShortIDFromUint64 is the inverse of Uint64.
func ShortIDFromUint64(v uint64) ShortID {
	var s ShortID
	binary.BigEndian.PutUint64(s[:], v)
	return s
}

// PoolItem names one item (an offer, an announcement) of one origin.
type PoolItem [PoolItemSize]byte

// PoolEnvelope is one signed pool message.
//
//	u8   Version (PoolEnvelopeVersion)
//	u8   Network
//	u8   Flags (PoolFlag*; unknown bits refused)
//	u16  len(Topic) in [1, MaxTopicLen], then [a-z0-9./_-]
//	[32] Origin      BIP340 x-only public key
//	[16] Item
//	u64  Seq         strictly increasing per (Topic, Origin, Item)
//	u64  Created     unix seconds
//	u64  Expiry      unix seconds, ≥ Created
//	[32] Recipient   only with PoolFlagRecipient
//	u16  len(Body) ≤ MaxPoolBodyLen, then Body (empty with PoolFlagRemoval)
//	[64] Sig         BIP340 over ID()
type PoolEnvelope struct {
	Network   Network
	Flags     uint8
	Topic     string
	Origin    [XOnlyKeySize]byte
	Item      PoolItem
	Seq       uint64
	Created   uint64
	Expiry    uint64
	Recipient [PoolIDSize]byte
	Body      []byte
	Sig       [SchnorrSigSize]byte
}

// IsRemoval reports whether the envelope is a signed removal.
func (e *PoolEnvelope) IsRemoval() bool { return e.Flags&PoolFlagRemoval != 0 }

func (e *PoolEnvelope) encodeUnsigned(w *Writer) {
	w.U8(PoolEnvelopeVersion)
	w.U8(uint8(e.Network))
	if e.Flags&^poolKnownFlags != 0 {
		w.fail("Flags", fmt.Errorf("%w: unknown flags 0x%02x", ErrInvalidField, e.Flags))
	}
	w.U8(e.Flags)
	if err := checkTopic(e.Topic); err != nil {
		w.fail("Topic", err)
	}
	w.String("Topic", e.Topic, MaxTopicLen)
	w.Fixed(e.Origin[:])
	w.Fixed(e.Item[:])
	w.U64(e.Seq)
	w.U64(e.Created)
	if e.Expiry < e.Created {
		w.fail("Expiry", fmt.Errorf("%w: expiry before creation", ErrInvalidField))
	}
	w.U64(e.Expiry)
	if e.Flags&PoolFlagRecipient != 0 {
		w.Fixed(e.Recipient[:])
	} else if e.Recipient != ([PoolIDSize]byte{}) {
		w.fail("Recipient", fmt.Errorf("%w: recipient without its flag", ErrInvalidField))
	}
	if e.IsRemoval() && len(e.Body) > 0 {
		w.fail("Body", fmt.Errorf("%w: removal with a body", ErrInvalidField))
	}
	w.VarBytes("Body", e.Body, MaxPoolBodyLen)
}

// AppendEncode appends the envelope's encoding (signature included).
func (e *PoolEnvelope) AppendEncode(dst []byte) ([]byte, error) {
	w := NewWriter("PoolEnvelope", dst)
	e.encodeUnsigned(w)
	w.Fixed(e.Sig[:])
	return w.Bytes(), w.Err()
}

// Encode returns the envelope's encoding.
func (e *PoolEnvelope) Encode() ([]byte, error) { return e.AppendEncode(nil) }

// ID computes the envelope's id: the tagged hash of its unsigned
// encoding. It fails only for an envelope that does not encode.
func (e *PoolEnvelope) ID() (PoolID, error) {
	w := NewWriter("PoolEnvelope", nil)
	e.encodeUnsigned(w)
	if err := w.Err(); err != nil {
		return PoolID{}, err
	}
	return PoolID(*chainhash.TaggedHash([]byte(PoolIDTag), w.Bytes())), nil
}

// PoolIDOf computes the id of an encoded envelope without decoding it:
// the tagged hash of everything but the trailing signature. raw must be
// at least SchnorrSigSize bytes (a decoded envelope always is).
func PoolIDOf(raw []byte) PoolID {
	return PoolID(*chainhash.TaggedHash([]byte(PoolIDTag), raw[:len(raw)-SchnorrSigSize]))
}

// Sign sets Origin to key's x-only public key and signs the envelope.
func (e *PoolEnvelope) Sign(key *btcec.PrivateKey) error {
	copy(e.Origin[:], schnorr.SerializePubKey(key.PubKey()))
	id, err := e.ID()
	if err != nil {
		return err
	}
	sig, err := SchnorrSign(key, id[:])
	if err != nil {
		return err
	}
	e.Sig = sig
	return nil
}

// ErrBadSignature: an envelope's signature does not verify under its
// origin (or the origin is not a valid x-only key).
var ErrBadSignature = errors.New("pool envelope signature invalid")

// VerifyPoolSig checks a BIP340 signature of id by origin.
func VerifyPoolSig(id PoolID, origin [XOnlyKeySize]byte, sig [SchnorrSigSize]byte) error {
	pub, err := schnorr.ParsePubKey(origin[:])
	if err != nil {
		return fmt.Errorf("%w: origin: %v", ErrBadSignature, err)
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !s.Verify(id[:], pub) {
		return ErrBadSignature
	}
	return nil
}

// DecodePoolEnvelope decodes one envelope that must fill raw exactly. It
// checks syntax only (bounds, flags, topic characters, expiry ≥ created);
// the signature and everything else are node/pool's checks.
func DecodePoolEnvelope(raw []byte) (*PoolEnvelope, error) {
	if len(raw) > MaxPoolEnvelopeSize {
		return nil, &DecodeError{Msg: "PoolEnvelope", Index: -1,
			Err: fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, len(raw), MaxPoolEnvelopeSize)}
	}
	r := NewReader("PoolEnvelope", raw)
	e := new(PoolEnvelope)
	if v := r.U8("Version"); r.err == nil && v != PoolEnvelopeVersion {
		r.Fail("Version", fmt.Errorf("%w: version %d", ErrInvalidField, v))
	}
	e.Network = Network(r.U8("Network"))
	e.Flags = r.U8("Flags")
	if r.err == nil && e.Flags&^poolKnownFlags != 0 {
		r.Fail("Flags", fmt.Errorf("%w: unknown flags 0x%02x", ErrInvalidField, e.Flags))
	}
	e.Topic = r.String("Topic", MaxTopicLen)
	if r.err == nil {
		if err := checkTopic(e.Topic); err != nil {
			r.Fail("Topic", err)
		}
	}
	r.Fixed("Origin", e.Origin[:])
	r.Fixed("Item", e.Item[:])
	e.Seq = r.U64("Seq")
	e.Created = r.U64("Created")
	e.Expiry = r.U64("Expiry")
	if r.err == nil && e.Expiry < e.Created {
		r.Fail("Expiry", fmt.Errorf("%w: expiry before creation", ErrInvalidField))
	}
	if e.Flags&PoolFlagRecipient != 0 {
		r.Fixed("Recipient", e.Recipient[:])
	}
	e.Body = r.VarBytes("Body", MaxPoolBodyLen)
	if r.err == nil && e.IsRemoval() && len(e.Body) > 0 {
		r.Fail("Body", fmt.Errorf("%w: removal with a body", ErrInvalidField))
	}
	r.Fixed("Sig", e.Sig[:])
	if r.err == nil && r.Len() != 0 {
		r.Fail("", fmt.Errorf("%w: %d bytes", ErrTrailingBytes, r.Len()))
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return e, nil
}

func checkTopic(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty topic", ErrInvalidField)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '/' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: topic byte 0x%02x not in [a-z0-9./_-]", ErrInvalidField, c)
		}
	}
	return nil
}

// PoolHello opens a pool connection (the dialer's first message).
// ListenAddr is where the dialer accepts pool peers itself ("" if it
// does not), for the receiver's peer table; it is the dialer's claim and
// is only trusted once the receiver has dialed it.
//
//	u16 len(ListenAddr) ≤ MaxAddrLen (0: none), printable ASCII
type PoolHello struct {
	ListenAddr string
}

func (m *PoolHello) Type() MessageType  { return TypePoolHello }
func (m *PoolHello) MaxPayload() uint32 { return maxAddrField }

func (m *PoolHello) Encode(w *Writer) error {
	if m.ListenAddr == "" {
		w.U16(0)
	} else {
		w.Addr("ListenAddr", m.ListenAddr)
	}
	return w.Err()
}

func (m *PoolHello) Decode(r *Reader) error {
	s := r.String("ListenAddr", MaxAddrLen)
	if r.err == nil && s != "" {
		if err := checkAddr(s); err != nil {
			r.Fail("ListenAddr", err)
		}
	}
	m.ListenAddr = s
	return r.Err()
}

// PoolBucket is one bucket of a PoolSync: how many envelopes the sender
// holds whose ids start with the bucket's Bits-bit prefix, and a digest
// of their sorted short ids (see SyncDigest).
type PoolBucket struct {
	Count  uint16
	Digest [8]byte
}

// PoolSync opens set reconciliation: the sender's whole set, split into
// 2^Bits buckets by id prefix. The receiver answers with a PoolSyncReply
// listing its short ids in every bucket whose count or digest differs.
//
//	u8 Bits ≤ MaxSyncBits | (u16 Count, [8] Digest) × 2^Bits
type PoolSync struct {
	Bits    uint8
	Buckets []PoolBucket // exactly 1 << Bits
}

const maxPoolSyncPayload = 1 + (1<<MaxSyncBits)*(u16Size+8)

func (m *PoolSync) Type() MessageType  { return TypePoolSync }
func (m *PoolSync) MaxPayload() uint32 { return maxPoolSyncPayload }

func (m *PoolSync) Encode(w *Writer) error {
	if m.Bits > MaxSyncBits {
		w.fail("Bits", fmt.Errorf("%w: %d > %d", ErrFieldTooLarge, m.Bits, MaxSyncBits))
	}
	if len(m.Buckets) != 1<<m.Bits {
		w.fail("Buckets", fmt.Errorf("%w: %d buckets for %d bits", ErrInvalidField, len(m.Buckets), m.Bits))
	}
	w.U8(m.Bits)
	for _, b := range m.Buckets {
		w.U16(b.Count)
		w.Fixed(b.Digest[:])
	}
	return w.Err()
}

func (m *PoolSync) Decode(r *Reader) error {
	m.Bits = r.U8("Bits")
	if r.err != nil {
		return r.Err()
	}
	if m.Bits > MaxSyncBits {
		r.Fail("Bits", fmt.Errorf("%w: %d > %d", ErrFieldTooLarge, m.Bits, MaxSyncBits))
		return r.Err()
	}
	n := 1 << m.Bits
	if n*(u16Size+8) > r.Len() {
		r.Fail("Buckets", fmt.Errorf("%w: %d buckets need %d bytes, have %d", ErrTruncated, n, n*(u16Size+8), r.Len()))
		return r.Err()
	}
	m.Buckets = make([]PoolBucket, n)
	for i := range m.Buckets {
		m.Buckets[i].Count = r.U16("Buckets[].Count")
		r.Fixed("Buckets[].Digest", m.Buckets[i].Digest[:])
	}
	return r.Err()
}

// PoolSyncReply answers a PoolSync: the replier's short ids in every
// bucket that differed, sorted ascending without duplicates.
//
//	u8 Bits | u16 count ≤ 2^Bits, u16 bucket index × count (ascending) |
//	u32 count ≤ MaxSyncIDs, [8] short id × count (ascending)
type PoolSyncReply struct {
	Bits    uint8
	Buckets []uint16
	IDs     []ShortID
}

const maxPoolSyncReplyPayload = 1 + u16Size + (1<<MaxSyncBits)*u16Size + u32Size + MaxSyncIDs*ShortIDSize

func (m *PoolSyncReply) Type() MessageType  { return TypePoolSyncReply }
func (m *PoolSyncReply) MaxPayload() uint32 { return maxPoolSyncReplyPayload }

func (m *PoolSyncReply) Encode(w *Writer) error {
	if m.Bits > MaxSyncBits {
		w.fail("Bits", fmt.Errorf("%w: %d > %d", ErrFieldTooLarge, m.Bits, MaxSyncBits))
	}
	w.U8(m.Bits)
	w.Count("Buckets", len(m.Buckets), 1<<m.Bits)
	for i, b := range m.Buckets {
		if int(b) >= 1<<m.Bits || i > 0 && b <= m.Buckets[i-1] {
			w.SetIndex(i)
			w.fail("Buckets[]", fmt.Errorf("%w: bucket %d out of order or range", ErrNonCanonical, b))
		}
		w.U16(b)
	}
	w.SetIndex(-1)
	if len(m.IDs) > MaxSyncIDs {
		w.fail("IDs", fmt.Errorf("%w: count %d > %d", ErrFieldTooLarge, len(m.IDs), MaxSyncIDs))
	}
	w.U32(uint32(len(m.IDs)))
	for i, id := range m.IDs {
		if i > 0 && id.Uint64() <= m.IDs[i-1].Uint64() {
			w.SetIndex(i)
			w.fail("IDs[]", fmt.Errorf("%w: ids not strictly ascending", ErrNonCanonical))
		}
		w.Fixed(id[:])
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *PoolSyncReply) Decode(r *Reader) error {
	m.Bits = r.U8("Bits")
	if r.err == nil && m.Bits > MaxSyncBits {
		r.Fail("Bits", fmt.Errorf("%w: %d > %d", ErrFieldTooLarge, m.Bits, MaxSyncBits))
	}
	if r.err != nil {
		return r.Err()
	}
	if n := r.Count("Buckets", 1<<m.Bits, u16Size); n > 0 {
		m.Buckets = make([]uint16, n)
	}
	for i := range m.Buckets {
		r.SetIndex(i)
		b := r.U16("Buckets[]")
		if r.err == nil && (int(b) >= 1<<m.Bits || i > 0 && b <= m.Buckets[i-1]) {
			r.Fail("Buckets[]", fmt.Errorf("%w: bucket %d out of order or range", ErrNonCanonical, b))
		}
		m.Buckets[i] = b
	}
	r.SetIndex(-1)
	m.IDs = readShortIDs(r, "IDs", MaxSyncIDs, true, true)
	return r.Err()
}

// readShortIDs reads a count (u32 if wide, else u16) ≤ max and that many
// short ids, checking the bytes left before allocating.
func readShortIDs(r *Reader, field string, max int, wide, ascending bool) []ShortID {
	var n int
	if wide {
		n = int(r.U32(field))
	} else {
		n = int(r.U16(field))
	}
	if r.err != nil {
		return nil
	}
	if n > max {
		r.Fail(field, fmt.Errorf("%w: count %d > %d", ErrFieldTooLarge, n, max))
		return nil
	}
	if n*ShortIDSize > r.Len() {
		r.Fail(field, fmt.Errorf("%w: count %d needs %d bytes, have %d", ErrTruncated, n, n*ShortIDSize, r.Len()))
		return nil
	}
	if n == 0 {
		return nil
	}
	ids := make([]ShortID, n)
	for i := range ids {
		r.Fixed(field+"[]", ids[i][:])
		if ascending && i > 0 && ids[i].Uint64() <= ids[i-1].Uint64() && r.err == nil {
			r.SetIndex(i)
			r.Fail(field+"[]", fmt.Errorf("%w: ids not strictly ascending", ErrNonCanonical))
			r.SetIndex(-1)
		}
	}
	return ids
}

func writeShortIDs(w *Writer, field string, ids []ShortID) {
	w.Count(field, len(ids), MaxPoolIDs)
	for _, id := range ids {
		w.Fixed(id[:])
	}
}

// PoolInv announces envelopes by short id (Bitcoin's inv). The receiver
// fetches those it lacks with PoolGetData.
//
//	u16 count ≤ MaxPoolIDs, [8] short id × count
type PoolInv struct {
	IDs []ShortID
}

const maxPoolIDsPayload = u16Size + MaxPoolIDs*ShortIDSize

func (m *PoolInv) Type() MessageType  { return TypePoolInv }
func (m *PoolInv) MaxPayload() uint32 { return maxPoolIDsPayload }
func (m *PoolInv) Encode(w *Writer) error {
	writeShortIDs(w, "IDs", m.IDs)
	return w.Err()
}
func (m *PoolInv) Decode(r *Reader) error {
	m.IDs = readShortIDs(r, "IDs", MaxPoolIDs, false, false)
	return r.Err()
}

// PoolGetData asks for envelopes by short id (Bitcoin's getdata). The
// answer is one or more PoolMsgs; ids the peer no longer holds are
// silently missing from them.
//
//	u16 count ≤ MaxPoolIDs, [8] short id × count
type PoolGetData struct {
	IDs []ShortID
}

func (m *PoolGetData) Type() MessageType  { return TypePoolGetData }
func (m *PoolGetData) MaxPayload() uint32 { return maxPoolIDsPayload }
func (m *PoolGetData) Encode(w *Writer) error {
	writeShortIDs(w, "IDs", m.IDs)
	return w.Err()
}
func (m *PoolGetData) Decode(r *Reader) error {
	m.IDs = readShortIDs(r, "IDs", MaxPoolIDs, false, false)
	return r.Err()
}

// PoolMsgs carries envelopes, each as its encoded bytes: the pool checks
// every envelope's size before decoding it (cheapest check first), and
// one malformed envelope costs its sender score without ending the
// connection.
//
//	u16 count ≤ MaxPoolBatch, (u16 len ≤ MaxPoolEnvelopeSize, bytes) × count
type PoolMsgs struct {
	Envelopes [][]byte
}

// MaxPoolMsgsPayload: a frame's worth; senders split larger batches.
const MaxPoolMsgsPayload = MaxFramePayload

func (m *PoolMsgs) Type() MessageType  { return TypePoolMsgs }
func (m *PoolMsgs) MaxPayload() uint32 { return MaxPoolMsgsPayload }

func (m *PoolMsgs) Encode(w *Writer) error {
	w.Count("Envelopes", len(m.Envelopes), MaxPoolBatch)
	for i, e := range m.Envelopes {
		w.SetIndex(i)
		if len(e) == 0 {
			w.fail("Envelopes[]", fmt.Errorf("%w: empty envelope", ErrInvalidField))
		}
		w.VarBytes("Envelopes[]", e, MaxPoolEnvelopeSize)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *PoolMsgs) Decode(r *Reader) error {
	if n := r.Count("Envelopes", MaxPoolBatch, u16Size+MinPoolEnvelopeSize); n > 0 {
		m.Envelopes = make([][]byte, n)
	}
	for i := range m.Envelopes {
		r.SetIndex(i)
		// Oversized envelopes are refused here, before the pool sees
		// them; the pool's own size check is per topic.
		m.Envelopes[i] = r.VarBytes("Envelopes[]", MaxPoolEnvelopeSize)
		if r.err == nil && len(m.Envelopes[i]) == 0 {
			r.Fail("Envelopes[]", fmt.Errorf("%w: empty envelope", ErrInvalidField))
		}
	}
	r.SetIndex(-1)
	return r.Err()
}

// PoolMsgsOverhead is what PoolMsgs adds to its envelopes (frame header,
// count) and PoolMsgsPerEnvelope what each envelope adds (its length):
// senders pack batches up to a byte budget with them.
const (
	PoolMsgsOverhead    = HeaderSize + u16Size
	PoolMsgsPerEnvelope = u16Size
)

// PoolGetAddrs asks for a sample of the peer's pool peer table. Empty.
type PoolGetAddrs struct{}

func (m *PoolGetAddrs) Type() MessageType    { return TypePoolGetAddrs }
func (m *PoolGetAddrs) MaxPayload() uint32   { return 0 }
func (m *PoolGetAddrs) Encode(*Writer) error { return nil }
func (m *PoolGetAddrs) Decode(*Reader) error { return nil }

// PoolAddr is one pool peer address with when the sender last saw it
// working (unix seconds).
type PoolAddr struct {
	Addr     string
	LastSeen uint64
}

// PoolAddrs answers PoolGetAddrs (peer exchange), or relays a few fresh
// addresses unasked.
//
//	u16 count ≤ MaxPoolAddrs, (addr Addr, u64 LastSeen) × count
type PoolAddrs struct {
	Addrs []PoolAddr
}

func (m *PoolAddrs) Type() MessageType { return TypePoolAddrs }
func (m *PoolAddrs) MaxPayload() uint32 {
	return u16Size + MaxPoolAddrs*(maxAddrField+u64Size)
}

func (m *PoolAddrs) Encode(w *Writer) error {
	w.Count("Addrs", len(m.Addrs), MaxPoolAddrs)
	for i, a := range m.Addrs {
		w.SetIndex(i)
		w.Addr("Addrs[].Addr", a.Addr)
		w.U64(a.LastSeen)
	}
	w.SetIndex(-1)
	return w.Err()
}

func (m *PoolAddrs) Decode(r *Reader) error {
	if n := r.Count("Addrs", MaxPoolAddrs, u16Size+1+u64Size); n > 0 {
		m.Addrs = make([]PoolAddr, n)
	}
	for i := range m.Addrs {
		r.SetIndex(i)
		m.Addrs[i].Addr = r.Addr("Addrs[].Addr")
		m.Addrs[i].LastSeen = r.U64("Addrs[].LastSeen")
	}
	r.SetIndex(-1)
	return r.Err()
}

// SyncBucket is the bucket of a short id at bits bits: its top bits.
func SyncBucket(s ShortID, bits uint8) int {
	if bits == 0 {
		return 0
	}
	return int(s.Uint64() >> (64 - uint(bits)))
}

// SyncDigest is a bucket's digest: the first 8 bytes of the SHA-256 of
// its short ids in ascending order (ids must be sorted). Unlike an XOR of
// the ids, no chosen set of envelopes cancels out.
func SyncDigest(sorted []ShortID) [8]byte {
	h := chainhash.TaggedHash([]byte(PoolIDTag+"/sync"), shortIDBytes(sorted))
	var d [8]byte
	copy(d[:], h[:8])
	return d
}

func shortIDBytes(ids []ShortID) []byte {
	var b bytes.Buffer
	b.Grow(len(ids) * ShortIDSize)
	for _, id := range ids {
		b.Write(id[:])
	}
	return b.Bytes()
}

// Compile-time proofs that the pool's largest messages fit a frame.
const (
	_ = uint(MaxFramePayload - maxPoolSyncReplyPayload)
	_ = uint(MaxFramePayload - maxPoolSyncPayload)
	_ = uint(MaxFramePayload - maxPoolIDsPayload)
	// A batch holds at least one maximal envelope.
	_ = uint(MaxPoolMsgsPayload - (u16Size + PoolMsgsPerEnvelope + MaxPoolEnvelopeSize))
)

func init() {
	RegisterType(TypePoolHello, "PoolHello", func() Message { return new(PoolHello) })
	RegisterType(TypePoolSync, "PoolSync", func() Message { return new(PoolSync) })
	RegisterType(TypePoolSyncReply, "PoolSyncReply", func() Message { return new(PoolSyncReply) })
	RegisterType(TypePoolInv, "PoolInv", func() Message { return new(PoolInv) })
	RegisterType(TypePoolGetData, "PoolGetData", func() Message { return new(PoolGetData) })
	RegisterType(TypePoolMsgs, "PoolMsgs", func() Message { return new(PoolMsgs) })
	RegisterType(TypePoolGetAddrs, "PoolGetAddrs", func() Message { return new(PoolGetAddrs) })
	RegisterType(TypePoolAddrs, "PoolAddrs", func() Message { return new(PoolAddrs) })
}

// ParsePoolID reads an id in its String form (64 hex digits).
func ParsePoolID(s string) (PoolID, error) {
	var id PoolID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != PoolIDSize {
		return id, fmt.Errorf("%w: pool id %q: want %d hex bytes", ErrInvalidField, s, PoolIDSize)
	}
	copy(id[:], b)
	return id, nil
}

// SchnorrSign is BIP340 schnorr.Sign on a copy of key: btcec v2.1.3's
// Sign negates the private scalar in place when the public key's Y is
// odd, so two goroutines signing with one key (a node's identity signs
// from its service and its background loops) would race on it and could
// sign with a half-negated key.
func SchnorrSign(key *btcec.PrivateKey, digest []byte) ([SchnorrSigSize]byte, error) {
	var out [SchnorrSigSize]byte
	k := *key
	sig, err := schnorr.Sign(&k, digest)
	if err != nil {
		return out, err
	}
	copy(out[:], sig.Serialize())
	return out, nil
}
