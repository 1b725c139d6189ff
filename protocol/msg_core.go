package protocol

import (
	"fmt"
)

// Network is the Bitcoin network a node runs on. It is compared in the
// handshake so a regtest taker can never talk to a mainnet maker. Unknown
// values decode fine and are refused by the handshake with WrongNetwork,
// so the peer learns why.
type Network uint8

const (
	Mainnet Network = 1
	Testnet Network = 2
	Signet  Network = 3
	Regtest Network = 4
)

func (n Network) String() string {
	switch n {
	case Mainnet:
		return "mainnet"
	case Testnet:
		return "testnet"
	case Signet:
		return "signet"
	case Regtest:
		return "regtest"
	}
	return fmt.Sprintf("Network(%d)", uint8(n))
}

// ProtocolVersion is the version this code speaks.
const ProtocolVersion uint16 = 1

// FeatureBit numbers a feature. Like lnd ("it's OK to be odd"): an even
// bit means the sender requires the peer to understand it, an odd bit is
// optional. The vector lets later features (a multi-tx pathway, Taproot
// contracts) be negotiated without a version bump, and says which of a
// node's services a peer can open a connection for.
type FeatureBit uint16

// Service bits: a node sets the bit of every service it runs behind its
// onion address (node/service). They are odd: a peer that does not know
// one is not required to, it just will not open that service.
const (
	FeatureCoinSwapMaker FeatureBit = 1 // serves CoinSwap offers and swaps (0x01xx)
	FeatureDirectory     FeatureBit = 3 // serves the maker directory (0x02xx)
	FeaturePool          FeatureBit = 5 // relays the message pool (0x03xx)
	FeatureChat          FeatureBit = 7 // accepts direct chat (0x04xx)
	FeatureCoinJoin      FeatureBit = 9 // takes part in CoinJoin rounds (0x05xx)
)

// IsRequired reports whether the bit is even.
func (b FeatureBit) IsRequired() bool { return b&1 == 0 }

// Features is a big-endian bit vector: bit 0 is the least significant bit
// of the last byte (lnd's RawFeatureVector layout). The encoding is
// minimal: no leading zero byte.
type Features []byte

// IsSet reports whether bit b is set.
func (f Features) IsSet(b FeatureBit) bool {
	i := int(b / 8)
	if i >= len(f) {
		return false
	}
	return f[len(f)-1-i]&(1<<(b%8)) != 0
}

// Set returns a copy of f with bit b set.
func (f Features) Set(b FeatureBit) Features {
	n := int(b/8) + 1
	if n < len(f) {
		n = len(f)
	}
	out := make(Features, n)
	copy(out[n-len(f):], f)
	out[n-1-int(b/8)] |= 1 << (b % 8)
	return out
}

// UnknownRequired lists the even bits set in f that known does not set.
func (f Features) UnknownRequired(known Features) []FeatureBit {
	var out []FeatureBit
	for i := 0; i < len(f)*8; i += 2 {
		b := FeatureBit(i)
		if f.IsSet(b) && !known.IsSet(b) {
			out = append(out, b)
		}
	}
	return out
}

// Hello opens every connection, sent by both sides at once. Nothing else
// is accepted before both hellos are exchanged and checked.
//
// Wire layout (payload; see frame.go for the header):
//
//	u16  MinVersion
//	u16  MaxVersion
//	u8   Network
//	u16  len(Features) ≤ MaxFeatureBytes, then the feature bytes
//	[32] Nonce          random; equal nonces mean we dialed ourselves
//	u16  len(UserAgent) ≤ MaxUserAgentLen, then UTF-8 bytes
type Hello struct {
	MinVersion uint16
	MaxVersion uint16
	Network    Network
	Features   Features
	Nonce      [32]byte
	UserAgent  string
}

const maxHelloPayload = 2 + 2 + 1 + u16Size + MaxFeatureBytes + 32 + u16Size + MaxUserAgentLen

func (m *Hello) Type() MessageType  { return TypeHello }
func (m *Hello) MaxPayload() uint32 { return maxHelloPayload }

func (m *Hello) Encode(w *Writer) error {
	w.U16(m.MinVersion)
	w.U16(m.MaxVersion)
	w.U8(uint8(m.Network))
	if len(m.Features) > 0 && m.Features[0] == 0 {
		w.fail("Features", fmt.Errorf("%w: leading zero byte", ErrNonCanonical))
	}
	w.VarBytes("Features", m.Features, MaxFeatureBytes)
	w.Fixed(m.Nonce[:])
	w.String("UserAgent", m.UserAgent, MaxUserAgentLen)
	return w.Err()
}

func (m *Hello) Decode(r *Reader) error {
	m.MinVersion = r.U16("MinVersion")
	m.MaxVersion = r.U16("MaxVersion")
	m.Network = Network(r.U8("Network"))
	f := r.VarBytes("Features", MaxFeatureBytes)
	if len(f) > 0 && f[0] == 0 {
		r.Fail("Features", fmt.Errorf("%w: leading zero byte", ErrNonCanonical))
	}
	m.Features = f
	r.Fixed("Nonce", m.Nonce[:])
	m.UserAgent = r.String("UserAgent", MaxUserAgentLen)
	if r.err == nil && m.MinVersion > m.MaxVersion {
		r.Fail("MinVersion", fmt.Errorf("%w: min %d > max %d", ErrInvalidField, m.MinVersion, m.MaxVersion))
	}
	return r.Err()
}

// ErrorCode says why a peer refused or ended a conversation. Unknown codes
// decode fine (a newer peer may have more).
type ErrorCode uint16

