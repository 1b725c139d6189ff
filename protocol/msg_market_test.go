package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func testMarketOffer() *MarketOffer {
	return &MarketOffer{ProofKind: OfferProofBond, Offer: Offer{
		BaseFee: 1000, AmountFeePPB: 1_000_000, TimeFeePPB: 10_000, MinSize: 10_000, MaxSize: 100_000_000,
		MinLocktime: 20, RequiredConfirms: 1, TweakablePoint: testPub(1), Fidelity: testFidelity(1),
	}, OriginSig: testSig(0x33)}
}

// testIntegrityOffer: an integrity offer, its payment spending one P2WPKH
// input (witness: signature, key) into the integrity output and change.
func testIntegrityOffer() *MarketOffer {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: testHash(7), Index: 1}, Sequence: 0xfffffffd,
		SignatureScript: []byte{}, // as btcd decodes it
		Witness:         wire.TxWitness{testSig(0x44), testPub(8).SerializeCompressed()}})
	tx.AddTxOut(&wire.TxOut{Value: 90_000, PkScript: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x21}, 20)...)})
	tx.AddTxOut(&wire.TxOut{Value: 5_000, PkScript: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x22}, 20)...)})
	o := testMarketOffer().Offer
	o.Fidelity = FidelityProof{}
	return &MarketOffer{ProofKind: OfferProofIntegrity, Offer: o, Addr: testOnion(3), Integrity: &IntegrityProof{
		Tx: tx, InputValues: []int64{100_000}, Vout: 0, Key: testPub(9), Height: 812,
		Block: testHash(10), TxIndex: 3, Branch: []chainhash.Hash{testHash(11), testHash(12)}, Sig: testSig(0x55),
	}}
}

// TestMarketOfferGolden pins the offer bodies (not frames, so not in
// TestGolden): `go test ./protocol/ -run MarketOfferGolden -update`.
func TestMarketOfferGolden(t *testing.T) {
	for name, offer := range map[string]func() *MarketOffer{
		"MarketOffer.hex": testMarketOffer, "MarketOfferIntegrity.hex": testIntegrityOffer,
	} {
		t.Run(name, func(t *testing.T) { checkMarketOfferGolden(t, name, offer) })
	}
}

func checkMarketOfferGolden(t *testing.T, name string, sample func() *MarketOffer) {
	raw, err := EncodeMarketOffer(sample())
	if err != nil {
		t.Fatal(err)
	}
	if !goldenBody(t, name, raw) {
		return
	}
	back, err := DecodeMarketOffer(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, sample()) {
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
	// One offer, one meaning: a bond offer has its certificate, an
	// integrity offer none, and the fee's inputs all have a value.
	for name, m := range map[string]func(m *MarketOffer){
		"bond offer without certificate":  func(m *MarketOffer) { m.ProofKind = OfferProofBond },
		"integrity offer with a bond":     func(m *MarketOffer) { m.Offer.Fidelity = testFidelity(1) },
		"integrity offer without proof":   func(m *MarketOffer) { m.Integrity = nil },
		"input values not one per input":  func(m *MarketOffer) { m.Integrity.InputValues = nil },
		"integrity output does not exist": func(m *MarketOffer) { m.Integrity.Vout = 2 },
	} {
		o := testIntegrityOffer()
		m(o)
		raw, err := EncodeMarketOffer(o)
		if err == nil {
			// The encoder does not police Vout; the decoder must.
			_, err = DecodeMarketOffer(raw)
		}
		if !errors.Is(err, ErrInvalidField) {
			t.Errorf("%s: err = %v, want ErrInvalidField", name, err)
		}
	}
}

// FuzzMarketOffer: the offer decoder never panics and is canonical.
func FuzzMarketOffer(f *testing.F) {
	good, err := EncodeMarketOffer(testMarketOffer())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	integrity, err := EncodeMarketOffer(testIntegrityOffer())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(integrity)
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
