package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

func testX25519(n byte) (k [X25519KeySize]byte) {
	for i := range k {
		k[i] = n + byte(i)
	}
	return k
}

// testChatPrekey: a prekey signed by testPriv(n) (BIP340 signatures are
// deterministic with btcec's default nonce, so golden vectors hold).
func testChatPrekey(n byte, addr string) ChatPrekey {
	k := ChatPrekey{Key: testX25519(n), Expiry: 1_800_000_000, Addr: addr}
	if err := k.Sign(testPriv(n)); err != nil {
		panic(err)
	}
	return k
}

func testChatText() *ChatPlain {
	reply := testChatPrekey(61, testOnion(5))
	m := &ChatPlain{To: [XOnlyKeySize]byte{7, 7, 7}, Context: ChatContextOffer, ContextID: [32]byte{1, 2, 3},
		Seq: 3, Sent: 1_700_000_123, Kind: ChatKindText, Text: "payment sent — check in an hour", Reply: &reply}
	if err := m.Sign(testPriv(60)); err != nil {
		panic(err)
	}
	return m
}

func testChatReceipt() *ChatPlain {
	m := &ChatPlain{To: [XOnlyKeySize]byte{7, 7, 7}, Context: ChatContextSwap, ContextID: [32]byte{9},
		Sent: 1_700_000_456, Kind: ChatKindReceipt, Delivered: 5, Read: 4}
	if err := m.Sign(testPriv(60)); err != nil {
		panic(err)
	}
	return m
}

func testChatSealed() *ChatSealed {
	return &ChatSealed{To: testX25519(70), Ephemeral: testX25519(71), Stamp: 0x0102030405060708,
		Ciphertext: bytes.Repeat([]byte{0xc7}, 80)}
}

func sampleChatMessages() []Message {
	return []Message{
		&ChatKeyRequest{},
		&ChatKey{Prekey: testChatPrekey(62, "")},
		&ChatDeliver{Sealed: *testChatSealed()},
		&ChatAck{Status: ChatAckLimited, RetryAfter: 6},
	}
}

// TestChatBodiesGolden pins the bodies that are not frames:
// `go test ./protocol/ -run ChatBodiesGolden -update`.
func TestChatBodiesGolden(t *testing.T) {
	type body interface{ Encode() ([]byte, error) }
	for _, tc := range []struct {
		name   string
		sample func() body
		decode func([]byte) (body, error)
	}{
		{"ChatPlainText.hex", func() body { return testChatText() }, func(b []byte) (body, error) { return DecodeChatPlain(b) }},
		{"ChatPlainReceipt.hex", func() body { return testChatReceipt() }, func(b []byte) (body, error) { return DecodeChatPlain(b) }},
		{"ChatSealed.hex", func() body { return testChatSealed() }, func(b []byte) (body, error) { return DecodeChatSealed(b) }},
		{"ChatPrekey.hex", func() body { k := testChatPrekey(63, testOnion(6)); return &k }, func(b []byte) (body, error) { return DecodeChatPrekey(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := tc.sample().Encode()
			if err != nil {
				t.Fatal(err)
			}
			if !goldenBody(t, tc.name, raw) {
				return
			}
			back, err := tc.decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.sample()) {
				t.Fatal("round trip differs")
			}
		})
	}
}

