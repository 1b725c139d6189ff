package protocol

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Chat between two nodes (node/chat): end-to-end encrypted messages,
// delivered straight to the recipient's onion service when it is online
// and through the message pool's mailbox when it is not. One sealed
// format serves both paths, so a relay holds exactly the bytes a direct
// stream carries: ciphertext under a key only the recipient can derive.
//
// Direct delivery, on a stream opened with ChatKeyRequest:
//
//	ChatKeyRequest → ChatKey (a one-time X25519 key, signed by the
//	recipient's chat identity, forgotten when the stream ends)
//	ChatDeliver → ChatAck, as often as the sender likes
//
// Bodies that are not framed messages: ChatPrekey (the signed key a
// recipient can be written to; inside ChatKey and inside every message,
// so the other side can answer while we are offline), ChatSealed (the
// mailbox envelope's body, ChatDeliver's payload) and ChatPlain (what a
// ChatSealed decrypts to).
const (
	TypeChatKeyRequest MessageType = 0x0400
	TypeChatKey        MessageType = 0x0402
	TypeChatDeliver    MessageType = 0x0404
	TypeChatAck        MessageType = 0x0406
)

// Chat sizes and tags.
const (
	// X25519KeySize: RFC 7748.
	X25519KeySize = 32
	// MaxChatText: a chat message's text, in bytes of UTF-8. Bisq's trade
	// chat is for short notes ("sent the payment"); 2,000 bytes is a long
	// paragraph and keeps a sealed message under 3 KB, so a recipient's
	// mailbox quota holds dozens of them.
	MaxChatText = 2000
	// chatAEADOverhead: XChaCha20-Poly1305's tag.
	chatAEADOverhead = 16

	// ChatPrekeyTag, ChatMsgTag: BIP340 tags of what a chat identity
	// signs.
	ChatPrekeyTag = "onionswap/chat-prekey"
	ChatMsgTag    = "onionswap/chat-msg"
	// ChatSealedVersion is the only sealed version this code knows.
	ChatSealedVersion = 1
)

// Chat message kinds (ChatPlain.Kind).
const (
	// ChatKindText: a text message, numbered in its conversation.
	ChatKindText uint8 = 1
	// ChatKindReceipt: "delivered up to n, read up to m" of the
	// conversation's messages the receipt's recipient sent. Not
	// numbered: receipts merge by maximum, so a replay changes nothing.
	ChatKindReceipt uint8 = 2
)

// Chat conversation contexts (ChatPlain.Context): what a conversation is
// about, part of its identity so a message cannot be moved to another.
const (
	ChatContextNone  uint8 = 0 // the two nodes' general conversation
	ChatContextOffer uint8 = 1 // ContextID: the offer's origin (its maker's pool identity)
	ChatContextSwap  uint8 = 2 // ContextID: the swap id (16 bytes, zero-padded)
)

// ChatAck statuses.
const (
	ChatAckStored    uint8 = 0 // persisted (or a duplicate of one that was)
	ChatAckLimited   uint8 = 1 // over the sender's rate: retry after RetryAfter
	ChatAckRefused   uint8 = 2 // not for us, undecryptable, forged, or silenced
	chatAckKnownLast       = ChatAckRefused
)

// ChatPrekey is an X25519 key a chat identity can be written to, signed by
// the identity (BIP340 over the tagged hash ChatPrekeyTag of everything
// before Sig), with an expiry after which its owner deletes the private
// part (forward secrecy), and optionally the owner's onion address
// ("host:port") for direct delivery.
//
//	[32] Identity | [32] Key | u64 Expiry | u16 len(Addr) ≤ MaxAddrLen, Addr | [64] Sig
type ChatPrekey struct {
	Identity [XOnlyKeySize]byte
	Key      [X25519KeySize]byte
	Expiry   uint64
	Addr     string
	Sig      [SchnorrSigSize]byte
}

const (
	maxChatPrekey = XOnlyKeySize + X25519KeySize + u64Size + maxAddrField + SchnorrSigSize
	minChatPrekey = XOnlyKeySize + X25519KeySize + u64Size + u16Size + SchnorrSigSize
)

