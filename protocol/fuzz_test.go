package protocol

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// goldenFrame returns the golden frame of t (fuzz seed).
func goldenFrame(f *testing.F, t MessageType) []byte {
	b, err := os.ReadFile(goldenPath(t))
	if err != nil {
		f.Fatal(err)
	}
	frame, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		f.Fatal(err)
	}
	return frame
}

// fuzzPayload is the generic per-message harness: decode; invalid input
// may fail but must not panic; valid input must re-encode to exactly the
// same bytes (the encoding is canonical) and decode to an equal value.
func fuzzPayload(f *testing.F, typ MessageType) {
	f.Add(goldenFrame(f, typ)[HeaderSize:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodePayload(typ, data)
		if err != nil {
			return
		}
		frame, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("decoded %s does not encode: %v", typ, err)
		}
		if !bytes.Equal(frame[HeaderSize:], data) {
			t.Fatalf("%s: non-canonical input accepted:\n in %x\nout %x", typ, data, frame[HeaderSize:])
		}
		m2, err := DecodePayload(typ, frame[HeaderSize:])
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%s: decode → encode → decode differs", typ)
		}
	})
}

func FuzzHello(f *testing.F)            { fuzzPayload(f, TypeHello) }
func FuzzError(f *testing.F)            { fuzzPayload(f, TypeError) }
func FuzzPing(f *testing.F)             { fuzzPayload(f, TypePing) }
func FuzzPong(f *testing.F)             { fuzzPayload(f, TypePong) }
func FuzzOfferRequest(f *testing.F)     { fuzzPayload(f, TypeOfferRequest) }
func FuzzOffer(f *testing.F)            { fuzzPayload(f, TypeOffer) }
func FuzzSetupHop(f *testing.F)         { fuzzPayload(f, TypeSetupHop) }
func FuzzSetupHopReply(f *testing.F)    { fuzzPayload(f, TypeSetupHopReply) }
func FuzzFundHop(f *testing.F)          { fuzzPayload(f, TypeFundHop) }
func FuzzFundingBroadcast(f *testing.F) { fuzzPayload(f, TypeFundingBroadcast) }
func FuzzPreimage(f *testing.F)         { fuzzPayload(f, TypePreimage) }
func FuzzPrivKeyHandover(f *testing.F)  { fuzzPayload(f, TypePrivKeyHandover) }
func FuzzAbort(f *testing.F)            { fuzzPayload(f, TypeAbort) }
func FuzzWaitingFundingConfirmation(f *testing.F) {
	fuzzPayload(f, TypeWaitingFundingConfirmation)
}
func FuzzTrustRequest(f *testing.F)      { fuzzPayload(f, TypeTrustRequest) }
func FuzzTrustProofs(f *testing.F)       { fuzzPayload(f, TypeTrustProofs) }
func FuzzRegister(f *testing.F)          { fuzzPayload(f, TypeRegister) }
func FuzzRegisterAck(f *testing.F)       { fuzzPayload(f, TypeRegisterAck) }
func FuzzRegisterChallenge(f *testing.F) { fuzzPayload(f, TypeRegisterChallenge) }
func FuzzRegisterResponse(f *testing.F)  { fuzzPayload(f, TypeRegisterResponse) }
func FuzzNack(f *testing.F)              { fuzzPayload(f, TypeNack) }
func FuzzListRequest(f *testing.F)       { fuzzPayload(f, TypeListRequest) }
func FuzzListReply(f *testing.F)         { fuzzPayload(f, TypeListReply) }

// FuzzReadMessage drives the frame reader with an arbitrary stream.
func FuzzReadMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(goldenFrame(f, m.Type()))
	}
	f.Add(frameOf(0x0701, []byte{1, 2, 3}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0x10})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, n, err := ReadMessage(bytes.NewReader(data))
		if n > len(data) {
			t.Fatalf("consumed %d of %d", n, len(data))
		}
		if err != nil {
			return
		}
		if _, ok := m.(*Unknown); ok {
			return
		}
		frame, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("decoded %s does not encode: %v", m.Type(), err)
		}
		if !bytes.Equal(frame, data[:n]) {
			t.Fatalf("non-canonical frame accepted")
		}
		m2, _, err := ReadMessage(bytes.NewReader(frame))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// memConn is a net.Conn whose peer is a fixed byte string; writes vanish.
type memConn struct {
	mu     sync.Mutex
	r      *bytes.Reader
	closed bool
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

func (c *memConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzHandshake feeds arbitrary peer bytes to a Conn's handshake (and,
// if it succeeds, to its reader). It must never panic or hang, and an
// accepted peer hello must round-trip.
func FuzzHandshake(f *testing.F) {
	hello := goldenFrame(f, TypeHello)
	f.Add(hello)
	f.Add(append(bytes.Clone(hello), goldenFrame(f, TypePing)...))
	f.Add(append(bytes.Clone(hello), goldenFrame(f, TypeSetupHop)...))
	f.Add(goldenFrame(f, TypeError))
	f.Add(goldenFrame(f, TypeOffer))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := ConnConfig{PingInterval: -1, IdleTimeout: -1, RejectLinger: time.Millisecond}
		c := NewConn(&memConn{r: bytes.NewReader(data)}, cfg)
		peer, err := c.Handshake(context.Background(), NewHello(Regtest, "fuzz"))
		if err == nil {
			frame, err := EncodeMessage(peer)
			if err != nil {
				t.Fatalf("accepted hello does not encode: %v", err)
			}
			if !bytes.HasPrefix(data, frame) {
				t.Fatalf("accepted hello is not canonical")
			}
			for {
				if _, err := c.Receive(context.Background()); err != nil {
					break
				}
			}
		}
		c.Close()
	})
}
