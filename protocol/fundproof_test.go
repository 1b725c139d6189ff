package protocol

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/wire"
)

// TestFundingProofRefusals: a funding proof never carries witnesses (it
// would hand over a broadcastable funding tx) and has exactly one key and
// signature per input; both are refused when encoding and decoding.
func TestFundingProofRefusals(t *testing.T) {
	withWitness := testSetupHop(1)
	withWitness.Incoming[0].Proof.Tx.TxIn[0].Witness = wire.TxWitness{{1}, {2}}
	short := testSetupHop(1)
	short.Incoming[0].Proof.Inputs = short.Incoming[0].Proof.Inputs[:1]
	for name, m := range map[string]*SetupHop{"witness": withWitness, "one signature for two inputs": short} {
		t.Run(name, func(t *testing.T) {
			if _, err := EncodeMessage(m); !errors.Is(err, ErrInvalidField) {
				t.Fatalf("encode: %v, want ErrInvalidField", err)
			}
			// The same bytes made by hand reach the decoder.
			w := &Writer{}
			good := testSetupHop(1)
			if err := good.Encode(w); err != nil {
				t.Fatal(err)
			}
			raw := w.Bytes()
			tail := u16Size + nextHopKeysSize // the one NextHopKeys after the proof
			goodProof, badProof := rawProof(t, &good.Incoming[0].Proof), rawProof(t, &m.Incoming[0].Proof)
			if same := append(append(append([]byte(nil), raw[:len(raw)-tail-len(goodProof)]...), goodProof...), raw[len(raw)-tail:]...); string(same) != string(raw) {
				t.Fatal("the splice does not rebuild the good payload")
			}
			bad := append(append([]byte(nil), raw[:len(raw)-tail-len(goodProof)]...), badProof...)
			bad = append(bad, raw[len(raw)-tail:]...)
			if _, err := DecodePayload(TypeSetupHop, bad); !errors.Is(err, ErrInvalidField) {
				t.Fatalf("decode: %v, want ErrInvalidField", err)
			}
		})
	}
}

// rawProof writes p's fields without the encoder's checks, as a peer
// that ignores them would.
func rawProof(t *testing.T, p *FundingProof) []byte {
	t.Helper()
	w := &Writer{}
	w.Tx("Tx", p.Tx, MaxFundingProofTxSize)
	w.Count("Inputs", len(p.Inputs), MaxProofInputs)
	for _, in := range p.Inputs {
		w.PubKey("PubKey", in.PubKey)
		w.Sig("Sig", in.Sig)
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	return w.Bytes()
}
