package protocol

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/wire"
)

// cjKey: the x-only round key of testPriv(0x80+i), participant i.
func cjKey(i byte) (k [XOnlyKeySize]byte) {
	copy(k[:], schnorr.SerializePubKey(testPriv(0x80+i).PubKey()))
	return k
}

func signedCJ[M interface{ Sign(*btcec.PrivateKey) error }](m M, signer byte) M {
	if err := m.Sign(testPriv(0x80 + signer)); err != nil {
		panic(err)
	}
	return m
}

// testCJInvite: a round of three, named and signed by participant 0.
func testCJInvite() *CJInvite {
	m := &CJInvite{Denomination: 1_000_000, FeeRate: 5, T: 3, Deadline: 1_800_000_000}
	for i := byte(0); i < 3; i++ {
		m.Peers = append(m.Peers, CJPeer{SignKey: cjKey(i), EncKey: testX25519(0x40 + 16*i), Contact: testOnion(10 + i)})
	}
	m.Round = m.RoundID()
	return signedCJ(m, 0)
}

func testCJRound() [32]byte { return testCJInvite().Round }

// testCJPass: participant 1's pass in a round of three (two entries of one
// layer each).
func testCJPass() *CJPass {
	return signedCJ(&CJPass{Round: testCJRound(), Step: 1, Entries: [][]byte{
		bytes.Repeat([]byte{0xe1}, CJOutputLen+CJLayerLen),
		bytes.Repeat([]byte{0xe2}, CJOutputLen+CJLayerLen),
	}}, 1)
}

func testCJInput() *CJInput {
	return signedCJ(&CJInput{Round: testCJRound(), OutPoint: wire.OutPoint{Hash: testHash(0x90), Index: 1},
		Value: 1_001_000, PkScript: p2wpkh(0x91)}, 2)
}

func testCJTxSig() *CJTxSig {
	return signedCJ(&CJTxSig{Round: testCJRound(), OutPoint: wire.OutPoint{Hash: testHash(0x90), Index: 1},
		Witness: wire.TxWitness{append(testSig(0x92), 0x01), testPub(0x92).SerializeCompressed()}}, 2)
}

func sampleCoinJoinMessages() []Message {
	round := testCJRound()
	return []Message{
		testCJInvite(),
		signedCJ(&CJAccept{Round: round}, 1),
		testCJPass(),
		testCJInput(),
		testCJTxSig(),
		signedCJ(&CJBlame{Round: round, EncPriv: testX25519(0x93), Reason: CJBlameUnopenable}, 2),
		signedCJ(&CJAbort{Round: round, Reason: "peer 2 sent no pass before the deadline"}, 0),
		signedCJ(&CJReady{Round: round, Outputs: OutputsHash([][]byte{p2wpkh(0x94), p2wpkh(0x95)})}, 1),
	}
}

type cjMsg interface {
	Message
	Verify([32]byte) error
}

func TestCJSignatures(t *testing.T) {
	signer := map[MessageType]byte{TypeCJInvite: 0, TypeCJAccept: 1, TypeCJPass: 1, TypeCJInput: 2,
		TypeCJTxSig: 2, TypeCJBlame: 2, TypeCJAbort: 0, TypeCJReady: 1}
	for _, m := range sampleCoinJoinMessages() {
		m := m.(cjMsg)
		if err := m.Verify(cjKey(signer[m.Type()])); err != nil {
			t.Errorf("%s: %v", m.Type(), err)
		}
		if err := m.Verify(cjKey(signer[m.Type()] + 1)); !errors.Is(err, ErrCoinJoinSig) {
			t.Errorf("%s verifies under another key: %v", m.Type(), err)
		}
	}
	// A signature is bound to its message type: an accept's does not
	// make an abort with the same round.
	acc := sampleCoinJoinMessages()[1].(*CJAccept)
	if err := (&CJAbort{Round: acc.Round, Sig: acc.Sig}).Verify(cjKey(1)); !errors.Is(err, ErrCoinJoinSig) {
		t.Errorf("accept signature moved to an abort: %v", err)
	}
}

