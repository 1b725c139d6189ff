// Package backoff is the one retry schedule of the node: the chain dial,
// tor recovery and directory registration (and the pool's redials) wait
// Min·2^(n−1) after the n-th consecutive failure, capped at Max, so a
// brief outage is retried quickly and a long one costs a Raspberry Pi
// almost nothing.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff counts consecutive failures. The zero value is not usable:
// set Min and Max. Not safe for concurrent use (one per retry loop).
type Backoff struct {
	Min, Max time.Duration
	// Jitter spreads each delay over [½, 1]× so that many nodes that lost
	// the same peer at once do not come back in lockstep.
	Jitter bool
	n      int
}

// Next returns the delay after one more failure.
func (b *Backoff) Next() time.Duration {
	b.n++
	return Delay(b.n, b.Min, b.Max, b.Jitter)
}

// Failures is the number of consecutive failures so far.
func (b *Backoff) Failures() int { return b.n }

// Reset starts over after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Delay is the delay after the n-th consecutive failure (n ≥ 1).
func Delay(n int, lo, hi time.Duration, jitter bool) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if jitter && d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	return d
}
