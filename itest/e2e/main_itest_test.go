//go:build itest

package e2e

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
)

// clu is the package's one cluster (private Tor network + regtest chain),
// started in TestMain; the processes are spawned on first use.
var clu *cluster.Cluster

// autoMineInterval: the mempool is checked this often and a block mined
// when it holds anything ("blocks mined as soon as they are needed"); the
// children poll the chain every 500 ms (cluster.DefaultChainPoll), so a
// shorter interval would not make confirmations visible sooner.
const autoMineInterval = 250 * time.Millisecond

// runner stops the package's miner after the tests, before the cluster.
type runner struct {
	m    *testing.M
	stop func()
}

func (r *runner) Run() int {
	defer func() {
		if r.stop != nil {
			r.stop()
		}
	}()
	return r.m.Run()
}

func TestMain(m *testing.M) {
	r := &runner{m: m}
	os.Exit(cluster.RunMain(r, cluster.Options{}, func(c *cluster.Cluster) {
		clu = c
		r.stop = c.AutoMine(context.Background(), cluster.AutoMineOptions{Interval: autoMineInterval})
	}))
}

// Fixture sizes (sat). Makers hold FundCoins coins: a sender needs one
// confirmed coin per funding tx of its hop (they are built before any is
// broadcast) and a maker one more for its bond (daemon default 500 000).
const (
	bigMakerFund   = 20_000_000
	bigMakerCoins  = 5
	bigTakerFund   = 40_000_000
	bigTakerCoins  = 8
	smallMakerFund = 8_000_000 // 4 coins of 2M; the bond takes 0.5M of one
	smallCoins     = 4
	// contendedAmount fits a small maker once (liquidity ≈ 7.5M, offer max
	// 90% ≈ 6.7M) but not twice (7.5M − 4.5M − fees < 4.5M).
	contendedAmount = 4_500_000
	smallTakerFund  = 10_000_000
	smallTakerCoins = 4
)

// mainGroup: directory A lists m1..m4; directory B lists m1 and m2 only,
// so a 2-maker route through B always uses the same two makers.
type mainGroup struct {
	dirA, dirB *cluster.Proc
	makers     []*cluster.Proc // m1..m4
	tA, tB     *cluster.Proc
}

// smallGroup: directory C lists s1 and s2, each with liquidity for one
// contendedAmount swap; takers c1, c2.
type smallGroup struct {
	dirC   *cluster.Proc
	makers []*cluster.Proc
	c1, c2 *cluster.Proc
}

var (
	mainOnce  sync.Once
	mainG     *mainGroup
	mainErr   error
	smallOnce sync.Once
	smallG    *smallGroup
	smallErr  error
)

// spawnTimeout bounds spawning a group (processes start in parallel; each
// is bounded by cluster.DefaultReadyTimeout).
const spawnTimeout = 6 * time.Minute

func getMain(tb testing.TB) *mainGroup {
	tb.Helper()
	mainOnce.Do(func() {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), spawnTimeout)
		defer cancel()
		g := &mainGroup{}
		dirs, err := clu.SpawnAll(ctx, []cluster.Spec{{Name: "dirA", Role: cluster.RoleDirectory}, {Name: "dirB", Role: cluster.RoleDirectory}})
		if err != nil {
			mainErr = err
			return
		}
		g.dirA, g.dirB = dirs[0], dirs[1]
		a, b := g.dirA.Onion(), g.dirB.Onion()
		var specs []cluster.Spec
		for i, n := range []string{"m1", "m2", "m3", "m4"} {
			ds := []string{a}
			if i < 2 {
				ds = []string{a, b}
			}
			specs = append(specs, cluster.Spec{Name: n, Role: cluster.RoleMaker, Directories: ds, Fund: bigMakerFund, FundCoins: bigMakerCoins})
		}
		specs = append(specs,
			cluster.Spec{Name: "tA", Role: cluster.RoleTaker, Directories: []string{a}, Fund: bigTakerFund, FundCoins: bigTakerCoins},
			cluster.Spec{Name: "tB", Role: cluster.RoleTaker, Directories: []string{b}, Fund: bigTakerFund, FundCoins: bigTakerCoins})
		ps, err := clu.SpawnAll(ctx, specs)
		if err != nil {
			mainErr = err
			return
		}
		g.makers, g.tA, g.tB = ps[:4], ps[4], ps[5]
		// m1 and m2 are ready once registered with one directory: wait
		// for both.
		for _, m := range g.makers[:2] {
			if mainErr = waitCond(ctx, m.Name+" registered with both directories", func() bool {
				s, err := m.Client().MakerStatus(ctx)
				return err == nil && !s.Registered[a].IsZero() && !s.Registered[b].IsZero()
			}); mainErr != nil {
				return
			}
		}
		mainG = g
		logf(tb, "main group ready in %v", time.Since(t0).Round(time.Millisecond))
	})
	if mainErr != nil {
		tb.Fatalf("main group: %v", mainErr)
	}
	return mainG
}

func getSmall(tb testing.TB) *smallGroup {
	tb.Helper()
	smallOnce.Do(func() {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), spawnTimeout)
		defer cancel()
		d, err := clu.Spawn(ctx, cluster.Spec{Name: "dirC", Role: cluster.RoleDirectory})
		if err != nil {
			smallErr = err
			return
		}
		c := []string{d.Onion()}
		ps, err := clu.SpawnAll(ctx, []cluster.Spec{
			{Name: "s1", Role: cluster.RoleMaker, Directories: c, Fund: smallMakerFund, FundCoins: smallCoins},
			{Name: "s2", Role: cluster.RoleMaker, Directories: c, Fund: smallMakerFund, FundCoins: smallCoins},
			{Name: "c1", Role: cluster.RoleTaker, Directories: c, Fund: smallTakerFund, FundCoins: smallTakerCoins},
			{Name: "c2", Role: cluster.RoleTaker, Directories: c, Fund: smallTakerFund, FundCoins: smallTakerCoins},
		})
		if err != nil {
			smallErr = err
			return
		}
		smallG = &smallGroup{dirC: d, makers: ps[:2], c1: ps[2], c2: ps[3]}
		logf(tb, "small group ready in %v", time.Since(t0).Round(time.Millisecond))
	})
	if smallErr != nil {
		tb.Fatalf("small group: %v", smallErr)
	}
	return smallG
}

func logf(tb testing.TB, format string, args ...any) {
	tb.Helper()
	tb.Logf(format, args...)
}

// waitCond polls cond until it holds or ctx ends.
func waitCond(ctx context.Context, what string, cond func() bool) error {
	return cluster.Poll(ctx, 200*time.Millisecond, what, cluster.Holds(cond))
}
