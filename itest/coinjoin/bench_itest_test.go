//go:build itest

package coinjoin

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/coinjoin"
)

// BenchmarkRoundOverTor: rounds of T = 5 and T = 10 takers, each its own
// onionswap process and tor on the private network: the wall time from
// the initiator's invite to the broadcast, and the messages and bytes a
// participant sends and receives (frames included). Every iteration mixes
// a fresh coin of each taker.
//
//	go test -tags itest -run '^$' -bench RoundOverTor -benchtime 3x ./itest/coinjoin
func BenchmarkRoundOverTor(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if clu.Proc("bdir") == nil {
		if _, err := clu.Spawn(ctx, cluster.Spec{Name: "bdir", Role: cluster.RoleDirectory}); err != nil {
			b.Fatal(err)
		}
	}
	for _, T := range []int{5, 10} {
		b.Run(fmt.Sprintf("T=%d", T), func(b *testing.B) {
			ps := benchTakers(b, ctx, T)
			var wall time.Duration
			var msgs, bytes float64
			for range b.N {
				ops := fundAll(b, ctx, ps)
				for i, p := range ps {
					start(b, ctx, p, ops[i])
				}
				waitFor(b, ctx, 5*time.Minute, "the round", func() (bool, string) {
					for _, p := range ps {
						if s := status(b, ctx, p); s.Session != nil {
							return false, fmt.Sprintf("%s: %+v", p.Name, *s.Session)
						}
					}
					return true, ""
				})
				for _, p := range ps {
					rs := rounds(b, ctx, p)
					if len(rs) == 0 || rs[0].State != coinjoin.StateBroadcast || rs[0].Participants != T {
						b.Fatalf("%s: %+v", p.Name, rs)
					}
					if rs[0].Initiator {
						wall += rs[0].Ended.Sub(rs[0].Started)
					}
					msgs += float64(rs[0].MsgsSent+rs[0].MsgsRecv) / float64(T)
					bytes += float64(rs[0].BytesSent+rs[0].BytesRecv) / float64(T)
				}
				if _, err := clu.Mine(ctx, 1); err != nil {
					b.Fatal(err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(wall.Milliseconds())/n, "ms/round")
			b.ReportMetric(msgs/n, "msgs/participant")
			b.ReportMetric(bytes/n, "bytes/participant")
		})
	}
}

// benchProcs: the takers of each T, started once (the framework calls a
// benchmark several times) and stopped with the cluster.
var benchProcs = map[int][]*cluster.Proc{}

// benchTakers starts T takers for rounds of exactly T (start-at T), the
// first the others' pool peer.
func benchTakers(b *testing.B, ctx context.Context, T int) []*cluster.Proc {
	b.Helper()
	if ps := benchProcs[T]; ps != nil {
		return ps
	}
	a := func() []string {
		return []string{"--pool-outbound", "1", "--coinjoin-t", strconv.Itoa(T), "--coinjoin-start-at", strconv.Itoa(T),
			"--coinjoin-phase-timeout", "30s"}
	}
	hub, err := clu.Spawn(ctx, cluster.Spec{Name: fmt.Sprintf("b%d-1", T), Role: cluster.RoleTaker, Args: a()})
	if err != nil {
		b.Fatal(err)
	}
	var specs []cluster.Spec
	for i := 2; i <= T; i++ {
		specs = append(specs, cluster.Spec{Name: fmt.Sprintf("b%d-%d", T, i), Role: cluster.RoleTaker, Directories: []string{},
			Args: append([]string{"--pool-peer", hub.Onion()}, a()...)})
	}
	rest, err := clu.SpawnAll(ctx, specs)
	if err != nil {
		b.Fatal(err)
	}
	benchProcs[T] = append([]*cluster.Proc{hub}, rest...)
	return benchProcs[T]
}
