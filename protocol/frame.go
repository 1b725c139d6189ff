package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame layout:
//
//	+----------------+-------------+---------------------+
//	| length: u32 BE | type: u16 BE| payload             |
//	+----------------+-------------+---------------------+
//	  4 bytes          2 bytes       length − 2 bytes
//
// length counts type + payload (so it is ≥ 2). The reader checks, in this
// order and before allocating anything: length ≤ MaxFrameLength, length ≥
// 2, the type is known (unknown odd: skip; unknown even: error), length − 2
// ≤ the type's MaxPayload. Only then is the payload read into a buffer of
// exactly that size and decoded; bytes left over are an error (btcd
// wire.ReadMessage's order).
const (
	LengthSize = 4
	TypeSize   = 2
	HeaderSize = LengthSize + TypeSize

	// MaxFrameLength is the global ceiling on the length field: 1 MiB.
	// The largest legitimate messages are the directory's ListReply
	// (MaxDirEntries entries) and SetupHop at MaxFundingTxs (8) outputs
	// (≈ 13 kB: no funding transaction is ever sent, only outpoints); the
	// compile-time checks below fail if one stops fitting. A real 3-output
	// SetupHop is ~1.5 kB (see the benchmark), so the ceiling only bounds
	// what a hostile peer can make us buffer.
	MaxFrameLength = 1 << 20

	// MaxFramePayload is the largest payload any type may declare.
	MaxFramePayload = MaxFrameLength - TypeSize

	// MaxFrameSize is the largest frame on the wire, header included; the
	// byte-rate limiter's burst must hold at least one.
	MaxFrameSize = LengthSize + MaxFrameLength
)

// Compile-time proofs that every message's maximum fits a frame: the
// conversion of a negative constant to uint does not compile.
const (
	_ = uint(MaxFramePayload - maxSetupHopPayload)
	_ = uint(MaxFramePayload - maxSetupHopReplyPayload)
	_ = uint(MaxFramePayload - maxListReplyPayload)
)

// Header is a decoded frame header.
type Header struct {
	Length uint32 // type + payload
	Type   MessageType
}

// PayloadLen is the number of payload bytes that follow the header.
func (h Header) PayloadLen() int { return int(h.Length) - TypeSize }

func frameErr(field string, err error) error {
	return &DecodeError{Msg: "frame", Field: field, Index: -1, Err: err}
}

// ParseHeader decodes a frame header and checks the global bounds.
func ParseHeader(hdr *[HeaderSize]byte) (Header, error) {
	h := Header{
		Length: binary.BigEndian.Uint32(hdr[:LengthSize]),
		Type:   MessageType(binary.BigEndian.Uint16(hdr[LengthSize:])),
	}
	if h.Length > MaxFrameLength {
		return h, frameErr("Length", fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, h.Length, MaxFrameLength))
	}
	if h.Length < TypeSize {
		return h, frameErr("Length", fmt.Errorf("%w: %d", ErrFrameTooShort, h.Length))
	}
	return h, nil
}

// Unknown stands for a message of an unknown odd (optional) type that was
// skipped: its payload was read and discarded. It cannot be encoded.
type Unknown struct {
	MsgType MessageType
	Length  uint32 // payload bytes discarded
}

func (m *Unknown) Type() MessageType  { return m.MsgType }
func (m *Unknown) MaxPayload() uint32 { return MaxFramePayload }
func (m *Unknown) Encode(w *Writer) error {
	return &EncodeError{Msg: m.MsgType.String(), Field: "", Index: -1, Err: fmt.Errorf("%w: unknown message", ErrInvalidField)}
}
func (m *Unknown) Decode(r *Reader) error { return nil }

// messageFor returns an empty message for a header, checking the type's
// own bound. It returns (nil, nil) for an unknown odd type.
func messageFor(h Header) (Message, error) {
	msg, ok := NewMessage(h.Type)
	if !ok {
		if h.Type.IsOptional() {
			return nil, nil
		}
		return nil, frameErr("Type", fmt.Errorf("%w: 0x%04x", ErrUnknownRequired, uint16(h.Type)))
	}
	if uint32(h.PayloadLen()) > msg.MaxPayload() {
		return nil, &DecodeError{Msg: h.Type.String(), Field: "", Index: -1,
			Err: fmt.Errorf("%w: %d > %d", ErrPayloadTooLarge, h.PayloadLen(), msg.MaxPayload())}
	}
	return msg, nil
}

