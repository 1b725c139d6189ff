package script

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/txscript"
)

func TestGoldenContractScripts(t *testing.T) {
	var b strings.Builder
	for _, csv := range []uint16{1, 16, 17, 20, 127, 128, 144, 32767, 32768, 65535} {
		c, s := testContract(t, csv)
		fmt.Fprintf(&b, "csv=%d %x\n", csv, s)
		got, err := ParseContract(s)
		if err != nil {
			t.Fatalf("csv %d: parse: %v", csv, err)
		}
		if got.Hash != c.Hash || got.CSV != csv || !got.HashlockKey.IsEqual(c.HashlockKey) ||
			!got.TimelockKey.IsEqual(c.TimelockKey) {
			t.Fatalf("csv %d: round trip mismatch", csv)
		}
		if len(s) < MinContractLen || len(s) > MaxContractLen {
			t.Errorf("csv %d: length %d outside [%d, %d]", csv, len(s), MinContractLen, MaxContractLen)
		}
	}
	golden(t, "contract.golden", b.String())

	// The template, independently of the builder: fixed bytes around the fields.
	c, s := testContract(t, 144)
	want := "82012087" + "63a914" + hex.EncodeToString(c.Hash[:]) + "88" +
		"21" + hex.EncodeToString(c.HashlockKey.SerializeCompressed()) + "67" +
		"21" + hex.EncodeToString(c.TimelockKey.SerializeCompressed()) + "029000" + "b27568ac"
	if got := hex.EncodeToString(s); got != want {
		t.Fatalf("template:\n got %s\nwant %s", got, want)
	}
	dis, err := txscript.DisasmString(s)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "contract.disasm", dis+"\n")
}

func TestGoldenMultisig(t *testing.T) {
	a, b := testKey("a").PubKey(), testKey("b").PubKey()
	s1, err := MultisigScript(a, b)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := MultisigScript(b, a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1, s2) {
		t.Fatal("multisig script depends on key order")
	}
	if len(s1) != MultisigScriptLen {
		t.Fatalf("length %d", len(s1))
	}
	lo, hi := a.SerializeCompressed(), b.SerializeCompressed()
	if bytes.Compare(lo, hi) > 0 {
		lo, hi = hi, lo
	}
	want := "5221" + hex.EncodeToString(lo) + "21" + hex.EncodeToString(hi) + "52ae"
	if hex.EncodeToString(s1) != want {
		t.Fatalf("got %x want %s", s1, want)
	}
	golden(t, "multisig.golden", fmt.Sprintf("script %x\np2wsh %x\n", s1, WitnessScriptHash(s1)))

	pl, ph, err := ParseMultisig(s1)
	if err != nil || !bytes.Equal(pl.SerializeCompressed(), lo) || !bytes.Equal(ph.SerializeCompressed(), hi) {
		t.Fatalf("parse: %v", err)
	}
	if _, err := MultisigScript(a, a); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("duplicate key: %v", err)
	}
	if _, err := MultisigScript(nil, a); !errors.Is(err, ErrNilKey) {
		t.Fatalf("nil key: %v", err)
	}
	// Unsorted keys are refused by the parser.
	unsorted := append([]byte{0x52, 0x21}, hi...)
	unsorted = append(append(append(unsorted, 0x21), lo...), 0x52, 0xae)
	if _, _, err := ParseMultisig(unsorted); !errors.Is(err, ErrNotMultisig) {
		t.Fatalf("unsorted accepted: %v", err)
	}
	if _, _, err := ParseMultisig(append(bytes.Clone(s1), 0x00)); !errors.Is(err, ErrNotMultisig) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
	// 1-of-2 is not our template.
	oneOf := bytes.Clone(s1)
	oneOf[0] = txscript.OP_1
	if _, _, err := ParseMultisig(oneOf); !errors.Is(err, ErrNotMultisig) {
		t.Fatalf("1-of-2 accepted: %v", err)
	}
}