func (k *ChatPrekey) encodeUnsigned(w *Writer) {
	w.Fixed(k.Identity[:])
	w.Fixed(k.Key[:])
	w.U64(k.Expiry)
	if k.Addr == "" {
		w.U16(0)
	} else {
		w.Addr("Prekey.Addr", k.Addr)
	}
}

func (k *ChatPrekey) encode(w *Writer) {
	k.encodeUnsigned(w)
	w.Fixed(k.Sig[:])
}

func (k *ChatPrekey) decode(r *Reader) {
	r.Fixed("Prekey.Identity", k.Identity[:])
	r.Fixed("Prekey.Key", k.Key[:])
	k.Expiry = r.U64("Prekey.Expiry")
	k.Addr = r.String("Prekey.Addr", MaxAddrLen)
	if r.err == nil && k.Addr != "" {
		if err := checkAddr(k.Addr); err != nil {
			r.Fail("Prekey.Addr", err)
		}
	}
	r.Fixed("Prekey.Sig", k.Sig[:])
}

// Digest is what Identity signs.
func (k *ChatPrekey) Digest() ([32]byte, error) {
	w := NewWriter("ChatPrekey", nil)
	k.encodeUnsigned(w)
	if err := w.Err(); err != nil {
		return [32]byte{}, err
	}
	return *chainhash.TaggedHash([]byte(ChatPrekeyTag), w.Bytes()), nil
}

// Sign sets Identity to key's x-only key and signs the prekey.
func (k *ChatPrekey) Sign(key *btcec.PrivateKey) error {
	copy(k.Identity[:], schnorr.SerializePubKey(key.PubKey()))
	d, err := k.Digest()
	if err != nil {
		return err
	}
	sig, err := SchnorrSign(key, d[:])
	if err != nil {
		return err
	}
	k.Sig = sig
	return nil
}

// ErrChatSig: a chat prekey's or message's signature does not verify.
var ErrChatSig = errors.New("chat signature invalid")

// Verify checks the signature (not the expiry: that is the caller's
// clock).
func (k *ChatPrekey) Verify() error {
	d, err := k.Digest()
	if err != nil {
		return err
	}
	return verifySchnorr(d, k.Identity, k.Sig)
}

func verifySchnorr(d [32]byte, key [XOnlyKeySize]byte, sig [SchnorrSigSize]byte) error {
	pub, err := schnorr.ParsePubKey(key[:])
	if err != nil {
		return fmt.Errorf("%w: key: %v", ErrChatSig, err)
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrChatSig, err)
	}
	if !s.Verify(d[:], pub) {
		return ErrChatSig
	}
	return nil
}

// ChatPlain is a chat message in clear: what a ChatSealed decrypts to.
//
//	[32] From | [32] To | u8 Context | [32] ContextID | u64 Seq | u64 Sent |
//	u8 Kind | Kind text: u16 len(Text) ≤ MaxChatText, Text (UTF-8)
//	        | Kind receipt: u64 Delivered | u64 Read
//	bool HasReply, ChatPrekey Reply | [64] Sig
//
// From and To are the two chat identities; From signs (BIP340, tag
// ChatMsgTag) everything before Sig. Seq numbers From's text messages in
// the conversation (From, To, Context, ContextID) from 1; a receipt's is
// 0. Reply, when present, is From's current prekey and address, so that
// To can answer while From is offline.
type ChatPlain struct {
	From, To  [XOnlyKeySize]byte
	Context   uint8
	ContextID [32]byte
	Seq       uint64
	Sent      uint64
	Kind      uint8
	Text      string
	Delivered uint64
	Read      uint64
	Reply     *ChatPrekey
	Sig       [SchnorrSigSize]byte
}

const (
	chatPlainFixed = 2*XOnlyKeySize + 1 + 32 + 2*u64Size + 1
	// MaxChatPlain is the largest ChatPlain encoding.
	MaxChatPlain = chatPlainFixed + u16Size + MaxChatText + 1 + maxChatPrekey + SchnorrSigSize
)

