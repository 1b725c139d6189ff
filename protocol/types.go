package protocol

import (
	"fmt"
	"sync"
)

// MessageType is the u16 that follows the frame length. The number space is
// split into ranges of 256 per subsystem so that features arriving in later
// issues (offer pool, chat, CoinJoin) get numbers without renumbering what
// is deployed:
//
//	0x0000–0x00FF  core: hello, error, ping, pong
//	0x0100–0x01FF  CoinSwap, taker ↔ maker
//	0x0200–0x02FF  directory (register, list)
//	0x0300–0x03FF  message pool (msg_pool.go)
//	0x0400–0x04FF  chat (msg_chat.go)
//	0x0500–0x05FF  CoinJoin rounds (msg_coinjoin.go)
//	0x0600–0xFFFF  unassigned
//
// Parity carries meaning ("it's OK to be odd", as in lnd): a receiver that
// does not know an odd type skips it; an unknown even type is required and
// ends the connection. Optional messages (keep-alives, hints) are odd.
type MessageType uint16

// Type ranges (inclusive first, last).
const (
	RangeCoreFirst      MessageType = 0x0000
	RangeCoreLast       MessageType = 0x00FF
	RangeCoinSwapFirst  MessageType = 0x0100
	RangeCoinSwapLast   MessageType = 0x01FF
	RangeDirectoryFirst MessageType = 0x0200
	RangeDirectoryLast  MessageType = 0x02FF
	RangePoolFirst      MessageType = 0x0300
	RangePoolLast       MessageType = 0x03FF
	RangeChatFirst      MessageType = 0x0400
	RangeChatLast       MessageType = 0x04FF
	RangeCoinJoinFirst  MessageType = 0x0500
	RangeCoinJoinLast   MessageType = 0x05FF
)

// Message types. Core numbers follow lnd's (init 16, error 17, ping 18,
// pong 19) so the layout is familiar.
const (
	TypeHello MessageType = 0x0010
	TypeError MessageType = 0x0011
	TypePing  MessageType = 0x0012
	TypePong  MessageType = 0x0013

	TypeOfferRequest     MessageType = 0x0100
	TypeOffer            MessageType = 0x0102
	TypeSetupHop         MessageType = 0x0104
	TypeSetupHopReply    MessageType = 0x0106
	TypeFundHop          MessageType = 0x0108
	TypeFundingBroadcast MessageType = 0x010A
	TypePreimage         MessageType = 0x010C
	TypePrivKeyHandover  MessageType = 0x010E
	TypeAbort            MessageType = 0x0110
	// Odd: a keep-alive a maker may ignore; receiving any frame already
	// proves the taker is alive.
	TypeWaitingFundingConfirmation MessageType = 0x0115
	// TypeTrustRequest and TypeTrustProofs: a taker asks a maker for the
	// proofs of the swaps it chose to share (msg_trust.go).
	TypeTrustRequest MessageType = 0x0116
	TypeTrustProofs  MessageType = 0x0118

	TypeRegister    MessageType = 0x0200
	TypeRegisterAck MessageType = 0x0202
	TypeNack        MessageType = 0x0204
	TypeListRequest MessageType = 0x0206
	TypeListReply   MessageType = 0x0208
	// TypeRegisterChallenge and TypeRegisterResponse: the directory's
	// proof-of-possession exchange inside a registration.
	TypeRegisterChallenge MessageType = 0x020A
	TypeRegisterResponse  MessageType = 0x020C
)

// IsOptional reports whether the type is odd, i.e. may be skipped by a
// receiver that does not know it.
func (t MessageType) IsOptional() bool { return t&1 == 1 }

func (t MessageType) String() string {
	if e, ok := lookupType(t); ok {
		return e.name
	}
	return fmt.Sprintf("MessageType(0x%04x)", uint16(t))
}

// Message is one protocol message. Encode writes only the payload (the
// frame header is the framer's job); Decode reads exactly one payload from a
// bounded Reader and must use its bounded field readers for every
// variable-length field. MaxPayload is the largest payload any valid
// instance can have; the framer rejects longer frames before reading them.
type Message interface {
	Type() MessageType
	MaxPayload() uint32
	Encode(w *Writer) error
	Decode(r *Reader) error
}