func TestGoldenBond(t *testing.T) {
	// Vectors from citadel-tech/coinswap test_fidleity_redeemscripts
	// (coinswap-reference §2.4: `21<33B pk>ad02983ab1` for height 15000).
	vectors := []struct {
		name   string
		pub    string
		height uint32
		script string
	}{
		{"15000", "03ffe2b8b46eb21eadc3b535e9f57054213a1775b035faba6c5b3368b3a0ab5a5c", 15000,
			"2103ffe2b8b46eb21eadc3b535e9f57054213a1775b035faba6c5b3368b3a0ab5a5cad02983ab1"},
		{"30000", "031499764842691088897cff51efd85347dd3215912cbb8fb9b121b1da3b15bec8", 30000,
			"21031499764842691088897cff51efd85347dd3215912cbb8fb9b121b1da3b15bec8ad023075b1"},
		{"45000 (sign byte)", "022714334f189db14fabd3dd893bbb913b8c3ddff245f7094cdc0b24c2fabb3570", 45000,
			"21022714334f189db14fabd3dd893bbb913b8c3ddff245f7094cdc0b24c2fabb3570ad03c8af00b1"},
		{"60000", "02145a1d2bd118edcb3fe85495192d44e1d09f75ab4f0fe98269f61ff672860dae", 60000,
			"2102145a1d2bd118edcb3fe85495192d44e1d09f75ab4f0fe98269f61ff672860daead0360ea00b1"},
	}
	var b strings.Builder
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			raw, _ := hex.DecodeString(v.pub)
			pub, err := btcec.ParsePubKey(raw)
			if err != nil {
				t.Fatal(err)
			}
			s, err := BondScript(pub, v.height)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(s); got != v.script {
				t.Fatalf("got %s want %s", got, v.script)
			}
			gotPub, gotHeight, err := ParseBondScript(s)
			if err != nil || !gotPub.IsEqual(pub) || gotHeight != v.height {
				t.Fatalf("parse: %v %d", err, gotHeight)
			}
			fmt.Fprintf(&b, "height=%d script=%s p2wsh=%x\n", v.height, v.script, WitnessScriptHash(s))
		})
	}
	golden(t, "bond.golden", b.String())

	pub := testKey("bond").PubKey()
	for _, h := range []uint32{0, LockTimeThreshold, LockTimeThreshold + 1, 0xffffffff} {
		if _, err := BondScript(pub, h); !errors.Is(err, ErrBondLockTime) {
			t.Errorf("height %d accepted: %v", h, err)
		}
	}
	for _, h := range []uint32{1, 16, 17, 127, 128, 32767, 32768, 8388607, 8388608, LockTimeThreshold - 1} {
		s, err := BondScript(pub, h)
		if err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		if len(s) < MinBondScriptLen || len(s) > MaxBondScriptLen {
			t.Errorf("height %d: length %d", h, len(s))
		}
		if _, got, err := ParseBondScript(s); err != nil || got != h {
			t.Errorf("height %d: parse %d %v", h, got, err)
		}
	}
	// Non-minimal height push, timestamp locktime, trailing byte.
	s, _ := BondScript(pub, 5)
	bad := [][]byte{
		append(append(bytes.Clone(s[:35]), 0x01, 0x05), 0xb1),
		append(append(bytes.Clone(s[:35]), 0x04, 0x00, 0x65, 0xcd, 0x1d), 0xb1), // 500,000,000
		append(bytes.Clone(s), 0x75),
		append(append(bytes.Clone(s[:35]), 0x00), 0xb1), // height 0
	}
	for i, b := range bad {
		if _, _, err := ParseBondScript(b); !errors.Is(err, ErrNotBond) {
			t.Errorf("bad bond script %d accepted: %v", i, err)
		}
	}
}

