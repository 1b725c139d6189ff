package coinjoin

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRound: one round of T participants on the in-process test bed
// (loopback streams, fake chain): the wall time from the initiator's
// invite to the broadcast, which here is the round's own work (keys,
// layers, signatures, SQLite writes) without Tor's latency, and what one
// participant sends and receives. itest/coinjoin measures rounds over
// Tor (BenchmarkRoundOverTor).
//
//	go test -run '^$' -bench Round ./node/coinjoin
func BenchmarkRound(b *testing.B) {
	for _, T := range []int{5, 10} {
		b.Run(fmt.Sprintf("T=%d", T), func(b *testing.B) {
			var wall time.Duration
			var msgs, bytes float64
			for range b.N {
				w, m, by := benchRound(b, T)
				wall += w
				msgs += m
				bytes += by
			}
			n := float64(b.N)
			b.ReportMetric(float64(wall.Milliseconds())/n, "ms/round")
			b.ReportMetric(msgs/n, "msgs/participant")
			b.ReportMetric(bytes/n, "bytes/participant")
		})
	}
}

// benchRound runs one round of T and returns its wall time (the
// initiator's record) and the mean messages and bytes, sent and received,
// of one participant.
func benchRound(b *testing.B, T int) (time.Duration, float64, float64) {
	bed := newTestBed(b)
	var ps []*testPeer
	for range T {
		ps = append(ps, bed.peer(testCoin, func(c *Config) { c.T, c.StartAt = T, T; c.Phase, c.Link = 20*time.Second, 20*time.Second }))
	}
	for _, p := range ps {
		if _, err := p.svc.StartMix(context.Background(), StartRequest{}); err != nil {
			b.Fatal(err)
		}
	}
	end := time.Now().Add(3 * time.Minute)
	for idle := allIdle(ps); !idle(); {
		if time.Now().After(end) {
			for i, p := range ps {
				st, _ := p.svc.Status(context.Background())
				rs, _ := p.svc.Rounds(context.Background(), 0)
				b.Logf("peer %d: idle %v session %+v rounds %+v", i, p.idle(), st.Session, rs)
			}
			b.Fatal("round did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var wall time.Duration
	var msgs, bytes float64
	for _, p := range ps {
		rs, err := p.svc.Rounds(context.Background(), 0)
		if err != nil || len(rs) != 1 || rs[0].State != StateBroadcast {
			b.Fatalf("rounds %+v %v", rs, err)
		}
		if rs[0].Initiator {
			wall = rs[0].Ended.Sub(rs[0].Started)
		}
		msgs += float64(rs[0].MsgsSent + rs[0].MsgsRecv)
		bytes += float64(rs[0].BytesSent + rs[0].BytesRecv)
	}
	return wall, msgs / float64(T), bytes / float64(T)
}
