package simnet

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestNetLatencyAndDeadline: bytes arrive after the link latency, a read
// deadline interrupts a read, and closing gives the peer EOF.
func TestNetLatencyAndDeadline(t *testing.T) {
	const lat = 30 * time.Millisecond
	nw := NewNet(func(string, string) time.Duration { return lat })
	l, err := nw.Listen("b")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, err = c.Write([]byte("pong"))
			c.Close()
		}
		accepted <- err
	}()
	start := time.Now()
	c, err := Dialer{N: nw, From: "a"}.Dial(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if el := time.Since(start); el < 2*lat {
		t.Fatalf("round trip took %v < 2 × %v", el, lat)
	}
	if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("after close: %v", err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if _, err := (Dialer{N: nw, From: "a"}).Dial(context.Background(), "nobody"); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial to nobody: %v", err)
	}
	go func() { c2, _ := l.Accept(); defer c2.Close(); time.Sleep(time.Second) }()
	c2, _ := Dialer{N: nw, From: "a"}.Dial(context.Background(), "b")
	_ = c2.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c2.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
}

func TestTopologyAndCoverage(t *testing.T) {
	topo := Random(Params{N: 100, Degree: 8, MaxIn: 16, Latency: 50 * time.Millisecond, Jitter: 0.5, Seed: 3})
	in := make([]int, topo.N)
	for i, js := range topo.Out {
		if len(js) != 8 {
			t.Fatalf("node %d has %d outbound", i, len(js))
		}
		for _, j := range js {
			in[j]++
			if l := topo.Latency(i, j); l < 25*time.Millisecond || l > 75*time.Millisecond {
				t.Fatalf("latency %v", l)
			}
		}
	}
	for _, n := range in {
		if n > 16 {
			t.Fatalf("inbound %d > cap", n)
		}
	}
	if d := topo.Diameter(); d < 2 || d > 5 {
		t.Fatalf("diameter %d", d)
	}
	p50, p99, p100, share := CoverageTimes([]time.Duration{3, 1, 2, 4}, 5)
	if p50 != 3 || p99 != 4 || p100 != 4 || share != 0.8 {
		t.Fatalf("coverage %v %v %v %v", p50, p99, p100, share)
	}
}

// TestTarget: the hop and latency-weighted diameters of small graphs and
// the limit, 1.2 × hops × latency + trickle.
func TestTarget(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name     string
		out      [][]int
		lat      map[[2]int]time.Duration
		hops     int
		weighted time.Duration
	}{
		{"line", [][]int{{1}, {2}, nil}, map[[2]int]time.Duration{{0, 1}: 10 * ms, {1, 2}: 30 * ms}, 2, 40 * ms},
		// 0–2 directly is slow (100 ms), through 1 is 20 ms: one hop,
		// but the fast path has two.
		{"triangle", [][]int{{1, 2}, {2}, nil}, map[[2]int]time.Duration{{0, 1}: 10 * ms, {1, 2}: 10 * ms, {0, 2}: 100 * ms}, 1, 20 * ms},
	} {
		topo := &Topology{N: len(tc.out), Out: tc.out, latency: tc.lat}
		if h, w := topo.Diameter(), topo.LatencyDiameter(); h != tc.hops || w != tc.weighted {
			t.Errorf("%s: diameter %d hops, %v; want %d, %v", tc.name, h, w, tc.hops, tc.weighted)
		}
	}
	tg := Target{Hops: 4, Latency: 50 * ms, Trickle: time.Second}
	if got := tg.Limit(); got != 1240*ms {
		t.Errorf("limit %v, want 1.24s", got)
	}
}
