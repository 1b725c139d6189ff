package simnet

import (
	"container/heap"
	"fmt"
	"io"
	"time"
)

// targetSlack is issue 11's factor on the propagation floor: 100 % of
// nodes hold a message within 1.2 × (diameter × link latency) plus the
// trickle delay.
const targetSlack = 1.2

// relayLegs: link latencies one hop of inv/getdata costs (announcement,
// request, body), against 1 for a protocol that pushes the body.
const relayLegs = 3

// Target is issue 11's coverage-latency target on one topology.
type Target struct {
	// Hops: the topology's diameter; Latency: the mean one-way link
	// latency; their product is the propagation floor.
	Hops    int
	Latency time.Duration
	// Trickle: the trickle delay the issue adds once: the mean wait
	// before an origin's announcement leaves for an outbound peer.
	Trickle time.Duration
	// Weighted: the longest of all shortest paths by link latency (the
	// real floor of a push protocol with per-link jitter).
	Weighted time.Duration
}

// Limit is 1.2 × Hops × Latency + Trickle.
func (t Target) Limit() time.Duration {
	return time.Duration(targetSlack*float64(t.Hops)*float64(t.Latency)) + t.Trickle
}

// Print writes the target, its parts and the measured time to 100 %.
func (t Target) Print(w io.Writer, name string, measured time.Duration) {
	verdict := "PASS"
	if measured > t.Limit() {
		verdict = "MISS"
	}
	fmt.Fprintf(w, "coverage target (%s): 100 %% within %.1f × %d hops × %v + %v trickle = %v; measured %v: %s\n",
		name, targetSlack, t.Hops, t.Latency, t.Trickle, t.Limit().Round(time.Millisecond),
		measured.Round(time.Millisecond), verdict)
}

// Explain writes what the target's parts are and what inv/getdata costs.
func (t Target) Explain(w io.Writer) {
	fmt.Fprintf(w, "propagation floor: %d hops × %v = %v (latency-weighted diameter %v); inv/getdata costs %d link latencies a hop: %v without any trickle\n",
		t.Hops, t.Latency, time.Duration(t.Hops)*t.Latency, t.Weighted.Round(time.Millisecond),
		relayLegs, time.Duration(relayLegs*t.Hops)*t.Latency)
}

// LatencyDiameter is the longest shortest path by link latency
// (Dijkstra from every node; fine up to a few thousand nodes).
func (t *Topology) LatencyDiameter() time.Duration {
	adj := make([][]int, t.N)
	for i, js := range t.Out {
		for _, j := range js {
			adj[i] = append(adj[i], j)
			adj[j] = append(adj[j], i)
		}
	}
	var diam time.Duration
	dist := make([]time.Duration, t.N)
	for s := range t.N {
		for i := range dist {
			dist[i] = -1
		}
		dist[s] = 0
		q := &distHeap{{s, 0}}
		for q.Len() > 0 {
			u := heap.Pop(q).(nodeDist)
			if u.d > dist[u.n] {
				continue
			}
			diam = max(diam, u.d)
			for _, v := range adj[u.n] {
				d := u.d + t.Latency(u.n, v)
				if dist[v] < 0 || d < dist[v] {
					dist[v] = d
					heap.Push(q, nodeDist{v, d})
				}
			}
		}
	}
	return diam
}

type nodeDist struct {
	n int
	d time.Duration
}

type distHeap []nodeDist

func (h distHeap) Len() int           { return len(h) }
func (h distHeap) Less(i, j int) bool { return h[i].d < h[j].d }
func (h distHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *distHeap) Push(x any)        { *h = append(*h, x.(nodeDist)) }
func (h *distHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
