// Package ratelimit is the token bucket every service uses to bound what
// one peer (or all of them) may ask for: frames and bytes per connection
// (protocol), registrations and lists (directory), and the pool's
// per-peer budgets. The clock is injected so that tests drive it without
// sleeping.
//
// It is a dozen lines of arithmetic, so it is ours rather than a new
// dependency (golang.org/x/time/rate does the same plus waiting and
// reservations, which no caller here needs: a peer over its budget is
// refused, never queued).
package ratelimit

import (
	"sync"
	"time"
)

// Bucket holds at most burst tokens and refills at rate tokens per
// second. Safe for concurrent use.
type Bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// New returns a full bucket. now nil means time.Now.
func New(rate, burst float64, now func() time.Time) *Bucket {
	if now == nil {
		now = time.Now
	}
	return &Bucket{rate: rate, burst: burst, tokens: burst, last: now(), now: now}
}

// AllowN takes n tokens if available and reports whether it did.
func (b *Bucket) AllowN(n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// Allow takes one token if available.
func (b *Bucket) Allow() bool { return b.AllowN(1) }
