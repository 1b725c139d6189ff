package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// testEnvelope is a deterministic signed envelope (BIP340 signing in
// btcec is deterministic without aux randomness).
func testEnvelope(n byte, flags uint8, body []byte) *PoolEnvelope {
	e := &PoolEnvelope{
		Network: Regtest, Flags: flags, Topic: "offer/v1",
		Seq: uint64(n), Created: 1_700_000_000, Expiry: 1_700_001_200, Body: body,
	}
	for i := range e.Item {
		e.Item[i] = n + byte(i)
	}
	if flags&PoolFlagRecipient != 0 {
		for i := range e.Recipient {
			e.Recipient[i] = 0xe0 ^ byte(i)
		}
	}
	if err := e.Sign(testPriv(0x70 + n)); err != nil {
		panic(err)
	}
	return e
}

func mustEnvelope(e *PoolEnvelope) []byte {
	b, err := e.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

func testShortIDs(n int) []ShortID {
	ids := make([]ShortID, n)
	for i := range ids {
		ids[i] = ShortIDFromUint64(uint64(i+1) * 0x0123456789abcdef / 7)
	}
	slices.SortFunc(ids, func(a, b ShortID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

func samplePoolMessages() []Message {
	sync := &PoolSync{Bits: 2, Buckets: make([]PoolBucket, 4)}
	for i := range sync.Buckets {
		ids := testShortIDs(i + 1)
		sync.Buckets[i] = PoolBucket{Count: uint16(len(ids)), Digest: SyncDigest(ids)}
	}
	return []Message{
		&PoolHello{ListenAddr: testOnion(7)},
		sync,
		&PoolSyncReply{Bits: 2, Buckets: []uint16{1, 3}, IDs: testShortIDs(3)},
		&PoolInv{IDs: testShortIDs(2)},
		&PoolGetData{IDs: testShortIDs(1)},
		&PoolMsgs{Envelopes: [][]byte{
			mustEnvelope(testEnvelope(1, 0, []byte(`{"offer":"min 0.01 BTC, fee 0.1%"}`))),
			mustEnvelope(testEnvelope(2, PoolFlagRemoval, nil)),
			mustEnvelope(testEnvelope(3, PoolFlagRecipient, []byte("sealed box"))),
		}},
		&PoolGetAddrs{},
		&PoolAddrs{Addrs: []PoolAddr{{Addr: testOnion(8), LastSeen: 1_700_000_000}, {Addr: testOnion(9), LastSeen: 1_700_000_060}}},
	}
}

var updateEnvelope = flag.Bool("update-envelope", false, "rewrite testdata/PoolEnvelope.hex")

// TestPoolEnvelopeGolden pins the envelope encoding and its id, which
// are not frames and so not covered by TestGolden.
func TestPoolEnvelopeGolden(t *testing.T) {
	e := testEnvelope(1, PoolFlagRecipient, []byte("body"))
	raw := mustEnvelope(e)
	id, err := e.ID()
	if err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(raw) + "\n" + id.String() + "\n"
	path := filepath.Join("testdata", "PoolEnvelope.hex")
	if *update || *updateEnvelope {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Fatalf("envelope drifted:\n got %s\nwant %s", got, want)
	}
	if PoolIDOf(raw) != id {
		t.Fatal("PoolIDOf differs from ID")
	}
}

func TestPoolEnvelopeRoundTripAndSignature(t *testing.T) {
	for _, e := range []*PoolEnvelope{
		testEnvelope(1, 0, []byte("x")),
		testEnvelope(2, PoolFlagRemoval, nil),
		testEnvelope(3, PoolFlagRecipient|PoolFlagRemoval, nil),
		testEnvelope(4, 0, bytes.Repeat([]byte{7}, MaxPoolBodyLen)),
	} {
		raw := mustEnvelope(e)
		got, err := DecodePoolEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip differs")
		}
		id := PoolIDOf(raw)
		if err := VerifyPoolSig(id, got.Origin, got.Sig); err != nil {
			t.Fatalf("signature: %v", err)
		}
		// Any change to the signed bytes changes the id and breaks the
		// signature.
		got.Seq++
		id2, _ := got.ID()
		if err := VerifyPoolSig(id2, got.Origin, got.Sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("tampered envelope verifies: %v", err)
		}
	}
	big := testEnvelope(4, 0, bytes.Repeat([]byte{7}, MaxPoolBodyLen))
	if len(mustEnvelope(big)) != MaxPoolEnvelopeSize-PoolIDSize-(MaxTopicLen-len(big.Topic)) {
		t.Fatalf("MaxPoolEnvelopeSize does not match a maximal envelope without recipient")
	}
}

func TestPoolEnvelopeMalformed(t *testing.T) {
	good := mustEnvelope(testEnvelope(1, 0, []byte("x")))
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name  string
		in    []byte
		want  error
		field string
	}{
		{"empty", nil, ErrTruncated, "Version"},
		{"bad version", mod(func(b []byte) []byte { b[0] = 2; return b }), ErrInvalidField, "Version"},
		{"unknown flag", mod(func(b []byte) []byte { b[2] = 0x80; return b }), ErrInvalidField, "Flags"},
		{"topic with capital", mod(func(b []byte) []byte { b[5] = 'O'; return b }), ErrInvalidField, "Topic"},
		{"trailing byte", append(bytes.Clone(good), 0), ErrTrailingBytes, ""},
		{"truncated sig", good[:len(good)-1], ErrTruncated, "Sig"},
		{"oversized", make([]byte, MaxPoolEnvelopeSize+1), ErrFieldTooLarge, ""},
		{"expiry before created", mustEnvelopeRaw(func(w *Writer) {
			w.U8(1)
			w.U8(4)
			w.U8(0)
			w.String("t", "a", 32)
			w.Fixed(make([]byte, 32+16+8))
			w.U64(10)
			w.U64(9)
		}), ErrInvalidField, "Expiry"},
		{"removal with body", mod(func(b []byte) []byte { b[2] = PoolFlagRemoval; return b }), ErrInvalidField, "Body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePoolEnvelope(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Fatalf("field of %v, want %q", err, tc.field)
			}
		})
	}
}

