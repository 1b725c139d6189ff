package taker

import (
	"testing"

	"github.com/onionswap/onionswap/protocol"
)

// TestPickCandidateBondlessAllowance: bondless makers get about an eighth
// of the picks beside bonded ones, all of them when alone; a bonded
// maker's weight still decides among the bonded.
func TestPickCandidateBondlessAllowance(t *testing.T) {
	bond := func(v int64) Candidate {
		return Candidate{Addr: "b", Proof: &protocol.FidelityProof{BondValue: v}}
	}
	fee := Candidate{Addr: "f", IntegrityFee: 5000}
	cands := []Candidate{bond(100), bond(300), fee}
	weights := []float64{100, 300, 0}
	const n = 8000
	var counts [3]int
	for range n {
		counts[pickCandidate(cands, weights)]++
	}
	// Expected 1000 bondless (σ ≈ 30), 5250 and 1750 bonded by weight.
	if counts[2] < 850 || counts[2] > 1150 {
		t.Errorf("bondless picked %d of %d, want ~%d", counts[2], n, int(n*BondlessAllowance))
	}
	if counts[1] < 2*counts[0] {
		t.Errorf("bonded picks %v ignore their weights", counts[:2])
	}
	only := []Candidate{fee, {Addr: "g", IntegrityFee: 1}}
	for range 100 {
		if k := pickCandidate(only, []float64{0, 0}); k < 0 || k > 1 {
			t.Fatalf("pick %d among bondless only", k)
		}
	}
	if k := pickCandidate([]Candidate{bond(5)}, []float64{5}); k != 0 {
		t.Fatalf("pick %d of one", k)
	}
}
