package simnet

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"
)

// Topology is a directed connection graph: Out[i] are the nodes i dials.
// Links carry bytes both ways; Latency is the one-way delay of each
// (undirected) link.
type Topology struct {
	N       int
	Out     [][]int
	latency map[[2]int]time.Duration
}

// Params of a random topology.
type Params struct {
	N       int
	Degree  int           // outbound connections per node
	MaxIn   int           // inbound cap per node
	Latency time.Duration // mean one-way link latency
	Jitter  float64       // each link's latency is uniform in Latency·[1−Jitter, 1+Jitter]
	Seed    uint64
}

// Random builds a topology: every node dials Degree distinct random
// others whose inbound count is below MaxIn, as the pool's dialer does
// from its peer table.
func Random(p Params) *Topology {
	r := rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))
	t := &Topology{N: p.N, Out: make([][]int, p.N), latency: map[[2]int]time.Duration{}}
	in := make([]int, p.N)
	for i := range p.N {
		for tries := 0; len(t.Out[i]) < p.Degree && tries < 100*p.Degree; tries++ {
			j := r.IntN(p.N)
			if j == i || in[j] >= p.MaxIn || slices.Contains(t.Out[i], j) || slices.Contains(t.Out[j], i) {
				continue
			}
			t.Out[i] = append(t.Out[i], j)
			in[j]++
			lat := p.Latency
			if p.Jitter > 0 {
				lat = time.Duration(float64(p.Latency) * (1 - p.Jitter + 2*p.Jitter*r.Float64()))
			}
			t.latency[key(i, j)] = lat
		}
	}
	return t
}

func key(i, j int) [2]int {
	if i > j {
		i, j = j, i
	}
	return [2]int{i, j}
}

// Latency of the link between i and j (0 if none).
func (t *Topology) Latency(i, j int) time.Duration { return t.latency[key(i, j)] }

// Edges lists every link once as (dialer, listener).
func (t *Topology) Edges() [][2]int {
	var out [][2]int
	for i, js := range t.Out {
		for _, j := range js {
			out = append(out, [2]int{i, j})
		}
	}
	return out
}

// Diameter is the longest shortest path in hops (BFS from every node;
// fine up to a few thousand nodes), and the largest latency-weighted
// eccentricity bound: diameter × the largest link latency on the way is
// approximated by hops × mean latency by the caller.
func (t *Topology) Diameter() int {
	adj := make([][]int, t.N)
	for i, js := range t.Out {
		for _, j := range js {
			adj[i] = append(adj[i], j)
			adj[j] = append(adj[j], i)
		}
	}
	diam := 0
	dist := make([]int, t.N)
	for s := range t.N {
		for i := range dist {
			dist[i] = -1
		}
		dist[s] = 0
		q := []int{s}
		for len(q) > 0 {
			u := q[0]
			q = q[1:]
			for _, v := range adj[u] {
				if dist[v] < 0 {
					dist[v] = dist[u] + 1
					diam = max(diam, dist[v])
					q = append(q, v)
				}
			}
		}
	}
	return diam
}

// Result is what one relay protocol measured on a topology.
type Result struct {
	Name  string
	Nodes int
	// Messages published and their mean encoded size (bytes).
	Messages int
	MsgSize  float64
	// BytesPerNodePerMsg ÷ MsgSize: what relaying one message costs the
	// average node, in units of the message (1.0 = each node sends one
	// copy).
	BytesRatio float64
	// Latency from publish to 50, 99 and 100 % of live nodes (mean over
	// messages), and Coverage: the share of (node, message) pairs
	// delivered.
	Lat50, Lat99, Lat100 time.Duration
	Coverage             float64
	// Duplicates: bodies received beyond the first, per node per message.
	Duplicates float64
	// Join: a node joining a pool of JoinMessages live messages: bytes
	// it sent and received ÷ their total size, round trips (elapsed ÷
	// link round-trip time) and elapsed time.
	JoinMessages int
	JoinRatio    float64
	JoinRTs      float64
	JoinTime     time.Duration
	// Notes: anything the protocol could not measure, or did differently.
	Notes string
}

// PrintTable writes results side by side.
func PrintTable(w io.Writer, rs ...Result) {
	row := func(name string, f func(r Result) string) {
		fmt.Fprintf(w, "%-34s", name)
		for _, r := range rs {
			fmt.Fprintf(w, " %22s", f(r))
		}
		fmt.Fprintln(w)
	}
	row("", func(r Result) string { return r.Name })
	row("nodes", func(r Result) string { return fmt.Sprint(r.Nodes) })
	row("messages × mean size (B)", func(r Result) string { return fmt.Sprintf("%d × %.0f", r.Messages, r.MsgSize) })
	row("bytes sent per node per msg", func(r Result) string { return fmt.Sprintf("%.0f", r.BytesRatio*r.MsgSize) })
	row("bytes sent per node per msg ÷ size", func(r Result) string { return fmt.Sprintf("%.2f", r.BytesRatio) })
	row("latency to 50 %", func(r Result) string { return r.Lat50.Round(time.Millisecond).String() })
	row("latency to 99 %", func(r Result) string { return r.Lat99.Round(time.Millisecond).String() })
	row("latency to 100 %", func(r Result) string { return r.Lat100.Round(time.Millisecond).String() })
	row("coverage", func(r Result) string { return fmt.Sprintf("%.4f", r.Coverage) })
	row("duplicate bodies per node per msg", func(r Result) string { return fmt.Sprintf("%.2f", r.Duplicates) })
	row("join: messages", func(r Result) string { return fmt.Sprint(r.JoinMessages) })
	row("join: bytes ÷ their size", func(r Result) string { return fmt.Sprintf("%.3f", r.JoinRatio) })
	row("join: round trips", func(r Result) string { return fmt.Sprintf("%.1f", r.JoinRTs) })
	row("join: time", func(r Result) string { return r.JoinTime.Round(time.Millisecond).String() })
	for _, r := range rs {
		if r.Notes != "" {
			fmt.Fprintf(w, "note (%s): %s\n", r.Name, r.Notes)
		}
	}
}

// Coverage summarises one message's delivery times (offsets from its
// publish) over live nodes: the times to 50, 99 and 100 % (100 % is the
// last delivery if some node never got it) and the share delivered.
func CoverageTimes(delays []time.Duration, live int) (p50, p99, p100 time.Duration, share float64) {
	slices.Sort(delays)
	at := func(q float64) time.Duration {
		k := int(q*float64(live)+0.999999) - 1
		if k < 0 {
			k = 0
		}
		if k >= len(delays) {
			if len(delays) == 0 {
				return 0
			}
			return delays[len(delays)-1]
		}
		return delays[k]
	}
	return at(0.5), at(0.99), at(1.0), float64(len(delays)) / float64(live)
}
