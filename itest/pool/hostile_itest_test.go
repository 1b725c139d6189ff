//go:build itest

package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
)

// The flood, with its derivation.
const (
	// floodRate: the requirement's 10,000 envelopes per second.
	floodRate = 10_000
	// floodBatch: envelopes per PoolMsgs frame; 100 frames a second stay
	// within the protocol's inbound frame budget (burst 100), so what
	// stops the flooder is the pool's own per-connection budget.
	floodBatch = 100
	// floodEnvelopes: one second of flood, prepared (signed by fresh
	// keys) before it starts so that signing does not pace it.
	floodEnvelopes = floodRate
	// floodRuns: floods measured (each from a new connection and a new
	// claimed address); the median is reported.
	floodRuns = 3
	// banBound: the generous bound asserted on the time from the first
	// flood frame to the node's ban ("within a second" is the goal; Tor
	// latency and a loaded 2-core machine make room).
	banBound = 5 * time.Second
	// outsiderTimeout bounds one outside connection's dial and handshake
	// (a cold rendezvous on the private network takes seconds).
	outsiderTimeout = 90 * time.Second
	// quietWait: how long a refused-but-not-banned connection must stay
	// open after the node counted the refusal.
	quietWait = 2 * time.Second
)

// outsider is the test process as a pool peer of target, through its own
// tor client (cluster.DialPool).
type outsider struct {
	pc    *protocol.Conn
	claim string
}

func dialOutsider(t *testing.T, ctx context.Context, n *network, target *cluster.Proc) *outsider {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, outsiderTimeout)
	defer cancel()
	o, err := cluster.DialPool(ctx, n.outside, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Conn.Close() })
	return &outsider{pc: o.Conn, claim: o.Claim}
}

// drain reads until the connection ends and returns why, and when.
func (o *outsider) drain() <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		for {
			if _, err := o.pc.Receive(context.Background()); err != nil {
				ch <- outcome{err: err, at: time.Now()}
				return
			}
		}
	}()
	return ch
}

type outcome struct {
	err error
	at  time.Time
}

