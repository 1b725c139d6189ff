package protocol

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns wraps one of them, so
// callers decide with errors.Is and never by matching text.
var (
	// ErrFrameTooLarge: the frame length field exceeds MaxFrameLength. It is
	// checked before anything is allocated.
	ErrFrameTooLarge = errors.New("frame exceeds global maximum")

	// ErrFrameTooShort: the frame length field is smaller than the two
	// bytes of the message type it must contain.
	ErrFrameTooShort = errors.New("frame shorter than its type field")

	// ErrPayloadTooLarge: the payload exceeds the message type's own
	// MaxPayload (checked before the payload is read).
	ErrPayloadTooLarge = errors.New("payload exceeds message maximum")

	// ErrTrailingBytes: the payload decoded but bytes were left over.
	ErrTrailingBytes = errors.New("trailing bytes after payload")

	// ErrUnknownRequired: an unknown message type with an even number
	// ("it's OK to be odd": even means the sender requires us to understand
	// it), so the connection must be closed.
	ErrUnknownRequired = errors.New("unknown required message type")

	// ErrTruncated: the input ended inside a header or field.
	ErrTruncated = errors.New("truncated input")

	// ErrFieldTooLarge: a length or count prefix exceeds its field's bound.
	ErrFieldTooLarge = errors.New("field exceeds its bound")

	// ErrInvalidField: a field has the right size but an invalid value
	// (a public key not on the curve, a non-DER signature, bad UTF-8 ...).
	ErrInvalidField = errors.New("invalid field value")

	// ErrNonCanonical: a value that has a single valid encoding was
	// encoded differently (e.g. a transaction blob with bytes btcd did not
	// consume, a feature vector with a leading zero byte).
	ErrNonCanonical = errors.New("non-canonical encoding")

	// ErrHandshake: the handshake failed; a more specific error is wrapped
	// alongside it where there is one.
	ErrHandshake = errors.New("handshake failed")

	// ErrHandshakeTimeout: the peer did not complete the handshake within
	// the handshake deadline.
	ErrHandshakeTimeout = errors.New("handshake timed out")

	// ErrVersion: no protocol version is supported by both sides.
	ErrVersion = errors.New("no common protocol version")

	// ErrNetwork: the peer is on another Bitcoin network.
	ErrNetwork = errors.New("peer on a different network")

	// ErrFeature: the peer requires a feature bit we do not know.
	ErrFeature = errors.New("peer requires an unknown feature")

	// ErrSelfConnection: the peer's hello nonce equals ours.
	ErrSelfConnection = errors.New("connected to self")

	// ErrUnexpectedMessage: a message arrived that the protocol state does
	// not allow (anything before the hello, a second hello).
	ErrUnexpectedMessage = errors.New("unexpected message")

	// ErrRateLimited: the peer exceeded its message or byte rate.
	ErrRateLimited = errors.New("peer exceeded rate limit")

	// ErrIdleTimeout: no frame arrived for IdleTimeout.
	ErrIdleTimeout = errors.New("connection idle timeout")

	// ErrReadTimeout: a frame that had started did not complete in time
	// (a slow-loris peer).
	ErrReadTimeout = errors.New("message read timeout")

	// ErrPongTimeout: the peer did not answer a ping within PongTimeout.
	ErrPongTimeout = errors.New("pong timeout")

	// ErrClosed: the connection was closed locally.
	ErrClosed = errors.New("connection closed")

	// ErrInvalidConfig: a ConnConfig value is unusable.
	ErrInvalidConfig = errors.New("invalid connection config")
)

// DecodeError says which message and which field failed to decode. Field
// is a static path such as "FundingTxs[].FundingTx"; Index is the list
// position for the innermost "[]" (or -1), kept separate so building the
// path costs nothing until the error is printed.
type DecodeError struct {
	Msg   string
	Field string
	Index int
	Err   error
}

func (e *DecodeError) Error() string {
	return "protocol: decode " + e.Msg + "." + fieldPath(e.Field, e.Index) + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError is DecodeError's counterpart: we refuse to send a message a
// conforming peer would have to reject.
type EncodeError struct {
	Msg   string
	Field string
	Index int
	Err   error
}

func (e *EncodeError) Error() string {
	return "protocol: encode " + e.Msg + "." + fieldPath(e.Field, e.Index) + ": " + e.Err.Error()
}

func (e *EncodeError) Unwrap() error { return e.Err }

func fieldPath(field string, idx int) string {
	if idx < 0 {
		return field
	}
	i := strings.LastIndex(field, "[]")
	if i < 0 {
		return field
	}
	return field[:i] + "[" + strconv.Itoa(idx) + "]" + field[i+2:]
}

// PeerError is returned when the peer sent an Error message: the
// connection is over and Code/Text say why the peer ended it.
type PeerError struct {
	Code   ErrorCode
	Text   string
	SwapID *SwapID
}

func (e *PeerError) Error() string {
	s := fmt.Sprintf("protocol: peer sent error %s: %q", e.Code, e.Text)
	if e.SwapID != nil {
		s += " (swap " + e.SwapID.String() + ")"
	}
	return s
}
