package taker

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// TestAvoidUntil: a maker that was unreachable (a restarted maker's onion
// is for about 90 s) is avoided for a while; one that refused or broke
// the protocol for good (issue 10 item 10).
func TestAvoidUntil(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		forGood bool
	}{
		{"introduction failed", &tor.SOCKSError{Code: 0xF2, Target: "x.onion:80"}, false},
		{"descriptor not found", fmt.Errorf("dial: %w", &tor.SOCKSError{Code: 0xF0}), false},
		{"dial timeout", fmt.Errorf("connect: %w", tor.ErrDialTimeout), false},
		{"connection dropped mid-setup", fmt.Errorf("maker 1: %w", io.ErrUnexpectedEOF), false},
		{"no answer in time", fmt.Errorf("step: %w", context.DeadlineExceeded), false},
		{"explicit refusal", &protocol.PeerError{Code: protocol.CodeInvalidRequest, Text: "no"}, true},
		{"cheat found by our checks", fmt.Errorf("maker 2: forwarded amount differs"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := avoidUntil(tc.err)
			if tc.forGood != u.IsZero() {
				t.Fatalf("avoid until %v, for good = %v, want %v", u, u.IsZero(), tc.forGood)
			}
			if !u.IsZero() && time.Until(u) > UnreachableAvoidance {
				t.Fatalf("avoided for %s, more than %s", time.Until(u), UnreachableAvoidance)
			}
		})
	}
}