type typeEntry struct {
	name string
	new  func() Message
}

var (
	registryMu sync.RWMutex
	registry   = map[MessageType]typeEntry{}
)

// RegisterType adds a message type to the registry so the framer can decode
// it. Later subsystems (pool, chat, CoinJoin) call it from init in their own
// range. It panics on a duplicate number or if the type's MaxPayload does
// not fit a frame: both are programming errors found at start-up.
func RegisterType(t MessageType, name string, newMsg func() Message) {
	m := newMsg()
	if m.Type() != t {
		panic(fmt.Sprintf("protocol: RegisterType(0x%04x): constructor returns type 0x%04x", uint16(t), uint16(m.Type())))
	}
	if m.MaxPayload() > MaxFramePayload {
		panic(fmt.Sprintf("protocol: RegisterType(%s): MaxPayload %d > MaxFramePayload %d", name, m.MaxPayload(), MaxFramePayload))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[t]; dup {
		panic(fmt.Sprintf("protocol: RegisterType(%s): type 0x%04x already registered", name, uint16(t)))
	}
	registry[t] = typeEntry{name: name, new: newMsg}
}

func lookupType(t MessageType) (typeEntry, bool) {
	registryMu.RLock()
	e, ok := registry[t]
	registryMu.RUnlock()
	return e, ok
}

// NewMessage returns an empty message of type t, or false if t is unknown.
func NewMessage(t MessageType) (Message, bool) {
	e, ok := lookupType(t)
	if !ok {
		return nil, false
	}
	return e.new(), true
}

// RegisteredTypes lists the known message types (for tests and tooling).
func RegisteredTypes() []MessageType {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]MessageType, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	return out
}

func init() {
	RegisterType(TypeHello, "Hello", func() Message { return new(Hello) })
	RegisterType(TypeError, "Error", func() Message { return new(Error) })
	RegisterType(TypePing, "Ping", func() Message { return new(Ping) })
	RegisterType(TypePong, "Pong", func() Message { return new(Pong) })

	RegisterType(TypeOfferRequest, "OfferRequest", func() Message { return new(OfferRequest) })
	RegisterType(TypeOffer, "Offer", func() Message { return new(Offer) })
	RegisterType(TypeSetupHop, "SetupHop", func() Message { return new(SetupHop) })
	RegisterType(TypeSetupHopReply, "SetupHopReply", func() Message { return new(SetupHopReply) })
	RegisterType(TypeFundHop, "FundHop", func() Message { return new(FundHop) })
	RegisterType(TypeFundingBroadcast, "FundingBroadcast", func() Message { return new(FundingBroadcast) })
	RegisterType(TypePreimage, "Preimage", func() Message { return new(Preimage) })
	RegisterType(TypePrivKeyHandover, "PrivKeyHandover", func() Message { return new(PrivKeyHandover) })
	RegisterType(TypeAbort, "Abort", func() Message { return new(Abort) })
	RegisterType(TypeWaitingFundingConfirmation, "WaitingFundingConfirmation", func() Message { return new(WaitingFundingConfirmation) })
	RegisterType(TypeTrustRequest, "TrustRequest", func() Message { return new(TrustRequest) })
	RegisterType(TypeTrustProofs, "TrustProofs", func() Message { return new(TrustProofs) })

	RegisterType(TypeRegister, "Register", func() Message { return new(Register) })
	RegisterType(TypeRegisterAck, "RegisterAck", func() Message { return new(RegisterAck) })
	RegisterType(TypeNack, "Nack", func() Message { return new(Nack) })
	RegisterType(TypeListRequest, "ListRequest", func() Message { return new(ListRequest) })
	RegisterType(TypeListReply, "ListReply", func() Message { return new(ListReply) })
	RegisterType(TypeRegisterChallenge, "RegisterChallenge", func() Message { return new(RegisterChallenge) })
	RegisterType(TypeRegisterResponse, "RegisterResponse", func() Message { return new(RegisterResponse) })
}