// rawCJInvite writes an invite field by field without any check.
func rawCJInvite(m *CJInvite) []byte {
	return payloadWith(func(w *Writer) {
		w.Fixed(m.Round[:])
		w.U64(uint64(m.Denomination))
		w.U32(m.FeeRate)
		w.U8(m.T)
		w.U64(m.Deadline)
		w.U16(uint16(len(m.Peers)))
		for _, p := range m.Peers {
			w.Fixed(p.SignKey[:])
			w.Fixed(p.EncKey[:])
			w.U16(uint16(len(p.Contact)))
			w.Fixed([]byte(p.Contact))
		}
		w.Fixed(m.Sig[:])
	})
}

func rawCJPass(m *CJPass) []byte {
	return payloadWith(func(w *Writer) {
		w.Fixed(m.Round[:])
		w.U16(m.Step)
		w.U16(uint16(len(m.Entries)))
		for _, e := range m.Entries {
			w.U16(uint16(len(e)))
			w.Fixed(e)
		}
		w.Fixed(m.Sig[:])
	})
}

func rawCJInput(m *CJInput) []byte {
	return payloadWith(func(w *Writer) {
		w.Fixed(m.Round[:])
		w.OutPoint(m.OutPoint)
		w.U64(uint64(m.Value))
		w.U16(uint16(len(m.PkScript)))
		w.Fixed(m.PkScript)
		w.Fixed(m.Sig[:])
	})
}

func rawCJTxSig(m *CJTxSig) []byte {
	return payloadWith(func(w *Writer) {
		w.Fixed(m.Round[:])
		w.OutPoint(m.OutPoint)
		w.U16(uint16(len(m.Witness)))
		for _, item := range m.Witness {
			w.U16(uint16(len(item)))
			w.Fixed(item)
		}
		w.Fixed(m.Sig[:])
	})
}

