package sealbox

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKey()
	msg, ad := []byte("the coins are on their way"), []byte("ad")
	eph, ct, key, err := Seal(msg, k.Pub, "test", ad)
	if err != nil {
		t.Fatal(err)
	}
	got, key2, err := Open(eph, ct, k.Priv, k.Pub, "test", ad)
	if err != nil || !bytes.Equal(got, msg) || key2 != key {
		t.Fatalf("open: %q %v", got, err)
	}
	if len(ct) != len(msg)+Overhead {
		t.Fatalf("ciphertext %d bytes for %d", len(ct), len(msg))
	}
	flipped := bytes.Clone(ct)
	flipped[0] ^= 1
	for name, open := range map[string]func() error{
		"another key":  func() error { _, _, err := Open(eph, ct, other.Priv, other.Pub, "test", ad); return err },
		"altered":      func() error { _, _, err := Open(eph, flipped, k.Priv, k.Pub, "test", ad); return err },
		"another ad":   func() error { _, _, err := Open(eph, ct, k.Priv, k.Pub, "test", []byte("xx")); return err },
		"another info": func() error { _, _, err := Open(eph, ct, k.Priv, k.Pub, "other", ad); return err },
		"zero point":   func() error { _, _, err := Open([KeySize]byte{}, ct, k.Priv, k.Pub, "test", ad); return err },
	} {
		if err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Every box has its own ephemeral key.
	eph2, _, _, _ := Seal(msg, k.Pub, "test", ad)
	if eph2 == eph {
		t.Fatal("ephemeral key reused")
	}
}
