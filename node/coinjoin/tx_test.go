package coinjoin

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/script"
)

// participant: a coin of key, and an output to another key.
type participant struct {
	key *btcec.PrivateKey
	in  Input
	out []byte
}

func key(n byte) *btcec.PrivateKey {
	k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{n}, 32))
	return k
}

func testRound(t *testing.T, p Params, n int, surplus func(i int) int64) []participant {
	t.Helper()
	lo, _ := p.InputRange(n)
	ps := make([]participant, n)
	for i := range ps {
		k := key(byte(i + 1))
		var h chainhash.Hash
		h[0], h[31] = byte(i*37), byte(i)
		var extra int64
		if surplus != nil {
			extra = surplus(i)
		}
		ps[i] = participant{key: k, in: Input{OutPoint: wire.OutPoint{Hash: h, Index: uint32(i % 3)}, Value: lo + extra,
			PkScript: script.P2WPKHPkScript(k.PubKey())}, out: script.P2WPKHPkScript(key(byte(100 + i)).PubKey())}
	}
	return ps
}

func lists(ps []participant) ([]Input, [][]byte) {
	ins, outs := make([]Input, len(ps)), make([][]byte, len(ps))
	for i, p := range ps {
		ins[i], outs[i] = p.in, p.out
	}
	return ins, outs
}

// sign signs p's input of tx (SIGHASH_ALL, P2WPKH).
func sign(t *testing.T, tx *wire.MsgTx, ins []Input, p participant) {
	t.Helper()
	fetcher := txscript.NewMultiPrevOutFetcher(PrevOuts(ins))
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		if in.PreviousOutPoint != p.in.OutPoint {
			continue
		}
		w, err := txscript.WitnessSignature(tx, hashes, i, p.in.Value, p.in.PkScript, txscript.SigHashAll, p.key, true)
		if err != nil {
			t.Fatal(err)
		}
		in.Witness = w
		return
	}
	t.Fatal("input not found")
}

var testParams = Params{Denomination: 1_000_000, FeeRate: 2}

// TestRound: five participants build the same transaction from the same
// lists in any order, each checks and signs, and it verifies; each pays
// its share of the fee and what it chose of the band, nothing more.
func TestRound(t *testing.T) {
	ps := testRound(t, testParams, 5, func(i int) int64 { return int64(i) * 1000 })
	ins, outs := lists(ps)
	tx, err := Build(testParams, ins, outs)
	if err != nil {
		t.Fatal(err)
	}
	// Another participant's lists in another order: the same transaction.
	rins, routs := lists([]participant{ps[3], ps[1], ps[4], ps[0], ps[2]})
	if tx2, err := Build(testParams, rins, routs); err != nil || tx2.TxHash() != tx.TxHash() {
		t.Fatalf("order matters: %v", err)
	}
	for _, p := range ps {
		if err := CheckMine(testParams, tx, ins, outs, p.in, p.out); err != nil {
			t.Fatal(err)
		}
		sign(t, tx, ins, p)
	}
	if err := script.Verify(tx, PrevOuts(ins)); err != nil {
		t.Fatal(err)
	}
	var in, out int64
	for _, p := range ps {
		in += p.in.Value
	}
	for _, o := range tx.TxOut {
		if o.Value != testParams.Denomination {
			t.Fatalf("output of %d", o.Value)
		}
		out += o.Value
	}
	vs := script.TxVSize(tx)
	if fee := in - out; fee < vs*testParams.FeeRate || vs > VSize(5) {
		t.Fatalf("fee %d for %d vB (estimated %d)", fee, vs, VSize(5))
	}
	t.Logf("5 participants: %d vB (estimate %d), share %d sat at %d sat/vB", vs, VSize(5), testParams.Share(5), testParams.FeeRate)
}

