//go:build itest

package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// testTransport is a tor client of the test process itself on the private
// network, to reach the processes' onion services from outside.
func testTransport(t *testing.T, ctx context.Context) *tor.TorTransport {
	t.Helper()
	tr, err := tor.NewTorTransport(ctx, tor.Config{Mode: tor.ModeManaged, DataDir: filepath.Join(t.TempDir(), "tor"),
		ExtraArgs: clu.Tornet().ClientArgs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestDirectoryAndMaker: a directory and a maker as separate processes;
// the maker creates its bond, registers, and both onion services answer.
func TestDirectoryAndMaker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	stopMine := clu.AutoMine(ctx, AutoMineOptions{})
	defer stopMine()

	dir, err := clu.Spawn(ctx, Spec{Name: "dir1", Role: RoleDirectory})
	if err != nil {
		t.Fatal(err)
	}
	st, err := dir.Client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Role != "directory" || !st.Ready || !st.Healthy || st.Onion == "" || st.Network != "regtest" {
		t.Fatalf("directory status %+v", st)
	}
	if _, err := tor.ParseOnionAddr(st.Onion); err != nil {
		t.Fatalf("directory onion: %v", err)
	}
	for _, f := range []string{"onionswap.log", "directory.db", "tor", control.SocketName, control.CookieName} {
		if _, err := os.Stat(filepath.Join(dir.DataDir, f)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
	if _, err := dir.Client().Balances(ctx); !errors.Is(err, control.ErrNotAvailable) {
		t.Errorf("directory balances: err = %v, want ErrNotAvailable", err)
	}

	maker, err := clu.Spawn(ctx, Spec{Name: "maker1", Role: RoleMaker, Fund: 5_000_000})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := maker.Client().MakerStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ms.Bond == nil || ms.Registered[dir.Onion()].IsZero() {
		t.Fatalf("maker status: %+v", ms)
	}
	// The directory lists the maker's address.
	waitFor(t, ctx, "directory lists the maker", func() bool {
		es, err := dir.Client().DirectoryEntries(ctx)
		if err != nil {
			return false
		}
		for _, e := range es {
			if e.Onion == maker.Onion() {
				return true
			}
		}
		return false
	})

	// From outside: the directory answers a List over Tor with the maker,
	// and the maker's onion answers a protocol handshake.
	tr := testTransport(t, ctx)
	es, err := directory.List(ctx, tr, dir.Onion(), directory.ClientConfig{Network: protocol.Regtest})
	if err != nil {
		t.Fatalf("list over tor: %v", err)
	}
	found := false
	for _, e := range es {
		found = found || e.Proof.Addr == maker.Onion()
	}
	if !found {
		t.Fatalf("directory list over tor lacks the maker: %+v", es)
	}
	nc, err := tr.Dial(ctx, maker.Onion())
	if err != nil {
		t.Fatalf("dial maker: %v", err)
	}
	pc := protocol.NewConn(nc, protocol.ConnConfig{})
	if _, err := pc.Handshake(ctx, protocol.NewHello(protocol.Regtest, "cluster-test")); err != nil {
		t.Fatalf("maker handshake: %v", err)
	}
	pc.Close()
}

// TestKillRestartAndChainOutage: a SIGKILLed directory restarts from its
// data dir with the same onion address; a paused chain makes it unhealthy
// and it recovers when the chain returns.
func TestKillRestartAndChainOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := clu.Spawn(ctx, Spec{Name: "dir-kill", Role: RoleDirectory})
	if err != nil {
		t.Fatal(err)
	}
	onion, pid := p.Onion(), p.PID()
	st, err := p.Restart(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.Onion != onion || st.PID == pid || p.PID() != st.PID {
		t.Fatalf("after restart: onion %s (was %s), pid %d (was %d)", st.Onion, onion, st.PID, pid)
	}

	clu.PauseChain()
	waitFor(t, ctx, "unhealthy while the chain is paused", func() bool {
		s, err := p.Client().Status(ctx)
		return err == nil && !s.Healthy && s.ChainError != "" && s.State == control.StateDegraded
	})
	if _, err := clu.Mine(ctx, 1); err != nil { // the harness bypasses the relay
		t.Fatal(err)
	}
	clu.ResumeChain()
	tip, _ := clu.Tip(ctx)
	waitFor(t, ctx, "healthy again at the new tip", func() bool {
		s, err := p.Client().Status(ctx)
		return err == nil && s.Healthy && s.Ready && s.TipHeight == tip
	})

	p.Stop()
	if p.Running() {
		t.Fatal("still running after Stop")
	}
	if _, err := os.Stat(filepath.Join(p.DataDir, control.SocketName)); !os.IsNotExist(err) {
		t.Fatalf("socket left after a graceful stop: %v", err)
	}
	if _, err := p.Client().Status(ctx); !errors.Is(err, control.ErrNotRunning) {
		t.Fatalf("status after stop: %v", err)
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	if err := Poll(ctx, 200*time.Millisecond, what, Holds(cond)); err != nil {
		t.Fatal(err)
	}
}

// TestTwoMakerSwap: the demo's swap (2 makers, 3 funding txs per hop)
// between separate processes, with the taker's exact cost checked against
// its report and every contract balance back at zero.
func TestTwoMakerSwap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	stopMine := clu.AutoMine(ctx, AutoMineOptions{})
	defer stopMine()
	if _, err := clu.Spawn(ctx, Spec{Name: "swap-dir", Role: RoleDirectory}); err != nil {
		t.Fatal(err)
	}
	dirs := []string{clu.Proc("swap-dir").Onion()}
	var makers []*Proc
	for _, n := range []string{"swap-m1", "swap-m2"} {
		m, err := clu.Spawn(ctx, Spec{Name: n, Role: RoleMaker, Directories: dirs, Fund: 20_000_000, FundCoins: 5})
		if err != nil {
			t.Fatal(err)
		}
		makers = append(makers, m)
	}
	tk, err := clu.Spawn(ctx, Spec{Name: "swap-taker", Role: RoleTaker, Directories: dirs, Fund: 10_000_000, FundCoins: 4})
	if err != nil {
		t.Fatal(err)
	}
	spendable := func(p *Proc) int64 {
		v, err := p.Spendable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	waitFor(t, ctx, "taker funds confirmed", func() bool {
		b, err := tk.Balances(ctx)
		return err == nil && b.Categories["regular"].Confirmed == 10_000_000
	})
	before := spendable(tk)
	rep, err := tk.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: 5_000_000, Makers: 2, TxCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != "complete" || rep.AmountSent != 5_000_000 || len(rep.MakerFees) != 2 {
		t.Fatalf("report %+v", rep)
	}
	t.Logf("swap: %s total, %s block waits, %d round trips, %d connections, %d/%d bytes",
		rep.Duration, rep.BlockWait, rep.RoundTrips, rep.Connections, rep.BytesSent, rep.BytesReceived)
	for _, p := range append(makers, tk) {
		waitFor(t, ctx, p.Name+" settled", func() bool { ok, _ := p.Settled(ctx); return ok })
	}
	var cost int64
	for _, f := range rep.MakerFees {
		cost += f.Fee + f.Reimbursement
	}
	cost += rep.MiningFees
	if got := before - spendable(tk); got != cost {
		t.Fatalf("taker paid %d sat, report says %d", got, cost)
	}
}