func mustEnvelopeRaw(fn func(w *Writer)) []byte {
	w := NewWriter("test", nil)
	fn(w)
	return w.Bytes()
}

func TestPoolMessagesMalformed(t *testing.T) {
	tests := []struct {
		name string
		typ  MessageType
		in   []byte
		want error
	}{
		{"sync bits too large", TypePoolSync, []byte{MaxSyncBits + 1}, ErrFieldTooLarge},
		{"sync buckets truncated", TypePoolSync, []byte{3, 0, 0}, ErrTruncated},
		{"reply ids not ascending", TypePoolSyncReply, mustEnvelopeRaw(func(w *Writer) {
			w.U8(0)
			w.U16(0)
			w.U32(2)
			w.U64(5)
			w.U64(5)
		}), ErrNonCanonical},
		{"reply count beyond bytes", TypePoolSyncReply, []byte{0, 0, 0, 0, 1, 0, 0}, ErrTruncated},
		{"reply bucket out of range", TypePoolSyncReply, []byte{1, 0, 1, 0, 2, 0, 0, 0, 0}, ErrNonCanonical},
		{"inv count over max", TypePoolInv, []byte{0xff, 0xff}, ErrFieldTooLarge},
		{"msgs empty envelope", TypePoolMsgs, append([]byte{0, 1, 0, 0}, make([]byte, MinPoolEnvelopeSize)...), ErrInvalidField},
		{"msgs envelope over max", TypePoolMsgs, append([]byte{0, 1, 0xff, 0xff}, make([]byte, MinPoolEnvelopeSize)...), ErrFieldTooLarge},
		{"msgs count beyond bytes", TypePoolMsgs, []byte{0, 2, 0, 1, 1}, ErrTruncated},
		{"hello addr with space", TypePoolHello, []byte{0, 3, 'a', ' ', 'b'}, ErrInvalidField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodePayload(tc.typ, tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSyncBucketAndDigest(t *testing.T) {
	s := ShortIDFromUint64(0xabcd_0000_0000_0000)
	if SyncBucket(s, 0) != 0 || SyncBucket(s, 4) != 0xa || SyncBucket(s, 12) != 0xabc {
		t.Fatal("bucket of a short id")
	}
	ids := testShortIDs(5)
	if SyncDigest(ids) == SyncDigest(ids[1:]) {
		t.Fatal("digest ignores an id")
	}
	if !strings.HasPrefix(PoolID{1, 2}.String(), "0102") {
		t.Fatal("id hex")
	}
}

// FuzzPoolEnvelope: the envelope decoder must never panic and must be
// canonical: whatever it accepts re-encodes to the same bytes.
func FuzzPoolEnvelope(f *testing.F) {
	f.Add(mustEnvelope(testEnvelope(1, 0, []byte("x"))))
	f.Add(mustEnvelope(testEnvelope(2, PoolFlagRecipient|PoolFlagRemoval, nil)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodePoolEnvelope(data)
		if err != nil {
			return
		}
		raw, err := e.Encode()
		if err != nil {
			t.Fatalf("decoded envelope does not encode: %v", err)
		}
		if !bytes.Equal(raw, data) {
			t.Fatalf("non-canonical envelope accepted")
		}
		if id, _ := e.ID(); id != PoolIDOf(data) {
			t.Fatalf("ID and PoolIDOf differ")
		}
	})
}

func FuzzPoolHello(f *testing.F)     { fuzzPayload(f, TypePoolHello) }
func FuzzPoolSync(f *testing.F)      { fuzzPayload(f, TypePoolSync) }
func FuzzPoolSyncReply(f *testing.F) { fuzzPayload(f, TypePoolSyncReply) }
func FuzzPoolInv(f *testing.F)       { fuzzPayload(f, TypePoolInv) }
func FuzzPoolGetData(f *testing.F)   { fuzzPayload(f, TypePoolGetData) }
func FuzzPoolMsgs(f *testing.F)      { fuzzPayload(f, TypePoolMsgs) }
func FuzzPoolGetAddrs(f *testing.F)  { fuzzPayload(f, TypePoolGetAddrs) }
func FuzzPoolAddrs(f *testing.F)     { fuzzPayload(f, TypePoolAddrs) }