func TestBuildRefusals(t *testing.T) {
	lo, hi := testParams.InputRange(5)
	for _, tc := range []struct {
		name string
		p    Params
		mod  func(ins []Input, outs [][]byte) ([]Input, [][]byte)
		want error
	}{
		{"dust denomination", Params{Denomination: 1000, FeeRate: 1}, nil, ErrParams},
		{"no fee rate", Params{Denomination: 1_000_000}, nil, ErrParams},
		{"one participant", testParams, func(ins []Input, outs [][]byte) ([]Input, [][]byte) { return ins[:1], outs[:1] }, ErrParams},
		{"input below its share", testParams, func(ins []Input, outs [][]byte) ([]Input, [][]byte) {
			ins[2].Value = lo - 1
			return ins, outs
		}, ErrInput},
		{"input above the band", testParams, func(ins []Input, outs [][]byte) ([]Input, [][]byte) {
			ins[2].Value = hi + 1
			return ins, outs
		}, ErrInput},
		{"input twice", testParams, func(ins []Input, outs [][]byte) ([]Input, [][]byte) {
			ins[1] = ins[0]
			return ins, outs
		}, ErrInput},
		{"not P2WPKH", testParams, func(ins []Input, outs [][]byte) ([]Input, [][]byte) {
			ins[0].PkScript = append([]byte{0x00, 0x20}, make([]byte, 32)...)
			return ins, outs
		}, ErrInput},
		{"change output", testParams, func(ins []Input, outs [][]byte) ([]Input, [][]byte) {
			return ins, append(outs, script.P2WPKHPkScript(key(99).PubKey()))
		}, ErrOutput},
		{"output twice", testParams, func(ins []Input, outs [][]byte) ([]Input, [][]byte) {
			outs[1] = outs[0]
			return ins, outs
		}, ErrOutput},
		{"taproot output", testParams, func(ins []Input, outs [][]byte) ([]Input, [][]byte) {
			outs[0] = append([]byte{0x51, 0x20}, make([]byte, 32)...)
			return ins, outs
		}, ErrOutput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, outs := lists(testRound(t, testParams, 5, nil))
			if tc.mod != nil {
				ins, outs = tc.mod(ins, outs)
			}
			if _, err := Build(tc.p, ins, outs); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
}

// TestCheckMine: a participant refuses to sign a transaction that alters
// its output or anyone's, adds or drops one, or leaves out its coin.
func TestCheckMine(t *testing.T) {
	ps := testRound(t, testParams, 5, nil)
	ins, outs := lists(ps)
	me := ps[2]
	for _, tc := range []struct {
		name string
		mod  func(tx *wire.MsgTx) ([]Input, [][]byte)
	}{
		{"our output replaced", func(tx *wire.MsgTx) ([]Input, [][]byte) {
			o := append([][]byte(nil), outs...)
			o[2] = script.P2WPKHPkScript(key(200).PubKey())
			for _, out := range tx.TxOut {
				if bytes.Equal(out.PkScript, me.out) {
					out.PkScript = o[2]
				}
			}
			return ins, o
		}},
		{"an output lowered", func(tx *wire.MsgTx) ([]Input, [][]byte) {
			tx.TxOut[0].Value -= 1000
			return ins, outs
		}},
		{"an output added", func(tx *wire.MsgTx) ([]Input, [][]byte) {
			tx.AddTxOut(&wire.TxOut{Value: 1000, PkScript: script.P2WPKHPkScript(key(201).PubKey())})
			return ins, outs
		}},
		{"our coin left out", func(tx *wire.MsgTx) ([]Input, [][]byte) {
			var rest []Input
			for _, in := range ins {
				if in.OutPoint != me.in.OutPoint {
					rest = append(rest, in)
				}
			}
			return rest, outs[:4]
		}},
		{"input value changed", func(tx *wire.MsgTx) ([]Input, [][]byte) {
			i := append([]Input(nil), ins...)
			i[2].Value++
			return i, outs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := Build(testParams, ins, outs)
			if err != nil {
				t.Fatal(err)
			}
			gotIns, gotOuts := tc.mod(tx)
			if err := CheckMine(testParams, tx, gotIns, gotOuts, me.in, me.out); !errors.Is(err, ErrNotMine) {
				t.Fatalf("%v, want ErrNotMine", err)
			}
		})
	}
	// The fee rate a participant asks for is a floor: another's terms at a
	// lower rate are refused.
	tx, _ := Build(testParams, ins, outs)
	if err := CheckMine(Params{Denomination: testParams.Denomination, FeeRate: 50}, tx, ins, outs, me.in, me.out); !errors.Is(err, ErrNotMine) {
		t.Fatalf("fee rate: %v", err)
	}
}
