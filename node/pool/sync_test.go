package pool

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/protocol"
)

// TestSlowValidationSyncKeepsPeer: a joiner whose topic validator is slow
// (a bond lookup per offer on its chain backend) syncs a pool that takes
// it several fetch timeouts to validate. The envelopes its peer sends as
// fast as it validates them (checkWorkers at a time) are not timed out (which would make them
// unsolicited, charged to the peer until it is banned): it gets the whole
// pool from its one peer and keeps it.
func TestSlowValidationSyncKeepsPeer(t *testing.T) {
	testutil.LeakCheck(t)
	clk := &clock{}
	const (
		n       = 400
		perItem = 20 * time.Millisecond // 2 s in all, checkWorkers at a time
		timeout = 200 * time.Millisecond
	)
	host := newListening(t)
	host.start(testConfig(clk))
	t.Cleanup(host.stop)
	for i := range n {
		raw := signed(t, testKey(byte(i)), func(e *protocol.PoolEnvelope) { e.Item[1] = byte(i >> 8) })
		c, r := host.pool.check(context.Background(), raw, false)
		if r != ReasonNone {
			t.Fatal(r)
		}
		host.pool.mu.Lock()
		host.pool.insertLocked(c, false) // received from peers before: not its own
		host.pool.mu.Unlock()
	}
	if host.pool.Len() != n {
		t.Fatalf("host holds %d", host.pool.Len())
	}

	joiner := newListening(t)
	cfg := testConfig(clk)
	cfg.Bootstrap, cfg.FetchTimeout = []string{host.addr}, timeout
	var running, most atomic.Int64
	cfg.Topics = []Topic{{Name: TopicOffer, Validate: func(context.Context, *protocol.PoolEnvelope) (Verdict, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(perItem)
		return Accept, nil
	}}}
	joiner.start(cfg)
	t.Cleanup(joiner.stop)
	eventually(t, 30*time.Second, "the joiner has the pool", func() bool { return joiner.pool.Len() == n })
	st := joiner.pool.Stats()
	if st.PeersBanned != 0 || st.Outbound != 1 || st.FetchTimeouts != 0 || st.UnsolicitedIn != 0 || st.SyncIDsFetched != n {
		t.Fatalf("joiner: %d banned, %d outbound, %d fetch timeouts, %d unsolicited, %d fetched by sync",
			st.PeersBanned, st.Outbound, st.FetchTimeouts, st.UnsolicitedIn, st.SyncIDsFetched)
	}
	// A batch's envelopes are checked checkWorkers at a time.
	if m := most.Load(); m < 2 || m > checkWorkers {
		t.Fatalf("at most %d validations at a time, want 2..%d", m, checkWorkers)
	}
}
