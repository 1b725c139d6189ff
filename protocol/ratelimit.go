package protocol

import (
	"sync"
	"time"
)

// tokenBucket is a classic token bucket: it holds at most burst tokens and
// refills at rate tokens per second. The clock is injected so tests can
// drive it without sleeping. Used per connection for messages (1 token per
// frame) and bytes (1 token per byte on the wire), as lnd does for onion
// messages; the byte bucket's burst must hold a maximum frame or a
// legitimate maximum-size message could never pass (ConnConfig.Validate,
// and the compile-time check on the defaults in conn.go).
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newTokenBucket(rate, burst float64, now func() time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, last: now(), now: now}
}

// allow takes n tokens if available and reports whether it did.
func (b *tokenBucket) allow(n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens += el.Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.last = now
	}
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}
