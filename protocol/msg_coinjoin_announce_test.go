package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func testCoinJoinAnnounce() *CoinJoinAnnounce {
	var sign [XOnlyKeySize]byte
	copy(sign[:], testPub(80).SerializeCompressed()[1:])
	return &CoinJoinAnnounce{Denomination: 1_000_000, T: 5, FeeRate: 12, SignKey: sign,
		EncKey: testX25519(81), Contact: testOnion(8), Stamp: 0x0a0b0c0d0e0f1011}
}

// TestCoinJoinAnnounceGolden pins the announcement body:
// `go test ./protocol/ -run CoinJoinAnnounceGolden -update`.
func TestCoinJoinAnnounceGolden(t *testing.T) {
	raw, err := EncodeCoinJoinAnnounce(testCoinJoinAnnounce())
	if err != nil {
		t.Fatal(err)
	}
	if !goldenBody(t, "CoinJoinAnnounce.hex", raw) {
		return
	}
	back, err := DecodeCoinJoinAnnounce(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, testCoinJoinAnnounce()) {
		t.Fatal("round trip differs")
	}
	// The stamp is the body's last 8 bytes (node/coinjoin zeroes it to
	// bind the work to the rest).
	if !bytes.Equal(raw[len(raw)-8:], []byte{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11}) {
		t.Fatal("stamp is not the last field")
	}
	if MaxCoinJoinAnnounce > MaxPoolBodyLen {
		t.Fatalf("an announcement (%d) does not fit a pool body (%d)", MaxCoinJoinAnnounce, MaxPoolBodyLen)
	}
	long := testCoinJoinAnnounce()
	long.Contact = string(bytes.Repeat([]byte{'a'}, MaxAddrLen))
	if raw, err := EncodeCoinJoinAnnounce(long); err != nil || len(raw) != MaxCoinJoinAnnounce {
		t.Fatalf("largest announcement: %d bytes, %v; MaxCoinJoinAnnounce %d", len(raw), err, MaxCoinJoinAnnounce)
	}
}

func TestCoinJoinAnnounceMalformed(t *testing.T) {
	good, err := EncodeCoinJoinAnnounce(testCoinJoinAnnounce())
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	const (
		offDenom   = 1
		offT       = offDenom + 8
		offFeeRate = offT + 1
		offContact = offFeeRate + 4 + 2*32
	)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"unknown version", mut(func(b []byte) []byte { b[0] = 2; return b }), ErrInvalidField},
		{"version 0", mut(func(b []byte) []byte { b[0] = 0; return b }), ErrInvalidField},
		{"denomination above MaxSatoshi", mut(func(b []byte) []byte { b[offDenom] = 0xff; return b }), ErrInvalidField},
		{"T 1", mut(func(b []byte) []byte { b[offT] = 1; return b }), ErrInvalidField},
		{"T 101", mut(func(b []byte) []byte { b[offT] = 101; return b }), ErrInvalidField},
		{"fee rate 0", mut(func(b []byte) []byte { copy(b[offFeeRate:], []byte{0, 0, 0, 0}); return b }), ErrInvalidField},
		{"empty contact", append(append(bytes.Clone(good[:offContact]), 0, 0), good[len(good)-8:]...), ErrInvalidField},
		{"contact not printable", mut(func(b []byte) []byte { b[offContact+2] = ' '; return b }), ErrInvalidField},
		{"contact too long", mut(func(b []byte) []byte { b[offContact] = 0xff; return b }), ErrFieldTooLarge},
		{"contact runs past the end", mut(func(b []byte) []byte { b[offContact+1] = MaxAddrLen; return b }), ErrTruncated},
		{"no stamp", good[:len(good)-8], ErrTruncated},
		{"truncated stamp", good[:len(good)-1], ErrTruncated},
		{"trailing byte", append(bytes.Clone(good), 0), ErrTrailingBytes},
		{"oversized", make([]byte, MaxCoinJoinAnnounce+1), ErrFieldTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeCoinJoinAnnounce(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The encoder refuses what the decoder would.
	for name, f := range map[string]func(a *CoinJoinAnnounce){
		"T 1":                   func(a *CoinJoinAnnounce) { a.T = 1 },
		"T 101":                 func(a *CoinJoinAnnounce) { a.T = 101 },
		"fee rate 0":            func(a *CoinJoinAnnounce) { a.FeeRate = 0 },
		"negative denomination": func(a *CoinJoinAnnounce) { a.Denomination = -1 },
		"no contact":            func(a *CoinJoinAnnounce) { a.Contact = "" },
		"contact too long":      func(a *CoinJoinAnnounce) { a.Contact = string(make([]byte, MaxAddrLen+1)) },
	} {
		a := testCoinJoinAnnounce()
		f(a)
		if _, err := EncodeCoinJoinAnnounce(a); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// FuzzCoinJoinAnnounce: the decoder never panics and is canonical.
func FuzzCoinJoinAnnounce(f *testing.F) {
	good, err := EncodeCoinJoinAnnounce(testCoinJoinAnnounce())
	if err != nil {
		f.Fatal(err)
	}
	fuzzBody(f, DecodeCoinJoinAnnounce, good, good[:len(good)-1], append(bytes.Clone(good), 0))
}
