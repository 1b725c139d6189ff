package maker_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/swaptest"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// BenchmarkFloodHonestOffers (issue 10 item 7): 200 aggressive clients
// hold connections to one maker and ask for offers as fast as the
// maker lets them, re-dialing when refused or evicted; meanwhile 30 honest
// clients, one after another, dial, handshake and ask for the offer once
// (10 s each). It reports the honest success rate, the median and p90
// latency of their answers, and the process's RSS (the flooders'
// goroutines included). Over the loopback transport: the maker's own
// costs, without Tor's.
//
//	go test -run '^$' -bench FloodHonestOffers -benchtime 1x ./node/maker/
func BenchmarkFloodHonestOffers(b *testing.B) {
	const flooders, honest, honestAttempts = 200, 30, 3
	net := swaptest.New(b)
	m := net.NewMaker("m", swaptest.MakerOpts{})
	lb := tor.NewLoopback()
	defer lb.Close()
	hello := protocol.NewHello(protocol.Regtest, "bench")

	ask := func(ctx context.Context) error {
		nc, err := lb.Dial(ctx, m.Addr())
		if err != nil {
			return err
		}
		pc := protocol.NewConn(nc, protocol.ConnConfig{})
		defer pc.Close()
		if _, err := pc.Handshake(ctx, hello); err != nil {
			return err
		}
		if err := pc.Send(ctx, &protocol.OfferRequest{}); err != nil {
			return err
		}
		_, err = pc.Receive(ctx)
		return err
	}
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var floods atomic.Int64
		for range flooders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					nc, err := lb.Dial(ctx, m.Addr())
					if err != nil {
						continue
					}
					pc := protocol.NewConn(nc, protocol.ConnConfig{})
					if _, err := pc.Handshake(ctx, hello); err == nil {
						for ctx.Err() == nil {
							if pc.Send(ctx, &protocol.OfferRequest{}) != nil {
								break
							}
							if _, err := pc.Receive(ctx); err != nil {
								break
							}
							floods.Add(1)
						}
					}
					pc.Close()
				}
			}()
		}
		time.Sleep(time.Second) // the flood is on
		// An honest client tries up to honestAttempts times, 200 ms apart
		// (a taker re-dials a maker once before it gives up on it).
		var lat []time.Duration
		ok, first := 0, 0
		for range honest {
			hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
			t0 := time.Now()
			for a := range honestAttempts {
				err := ask(hctx)
				if err == nil {
					ok++
					if a == 0 {
						first++
					}
					lat = append(lat, time.Since(t0))
					break
				}
				if os.Getenv("FLOOD_DEBUG") != "" {
					b.Logf("honest attempt %d: %v", a+1, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			hcancel()
		}
		rss := rssKiB()
		cancel()
		wg.Wait()
		slices.Sort(lat)
		b.ReportMetric(float64(ok)*100/honest, "honest-ok-%")
		b.ReportMetric(float64(first)*100/honest, "first-try-ok-%")
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
		}
		b.ReportMetric(float64(rss)/1024, "rss-MiB")
		b.ReportMetric(float64(floods.Load()), "flood-offers")
	}
}

// rssKiB is this process's resident set (Linux), 0 when unknown.
func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
