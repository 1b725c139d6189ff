package ratelimit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	now := func() time.Time { return clock }
	b := New(10, 5, now)
	for i := 0; i < 5; i++ {
		if !b.Allow() {
			t.Fatalf("token %d refused within burst", i)
		}
	}
	if b.Allow() {
		t.Fatal("allowed beyond burst")
	}
	clock = clock.Add(100 * time.Millisecond) // 100 ms at 10/s = 1 token
	if !b.Allow() || b.Allow() {
		t.Fatal("refill not exactly one token")
	}
	clock = clock.Add(10 * time.Second)
	for i := 0; i < 5; i++ {
		b.Allow()
	}
	if b.Allow() {
		t.Fatal("refill exceeded burst")
	}
	// A clock that goes backwards refills nothing and takes nothing.
	clock = clock.Add(-time.Hour)
	if b.Allow() {
		t.Fatal("a clock step back refilled the bucket")
	}
	// n tokens at once: all or none.
	clock = clock.Add(time.Hour + time.Second)
	if b.AllowN(6) {
		t.Fatal("took more than the burst in one call")
	}
	if !b.AllowN(5) {
		t.Fatal("refused a full burst after a full refill")
	}
}
