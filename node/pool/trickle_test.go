package pool

import (
	"testing"
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// TestTrickleKinds: our own messages wait the full trickle to every
// peer; relayed ones a twentieth of it, in both directions; an id is queued
// once whatever its kind.
func TestTrickleKinds(t *testing.T) {
	p, err := New(Config{Network: protocol.Regtest, TrickleOutbound: time.Second, TrickleInbound: 2500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for _, tc := range []struct {
		name     string
		outbound bool
		relayed  bool
		kind     int
		mean     time.Duration
	}{
		{"own to outbound", true, false, trickleSlow, time.Second},
		{"own to inbound", false, false, trickleSlow, 2500 * time.Millisecond},
		{"relayed to outbound", true, true, trickleRelay, 50 * time.Millisecond},
		{"relayed to inbound", false, true, trickleRelay, 125 * time.Millisecond},
	} {
		pr := p.newPeer(nil, "", tc.outbound)
		short := protocol.ShortID{1}
		pr.queueInvLocked(short, tc.relayed)
		pr.queueInvLocked(short, !tc.relayed)
		if len(pr.pending[tc.kind]) != 1 || len(pr.pending[1-tc.kind]) != 0 {
			t.Errorf("%s: batches %d/%d, want the id once in batch %d", tc.name, len(pr.pending[0]), len(pr.pending[1]), tc.kind)
		}
		if len(pr.wake[tc.kind]) != 1 {
			t.Errorf("%s: writer not woken for batch %d", tc.name, tc.kind)
		}
		// The delay is exponential: the mean of 20,000 draws is within
		// 3 % of the configured one with overwhelming probability
		// (standard error 0.7 %).
		const draws = 20_000
		var sum time.Duration
		for range draws {
			sum += pr.trickleDelay(tc.kind)
		}
		if got := sum / draws; got < tc.mean*97/100 || got > tc.mean*103/100 {
			t.Errorf("%s: mean delay %v, want %v", tc.name, got, tc.mean)
		}
	}
}