func TestParseContractRejects(t *testing.T) {
	c, s := testContract(t, 144)
	uncompressed := c.HashlockKey.SerializeUncompressed()
	hlOff, tlOff := contractHLKeyOff, contractTLKeyOff

	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(s)) }
	build := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	head := s[:contractCSVOffset] // everything up to the CSV push
	tail := s[len(s)-4:]          // OP_ENDIF OP_CSV OP_DROP OP_CHECKSIG

	tests := []struct {
		name   string
		script []byte
	}{
		{"empty", nil},
		{"truncated", s[:len(s)-1]},
		{"trailing byte", append(bytes.Clone(s), txscript.OP_NOP)},
		{"csv 0 (OP_0)", build(head, []byte{txscript.OP_0}, tail)},
		{"csv non-minimal 01 05", build(head, []byte{0x01, 0x05}, tail)},
		{"csv 3-byte non-minimal", build(head, []byte{0x03, 0x90, 0x00, 0x00}, tail)},
		{"csv negative", build(head, []byte{0x01, 0x85}, tail)},
		{"csv > u16", build(head, []byte{0x03, 0x00, 0x00, 0x01}, tail)},
		{"csv OP_1NEGATE", build(head, []byte{txscript.OP_1NEGATE}, tail)},
		{"hashlock csv 0", mutate(func(b []byte) []byte { b[62] = txscript.OP_0; return b })},
		{"hashlock csv 2", mutate(func(b []byte) []byte { b[62] = txscript.OP_2; return b })},
		{"size 33", mutate(func(b []byte) []byte { b[2] = 33; return b })},
		{"OP_SHA256 instead of HASH160", mutate(func(b []byte) []byte { b[5] = txscript.OP_SHA256; return b })},
		{"OP_EQUAL instead of EQUALVERIFY", mutate(func(b []byte) []byte { b[27] = txscript.OP_EQUAL; return b })},
		{"NOTIF instead of IF", mutate(func(b []byte) []byte { b[4] = txscript.OP_NOTIF; return b })},
		{"CLTV instead of CSV", mutate(func(b []byte) []byte { b[len(b)-3] = txscript.OP_CHECKLOCKTIMEVERIFY; return b })},
		{"CHECKSIGVERIFY", mutate(func(b []byte) []byte { b[len(b)-1] = txscript.OP_CHECKSIGVERIFY; return b })},
		{"hashlock key prefix 04", mutate(func(b []byte) []byte { b[hlOff] = 0x04; return b })},
		{"timelock key not on curve", mutate(func(b []byte) []byte {
			copy(b[tlOff+1:tlOff+33], bytes.Repeat([]byte{0xff}, 32))
			return b
		})},
		{"uncompressed hashlock key", build(s[:hlOff-1], []byte{0x41}, uncompressed, s[hlOff+33:])},
		{"same key both branches", build(s[:tlOff], s[hlOff:hlOff+33], s[tlOff+33:])},
		{"multisig script", mustMultisig(t)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParseContract(tc.script); !errors.Is(err, ErrNotContract) {
				t.Fatalf("accepted (%+v) or wrong error: %v", got, err)
			}
		})
	}

	if _, err := (&Contract{HashlockKey: c.HashlockKey, TimelockKey: c.TimelockKey}).Script(); !errors.Is(err, ErrInvalidCSV) {
		t.Errorf("CSV 0 built: %v", err)
	}
	if _, err := (&Contract{HashlockKey: c.HashlockKey, CSV: 5}).Script(); !errors.Is(err, ErrNilKey) {
		t.Errorf("nil key built: %v", err)
	}
}

func mustMultisig(t *testing.T) []byte {
	s, err := MultisigScript(testKey("a").PubKey(), testKey("b").PubKey())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDustAndFees(t *testing.T) {
	pkh := p2wpkh("x")
	wsh := WitnessScriptHash([]byte{txscript.OP_TRUE})
	p2pkh := append(append([]byte{0x76, 0xa9, 0x14}, make([]byte, 20)...), 0x88, 0xac)
	tests := []struct {
		name string
		pk   []byte
		want int64
	}{
		{"p2wpkh", pkh, 294},
		{"p2wsh", wsh, 330},
		{"p2pkh", p2pkh, 546},
		{"op_return", []byte{txscript.OP_RETURN, 0x01, 0x00}, 0},
	}
	for _, tc := range tests {
		if got := DustLimit(tc.pk); got != tc.want {
			t.Errorf("%s: dust %d want %d", tc.name, got, tc.want)
		}
	}
	if DustP2WPKH != 294 || DustP2WSH != 330 {
		t.Errorf("dust constants %d %d", DustP2WPKH, DustP2WSH)
	}
	for _, tc := range []struct{ vsize, rate, want int64 }{
		{110, 1000, 110}, {141, 2000, 282}, {1, 1, 1}, {135, 1500, 203}, {0, 1000, 0}, {100, 0, 0},
	} {
		if got := FeeForVSize(tc.vsize, tc.rate); got != tc.want {
			t.Errorf("FeeForVSize(%d, %d) = %d want %d", tc.vsize, tc.rate, got, tc.want)
		}
	}
	vs := []struct {
		name      string
		got, want int64
	}{
		{"overhead", TxOverheadVSize, 11}, {"p2wpkh in", P2WPKHInputVSize, 68},
		{"2-of-2 in", MultisigInputVSize, 96}, {"hashlock in", HashlockInputVSize, 95},
		{"timelock in", TimelockInputVSize, 86}, {"bond in", BondInputVSize, 70},
		{"p2wpkh out", P2WPKHOutputVSize, 31}, {"p2wsh out", P2WSHOutputVSize, 43},
	}
	for _, v := range vs {
		if v.got != v.want {
			t.Errorf("%s vsize %d want %d", v.name, v.got, v.want)
		}
	}
	// 1 P2WPKH in, 1 P2WPKH out: 10.5 + 68 + 31 = 109.5 → 110 (btcd-regtest.md: 110 vB).
	if got := EstimateVSize([]InputKind{InputP2WPKH}, [][]byte{pkh}); got != 110 {
		t.Errorf("1-in-1-out p2wpkh estimate %d", got)
	}
}