func (m *ChatPlain) encodeUnsigned(w *Writer) {
	w.Fixed(m.From[:])
	w.Fixed(m.To[:])
	if m.Context > ChatContextSwap {
		w.fail("Context", fmt.Errorf("%w: context %d", ErrInvalidField, m.Context))
	}
	w.U8(m.Context)
	w.Fixed(m.ContextID[:])
	w.U64(m.Seq)
	w.U64(m.Sent)
	w.U8(m.Kind)
	switch m.Kind {
	case ChatKindText:
		if m.Seq == 0 || !utf8.ValidString(m.Text) {
			w.fail("Text", fmt.Errorf("%w: text needs a sequence and UTF-8", ErrInvalidField))
		}
		w.String("Text", m.Text, MaxChatText)
	case ChatKindReceipt:
		if m.Seq != 0 || m.Read > m.Delivered {
			w.fail("Kind", fmt.Errorf("%w: receipt with a sequence or read beyond delivered", ErrInvalidField))
		}
		w.U64(m.Delivered)
		w.U64(m.Read)
	default:
		w.fail("Kind", fmt.Errorf("%w: kind %d", ErrInvalidField, m.Kind))
	}
	w.Bool(m.Reply != nil)
	if m.Reply != nil {
		m.Reply.encode(w)
	}
}

// Digest is what From signs.
func (m *ChatPlain) Digest() ([32]byte, error) {
	w := NewWriter("ChatPlain", nil)
	m.encodeUnsigned(w)
	if err := w.Err(); err != nil {
		return [32]byte{}, err
	}
	return *chainhash.TaggedHash([]byte(ChatMsgTag), w.Bytes()), nil
}

// Sign sets From to key's x-only key and signs the message.
func (m *ChatPlain) Sign(key *btcec.PrivateKey) error {
	copy(m.From[:], schnorr.SerializePubKey(key.PubKey()))
	d, err := m.Digest()
	if err != nil {
		return err
	}
	sig, err := SchnorrSign(key, d[:])
	if err != nil {
		return err
	}
	m.Sig = sig
	return nil
}

// Verify checks From's signature.
func (m *ChatPlain) Verify() error {
	d, err := m.Digest()
	if err != nil {
		return err
	}
	return verifySchnorr(d, m.From, m.Sig)
}

// Encode returns the message's encoding.
func (m *ChatPlain) Encode() ([]byte, error) {
	w := NewWriter("ChatPlain", make([]byte, 0, chatPlainFixed+len(m.Text)+200))
	m.encodeUnsigned(w)
	w.Fixed(m.Sig[:])
	return w.Bytes(), w.Err()
}