// envelope signs an envelope on the test topic; mod adjusts it first.
func envelope(t testing.TB, key *btcec.PrivateKey, mod func(e *protocol.PoolEnvelope)) []byte {
	t.Helper()
	now := uint64(time.Now().Unix())
	e := &protocol.PoolEnvelope{Network: protocol.Regtest, Topic: pool.TopicTest, Seq: 1,
		Created: now, Expiry: now + uint64(testTTL/time.Second), Body: []byte("outside")}
	_, _ = rand.Read(e.Item[:])
	if mod != nil {
		mod(e)
	}
	if err := e.Sign(key); err != nil {
		t.Fatal(err)
	}
	raw, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func freshKey(t testing.TB) *btcec.PrivateKey {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// floodBatches prepares floodEnvelopes envelopes, each from a fresh key.
func floodBatches(t *testing.T) [][][]byte {
	var out [][][]byte
	for len(out)*floodBatch < floodEnvelopes {
		b := make([][]byte, floodBatch)
		for i := range b {
			b[i] = envelope(t, freshKey(t), nil)
		}
		out = append(out, b)
	}
	return out
}

// banOf finds claim among target's bans.
func banOf(ctx context.Context, target *cluster.Proc, claim string) (pool.Ban, bool) {
	r, err := peers(ctx, target)
	if err != nil {
		return pool.Ban{}, false
	}
	for _, b := range r.Bans {
		if b.Addr == claim {
			return b, true
		}
	}
	return pool.Ban{}, false
}

// testFlood: an outside peer floods ring[1] with well-formed envelopes
// from fresh keys at floodRate; the node bans it within banBound, while
// a message published at ring[5] during the flood reaches every node.
func testFlood(t *testing.T, ctx context.Context, n *network, nodes []*cluster.Proc) {
	target, honest := n.ring[1], n.ring[5]
	var banAt, seenAt []time.Duration
	for run := range floodRuns {
		batches := floodBatches(t)
		o := dialOutsider(t, ctx, n, target)
		end := o.drain()
		t0 := time.Now()
		// Honest messages during the first flood: one at another node,
		// one at the flood target itself (its neighbours must not lose
		// what it announces among the flood's accepted burst).
		during := make([]pool.PublishReply, 2)
		published := make(chan error, 2)
		if run == 0 {
			for i, p := range []*cluster.Proc{honest, target} {
				go func() {
					var err error
					during[i], err = publish(ctx, p, "during-flood-"+p.Name, "honest, during the flood", testTTL)
					published <- err
				}()
			}
		}
		sent := 0
		var lastSend time.Time
		var res outcome
	flood:
		for i, b := range batches {
			// Paced at floodRate: batch i leaves at t0 + i·batch/rate.
			time.Sleep(time.Until(t0.Add(time.Duration(i) * time.Second * floodBatch / floodRate)))
			select {
			case res = <-end:
				break flood
			default:
			}
			if err := o.pc.Send(ctx, &protocol.PoolMsgs{Envelopes: b}); err != nil {
				break
			}
			sent += len(b)
			lastSend = time.Now()
		}
		// The rate achieved: envelopes sent by the start of the last
		// batch's period, over that time.
		rate := float64(sent-floodBatch) / max(lastSend.Sub(t0).Seconds(), 1e-3)
		if res.err == nil {
			select {
			case res = <-end:
			case <-time.After(banBound):
				t.Fatalf("run %d: the flooder was not disconnected within %v of the flood's start (%d envelopes sent)", run, banBound, sent)
			}
		}
		// The node says why in an Error frame, best effort: closing a
		// socket with the flood still unread may reset it before tor
		// relays the frame, and the flooder sees only the end. The ban
		// and its reason are asserted on the node.
		why := res.err.Error()
		if pe := (*protocol.PeerError)(nil); errors.As(res.err, &pe) {
			if !strings.Contains(pe.Text, "banned") {
				t.Fatalf("run %d: the flooder was told %v, want that it is banned", run, res.err)
			}
			why = fmt.Sprintf("Error %s %q", pe.Code, pe.Text)
		}
		b, ok := banOf(ctx, target, o.claim)
		if !ok || !strings.Contains(b.Reason, "budget") {
			t.Fatalf("run %d: %s not in %s's bans for flooding: %+v", run, o.claim, target.Name, b)
		}
		nodeBan := b.Until.Add(-pool.BanDuration).Sub(t0)
		banAt, seenAt = append(banAt, nodeBan), append(seenAt, res.at.Sub(t0))
		t.Logf("run %d: %d envelopes sent (%.0f/s); banned by %s %v after the first frame (%q); the flooder's connection ended %v after (%s)",
			run, sent, rate, target.Name, nodeBan.Round(time.Millisecond), b.Reason, res.at.Sub(t0).Round(time.Millisecond), why)
		if nodeBan > banBound {
			t.Errorf("run %d: ban took %v (> %v)", run, nodeBan, banBound)
		}
		if run == 0 {
			for range during {
				if err := <-published; err != nil {
					t.Fatal(err)
				}
			}
			for i, p := range []*cluster.Proc{honest, target} {
				lat := everywhere(t, ctx, nodes, t0, "the honest message published at "+p.Name+" during the flood", has(during[i].ID))
				med, mx := spread(lat)
				t.Logf("honest message published at %s during the flood: every node in %v (median %v)", p.Name, mx.Round(time.Millisecond), med.Round(time.Millisecond))
			}
		}
	}
	t.Logf("flood: median ban %v after the flood's first frame (node's clock), median %v until the flooder's connection ended, over %d runs",
		median(banAt).Round(time.Millisecond), median(seenAt).Round(time.Millisecond), floodRuns)
}

func median(ds []time.Duration) time.Duration {
	m := map[string]time.Duration{}
	for i, d := range ds {
		m[fmt.Sprint(i)] = d
	}
	med, _ := spread(m)
	return med
}

// testRefusals: one outside connection per hostile envelope. Malformed,
// forged, oversized: refused and the sender banned with that reason (an
// Error frame, and the reason in `pool peers`). Future-dated: refused
// and charged, not banned. A replay of a held envelope and a stale
// sequence: ignored without blame (they are what honest relays send when
// they lag), never relayed. Then the honest nodes still relay.
func testRefusals(t *testing.T, ctx context.Context, n *network, nodes []*cluster.Proc) {
	target := n.ring[1]
	key := freshKey(t)
	var item protocol.PoolItem
	_, _ = rand.Read(item[:])
	held := envelope(t, key, func(e *protocol.PoolEnvelope) { e.Item, e.Seq, e.Body = item, 100, []byte("seq 100") })
	heldID := protocol.PoolIDOf(held).String()

	// First, from outside, an envelope every node accepts.
	o := dialOutsider(t, ctx, n, target)
	if err := o.pc.Send(ctx, &protocol.PoolMsgs{Envelopes: [][]byte{held}}); err != nil {
		t.Fatal(err)
	}
	everywhere(t, ctx, nodes, time.Now(), "an outside peer's valid envelope everywhere", has(heldID))
	o.pc.Close()

	forged := envelope(t, freshKey(t), nil)
	forged[len(forged)-1] ^= 1
	junk := make([]byte, 200)
	_, _ = rand.Read(junk)
	junk[0] = 0xff // not the envelope version
	now := uint64(time.Now().Unix())

	for _, tc := range []struct {
		name   string
		raw    []byte
		reason string
		ban    bool
	}{
		{"malformed", junk, "malformed", true},
		{"forged signature", forged, "bad-signature", true},
		{"oversized body", envelope(t, freshKey(t), func(e *protocol.PoolEnvelope) { e.Body = make([]byte, pool.DefaultOfferMaxBody+1) }), "oversized", true},
		{"future-dated", envelope(t, freshKey(t), func(e *protocol.PoolEnvelope) { e.Created, e.Expiry = now+3600, now+4200 }), "future-dated", false},
		{"replay", held, "duplicate", false},
		{"stale sequence", envelope(t, key, func(e *protocol.PoolEnvelope) { e.Item, e.Seq, e.Body = item, 50, []byte("seq 50") }), "stale-sequence", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := stats(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			o := dialOutsider(t, ctx, n, target)
			end := o.drain()
			if err := o.pc.Send(ctx, &protocol.PoolMsgs{Envelopes: [][]byte{tc.raw}}); err != nil {
				t.Fatal(err)
			}
			if err := cluster.Poll(ctx, pollInterval, tc.reason+" counted", func() (bool, string) {
				s, err := stats(ctx, target)
				return err == nil && s.Refused[tc.reason] > before.Refused[tc.reason], fmt.Sprintf("refused %v", s.Refused)
			}); err != nil {
				t.Fatal(err)
			}
			if tc.ban {
				var res outcome
				select {
				case res = <-end:
				case <-time.After(banBound):
					t.Fatalf("not disconnected within %v", banBound)
				}
				var pe *protocol.PeerError
				if !errors.As(res.err, &pe) || !strings.Contains(pe.Text, tc.reason) {
					t.Fatalf("connection ended with %v, want an Error naming %q", res.err, tc.reason)
				}
				b, ok := banOf(ctx, target, o.claim)
				if !ok || b.Reason != tc.reason {
					t.Fatalf("ban of %s: %+v (found %v), want reason %q", o.claim, b, ok, tc.reason)
				}
				t.Logf("refused: %s, code %s, banned until %s", pe.Text, pe.Code, b.Until.Format(time.RFC3339))
				return
			}
			select {
			case res := <-end:
				t.Fatalf("the connection ended (%v): %s costs no ban", res.err, tc.reason)
			case <-time.After(quietWait):
			}
			if _, banned := banOf(ctx, target, o.claim); banned {
				t.Fatalf("%s banned for %s", o.claim, tc.reason)
			}
			t.Logf("refused: %s (counted in pool stats), connection kept", tc.reason)
		})
	}

	// Nothing hostile is held anywhere; the held envelope is still the
	// seq-100 one; the honest nodes keep relaying.
	for _, p := range nodes {
		ms, err := messages(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Item == fmt.Sprintf("%x", item) && m.ID != heldID {
				t.Fatalf("%s holds %s (seq %d) instead of the seq-100 envelope", p.Name, m.ID, m.Seq)
			}
			if m.Created.After(time.Now().Add(time.Minute)) {
				t.Fatalf("%s holds a future-dated envelope %s", p.Name, m.ID)
			}
		}
	}
	// No honest node banned another (the flood target relayed the
	// floods' accepted bursts: its neighbours defer, never charge them).
	for _, p := range nodes {
		r, err := peers(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range r.Bans {
			if !strings.HasPrefix(b.Addr, "outsider-") {
				t.Fatalf("%s banned an honest node %s: %s", p.Name, b.Addr, b.Reason)
			}
		}
	}
	// ring[1]'s honest peers (ring[4] and ring[5] dial it) are still there.
	r1, err := peers(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*cluster.Proc{n.ring[4], n.ring[5]} {
		found := false
		for _, pi := range r1.Peers {
			found = found || pi.Addr == want.Onion()
		}
		if !found {
			t.Fatalf("%s lost its honest peer %s: %+v", target.Name, want.Name, r1.Peers)
		}
	}
	t0 := time.Now()
	r, err := publish(ctx, n.ring[2], "after-hostile", "still relaying", testTTL)
	if err != nil {
		t.Fatal(err)
	}
	lat := everywhere(t, ctx, nodes, t0, "a message after the hostile peers", has(r.ID))
	med, mx := spread(lat)
	t.Logf("after the hostile peers: every node in %v (median %v)", mx.Round(time.Millisecond), med.Round(time.Millisecond))
}
