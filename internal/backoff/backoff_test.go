package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 10 * time.Second}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if got := b.Next(); got != w*time.Second {
			t.Fatalf("failure %d: %s, want %s", i+1, got, w*time.Second)
		}
	}
	b.Reset()
	if got := b.Next(); got != time.Second {
		t.Fatalf("after reset: %s", got)
	}
	for n := 1; n < 50; n++ {
		full := Delay(n, time.Second, time.Minute, false)
		d := Delay(n, time.Second, time.Minute, true)
		if d < full/2 || d > full {
			t.Fatalf("jittered delay %s outside [%s, %s]", d, full/2, full)
		}
	}
}
