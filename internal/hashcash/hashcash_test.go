package hashcash

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

func TestPrefix(t *testing.T) {
	got := Prefix("t", []byte("ab"), nil, []byte("c"))
	if want := *chainhash.TaggedHash([]byte("t"), []byte("abc")); got != want {
		t.Fatalf("Prefix %x, want the tagged hash of the concatenation %x", got, want)
	}
}

func TestWork(t *testing.T) {
	p := Prefix("test", []byte("x"))
	for nonce := uint64(0); nonce < 2000; nonce++ {
		var buf [40]byte
		copy(buf[:], p[:])
		binary.BigEndian.PutUint64(buf[32:], nonce)
		h := sha256.Sum256(buf[:])
		want := 0
		for _, b := range h {
			if b != 0 {
				for b&0x80 == 0 {
					want++
					b <<= 1
				}
				break
			}
			want += 8
		}
		if got := Work(p, nonce); got != want {
			t.Fatalf("nonce %d: work %d, want %d", nonce, got, want)
		}
	}
}

func TestMintCheck(t *testing.T) {
	for _, bits := range []int{0, 1, 8, 12} {
		p := Prefix("test", []byte{byte(bits)})
		n := Mint(p, bits)
		if !Check(p, n, bits) {
			t.Fatalf("%d bits: minted nonce %d does not check", bits, n)
		}
		// The work is bound to the prefix: the same nonce under another
		// prefix almost never carries 12 bits (and never all 64).
		if Check(Prefix("test", []byte("other")), n, 64) {
			t.Fatal("64 bits by accident")
		}
	}
	p := Prefix("test", []byte("low"))
	var weak uint64
	for Work(p, weak) >= 8 {
		weak++
	}
	if Check(p, weak, 8) {
		t.Fatal("a nonce below the difficulty checks")
	}
}