// TestCJRefused: every bad message is refused by the encoder and, written
// raw, by the decoder.
func TestCJRefused(t *testing.T) {
	invite := func(f func(m *CJInvite), rehash bool) func() (Message, []byte) {
		return func() (Message, []byte) {
			m := testCJInvite()
			f(m)
			if rehash {
				m.Round = m.RoundID()
			}
			return m, rawCJInvite(m)
		}
	}
	pass := func(f func(m *CJPass)) func() (Message, []byte) {
		return func() (Message, []byte) { m := testCJPass(); f(m); return m, rawCJPass(m) }
	}
	input := func(f func(m *CJInput)) func() (Message, []byte) {
		return func() (Message, []byte) { m := testCJInput(); f(m); return m, rawCJInput(m) }
	}
	txsig := func(f func(m *CJTxSig)) func() (Message, []byte) {
		return func() (Message, []byte) { m := testCJTxSig(); f(m); return m, rawCJTxSig(m) }
	}
	blame := func(reason uint8) func() (Message, []byte) {
		return func() (Message, []byte) {
			m := &CJBlame{Round: testCJRound(), Reason: reason}
			return m, payloadWith(func(w *Writer) {
				w.Fixed(m.Round[:])
				w.Fixed(m.EncPriv[:])
				w.U8(reason)
				w.Fixed(m.Sig[:])
			})
		}
	}
	for _, tc := range []struct {
		name string
		make func() (Message, []byte)
		want error
	}{
		{"round id mismatch", invite(func(m *CJInvite) { m.Denomination++ }, false), ErrInvalidField},
		{"round id of other peers", invite(func(m *CJInvite) { m.Peers[2].EncKey[0] ^= 1 }, false), ErrInvalidField},
		{"duplicate peer", invite(func(m *CJInvite) { m.Peers[2].SignKey = m.Peers[0].SignKey }, true), ErrInvalidField},
		{"too few peers", invite(func(m *CJInvite) { m.Peers = m.Peers[:1]; m.T = 2 }, true), ErrInvalidField},
		{"threshold above peers", invite(func(m *CJInvite) { m.T = 4 }, true), ErrInvalidField},
		{"threshold below 2", invite(func(m *CJInvite) { m.T = 1 }, true), ErrInvalidField},
		{"empty contact", invite(func(m *CJInvite) { m.Peers[1].Contact = "" }, true), ErrInvalidField},
		{"entries of unequal length", pass(func(m *CJPass) { m.Entries[1] = m.Entries[1][:len(m.Entries[1])-1] }), ErrInvalidField},
		{"entries not step+1", pass(func(m *CJPass) { m.Step = 2 }), ErrInvalidField},
		{"entry not output plus layers", pass(func(m *CJPass) {
			m.Entries = [][]byte{make([]byte, CJOutputLen+1), make([]byte, CJOutputLen+1)}
		}), ErrInvalidField},
		{"entry with more layers than peers", pass(func(m *CJPass) {
			m.Step = 1
			m.Entries = [][]byte{make([]byte, MaxCJEntryLen), make([]byte, MaxCJEntryLen)}
		}), ErrInvalidField},
		{"entry above bound", pass(func(m *CJPass) {
			m.Step = 0
			m.Entries = [][]byte{make([]byte, MaxCJEntryLen+CJLayerLen)}
		}), ErrFieldTooLarge},
		{"pkscript P2WSH-like", input(func(m *CJInput) { m.PkScript[1] = 0x20 }), ErrInvalidField},
		{"pkscript short", input(func(m *CJInput) { m.PkScript = m.PkScript[:21] }), ErrInvalidField},
		{"pkscript P2PKH", input(func(m *CJInput) { m.PkScript = append([]byte{0x76, 0xa9}, m.PkScript[2:]...) }), ErrInvalidField},
		{"too many witness items", txsig(func(m *CJTxSig) { m.Witness = append(m.Witness, []byte{1}) }), ErrFieldTooLarge},
		{"witness item too long", txsig(func(m *CJTxSig) { m.Witness[0] = make([]byte, MaxCJWitnessItemLen+1) }), ErrFieldTooLarge},
		{"blame reason 0", blame(0), ErrInvalidField},
		{"unknown blame reason", blame(cjBlameLast + 1), ErrInvalidField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, raw := tc.make()
			if _, err := EncodeMessage(m); !errors.Is(err, tc.want) {
				t.Errorf("encode: %v, want %v", err, tc.want)
			}
			if _, err := DecodePayload(m.Type(), raw); !errors.Is(err, tc.want) {
				t.Errorf("decode: %v, want %v", err, tc.want)
			}
		})
	}
	// The raw writers agree with the encoder on valid messages.
	for _, m := range []Message{testCJInvite(), testCJPass(), testCJInput(), testCJTxSig()} {
		var raw []byte
		switch m := m.(type) {
		case *CJInvite:
			raw = rawCJInvite(m)
		case *CJPass:
			raw = rawCJPass(m)
		case *CJInput:
			raw = rawCJInput(m)
		case *CJTxSig:
			raw = rawCJTxSig(m)
		}
		if f := mustFrame(t, m); !bytes.Equal(f[HeaderSize:], raw) {
			t.Errorf("%s: raw writer differs from the encoder", m.Type())
		}
	}
}