const (
	CodeProtocolViolation     ErrorCode = 1  // malformed or unexpected message
	CodeUnsupportedVersion    ErrorCode = 2  // no common protocol version
	CodeWrongNetwork          ErrorCode = 3  // peer is on another Bitcoin network
	CodeUnsupportedFeature    ErrorCode = 4  // an unknown required feature bit
	CodeRateLimited           ErrorCode = 5  // too many messages or bytes
	CodeTimeout               ErrorCode = 6  // idle, slow read, missing pong
	CodeRefused               ErrorCode = 7  // policy: not serving this peer now (incl. self-connection)
	CodeInternal              ErrorCode = 8  // our fault; retrying later may work
	CodeInsufficientLiquidity ErrorCode = 9  // maker cannot fund the requested amount
	CodeInvalidRequest        ErrorCode = 10 // well-formed but unacceptable (amount, locktime, fee ...)
	CodeUnknownSwap           ErrorCode = 11 // swap id not known
	CodeInvalidSignature      ErrorCode = 12 // a signature did not verify
	CodeInvalidFidelityProof  ErrorCode = 13 // bond proof failed verification
	CodeBusy                  ErrorCode = 14 // at capacity; retry later
	CodeShutdown              ErrorCode = 15 // node is stopping
)

var errorCodeNames = map[ErrorCode]string{
	CodeProtocolViolation:     "ProtocolViolation",
	CodeUnsupportedVersion:    "UnsupportedVersion",
	CodeWrongNetwork:          "WrongNetwork",
	CodeUnsupportedFeature:    "UnsupportedFeature",
	CodeRateLimited:           "RateLimited",
	CodeTimeout:               "Timeout",
	CodeRefused:               "Refused",
	CodeInternal:              "Internal",
	CodeInsufficientLiquidity: "InsufficientLiquidity",
	CodeInvalidRequest:        "InvalidRequest",
	CodeUnknownSwap:           "UnknownSwap",
	CodeInvalidSignature:      "InvalidSignature",
	CodeInvalidFidelityProof:  "InvalidFidelityProof",
	CodeBusy:                  "Busy",
	CodeShutdown:              "Shutdown",
}

func (c ErrorCode) String() string {
	if s, ok := errorCodeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("ErrorCode(%d)", uint16(c))
}

// Error tells the peer why we refuse or end the conversation; it is
// always sent before we close, so a refused peer never faces a silent
// close. Receiving one ends the connection (*PeerError).
//
//	u16  Code
//	u8   has swap id (0/1), then [16] SwapID if 1
//	u16  len(Text) ≤ MaxErrorTextLen, UTF-8
type Error struct {
	Code   ErrorCode
	SwapID *SwapID
	Text   string
}

const maxErrorPayload = 2 + 1 + SwapIDSize + u16Size + MaxErrorTextLen

func (m *Error) Type() MessageType  { return TypeError }
func (m *Error) MaxPayload() uint32 { return maxErrorPayload }

func (m *Error) Encode(w *Writer) error {
	w.U16(uint16(m.Code))
	w.Bool(m.SwapID != nil)
	if m.SwapID != nil {
		w.Fixed(m.SwapID[:])
	}
	w.String("Text", m.Text, MaxErrorTextLen)
	return w.Err()
}

func (m *Error) Decode(r *Reader) error {
	m.Code = ErrorCode(r.U16("Code"))
	if r.Bool("HasSwapID") {
		m.SwapID = new(SwapID)
		r.Fixed("SwapID", m.SwapID[:])
	}
	m.Text = r.String("Text", MaxErrorTextLen)
	return r.Err()
}

// Ping asks for a Pong echoing Nonce with PongPadding zero bytes of
// padding (cover traffic, bounded by MaxPongPadding).
//
//	u64 Nonce | u16 PongPadding
type Ping struct {
	Nonce       uint64
	PongPadding uint16
}

func (m *Ping) Type() MessageType  { return TypePing }
func (m *Ping) MaxPayload() uint32 { return u64Size + u16Size }

func (m *Ping) Encode(w *Writer) error {
	if m.PongPadding > MaxPongPadding {
		w.fail("PongPadding", fmt.Errorf("%w: %d > %d", ErrFieldTooLarge, m.PongPadding, MaxPongPadding))
	}
	w.U64(m.Nonce)
	w.U16(m.PongPadding)
	return w.Err()
}

func (m *Ping) Decode(r *Reader) error {
	m.Nonce = r.U64("Nonce")
	m.PongPadding = r.U16("PongPadding")
	if m.PongPadding > MaxPongPadding {
		r.Fail("PongPadding", fmt.Errorf("%w: %d > %d", ErrFieldTooLarge, m.PongPadding, MaxPongPadding))
	}
	return r.Err()
}

// Pong answers a Ping.
//
//	u64 Nonce | u16 len(Padding) ≤ MaxPongPadding, then the padding
type Pong struct {
	Nonce   uint64
	Padding []byte
}

func (m *Pong) Type() MessageType  { return TypePong }
func (m *Pong) MaxPayload() uint32 { return u64Size + u16Size + MaxPongPadding }

func (m *Pong) Encode(w *Writer) error {
	w.U64(m.Nonce)
	w.VarBytes("Padding", m.Padding, MaxPongPadding)
	return w.Err()
}

func (m *Pong) Decode(r *Reader) error {
	m.Nonce = r.U64("Nonce")
	m.Padding = r.VarBytes("Padding", MaxPongPadding)
	return r.Err()
}
