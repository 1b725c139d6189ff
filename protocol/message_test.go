package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/")

func goldenPath(t MessageType) string {
	return filepath.Join("testdata", t.String()+".hex")
}

// TestSamplesCoverRegistry makes sure every registered type has a sample
// (and therefore a round trip, a golden vector and a fuzz seed).
func TestSamplesCoverRegistry(t *testing.T) {
	have := map[MessageType]bool{}
	for _, m := range sampleMessages() {
		have[m.Type()] = true
	}
	for _, typ := range RegisteredTypes() {
		if !have[typ] {
			t.Errorf("no sample for %s", typ)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			frame, err := EncodeMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			got, n, err := ReadMessage(bytes.NewReader(frame))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(frame) {
				t.Fatalf("consumed %d of %d", n, len(frame))
			}
			if reflect.TypeOf(got) != reflect.TypeOf(m) {
				t.Fatalf("decoded %T, want %T", got, m)
			}
			again, err := EncodeMessage(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(frame, again) {
				t.Fatalf("re-encoding differs")
			}
			got2, err := DecodePayload(m.Type(), again[HeaderSize:])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, got2) {
				t.Fatalf("decode → encode → decode differs")
			}
		})
	}
}

// TestGolden pins every message's bytes. Regenerate with
// `go test ./protocol/ -run TestGolden -update` (package before the flag) and review the diff.
func TestGolden(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			frame, err := EncodeMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			path := goldenPath(m.Type())
			if *update {
				if err := os.WriteFile(path, []byte(hex.EncodeToString(frame)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got := hex.EncodeToString(frame); got != strings.TrimSpace(string(want)) {
				t.Fatalf("wire format drifted for %s:\n got %s\nwant %s", m.Type(), got, strings.TrimSpace(string(want)))
			}
		})
	}
}

func frameOf(typ MessageType, payload []byte) []byte {
	f := make([]byte, HeaderSize, HeaderSize+len(payload))
	f[0], f[1], f[2], f[3] = byte((len(payload)+2)>>24), byte((len(payload)+2)>>16), byte((len(payload)+2)>>8), byte(len(payload)+2)
	f[4], f[5] = byte(typ>>8), byte(typ)
	return append(f, payload...)
}

