//go:build itest

package tor

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
)

// benchBusy: busy loops competing with the tors for the CPU, as the
// dozens of tors of an itest do on a 2-core machine.
var benchBusy = flag.Int("busy", 0, "BenchmarkFreshOnionDial: busy loops competing for the CPU")

// benchWarmup: dials before timing. Tor learns a circuit build timeout only
// once it has 100 build times (its cbtmincircs); a fresh dial builds about
// two circuits at the client and one at the service.
const benchWarmup = 100

// BenchmarkFreshOnionDial is one fresh connection to an onion service (new
// circuits every time: IsolateEachStream) and one echoed frame, on the
// private network. "fixed" is the network's client setting (tornet:
// LearnCircuitBuildTimeout 0, CircuitBuildTimeout 10); "learned" lets
// both tors learn their timeout from loopback build times, as tor does by
// default. Run it under load to see why the network fixes it:
//
//	go test -tags itest -run '^$' -bench FreshOnionDial -benchtime 80x ./tor -busy 6
func BenchmarkFreshOnionDial(b *testing.B) {
	for _, bc := range []struct {
		name  string
		extra []string
	}{
		{"fixed", nil},
		{"learned", []string{"--LearnCircuitBuildTimeout", "1"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			scfg := managedConfig(b, "service")
			scfg.ExtraArgs = append(scfg.ExtraArgs, bc.extra...)
			svc := startNode(b, "service", scfg, true)
			svc.waitPublished(b)
			ccfg := managedConfig(b, "client")
			ccfg.ExtraArgs = append(ccfg.ExtraArgs, bc.extra...)
			ccfg.IsolateEachStream = true
			cl := startNode(b, "client", ccfg, false)

			warmFailed := 0
			for i := range benchWarmup {
				if _, err := echoOnce(cl, svc.addr); err != nil {
					b.Logf("warm-up dial %d: %v", i, err)
					warmFailed++
				}
			}
			stop := busyLoops(*benchBusy)
			defer stop()
			took := make([]time.Duration, 0, b.N)
			failed := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := echoOnce(cl, svc.addr)
				if err != nil {
					// A failed dial is a result here, not a broken
					// benchmark: tor gave up on its circuits.
					b.Logf("dial %d: %v", i, err)
					failed++
					continue
				}
				took = append(took, d)
			}
			b.StopTimer()
			b.ReportMetric(float64(failed), "failed")
			b.ReportMetric(float64(warmFailed), "warmup-failed")
			if len(took) == 0 {
				return
			}
			slices.Sort(took)
			ms := func(q float64) float64 {
				return float64(took[int(q*float64(len(took)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.9), "p90-ms")
			b.ReportMetric(ms(1), "max-ms")
		})
	}
}

// echoOnce dials addr on fresh circuits and waits for one echoed frame.
func echoOnce(cl *node, addr string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), itestDial)
	defer cancel()
	t0 := time.Now()
	c, err := cl.tr.Dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(itestDial))
	if err := writeFrame(c, []byte("ping")); err != nil {
		return 0, err
	}
	if f, err := readFrame(c); err != nil || string(f) != "ping" {
		return 0, fmt.Errorf("echo %q: %w", f, err)
	}
	return time.Since(t0), nil
}

// busyLoops starts n goroutines that spin on their own OS threads until
// stop is called.
func busyLoops(n int) (stop func()) {
	if n <= 0 {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(prev + n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, n)
	for range n {
		go func() {
			runtime.LockOSThread()
			for ctx.Err() == nil {
			}
			done <- struct{}{}
		}()
	}
	return func() {
		cancel()
		for range n {
			<-done
		}
		runtime.GOMAXPROCS(prev)
	}
}