func TestChatSignatures(t *testing.T) {
	m := testChatText()
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := m.Reply.Verify(); err != nil {
		t.Fatal(err)
	}
	// Everything under the signature: recipient, conversation, sequence,
	// text, the reply key.
	for name, f := range map[string]func(m *ChatPlain){
		"recipient": func(m *ChatPlain) { m.To[0] ^= 1 },
		"context":   func(m *ChatPlain) { m.ContextID[0] ^= 1 },
		"sequence":  func(m *ChatPlain) { m.Seq++ },
		"text":      func(m *ChatPlain) { m.Text += "!" },
		"reply key": func(m *ChatPlain) { m.Reply.Key[0] ^= 1 },
	} {
		c := testChatText()
		f(c)
		if err := c.Verify(); !errors.Is(err, ErrChatSig) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
}

func TestChatMalformed(t *testing.T) {
	text, _ := testChatText().Encode()
	sealed, _ := testChatSealed().Encode()
	mut := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	for _, tc := range []struct {
		name   string
		decode func([]byte) error
		in     []byte
		want   error
	}{
		{"plain empty", plainErr, nil, ErrTruncated},
		{"plain oversized", plainErr, make([]byte, MaxChatPlain+1), ErrFieldTooLarge},
		{"plain unknown kind", plainErr, mut(text, func(b []byte) []byte { b[2*XOnlyKeySize+1+32+16] = 9; return b }), ErrInvalidField},
		{"plain unknown context", plainErr, mut(text, func(b []byte) []byte { b[2*XOnlyKeySize] = 3; return b }), ErrInvalidField},
		{"plain trailing", plainErr, append(bytes.Clone(text), 0), ErrTrailingBytes},
		{"sealed unknown version", sealedErr, mut(sealed, func(b []byte) []byte { b[0] = 2; return b }), ErrInvalidField},
		{"sealed truncated", sealedErr, sealed[:len(sealed)-1], ErrTruncated},
		{"sealed oversized", sealedErr, make([]byte, MaxChatSealed+1), ErrFieldTooLarge},
	} {
		if err := tc.decode(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if MaxChatSealed > MaxPoolBodyLen {
		t.Fatalf("a sealed message (%d) does not fit a pool body (%d)", MaxChatSealed, MaxPoolBodyLen)
	}
}

func plainErr(b []byte) error  { _, err := DecodeChatPlain(b); return err }
func sealedErr(b []byte) error { _, err := DecodeChatSealed(b); return err }

func fuzzBody[T interface{ Encode() ([]byte, error) }](f *testing.F, decode func([]byte) (T, error), seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decode(data)
		if err != nil {
			return
		}
		raw, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded body does not encode: %v", err)
		}
		if !bytes.Equal(raw, data) {
			t.Fatal("non-canonical body accepted")
		}
	})
}

func FuzzChatPlain(f *testing.F) {
	text, _ := testChatText().Encode()
	receipt, _ := testChatReceipt().Encode()
	fuzzBody(f, DecodeChatPlain, text, receipt)
}

func FuzzChatSealed(f *testing.F) {
	s, _ := testChatSealed().Encode()
	fuzzBody(f, DecodeChatSealed, s)
}

func FuzzChatPrekey(f *testing.F) {
	k := testChatPrekey(63, testOnion(6))
	raw, _ := k.Encode()
	fuzzBody(f, DecodeChatPrekey, raw)
}

func FuzzChatKey(f *testing.F)        { fuzzPayload(f, TypeChatKey) }
func FuzzChatDeliver(f *testing.F)    { fuzzPayload(f, TypeChatDeliver) }
func FuzzChatAck(f *testing.F)        { fuzzPayload(f, TypeChatAck) }
func FuzzChatKeyRequest(f *testing.F) { fuzzPayload(f, TypeChatKeyRequest) }

// TestSchnorrSignConcurrent: one key signs from many goroutines (a node's
// identity does); every signature verifies and, under -race, nothing
// races (btcec's schnorr.Sign alone would negate the shared key in place).
func TestSchnorrSignConcurrent(t *testing.T) {
	var key *btcec.PrivateKey
	for i := byte(1); ; i++ { // a key whose public key has an odd Y
		key = testPriv(i)
		if key.PubKey().SerializeCompressed()[0] == 0x03 {
			break
		}
	}
	var origin [XOnlyKeySize]byte
	copy(origin[:], schnorr.SerializePubKey(key.PubKey()))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				d := sha256.Sum256([]byte{byte(g), byte(i)})
				sig, err := SchnorrSign(key, d[:])
				if err == nil {
					err = VerifyPoolSig(PoolID(d), origin, sig)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// goldenBody compares raw, a pool body's encoding, with testdata/name (hex)
// or, with -update, writes it there and reports false (nothing more to
// check).
func goldenBody(t *testing.T, name string, raw []byte) bool {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(hex.EncodeToString(raw)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return false
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got := hex.EncodeToString(raw) + "\n"; got != string(want) {
		t.Fatalf("%s drifted:\n got %s\nwant %s", name, got, want)
	}
	return true
}
