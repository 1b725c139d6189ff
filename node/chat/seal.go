package chat

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/internal/hashcash"
	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/protocol"
)

// Tags of what is derived from a sealed message's shared key and of the
// names the mailbox uses.
const (
	sealInfo      = "onionswap/chat/v1"
	mailOriginTag = "onionswap/chat-mail-origin"
	mailItemTag   = "onionswap/chat-mail-item"
	recipientTag  = "onionswap/chat-recipient"
	stampTag      = "onionswap/chat-stamp"
	convTag       = "onionswap/chat-conv"
)

// Errors of opening a sealed message.
var (
	// ErrUndecryptable: the message is not sealed to a key we hold, or
	// its ciphertext was altered.
	ErrUndecryptable = errors.New("chat: cannot decrypt (not for us, or tampered)")
	// ErrMisaddressed: it decrypts but names another recipient.
	ErrMisaddressed = errors.New("chat: message addressed to another identity")
	// ErrBadStamp: a mailbox message without its proof of work.
	ErrBadStamp = errors.New("chat: mailbox stamp below the difficulty")
)

// sealAD: the associated data of a chat box.
const sealAD = protocol.ChatSealedVersion

// seal encrypts an encoded, signed ChatPlain to the X25519 key to
// (internal/sealbox: a fresh ephemeral key per message, so a stolen
// identity key opens nothing; the box's key binds both public keys, the
// associated data the version). It returns the sealed message and its
// shared key, from which the mailbox names (origin key, item) derive.
func seal(plain []byte, to [protocol.X25519KeySize]byte) (*protocol.ChatSealed, [32]byte, error) {
	eph, ct, key, err := sealbox.Seal(plain, to, sealInfo, []byte{sealAD})
	if err != nil {
		return nil, key, fmt.Errorf("chat: %w", err)
	}
	return &protocol.ChatSealed{To: to, Ephemeral: eph, Ciphertext: ct}, key, nil
}

// open decrypts s with the private half of s.To.
func open(s *protocol.ChatSealed, priv [protocol.X25519KeySize]byte) ([]byte, [32]byte, error) {
	plain, key, err := sealbox.Open(s.Ephemeral, s.Ciphertext, priv, s.To, sealInfo, []byte{sealAD})
	if err != nil {
		return nil, key, ErrUndecryptable
	}
	return plain, key, nil
}

// mailOrigin is the one-time key that signs a sealed message's mailbox
// envelope. Sender and recipient both derive it from the shared key, so
// the recipient can remove the envelope (a signed tombstone) once it has
// the message, and a relay learns nothing of either from it.
func mailOrigin(shared [32]byte) *btcec.PrivateKey {
	h := chainhash.TaggedHash([]byte(mailOriginTag), shared[:])
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

// mailItem names the mailbox envelope of one sealed message, the same at
// every publish of the same bytes.
func mailItem(shared [32]byte) protocol.PoolItem {
	var it protocol.PoolItem
	copy(it[:], chainhash.TaggedHash([]byte(mailItemTag), shared[:])[:])
	return it
}

// RecipientHash is how the mailbox names a chat identity.
func RecipientHash(identity [protocol.XOnlyKeySize]byte) protocol.PoolID {
	return protocol.PoolID(*chainhash.TaggedHash([]byte(recipientTag), identity[:]))
}

// ConversationID names the conversation of two identities about one
// context; the order of the two does not matter.
func ConversationID(a, b [protocol.XOnlyKeySize]byte, context uint8, contextID [32]byte) [32]byte {
	if string(a[:]) > string(b[:]) {
		a, b = b, a
	}
	buf := make([]byte, 0, 2*protocol.XOnlyKeySize+1+32)
	buf = append(append(append(buf, a[:]...), b[:]...), context)
	buf = append(buf, contextID[:]...)
	return *chainhash.TaggedHash([]byte(convTag), buf)
}

// stampPrefix is what a mailbox stamp's work is bound to
// (internal/hashcash): the envelope's origin and recipient and a digest of
// the sealed message without its stamp, so a stamp is worth one envelope
// (a replay under a new origin key needs new work).
func stampPrefix(origin [protocol.XOnlyKeySize]byte, recipient protocol.PoolID, s *protocol.ChatSealed) [32]byte {
	h := sha256.New()
	h.Write(s.To[:])
	h.Write(s.Ephemeral[:])
	h.Write(s.Ciphertext)
	return hashcash.Prefix(stampTag, origin[:], recipient[:], h.Sum(nil))
}

// mint stamps s with want bits of work (2^want hashes on average).
func mint(origin [protocol.XOnlyKeySize]byte, recipient protocol.PoolID, s *protocol.ChatSealed, want int) {
	s.Stamp = hashcash.Mint(stampPrefix(origin, recipient, s), want)
}

// checkStamp verifies a mailbox envelope's stamp.
func checkStamp(origin [protocol.XOnlyKeySize]byte, recipient protocol.PoolID, s *protocol.ChatSealed, want int) error {
	if !hashcash.Check(stampPrefix(origin, recipient, s), s.Stamp, want) {
		return ErrBadStamp
	}
	return nil
}

// Seal signs m as key's identity (setting From) and seals it to the
// X25519 key to. It returns the sealed message and its shared key, from
// which MailEnvelope derives the mailbox names.
func Seal(m *protocol.ChatPlain, key *btcec.PrivateKey, to [protocol.X25519KeySize]byte) (*protocol.ChatSealed, [32]byte, error) {
	if err := m.Sign(key); err != nil {
		return nil, [32]byte{}, err
	}
	raw, err := m.Encode()
	if err != nil {
		return nil, [32]byte{}, err
	}
	return seal(raw, to)
}

// MailEnvelope is the mailbox envelope of a sealed message to the chat
// identity recipient: addressed to its hash, stamped with bits of work
// (0: the network's), signed by the one-time origin key of shared, alive
// for ttl from now.
func MailEnvelope(network protocol.Network, s *protocol.ChatSealed, shared [32]byte, recipient [protocol.XOnlyKeySize]byte,
	bits int, ttl time.Duration, now time.Time) ([]byte, error) {
	origin := mailOrigin(shared)
	var ox [protocol.XOnlyKeySize]byte
	copy(ox[:], schnorr.SerializePubKey(origin.PubKey()))
	rcpt := RecipientHash(recipient)
	if bits == 0 {
		bits = stampBits(network)
	}
	mint(ox, rcpt, s, bits)
	body, err := s.Encode()
	if err != nil {
		return nil, err
	}
	e := &protocol.PoolEnvelope{Network: network, Flags: protocol.PoolFlagRecipient, Topic: TopicMail,
		Item: mailItem(shared), Seq: uint64(now.UnixMilli()), Created: uint64(now.Unix()),
		Expiry: uint64(now.Add(ttl).Unix()), Recipient: rcpt, Body: body}
	if err := e.Sign(origin); err != nil {
		return nil, err
	}
	return e.Encode()
}
