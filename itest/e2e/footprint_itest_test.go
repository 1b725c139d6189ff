//go:build itest

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
)

// footprintWindow is one iteration's idle measurement. 30 s holds six
// chain polls and six health checks at the production intervals, and
// several of tor's own housekeeping ticks, so the CPU share is not one
// timer's accident.
const footprintWindow = 30 * time.Second

// userHZ is the unit of utime/stime in /proc/PID/stat: USER_HZ, 100 on
// every Linux architecture the project builds for (amd64, arm64).
const userHZ = 100

// productionPoll: the chain poll and health interval a node uses unless
// told otherwise (chain.DefaultPollInterval, daemon.DefaultHealthInterval);
// the cluster's children poll every 500 ms to keep tests fast.
var productionPoll = []string{"--chain-poll", "5s", "--health-interval", "5s"}

// BenchmarkIdleFootprint: what a node costs a Raspberry Pi while it waits
// for work: resident memory and CPU of an idle directory, maker and taker
// (each onionswap process, and separately the tor it manages), with the
// production poll intervals, after registration, over footprintWindow.
// Metrics: MiB of RSS and percent of one core, per role. Run:
//
//	go test -tags itest -run '^$' -bench IdleFootprint -benchtime 3x ./itest/e2e/
func BenchmarkIdleFootprint(b *testing.B) {
	procs := getIdle(b)
	roles := []string{"directory", "maker", "taker"}
	rss := map[string][]float64{}
	cpu := map[string][]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := map[string]int64{}
		for k, p := range procs {
			for who, pid := range pidsOf(p) {
				before[roles[k]+who] = cpuTicks(pid)
			}
		}
		time.Sleep(footprintWindow)
		for k, p := range procs {
			for who, pid := range pidsOf(p) {
				key := roles[k] + who
				rss[key] = append(rss[key], float64(rssKiB(pid))/1024)
				cpu[key] = append(cpu[key], 100*float64(cpuTicks(pid)-before[key])/userHZ/footprintWindow.Seconds())
			}
		}
	}
	b.StopTimer()
	for _, k := range sortedKeys(rss) {
		b.ReportMetric(median(rss[k]), "MiB-rss-"+k)
		b.ReportMetric(median(cpu[k]), "%cpu-"+k)
	}
}

var (
	idleOnce  sync.Once
	idleProcs []*cluster.Proc
	idleErr   error
)

// getIdle spawns, once (the benchmark function runs more than once), a
// directory, a maker listed there and a taker, with the production poll
// intervals, and waits for the maker's registration (its bond proof
// checked on chain): idle means nothing left to do.
func getIdle(b *testing.B) []*cluster.Proc {
	b.Helper()
	idleOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), spawnTimeout)
		defer cancel()
		dir, err := clu.Spawn(ctx, cluster.Spec{Name: "idleDir", Role: cluster.RoleDirectory, Args: productionPoll})
		if err != nil {
			idleErr = err
			return
		}
		ds := []string{dir.Onion()}
		ps, err := clu.SpawnAll(ctx, []cluster.Spec{
			{Name: "idleMaker", Role: cluster.RoleMaker, Directories: ds, Fund: bigMakerFund, FundCoins: bigMakerCoins, Args: productionPoll},
			{Name: "idleTaker", Role: cluster.RoleTaker, Directories: ds, Fund: bigTakerFund, FundCoins: 2, Args: productionPoll},
		})
		if err != nil {
			idleErr = err
			return
		}
		idleProcs = append([]*cluster.Proc{dir}, ps...)
		idleErr = waitListed(ctx, dir, 1)
	})
	if idleErr != nil {
		b.Fatal(idleErr)
	}
	return idleProcs
}

// pidsOf returns the onionswap process ("") and its managed tor ("-tor").
func pidsOf(p *cluster.Proc) map[string]int {
	out := map[string]int{}
	pid := p.PID()
	if pid == 0 {
		return out
	}
	out[""] = pid
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid := procStat(child)
		if ppid == pid && comm == "tor" {
			out["-tor"] = child
		}
	}
	return out
}

// procStat reads the command name and parent PID from /proc/PID/stat.
func procStat(pid int) (string, int) {
	f := statFields(pid)
	if len(f) < 3 {
		return "", 0
	}
	ppid, _ := strconv.Atoi(f[2])
	return f[0], ppid
}

// statFields returns /proc/PID/stat's fields from field 2 (the command
// name, which may hold spaces: it is read between its parentheses) on, so
// field n is at index n-2.
func statFields(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil
	}
	return append([]string{s[open+1 : end]}, strings.Fields(s[end+1:])...)
}

// cpuTicks: utime + stime of pid (fields 14 and 15 of /proc/PID/stat).
func cpuTicks(pid int) int64 {
	f := statFields(pid)
	if len(f) < 14 {
		return 0
	}
	u, _ := strconv.ParseInt(f[12], 10, 64)
	s, _ := strconv.ParseInt(f[13], 10, 64)
	return u + s
}

// rssKiB reads VmRSS of pid, 0 if unknown.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// waitListed waits until directory d lists at least n makers.
func waitListed(ctx context.Context, d *cluster.Proc, n int) error {
	for {
		es, err := d.Client().DirectoryEntries(ctx)
		if err == nil && len(es) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("directory lists %d makers, want %d: %v", len(es), n, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func sortedKeys(m map[string][]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
