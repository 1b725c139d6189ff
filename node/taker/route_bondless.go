package taker

import (
	"crypto/rand"
	"math/big"

	"github.com/onionswap/onionswap/node/swap"
)

// BondlessAllowance: the share of automatic picks made among the makers
// without a bond (book offers backed by an integrity fee), as JoinMarket's
// bondless_makers_allowance (0.125) gives its bondless offers part of the
// flow. A bond weighs by value, and an integrity fee has none to compare:
// bonded makers keep 7 picks in 8, and a Sybil paying daily fees for many
// identities shares the eighth with the honest bondless makers.
const BondlessAllowance = 0.125

// pickCandidate chooses among cands: with probability BondlessAllowance
// among the bondless ones (each weighted by its trust alone), otherwise
// by weight among the bonded; one kind only, that kind.
func pickCandidate(cands []Candidate, weights []float64) int {
	var bondless, bonded []int
	for i, c := range cands {
		if c.Proof == nil && c.IntegrityFee > 0 {
			bondless = append(bondless, i)
		} else {
			bonded = append(bonded, i)
		}
	}
	pool, w := bonded, weights
	if len(bonded) == 0 || (len(bondless) > 0 && allowanceDraw()) {
		pool, w = bondless, make([]float64, len(cands))
		for _, i := range bondless {
			w[i] = RouteWeight(1, cands[i].Trust)
		}
	}
	sub := make([]float64, len(pool))
	for k, i := range pool {
		sub[k] = w[i]
	}
	return pool[swap.WeightedPick(sub)]
}

// allowanceDraw is true with probability BondlessAllowance.
func allowanceDraw() bool {
	const scale = 1 << 20
	n, err := rand.Int(rand.Reader, big.NewInt(scale))
	if err != nil {
		panic(err)
	}
	return n.Int64() < int64(BondlessAllowance*scale)
}
