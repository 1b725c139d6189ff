package script

import (
	"bytes"
	"testing"
)

// FuzzParseContract: ParseContract never panics, and whatever it accepts
// re-serializes to exactly the input and parses to the same contract.
func FuzzParseContract(f *testing.F) {
	for _, csv := range []uint16{1, 16, 17, 127, 128, 32767, 32768, 65535} {
		_, s := testContract(f, csv)
		f.Add(s)
		f.Add(s[:len(s)-1])
	}
	f.Add([]byte{})
	f.Add(mustMultisigF(f))
	f.Fuzz(func(t *testing.T, script []byte) {
		c, err := ParseContract(script)
		if err != nil {
			return
		}
		s, err := c.Script()
		if err != nil {
			t.Fatalf("accepted contract does not rebuild: %v", err)
		}
		if !bytes.Equal(s, script) {
			t.Fatalf("round trip differs:\n in %x\nout %x", script, s)
		}
		c2, err := ParseContract(s)
		if err != nil || c2.Hash != c.Hash || c2.CSV != c.CSV ||
			!c2.HashlockKey.IsEqual(c.HashlockKey) || !c2.TimelockKey.IsEqual(c.TimelockKey) {
			t.Fatalf("reparse differs: %v", err)
		}
	})
}

// FuzzParseBondScript: same properties for the bond script parser.
func FuzzParseBondScript(f *testing.F) {
	for _, h := range []uint32{1, 16, 17, 15000, 45000, 499_999_999} {
		s, _ := BondScript(testKey("bond").PubKey(), h)
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		pub, h, err := ParseBondScript(script)
		if err != nil {
			return
		}
		s, err := BondScript(pub, h)
		if err != nil || !bytes.Equal(s, script) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

func mustMultisigF(f *testing.F) []byte {
	s, err := MultisigScript(testKey("a").PubKey(), testKey("b").PubKey())
	if err != nil {
		f.Fatal(err)
	}
	return s
}