func mustFrame(t testing.TB, m Message) []byte {
	t.Helper()
	f, err := EncodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// payloadWith builds a payload field by field (possibly invalid).
func payloadWith(fn func(w *Writer)) []byte {
	w := NewWriter("test", nil)
	fn(w)
	return w.Bytes()
}

func TestMalformed(t *testing.T) {
	id := testSwapID()
	okPing := mustFrame(t, &Ping{Nonce: 1})
	errFrame := mustFrame(t, &Error{Code: CodeInternal, Text: "x"})
	trailing := frameOf(TypeError, append(append([]byte{}, errFrame[HeaderSize:]...), 0xff))
	// contractBlob: a SetupHopReply whose one outgoing output carries tx
	// as its contract transaction.
	contractBlob := func(tx []byte) []byte {
		return payloadWith(func(w *Writer) {
			w.Fixed(id[:])
			w.U16(0)
			w.U16(1)
			w.OutPoint(wire.OutPoint{Hash: testHash(1)})
			w.Amount("v", 1000)
			w.Script("s", testMultisig(1))
			w.PubKey("k", testPub(2))
			w.U32(uint32(len(tx)))
			w.Fixed(tx)
			w.Sig("sig", testSig(3))
		})
	}
	var ctx bytes.Buffer
	_ = testContractTx(1).Serialize(&ctx)
	nonCanonicalTx := append(bytes.Clone(ctx.Bytes()), 0x00)
	badPub := payloadWith(func(w *Writer) {
		(&Offer{BaseFee: 1, TweakablePoint: testPub(1), Fidelity: testFidelity(1)}).Encode(w)
	})
	copy(badPub[38:], append([]byte{0x02}, bytes.Repeat([]byte{0xff}, 32)...))
	sigTrailing := append(testSig(1), 0x00)

	tests := []struct {
		name    string
		in      []byte
		wantErr error
		field   string // expected DecodeError field ("" = don't check)
		index   int
	}{
		{name: "empty input", in: nil, wantErr: io.EOF},
		{name: "truncated header", in: okPing[:3], wantErr: ErrTruncated, field: "Header", index: -1},
		{name: "length over global max", in: []byte{0x00, 0x10, 0x00, 0x01, 0x00, 0x12}, wantErr: ErrFrameTooLarge, field: "Length", index: -1},
		{name: "length below type field", in: []byte{0, 0, 0, 1, 0, 0}, wantErr: ErrFrameTooShort, field: "Length", index: -1},
		{name: "length over type max", in: frameOf(TypePing, make([]byte, 11)), wantErr: ErrPayloadTooLarge},
		{name: "truncated payload", in: okPing[:len(okPing)-1], wantErr: ErrTruncated, field: "Payload", index: -1},
		{name: "trailing bytes", in: trailing, wantErr: ErrTrailingBytes},
		{name: "unknown even type", in: frameOf(0x0700, []byte{1, 2, 3}), wantErr: ErrUnknownRequired, field: "Type", index: -1},
		{name: "oversized list count", in: frameOf(TypeFundHop, payloadWith(func(w *Writer) {
			w.Fixed(id[:])
			w.U16(MaxFundingTxs + 1)
		})), wantErr: ErrFieldTooLarge, field: "ReceiverSigs", index: -1},
		{name: "list count beyond bytes left", in: frameOf(TypeListReply, []byte{0x03, 0xe8}), wantErr: ErrTruncated, field: "Entries", index: -1},
		{name: "invalid pubkey", in: frameOf(TypeOffer, badPub), wantErr: ErrInvalidField, field: "TweakablePoint", index: -1},
		{name: "oversized tx blob", in: frameOf(TypeSetupHopReply, contractBlob(make([]byte, MaxContractTxSize+1))),
			wantErr: ErrFieldTooLarge, field: "Outgoing[].ContractTx", index: 0},
		{name: "non-canonical tx blob", in: frameOf(TypeSetupHopReply, contractBlob(nonCanonicalTx)),
			wantErr: ErrNonCanonical, field: "Outgoing[].ContractTx", index: 0},
		{name: "garbage tx blob", in: frameOf(TypeSetupHopReply, contractBlob(bytes.Repeat([]byte{0xff}, 80))),
			wantErr: ErrInvalidField, field: "Outgoing[].ContractTx", index: 0},
		{name: "signature with trailing byte", in: frameOf(TypeFundHop, payloadWith(func(w *Writer) {
			w.Fixed(id[:])
			w.U16(1)
			w.VarBytes("s", sigTrailing, 80)
		})), wantErr: ErrNonCanonical, field: "ReceiverSigs[]", index: 0},
		{name: "non-DER signature", in: frameOf(TypeFundHop, payloadWith(func(w *Writer) {
			w.Fixed(id[:])
			w.U16(1)
			w.VarBytes("s", bytes.Repeat([]byte{0x30}, 70), 80)
		})), wantErr: ErrNonCanonical, field: "ReceiverSigs[]", index: 0},
		{name: "zero scalar", in: frameOf(TypePrivKeyHandover, payloadWith(func(w *Writer) {
			w.Fixed(id[:])
			w.U16(1)
			w.Fixed(make([]byte, 32))
		})), wantErr: ErrInvalidField, field: "Keys[]", index: 0},
		{name: "text not UTF-8", in: frameOf(TypeNack, []byte{0, 1, 0, 2, 0xc3, 0x28}), wantErr: ErrInvalidField, field: "Text", index: -1},
		{name: "bad boolean", in: frameOf(TypeError, []byte{0, 1, 2}), wantErr: ErrNonCanonical, field: "HasSwapID", index: -1},
		{name: "feature vector with leading zero", in: frameOf(TypeHello, payloadWith(func(w *Writer) {
			w.U16(1)
			w.U16(1)
			w.U8(4)
			w.VarBytes("f", []byte{0, 1}, 32)
			w.Fixed(make([]byte, 32))
			w.U16(0)
		})), wantErr: ErrNonCanonical, field: "Features", index: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadMessage(bytes.NewReader(tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.field == "" {
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if de.Field != tc.field || de.Index != tc.index {
				t.Fatalf("field %q[%d], want %q[%d] (%v)", de.Field, de.Index, tc.field, tc.index, err)
			}
		})
	}
}

// TestUnknownOddSkipped: an unknown optional type is skipped and the next
// message is delivered.
func TestUnknownOddSkipped(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(frameOf(0x0701, bytes.Repeat([]byte{7}, 100)))
	stream.Write(mustFrame(t, &RegisterAck{TTLSeconds: 5}))
	m, _, err := ReadMessage(&stream)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := m.(*Unknown); !ok || u.MsgType != 0x0701 || u.Length != 100 {
		t.Fatalf("got %#v, want *Unknown{0x0701, 100}", m)
	}
	m, _, err = ReadMessage(&stream)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := m.(*RegisterAck); !ok || a.TTLSeconds != 5 {
		t.Fatalf("got %#v", m)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"too many sigs", &FundHop{ReceiverSigs: make([][]byte, MaxFundingTxs+1)}, ErrFieldTooLarge},
		{"nil pubkey", &Offer{}, ErrInvalidField},
		{"bad sig", &FundHop{ReceiverSigs: [][]byte{{1, 2, 3}}}, ErrInvalidField},
		{"text too long", &Nack{Text: strings.Repeat("x", MaxErrorTextLen+1)}, ErrFieldTooLarge},
		{"address with space", &Register{Addr: "a b"}, ErrInvalidField},
		{"negative amount", &Offer{BaseFee: -1}, ErrInvalidField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := EncodeMessage(tc.msg); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckHello(t *testing.T) {
	base := func() *Hello { return &Hello{MinVersion: 1, MaxVersion: 3, Network: Regtest, Nonce: [32]byte{1}} }
	tests := []struct {
		name    string
		mod     func(p *Hello)
		want    error
		code    ErrorCode
		version uint16
	}{
		{"same range", func(p *Hello) {}, nil, 0, 3},
		{"overlap picks highest common", func(p *Hello) { p.MinVersion, p.MaxVersion = 2, 5 }, nil, 0, 3},
		{"peer too new", func(p *Hello) { p.MinVersion, p.MaxVersion = 4, 5 }, ErrVersion, CodeUnsupportedVersion, 0},
		{"wrong network", func(p *Hello) { p.Network = Mainnet }, ErrNetwork, CodeWrongNetwork, 0},
		{"self", func(p *Hello) { p.Nonce = [32]byte{} }, ErrSelfConnection, CodeRefused, 0},
		{"unknown required feature", func(p *Hello) { p.Features = Features(nil).Set(4) }, ErrFeature, CodeUnsupportedFeature, 0},
		{"unknown optional feature", func(p *Hello) { p.Features = Features(nil).Set(5) }, nil, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			local := base()
			local.Nonce = [32]byte{}
			peer := base()
			tc.mod(peer)
			if tc.name == "self" {
				peer.Nonce = local.Nonce
			}
			v, code, err := CheckHello(local, peer, nil)
			if !errors.Is(err, tc.want) || code != tc.code || v != tc.version {
				t.Fatalf("got (%d, %s, %v), want (%d, %s, %v)", v, code, err, tc.version, tc.code, tc.want)
			}
		})
	}
}

func TestFeatures(t *testing.T) {
	f := Features(nil).Set(0).Set(9)
	if !bytes.Equal(f, []byte{0x02, 0x01}) || !f.IsSet(9) || f.IsSet(8) {
		t.Fatalf("features %x", []byte(f))
	}
	if unk := f.UnknownRequired(Features(nil).Set(0)); len(unk) != 0 {
		t.Fatalf("odd bit 9 reported as required: %v", unk)
	}
	if unk := f.UnknownRequired(nil); len(unk) != 1 || unk[0] != 0 {
		t.Fatalf("unknown required = %v", unk)
	}
}

func TestSwapIDText(t *testing.T) {
	var id SwapID
	for i := range id {
		id[i] = byte(i * 17)
	}
	b, err := json.Marshal(map[string]SwapID{"swap": id})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"swap":"` + id.String() + `"}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var back map[string]SwapID
	if err := json.Unmarshal(b, &back); err != nil || back["swap"] != id {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if err := new(SwapID).UnmarshalText([]byte("abcd")); err == nil {
		t.Fatal("short hex accepted")
	}
}

// TestOfferTermsHash: the hash a SetupHop names covers every term a taker
// prices a route with, and neither the liquidity-driven MaxSize nor the
// fidelity proof (re-certified every block).
func TestOfferTermsHash(t *testing.T) {
	base := func() *Offer {
		return &Offer{BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 10_000, MaxSize: 100_000_000,
			MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: testPub(1), Fidelity: testFidelity(1)}
	}
	h0 := base().TermsHash()
	for _, tc := range []struct {
		name    string
		change  func(*Offer)
		changes bool
	}{
		{"BaseFee", func(o *Offer) { o.BaseFee++ }, true},
		{"AmountFeePPB", func(o *Offer) { o.AmountFeePPB++ }, true},
		{"TimeFeePPB", func(o *Offer) { o.TimeFeePPB++ }, true},
		{"MinSize", func(o *Offer) { o.MinSize++ }, true},
		{"MinLocktime", func(o *Offer) { o.MinLocktime++ }, true},
		{"RequiredConfirms", func(o *Offer) { o.RequiredConfirms++ }, true},
		{"TweakablePoint", func(o *Offer) { o.TweakablePoint = testPub(2) }, true},
		{"MaxSize", func(o *Offer) { o.MaxSize-- }, false},
		{"Fidelity", func(o *Offer) { o.Fidelity = testFidelity(2) }, false},
	} {
		o := base()
		tc.change(o)
		if got := o.TermsHash() != h0; got != tc.changes {
			t.Errorf("%s: hash changed %v, want %v", tc.name, got, tc.changes)
		}
	}
}