// TestCJSigCoversFields: changing one field breaks the signature.
func TestCJSigCoversFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      func() cjMsg
		signer byte
	}{
		{"invite contact", func() cjMsg { m := testCJInvite(); m.Peers[1].Contact = testOnion(20); return m }, 0},
		{"invite round rehashed", func() cjMsg { m := testCJInvite(); m.Deadline++; m.Round = m.RoundID(); return m }, 0},
		{"accept round", func() cjMsg { m := sampleCoinJoinMessages()[1].(*CJAccept); m.Round[0] ^= 1; return m }, 1},
		{"pass step", func() cjMsg {
			m := testCJPass()
			m.Step, m.Entries = 0, m.Entries[:1]
			m.Entries[0] = make([]byte, CJOutputLen+2*CJLayerLen)
			return m
		}, 1},
		{"pass entry", func() cjMsg { m := testCJPass(); m.Entries[0][5] ^= 1; return m }, 1},
		{"pass order", func() cjMsg { m := testCJPass(); m.Entries[0], m.Entries[1] = m.Entries[1], m.Entries[0]; return m }, 1},
		{"input value", func() cjMsg { m := testCJInput(); m.Value++; return m }, 2},
		{"input outpoint", func() cjMsg { m := testCJInput(); m.OutPoint.Index++; return m }, 2},
		{"input script", func() cjMsg { m := testCJInput(); m.PkScript[21] ^= 1; return m }, 2},
		{"txsig witness", func() cjMsg { m := testCJTxSig(); m.Witness[1][1] ^= 1; return m }, 2},
		{"blame key", func() cjMsg { m := sampleCoinJoinMessages()[5].(*CJBlame); m.EncPriv[0] ^= 1; return m }, 2},
		{"blame reason", func() cjMsg { m := sampleCoinJoinMessages()[5].(*CJBlame); m.Reason = CJBlameTimeout; return m }, 2},
		{"abort reason", func() cjMsg { m := sampleCoinJoinMessages()[6].(*CJAbort); m.Reason += "!"; return m }, 0},
		{"ready outputs", func() cjMsg { m := sampleCoinJoinMessages()[7].(*CJReady); m.Outputs[3] ^= 1; return m }, 1},
	} {
		m := tc.m()
		if err := m.Verify(cjKey(tc.signer)); !errors.Is(err, ErrCoinJoinSig) {
			t.Errorf("%s changed: %v", tc.name, err)
		}
		// And the changed message still encodes: only the signature fails.
		if _, err := EncodeMessage(m); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestCJPassShapes: every pass of rounds of 2, 3 and MaxCJPeers is
// accepted and fits MaxPayload.
func TestCJPassShapes(t *testing.T) {
	largest := 0
	for _, n := range []int{MinCJPeers, 3, MaxCJPeers} {
		for j := 0; j < n; j++ {
			entry := make([]byte, CJOutputLen+CJLayerLen*(n-1-j))
			m := &CJPass{Step: uint16(j), Entries: make([][]byte, j+1)}
			for i := range m.Entries {
				m.Entries[i] = entry
			}
			f, err := EncodeMessage(m)
			if err != nil {
				t.Fatalf("n %d step %d: %v", n, j, err)
			}
			if _, err := DecodePayload(TypeCJPass, f[HeaderSize:]); err != nil {
				t.Fatalf("n %d step %d: %v", n, j, err)
			}
			largest = max(largest, len(f)-HeaderSize)
		}
	}
	if largest != maxCJPassPayload {
		t.Fatalf("largest pass %d, MaxPayload %d", largest, maxCJPassPayload)
	}
}

func FuzzCJInvite(f *testing.F) { fuzzPayload(f, TypeCJInvite) }
func FuzzCJAccept(f *testing.F) { fuzzPayload(f, TypeCJAccept) }
func FuzzCJPass(f *testing.F)   { fuzzPayload(f, TypeCJPass) }
func FuzzCJInput(f *testing.F)  { fuzzPayload(f, TypeCJInput) }
func FuzzCJTxSig(f *testing.F)  { fuzzPayload(f, TypeCJTxSig) }
func FuzzCJBlame(f *testing.F)  { fuzzPayload(f, TypeCJBlame) }
func FuzzCJAbort(f *testing.F)  { fuzzPayload(f, TypeCJAbort) }
func FuzzCJReady(f *testing.F)  { fuzzPayload(f, TypeCJReady) }
