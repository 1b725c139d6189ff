//go:build itest

package scenario

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/swap"
)

// Test settings of the processes (regtest-only flags).
const (
	// idleTimeout of every maker: a swap whose taker is silent this long
	// is recovered. Takers send keep-alives every keepAlive while they
	// wait for confirmations and the other steps are single Tor round
	// trips (< 5 s even on a loaded machine), so an honest swap never
	// idles out; the scenarios where a taker vanishes wait this long.
	idleTimeout = 15 * time.Second
	// keepAlive of the taker: well below idleTimeout (15 keep-alives fit
	// in it).
	keepAlive = time.Second

	// Swap shape of every scenario: 2 funding outputs per hop keeps each
	// output's path visible (several contracts per hop) at half the
	// transactions of tx_count 4.
	swapAmount  = 2_000_000
	swapTxCount = 2

	// Funds: a sender needs one confirmed coin per funding tx of its hop
	// (they are built before any is broadcast), a maker one more for its
	// bond; change comes back confirmed after each scenario, so 10 coins
	// of 2.5M carry every scenario of the package with room to spare.
	partyFund  = 25_000_000
	partyCoins = 10
)

// fixture: one directory, honest maker H1, maker F whose fault plan
// changes per scenario (restarted with it), maker X (the setup-time
// cheat: dropper or fee skimmer), and one taker T restarted with the
// route and taker fault of each scenario. The taker picks its route with
// the regtest-only taker:route fault (the makers named, in order; the
// following names are the spares): scenario routes are then exact, not
// bond-weighted random.
type fixture struct {
	dir, h1, f, x, tk *cluster.Proc

	mu  sync.Mutex
	cfg map[*cluster.Proc]string // current fault/flag configuration
}

var (
	fxOnce sync.Once
	fx     *fixture
	fxErr  error
)

// getFx spawns the fixture once (makers in parallel).
func getFx(t *testing.T) *fixture {
	t.Helper()
	fxOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		t0 := time.Now()
		f := &fixture{cfg: map[*cluster.Proc]string{}}
		if f.dir, fxErr = clu.Spawn(ctx, cluster.Spec{Name: "dir", Role: cluster.RoleDirectory}); fxErr != nil {
			return
		}
		dirs := []string{f.dir.Onion()}
		makerArgs := []string{"--idle-timeout", idleTimeout.String()}
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i, name := range []string{"h1", "f", "x"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := clu.Spawn(ctx, cluster.Spec{Name: name, Role: cluster.RoleMaker, Directories: dirs,
					Fund: partyFund, FundCoins: partyCoins, Args: makerArgs})
				errs[i] = err
				switch name {
				case "h1":
					f.h1 = p
				case "f":
					f.f = p
				case "x":
					f.x = p
				}
			}()
		}
		wg.Wait()
		if fxErr = errors.Join(errs...); fxErr != nil {
			return
		}
		f.cfg[f.f], f.cfg[f.x] = "|required-confirms,0", "|required-confirms,0"
		route := f.route(f.h1, f.f)
		f.tk, fxErr = clu.Spawn(ctx, cluster.Spec{Name: "taker", Role: cluster.RoleTaker, Directories: dirs,
			Fund: partyFund, FundCoins: partyCoins, Faults: []string{route},
			Args: []string{"--keepalive-interval", keepAlive.String()}})
		f.cfg[f.tk] = route + "|"
		fx = f
		fmt.Printf("scenario fixture ready in %s\n", time.Since(t0).Round(time.Second))
	})
	if fxErr != nil {
		t.Fatalf("fixture: %v", fxErr)
	}
	return fx
}

// route is the taker:route fault naming ps in order.
func (f *fixture) route(ps ...*cluster.Proc) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Onion()
	}
	return swap.FaultTakerRoute + "=" + strings.Join(names, "/")
}

// configure restarts p with faults and flags (name → value) unless it
// already runs with exactly them. Flags not named keep their value, so a
// scenario that sets one resets it ("0" = default) for the others.
func (f *fixture) configure(t *testing.T, ctx context.Context, p *cluster.Proc, faults []string, flags ...string) {
	t.Helper()
	key := strings.Join(faults, ",") + "|" + strings.Join(flags, ",")
	f.mu.Lock()
	same := f.cfg[p] == key && p.Running()
	f.mu.Unlock()
	if same {
		return
	}
	t0 := time.Now()
	p.SetFaults(faults)
	for i := 0; i+1 < len(flags); i += 2 {
		p.SetFlag(flags[i], flags[i+1])
	}
	if _, err := p.Restart(ctx, false); err != nil {
		t.Fatalf("restarting %s with %v %v: %v", p.Name, faults, flags, err)
	}
	f.mu.Lock()
	f.cfg[p] = key
	if p.Role == cluster.RoleMaker && f.tk != nil {
		// The taker's tor holds circuits to (and the descriptor of) the
		// maker's previous instance; dials through them can fail for
		// minutes. A taker restart (~0.2 s) starts from a clean tor.
		f.cfg[f.tk] = "stale"
	}
	f.mu.Unlock()
	t.Logf("%s restarted with faults %v flags %v in %s", p.Name, faults, flags, time.Since(t0).Round(100*time.Millisecond))
}

// maker sets F's (or X's) fault plan; required-confirms back to default
// unless given.
func (f *fixture) maker(t *testing.T, ctx context.Context, p *cluster.Proc, faults ...string) {
	t.Helper()
	f.configure(t, ctx, p, faults, "required-confirms", "0")
}

// taker sets the taker's route (makers in order, then spares) and faults.
func (f *fixture) taker(t *testing.T, ctx context.Context, route []*cluster.Proc, faults ...string) {
	t.Helper()
	f.configure(t, ctx, f.tk, append([]string{f.route(route...)}, faults...))
}

// forget marks the taker's configuration stale (after a scenario killed it
// or left it with a fault the next one must not inherit).
func (f *fixture) forget(p *cluster.Proc) {
	f.mu.Lock()
	f.cfg[p] = "stale"
	f.mu.Unlock()
}
