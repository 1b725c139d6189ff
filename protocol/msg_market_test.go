package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testMarketOffer() *MarketOffer {
	return &MarketOffer{ProofKind: OfferProofBond, Offer: Offer{
		BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 10_000, MaxSize: 100_000_000,
		MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: testPub(1), Fidelity: testFidelity(1),
	}, OriginSig: testSig(0x33)}
}

// TestMarketOfferGolden pins the offer body (not a frame, so not in
// TestGolden): `go test ./protocol/ -run MarketOfferGolden -update`.
func TestMarketOfferGolden(t *testing.T) {
	raw, err := EncodeMarketOffer(testMarketOffer())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "MarketOffer.hex")
	if *update {
		if err := os.WriteFile(path, []byte(hex.EncodeToString(raw)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got := hex.EncodeToString(raw) + "\n"; got != string(want) {
		t.Fatalf("offer body drifted:\n got %s\nwant %s", got, want)
	}
	back, err := DecodeMarketOffer(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, testMarketOffer()) {
		t.Fatal("round trip differs")
	}
	if len(raw) > MaxMarketOfferSize {
		t.Fatalf("%d bytes > MaxMarketOfferSize %d", len(raw), MaxMarketOfferSize)
	}
}

func TestMarketOfferMalformed(t *testing.T) {
	good, err := EncodeMarketOffer(testMarketOffer())
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"unknown version", mut(func(b []byte) []byte { b[0] = 2; return b }), ErrInvalidField},
		{"unknown proof kind", mut(func(b []byte) []byte { b[1] = 9; return b }), ErrInvalidField},
		{"truncated", good[:len(good)-3], ErrTruncated},
		{"trailing byte", append(bytes.Clone(good), 0), ErrTrailingBytes},
		{"oversized", make([]byte, MaxMarketOfferSize+1), ErrFieldTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeMarketOffer(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	bad := testMarketOffer()
	bad.ProofKind = 7
	if _, err := EncodeMarketOffer(bad); err == nil || !strings.Contains(err.Error(), "proof kind") {
		t.Fatalf("encode of an unknown proof kind: %v", err)
	}
}

// FuzzMarketOffer: the offer decoder never panics and is canonical.
func FuzzMarketOffer(f *testing.F) {
	good, err := EncodeMarketOffer(testMarketOffer())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMarketOffer(data)
		if err != nil {
			return
		}
		raw, err := EncodeMarketOffer(m)
		if err != nil {
			t.Fatalf("decoded offer does not encode: %v", err)
		}
		if !bytes.Equal(raw, data) {
			t.Fatal("non-canonical offer accepted")
		}
	})
}