// DecodeChatPlain decodes a ChatPlain that fills raw exactly (syntax
// only: the signature is Verify's).
func DecodeChatPlain(raw []byte) (*ChatPlain, error) {
	if len(raw) > MaxChatPlain {
		return nil, &DecodeError{Msg: "ChatPlain", Index: -1,
			Err: fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, len(raw), MaxChatPlain)}
	}
	r := NewReader("ChatPlain", raw)
	m := new(ChatPlain)
	r.Fixed("From", m.From[:])
	r.Fixed("To", m.To[:])
	m.Context = r.U8("Context")
	if r.err == nil && m.Context > ChatContextSwap {
		r.Fail("Context", fmt.Errorf("%w: context %d", ErrInvalidField, m.Context))
	}
	r.Fixed("ContextID", m.ContextID[:])
	m.Seq = r.U64("Seq")
	m.Sent = r.U64("Sent")
	m.Kind = r.U8("Kind")
	switch {
	case r.err != nil:
	case m.Kind == ChatKindText:
		m.Text = r.String("Text", MaxChatText)
		if r.err == nil && (m.Seq == 0 || !utf8.ValidString(m.Text)) {
			r.Fail("Text", fmt.Errorf("%w: text needs a sequence and UTF-8", ErrInvalidField))
		}
	case m.Kind == ChatKindReceipt:
		m.Delivered = r.U64("Delivered")
		m.Read = r.U64("Read")
		if r.err == nil && (m.Seq != 0 || m.Read > m.Delivered) {
			r.Fail("Kind", fmt.Errorf("%w: receipt with a sequence or read beyond delivered", ErrInvalidField))
		}
	default:
		r.Fail("Kind", fmt.Errorf("%w: kind %d", ErrInvalidField, m.Kind))
	}
	if r.Bool("HasReply") {
		m.Reply = new(ChatPrekey)
		m.Reply.decode(r)
	}
	r.Fixed("Sig", m.Sig[:])
	if r.err == nil && r.Len() != 0 {
		r.Fail("", fmt.Errorf("%w: %d bytes", ErrTrailingBytes, r.Len()))
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// ChatSealed is a ChatPlain encrypted to one X25519 key (node/chat Seal):
// the AEAD key and nonce come from X25519(Ephemeral, To) through HKDF
// salted with both keys, and the associated data is the version. Stamp is the
// proof of work a mailbox envelope must carry (node/chat: checked by
// every relay of the mailbox topic, 0 on a direct stream).
//
//	u8 Version | [32] To | [32] Ephemeral | u64 Stamp | u16 len, Ciphertext
type ChatSealed struct {
	To         [X25519KeySize]byte
	Ephemeral  [X25519KeySize]byte
	Stamp      uint64
	Ciphertext []byte
}

const (
	// MaxChatCiphertext: the largest ChatPlain plus the AEAD tag.
	MaxChatCiphertext = MaxChatPlain + chatAEADOverhead
	chatSealedFixed   = 1 + 2*X25519KeySize + u64Size + u16Size
	// MaxChatSealed is the largest ChatSealed encoding: the mailbox
	// topic's body cap.
	MaxChatSealed = chatSealedFixed + MaxChatCiphertext
	// minChatSealed: an empty plaintext is refused, so at least a tag.
	minChatSealed = chatSealedFixed + chatAEADOverhead
)

func (s *ChatSealed) encode(w *Writer) {
	w.U8(ChatSealedVersion)
	w.Fixed(s.To[:])
	w.Fixed(s.Ephemeral[:])
	w.U64(s.Stamp)
	if len(s.Ciphertext) < chatAEADOverhead {
		w.fail("Ciphertext", fmt.Errorf("%w: %d bytes", ErrInvalidField, len(s.Ciphertext)))
	}
	w.VarBytes("Ciphertext", s.Ciphertext, MaxChatCiphertext)
}

func (s *ChatSealed) decode(r *Reader) {
	if v := r.U8("Version"); r.err == nil && v != ChatSealedVersion {
		r.Fail("Version", fmt.Errorf("%w: version %d", ErrInvalidField, v))
	}
	r.Fixed("To", s.To[:])
	r.Fixed("Ephemeral", s.Ephemeral[:])
	s.Stamp = r.U64("Stamp")
	s.Ciphertext = r.VarBytes("Ciphertext", MaxChatCiphertext)
	if r.err == nil && len(s.Ciphertext) < chatAEADOverhead {
		r.Fail("Ciphertext", fmt.Errorf("%w: %d bytes", ErrInvalidField, len(s.Ciphertext)))
	}
}

// Encode returns the sealed message's encoding.
func (s *ChatSealed) Encode() ([]byte, error) {
	w := NewWriter("ChatSealed", make([]byte, 0, chatSealedFixed+len(s.Ciphertext)))
	s.encode(w)
	return w.Bytes(), w.Err()
}

// DecodeChatSealed decodes a ChatSealed that fills raw exactly.
func DecodeChatSealed(raw []byte) (*ChatSealed, error) {
	if len(raw) > MaxChatSealed {
		return nil, &DecodeError{Msg: "ChatSealed", Index: -1,
			Err: fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, len(raw), MaxChatSealed)}
	}
	r := NewReader("ChatSealed", raw)
	s := new(ChatSealed)
	s.decode(r)
	if r.err == nil && r.Len() != 0 {
		r.Fail("", fmt.Errorf("%w: %d bytes", ErrTrailingBytes, r.Len()))
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// DecodeChatPrekey decodes a ChatPrekey that fills raw exactly.
func DecodeChatPrekey(raw []byte) (*ChatPrekey, error) {
	if len(raw) > maxChatPrekey {
		return nil, &DecodeError{Msg: "ChatPrekey", Index: -1,
			Err: fmt.Errorf("%w: %d bytes > %d", ErrFieldTooLarge, len(raw), maxChatPrekey)}
	}
	r := NewReader("ChatPrekey", raw)
	k := new(ChatPrekey)
	k.decode(r)
	if r.err == nil && r.Len() != 0 {
		r.Fail("", fmt.Errorf("%w: %d bytes", ErrTrailingBytes, r.Len()))
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return k, nil
}

// EncodeChatPrekey returns the prekey's encoding.
func (k *ChatPrekey) Encode() ([]byte, error) {
	w := NewWriter("ChatPrekey", nil)
	k.encode(w)
	return w.Bytes(), w.Err()
}

// ChatKeyRequest opens a direct chat stream: the dialer asks the node for
// a key to seal to. Empty payload.
type ChatKeyRequest struct{}

func (m *ChatKeyRequest) Type() MessageType    { return TypeChatKeyRequest }
func (m *ChatKeyRequest) MaxPayload() uint32   { return 0 }
func (m *ChatKeyRequest) Encode(*Writer) error { return nil }
func (m *ChatKeyRequest) Decode(*Reader) error { return nil }

// ChatKey answers ChatKeyRequest: a one-time prekey for this stream,
// signed by the node's chat identity (its Addr empty: the dialer knows
// where it is).
//
//	ChatPrekey
type ChatKey struct {
	Prekey ChatPrekey
}

func (m *ChatKey) Type() MessageType  { return TypeChatKey }
func (m *ChatKey) MaxPayload() uint32 { return maxChatPrekey }

func (m *ChatKey) Encode(w *Writer) error {
	m.Prekey.encode(w)
	return w.Err()
}

func (m *ChatKey) Decode(r *Reader) error {
	m.Prekey.decode(r)
	return r.Err()
}

// ChatDeliver carries one sealed message on a direct stream.
//
//	ChatSealed
type ChatDeliver struct {
	Sealed ChatSealed
}

func (m *ChatDeliver) Type() MessageType  { return TypeChatDeliver }
func (m *ChatDeliver) MaxPayload() uint32 { return MaxChatSealed }

func (m *ChatDeliver) Encode(w *Writer) error {
	m.Sealed.encode(w)
	return w.Err()
}

func (m *ChatDeliver) Decode(r *Reader) error {
	m.Sealed.decode(r)
	return r.Err()
}

// ChatAck answers each ChatDeliver in order.
//
//	u8 Status (ChatAck*) | u32 RetryAfter (seconds, with ChatAckLimited)
type ChatAck struct {
	Status     uint8
	RetryAfter uint32
}

func (m *ChatAck) Type() MessageType  { return TypeChatAck }
func (m *ChatAck) MaxPayload() uint32 { return 1 + 4 }

func (m *ChatAck) Encode(w *Writer) error {
	if m.Status > chatAckKnownLast {
		w.fail("Status", fmt.Errorf("%w: status %d", ErrInvalidField, m.Status))
	}
	w.U8(m.Status)
	w.U32(m.RetryAfter)
	return w.Err()
}

func (m *ChatAck) Decode(r *Reader) error {
	m.Status = r.U8("Status")
	if r.err == nil && m.Status > chatAckKnownLast {
		r.Fail("Status", fmt.Errorf("%w: status %d", ErrInvalidField, m.Status))
	}
	m.RetryAfter = r.U32("RetryAfter")
	return r.Err()
}

func init() {
	RegisterType(TypeChatKeyRequest, "ChatKeyRequest", func() Message { return new(ChatKeyRequest) })
	RegisterType(TypeChatKey, "ChatKey", func() Message { return new(ChatKey) })
	RegisterType(TypeChatDeliver, "ChatDeliver", func() Message { return new(ChatDeliver) })
	RegisterType(TypeChatAck, "ChatAck", func() Message { return new(ChatAck) })
}