// decodeInto decodes payload into msg and rejects trailing bytes.
func decodeInto(msg Message, payload []byte) error {
	r := NewReader(msg.Type().String(), payload)
	if err := msg.Decode(r); err != nil {
		return err
	}
	if r.Len() != 0 {
		return &DecodeError{Msg: r.msg, Field: "", Index: -1,
			Err: fmt.Errorf("%w: %d bytes", ErrTrailingBytes, r.Len())}
	}
	return nil
}

// DecodePayload decodes a payload of type t (the frame header already
// stripped). Unknown types fail with ErrUnknownRequired for even types and
// return *Unknown for odd ones.
func DecodePayload(t MessageType, payload []byte) (Message, error) {
	if len(payload) > MaxFramePayload {
		return nil, frameErr("Length", fmt.Errorf("%w: %d", ErrFrameTooLarge, len(payload)+TypeSize))
	}
	h := Header{Length: uint32(len(payload) + TypeSize), Type: t}
	msg, err := messageFor(h)
	if err != nil {
		return nil, err
	}
	if msg == nil {
		return &Unknown{MsgType: t, Length: uint32(len(payload))}, nil
	}
	if err := decodeInto(msg, payload); err != nil {
		return nil, err
	}
	return msg, nil
}

// AppendFrame appends msg's complete frame (header + payload) to dst. It
// refuses to produce a frame a conforming reader would reject.
func AppendFrame(dst []byte, msg Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	w := NewWriter(msg.Type().String(), dst)
	if err := msg.Encode(w); err != nil {
		return dst[:start], err
	}
	dst = w.Bytes()
	n := len(dst) - start - HeaderSize
	if uint64(n) > uint64(msg.MaxPayload()) {
		return dst[:start], &EncodeError{Msg: w.msg, Index: -1,
			Err: fmt.Errorf("%w: %d > %d", ErrPayloadTooLarge, n, msg.MaxPayload())}
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n+TypeSize))
	binary.BigEndian.PutUint16(dst[start+LengthSize:], uint16(msg.Type()))
	return dst, nil
}

// EncodeMessage returns msg's complete frame.
func EncodeMessage(msg Message) ([]byte, error) { return AppendFrame(nil, msg) }

// WriteMessage writes msg's frame with a single Write call.
func WriteMessage(w io.Writer, msg Message) (int, error) {
	frame, err := EncodeMessage(msg)
	if err != nil {
		return 0, err
	}
	return w.Write(frame)
}

// ReadMessage reads one frame from r and decodes it. An unknown odd type
// is read, discarded and returned as *Unknown with a nil error, so the
// caller can note it and go on; an unknown even type is an error
// (ErrUnknownRequired) after which the stream must be abandoned. n is the
// number of bytes consumed. r is only read as far as the checked length.
func ReadMessage(r io.Reader) (msg Message, n int, err error) {
	var hdr [HeaderSize]byte
	if k, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, k, truncErr("frame", "Header", err)
	}
	h, err := ParseHeader(&hdr)
	if err != nil {
		return nil, HeaderSize, err
	}
	return readBody(r, h)
}

// readBody reads and decodes the payload announced by h.
func readBody(r io.Reader, h Header) (Message, int, error) {
	msg, err := messageFor(h)
	if err != nil {
		return nil, HeaderSize, err
	}
	if msg == nil {
		k, err := io.CopyN(io.Discard, r, int64(h.PayloadLen()))
		if err != nil {
			return nil, HeaderSize + int(k), truncErr(h.Type.String(), "Payload", err)
		}
		return &Unknown{MsgType: h.Type, Length: uint32(h.PayloadLen())}, HeaderSize + int(k), nil
	}
	payload := make([]byte, h.PayloadLen())
	if k, err := io.ReadFull(r, payload); err != nil {
		return nil, HeaderSize + k, truncErr(h.Type.String(), "Payload", err)
	}
	if err := decodeInto(msg, payload); err != nil {
		return nil, HeaderSize + len(payload), err
	}
	return msg, HeaderSize + len(payload), nil
}

// truncErr maps an EOF inside a frame to ErrTruncated, keeping the I/O
// error (e.g. a deadline) wrapped too. A clean EOF before the first header
// byte stays io.EOF so callers can tell "peer closed" from "peer broke".
func truncErr(msg, field string, err error) error {
	if errors.Is(err, io.EOF) && field == "Header" {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &DecodeError{Msg: msg, Field: field, Index: -1, Err: fmt.Errorf("%w: %w", ErrTruncated, err)}
	}
	return err
}
