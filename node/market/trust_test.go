package market

import (
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
)

func TestScore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	day := 24 * time.Hour
	op := func(i uint32) wire.OutPoint { return wire.OutPoint{Index: i} }
	full := func(i uint32, age time.Duration) VerifiedProof {
		return VerifiedProof{OutPoint: op(i), Value: TrustCapPerProof, SpendTime: now.Add(-age)}
	}
	many := func(n int, value int64) []VerifiedProof {
		var ps []VerifiedProof
		for i := range n {
			ps = append(ps, VerifiedProof{OutPoint: op(uint32(i)), Value: value, SpendTime: now})
		}
		return ps
	}
	cases := []struct {
		name   string
		proofs []VerifiedProof
		h      History
		want   float64
	}{
		{"nothing", nil, History{}, 0},
		{"one recent full proof", []VerifiedProof{full(0, day)}, History{}, 1},
		{"half the cap", []VerifiedProof{{OutPoint: op(0), Value: TrustCapPerProof / 2, SpendTime: now}}, History{}, 0.5},
		{"a large self-deal counts one cap", []VerifiedProof{{OutPoint: op(0), Value: 100 * TrustCapPerProof, SpendTime: now}}, History{}, 1},
		{"same outpoint twice counts once", []VerifiedProof{full(0, day), full(0, day)}, History{}, 1},
		{"ages", []VerifiedProof{full(0, 10*day), full(1, 100*day), full(2, 400*day)}, History{}, 1.75},
		{"proof points capped", many(3*TrustMaxProofPoints, 10*TrustCapPerProof), History{}, TrustMaxProofPoints},
		{"own completed swaps", nil, History{Completed: 3}, 3 * TrustCompletedPoints},
		{"own history capped", nil, History{Completed: 100}, TrustMaxHistoryPoints},
		{"unfinished swaps count nothing", nil, History{Unfinished: 5}, 0},
		{"a fault", many(15, TrustCapPerProof), History{Faults: 1}, 15 - TrustFaultPenalty},
		{"never negative", []VerifiedProof{full(0, day)}, History{Completed: 1, Faults: 2}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Score(c.proofs, c.h, now); got != c.want {
				t.Fatalf("Score = %v, want %v", got, c.want)
			}
		})
	}
}
