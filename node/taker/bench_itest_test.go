//go:build itest

package taker_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/taker"
)

// BenchmarkConcurrentTakers: N takers swap through one maker at the same
// moment (issue 10 item 11). It reports the median and maximum of each
// swap's setup phase and of its wall time without block waits: with the
// maker's setups serialized they finish in a line (max ≈ N × one setup);
// with only the reservation serialized, about one setup each.
//
//	go test -tags itest -run '^$' -bench ConcurrentTakers -benchtime 1x ./node/taker/
func BenchmarkConcurrentTakers(b *testing.B) {
	for _, n := range []int{8, 32} {
		b.Run(fmt.Sprintf("takers=%d", n), func(b *testing.B) {
			m := newMaker(b, "m", makerOpts{utxos: n + 2, utxo: 20_000_000, idle: 10 * time.Minute})
			takers := make([]*taker.Taker, n)
			for i := range takers {
				takers[i], _ = newTaker(b, fmt.Sprintf("t%d", i), source(m))
			}
			b.ResetTimer()
			for range b.N {
				stop := autoMiner(b)
				var mu sync.Mutex
				var setups, walls []time.Duration
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for _, tk := range takers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rep, err := tk.Swap(tctx(b, 5*time.Minute), taker.Request{Amount: 2_000_000, TxCount: 1, Makers: 1})
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						defer mu.Unlock()
						walls = append(walls, rep.Total-rep.BlockWait)
						for _, p := range rep.Phases {
							if p.Phase == "setup" {
								setups = append(setups, p.Wall)
							}
						}
					}()
				}
				wg.Wait()
				stop()
				close(errs)
				for err := range errs {
					b.Fatalf("swap: %v", err)
				}
				slices.Sort(setups)
				slices.Sort(walls)
				b.ReportMetric(float64(setups[len(setups)/2].Milliseconds()), "setup-median-ms")
				b.ReportMetric(float64(setups[len(setups)-1].Milliseconds()), "setup-max-ms")
				b.ReportMetric(float64(walls[len(walls)/2].Milliseconds()), "swap-median-ms")
				b.ReportMetric(float64(walls[len(walls)-1].Milliseconds()), "swap-max-ms")
			}
		})
	}
}
