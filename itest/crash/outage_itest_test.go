//go:build itest

package crash

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/tor"
)

// TestScenarioChainOutageFundingWait: the chain becomes unreachable right
// after the taker broadcast hop 0, and a block confirms hop 0 while every
// process is blind. During the outage the taker refuses a new swap and a
// maker refuses a SetupHop with an explicit Busy/unavailable error (fail
// closed); when the chain returns the running swap resumes and completes,
// with exact balances.
func TestScenarioChainOutageFundingWait(t *testing.T) {
	setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	trDone := make(chan *tor.TorTransport, 1)
	go func() { // the test's own tor client, to talk to a maker directly
		tr, err := tor.NewTorTransport(ctx, tor.Config{Mode: tor.ModeManaged, DataDir: filepath.Join(t.TempDir(), "tor"),
			ExtraArgs: clu.Tornet().ClientArgs()})
		if err != nil {
			t.Error(err)
		}
		trDone <- tr
	}()
	tk, err := clu.Spawn(ctx, cluster.Spec{Name: "T-outage", Role: cluster.RoleTaker, Directories: dirs(),
		Fund: takerFund, FundCoins: takerCoins, Faults: []string{"taker:route=" + env.a.Onion() + "/" + env.b.Onion()}})
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Stop()
	tr := <-trDone
	if tr == nil {
		t.FailNow()
	}
	defer tr.Close()
	if err := waitSettledWallet(ctx, tk); err != nil {
		t.Fatal(err)
	}
	before, err := spendable(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}

	minerHeld.Store(true)
	defer minerHeld.Store(false)
	swapDone := make(chan error, 1)
	go func() {
		_, err := tk.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: swapAmount, Makers: 2, TxCount: swapTxCount})
		swapDone <- err
	}()
	// Hop 0 in the mempool: the taker now waits for its confirmation.
	err = poll(ctx, "hop 0 in the mempool", func() (bool, string) {
		ss, err := swapsOf(ctx, tk)
		if err != nil || len(ss) != 1 {
			return false, "no swap yet"
		}
		d, err := parseDetail(ss[0])
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, o := range d.Outputs {
			if o.Dir != "out" {
				continue
			}
			h, _ := chainhash.NewHashFromStr(fundingTxid(o.Funding))
			if _, st, err := clu.Backend().Tx(ctx, *h); err == nil && st.InMempool {
				n++
			}
		}
		return n == swapTxCount, ss[0].Phase
	})
	if err != nil {
		t.Fatal(err)
	}
	clu.PauseChain()
	resumed := false
	defer func() {
		if !resumed {
			clu.ResumeChain()
		}
	}()
	if _, err := clu.Mine(ctx, 1); err != nil { // hop 0 confirms while everyone is blind
		t.Fatal(err)
	}
	tOut := time.Now()
	for _, p := range []*cluster.Proc{tk, env.a} {
		if err := poll(ctx, p.Name+" degraded", func() (bool, string) {
			s, err := p.Client().Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			return !s.Healthy && s.State == control.StateDegraded, s.State
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Fail closed: the taker refuses to start a swap...
	_, err = tk.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: swapAmount, Makers: 2, TxCount: swapTxCount})
	if !errors.Is(err, control.ErrUnavailable) {
		t.Fatalf("taker swap during the outage: err = %v, want ErrUnavailable", err)
	}
	t.Logf("taker refuses a new swap: %v", err)
	// ...and a maker refuses a new swap with an explicit error.
	pe := setupHopRefusal(t, ctx, tr, env.a.Onion())
	if pe.Code != protocol.CodeBusy || !strings.Contains(pe.Text, "unavailable") {
		t.Fatalf("maker's answer to a SetupHop during the outage: %v, want Busy: unavailable", pe)
	}
	t.Logf("maker refuses a new swap: %v", pe)
	// The running swap is still waiting (not given up) after the outage
	// outlasted several of its polls.
	ss, err := swapsOf(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	if ss[0].Phase != "hop0_broadcast" {
		t.Fatalf("taker swap during the outage: phase %s, want hop0_broadcast", ss[0].Phase)
	}
	clu.ResumeChain()
	resumed = true
	minerHeld.Store(false)
	t.Logf("chain unreachable for %s", time.Since(tOut).Round(time.Millisecond))
	if err := <-swapDone; err != nil {
		t.Fatalf("swap after the outage: %v", err)
	}
	checkCase(t, ctx, tk, env.a, env.b, map[string]int64{tk.Name: before}, outComplete)
	t.Logf("outage during the funding wait: swap completed in %s", time.Since(t0).Round(time.Second))
	checkShared(t, ctx)
}

// TestScenarioChainOutageRecovery: the taker crashes after the first
// maker funded and is restarted to recover on chain (taker:no-resume);
// while its recovery (and maker 1's) waits for timelocks the
// chain is unreachable for 25 blocks; when it returns everyone refunds.
func TestScenarioChainOutageRecovery(t *testing.T) {
	setup(t)
	r := runCrashCase(t, 91, crashCase{name: "taker-funded-outage", role: "taker", phase: "funded", outage: true,
		restartFaults: []string{"taker:no-resume"}, want: outRefunded})
	t.Logf("%s: %s (%s) in %s", r.name, r.outcome, r.paths, r.took.Round(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	checkShared(t, ctx)
}

// outageDuringRecovery waits until the taker's recovery put a contract on
// chain, then pauses the chain, mines 25 blocks the processes cannot see,
// checks they are degraded, and resumes.
func outageDuringRecovery(t *testing.T, ctx context.Context, tk, m1 *cluster.Proc) {
	t.Helper()
	err := poll(ctx, "a contract of the swap confirmed", func() (bool, string) {
		ss, err := swapsOf(ctx, m1)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range ss {
			if s.Phase == "recovering" {
				return true, ""
			}
		}
		return false, "maker 1 not recovering yet"
	})
	if err != nil {
		t.Fatal(err)
	}
	clu.PauseChain()
	defer clu.ResumeChain()
	if _, err := clu.Mine(ctx, 25); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*cluster.Proc{tk, m1} {
		if err := poll(ctx, p.Name+" degraded", func() (bool, string) {
			s, err := p.Client().Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			return !s.Healthy && s.State == control.StateDegraded, s.State
		}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("chain unreachable during recovery; 25 blocks mined meanwhile")
}

// setupHopRefusal sends maker addr a well-formed SetupHop for a new swap
// and returns its Error.
func setupHopRefusal(t *testing.T, ctx context.Context, tr tor.Transport, addr string) *protocol.PeerError {
	t.Helper()
	nc, err := tr.Dial(ctx, addr)
	if err != nil {
		t.Fatalf("dial maker: %v", err)
	}
	c := protocol.NewConn(nc, protocol.ConnConfig{})
	defer c.Close()
	if _, err := c.Handshake(ctx, protocol.NewHello(protocol.Regtest, "crash-test")); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	key := func() *btcec.PrivateKey {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: 0}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(50_000, make([]byte, 34)))
	k := key()
	sig := ecdsa.Sign(k, make([]byte, 32)).Serialize()
	msg := &protocol.SetupHop{InLocktime: 60, OutLocktime: 40, FundingFeeRate: 1000, ContractFeeRate: 3000,
		Incoming: []protocol.IncomingOutput{{FundingOutPoint: wire.OutPoint{Index: 1}, FundingValue: 60_000,
			MultisigScript: make([]byte, 71), MultisigNonce: key(), HashlockNonce: key(), TimelockPubKey: k.PubKey(),
			ContractTx: tx, SenderSig: sig, Proof: protocol.FundingProof{Tx: tx, Inputs: []protocol.InputProof{{PubKey: k.PubKey(), Sig: sig}}}}},
		Outgoing: []protocol.NextHopKeys{{MultisigPubKey: key().PubKey(), HashlockPubKey: key().PubKey()}}}
	_, _ = rand.Read(msg.SwapID[:])
	if err := c.Send(ctx, msg); err != nil {
		t.Fatalf("send SetupHop: %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	reply, err := c.Receive(rctx)
	var pe *protocol.PeerError
	if !errors.As(err, &pe) {
		t.Fatalf("maker answered %v, %v; want an Error", reply, err)
	}
	return pe
}
