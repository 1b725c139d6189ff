package coinjoin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/onionswap/onionswap/wallet"
)

// checkJoin: tx is a round's transaction of exactly ps (their inputs in,
// one output of the denomination each, nothing else).
func checkJoin(t *testing.T, tx *wire.MsgTx, ps []*testPeer) {
	t.Helper()
	if len(tx.TxIn) != len(ps) || len(tx.TxOut) != len(ps) {
		t.Fatalf("transaction with %d inputs and %d outputs, want %d", len(tx.TxIn), len(tx.TxOut), len(ps))
	}
	for _, o := range tx.TxOut {
		if o.Value != testDenom {
			t.Fatalf("output of %d sat, want %d", o.Value, testDenom)
		}
	}
	for _, p := range ps {
		found := false
		for _, in := range tx.TxIn {
			found = found || in.PreviousOutPoint == p.w.op
		}
		if !found {
			t.Fatalf("a participant's input is not in the transaction")
		}
	}
}

// joined returns the published transaction that pays the first of ps,
// checked to be a round of exactly ps (checkJoin).
func (b *testBed) joined(t *testing.T, ps []*testPeer) *wire.MsgTx {
	t.Helper()
	tx := b.mixedIn(ps[0])
	if tx == nil {
		t.Fatal("no transaction pays the first peer")
	}
	checkJoin(t, tx, ps)
	return tx
}

// TestRoundCompletes: four peers announce, one leads, all four end in one
// transaction that pays each its output and takes each one's coin; every
// one records the round as broadcast with its traffic, and no coin stays
// held.
func TestRoundCompletes(t *testing.T) {
	b := newTestBed(t)
	var ps []*testPeer
	for range 4 {
		ps = append(ps, b.peer(testCoin, nil))
	}
	mixAll(t, ps)
	waitFor(t, 30*time.Second, "every session to end", allIdle(ps))
	tx := b.joined(t, ps)
	initiators := 0
	for _, p := range ps {
		if b.mixedIn(p) != tx {
			t.Fatal("the peers are in different transactions")
		}
		rs := p.rounds(t)
		if len(rs) != 1 || rs[0].State != StateBroadcast || rs[0].Txid != tx.TxHash().String() {
			t.Fatalf("rounds %+v", rs)
		}
		if rs[0].Fee != testCoin-testDenom || rs[0].MsgsSent < 3*5 || rs[0].BytesRecv == 0 {
			t.Fatalf("round record %+v", rs[0])
		}
		if rs[0].Initiator {
			initiators++
		}
		if p.w.held() {
			t.Fatal("a coin is still held")
		}
	}
	if initiators != 1 {
		t.Fatalf("%d initiators", initiators)
	}
	st, err := ps[0].svc.Status(context.Background())
	if err != nil || st.Completed != 1 || st.Session != nil {
		t.Fatalf("status %+v, %v", st, err)
	}
}

// TestNoSignerBlamed: a peer that never signs is blamed by everyone, its
// input goes to their prisons, and the three others complete a round
// without it; its coin is never spent.
func TestNoSignerBlamed(t *testing.T) {
	b := newTestBed(t)
	patient := func(c *Config) { c.Patience = time.Second }
	var honest []*testPeer
	for range 3 {
		honest = append(honest, b.peer(testCoin, patient))
	}
	bad := b.peer(testCoin, func(c *Config) { patient(c); c.Fault = FaultNoSign })
	// The disruptor is on the board before the first round forms.
	mixAll(t, append([]*testPeer{bad}, honest...))
	waitFor(t, 60*time.Second, "the honest sessions to end", allIdle(honest))
	b.joined(t, honest)
	if _, _, err := b.chain.UTXO(context.Background(), bad.w.op); err != nil {
		t.Fatalf("the non-signer's coin was spent: %v", err)
	}
	for _, p := range honest {
		rs := p.rounds(t)
		failed := 0
		for _, r := range rs {
			if r.State == StateFailed && strings.Contains(r.Reason, "did not sign") {
				failed++
			}
		}
		if failed != 1 || rs[0].State != StateBroadcast {
			t.Fatalf("rounds %+v", rs)
		}
		if in, _ := p.svc.st.imprisoned(context.Background(), bad.w.op, time.Now()); !in {
			t.Fatal("the non-signer's input is not in prison")
		}
	}
}

// TestAlteredOutputRefused: the initiator puts itself last in the shuffle
// and swaps another participant's output for its own. The victim misses
// its output, everyone reveals its round key, the replay blames the
// alterer, and no honest peer signs anything; the honest ones then mix
// without it.
func TestAlteredOutputRefused(t *testing.T) {
	b := newTestBed(t)
	var honest []*testPeer
	for range 3 {
		// Honest peers wait for 5 announcements, or 4 s: the disruptor
		// (4 are enough for it) leads the first round.
		honest = append(honest, b.peer(testCoin, func(c *Config) { c.StartAt = 5; c.Patience = 4 * time.Second }))
	}
	bad := b.peer(testCoin, func(c *Config) { c.Fault = FaultAlterOutput })
	mixAll(t, append([]*testPeer{bad}, honest...))
	waitFor(t, 60*time.Second, "the honest sessions to end", allIdle(honest))
	b.joined(t, honest)
	for _, p := range honest {
		rs := p.rounds(t)
		if len(rs) != 2 || rs[1].State != StateFailed || !strings.Contains(rs[1].Reason, "spoilt the shuffle") {
			t.Fatalf("rounds %+v", rs)
		}
		if rs[1].Txid != "" {
			t.Fatal("a transaction was signed in the spoilt round")
		}
		if in, _ := p.svc.st.imprisoned(context.Background(), bad.w.op, time.Now()); !in {
			t.Fatal("the alterer's input is not in prison")
		}
	}
	if _, _, err := b.chain.UTXO(context.Background(), bad.w.op); err != nil {
		t.Fatalf("the alterer's coin was spent: %v", err)
	}
}

// TestStartRefusals: no coin of the band, a named coin that is not ours,
// and a second session.
func TestStartRefusals(t *testing.T) {
	b := newTestBed(t)
	p := b.peer(testDenom+100_000, func(c *Config) { c.StartAt = 10 })
	ctx := context.Background()
	if _, err := p.svc.StartMix(ctx, StartRequest{}); !errors.Is(err, ErrNoCoin) {
		t.Fatalf("coin outside the band: %v", err)
	}
	q := b.peer(testCoin, func(c *Config) { c.StartAt = 10 })
	if _, err := q.svc.StartMix(ctx, StartRequest{Coin: p.w.op.String()}); !errors.Is(err, ErrNoCoin) {
		t.Fatalf("another's coin: %v", err)
	}
	si, err := q.svc.StartMix(ctx, StartRequest{Coin: q.w.op.String()})
	if err != nil || si.Coin != q.w.op.String() {
		t.Fatalf("start: %+v, %v", si, err)
	}
	if _, err := q.svc.StartMix(ctx, StartRequest{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second session: %v", err)
	}
	board := func() int {
		as, _ := NewBoard(b.pool).Announcements(ctx, testDenom)
		return len(as)
	}
	waitFor(t, 10*time.Second, "the announcement", func() bool { return board() == 1 })
	if err := q.svc.StopMix(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the session to stop", q.idle)
	if n := board(); n != 0 {
		t.Fatalf("%d announcements left after stop", n)
	}
	if err := q.svc.StopMix(ctx); !errors.Is(err, ErrIdle) {
		t.Fatalf("stop when idle: %v", err)
	}
}

// TestAutoMode: with Auto on, nodes mix their traceable coins that fit
// without being asked, and leave a coin that does not fit alone.
func TestAutoMode(t *testing.T) {
	b := newTestBed(t)
	auto := func(c *Config) { c.Auto, c.StartAt = true, 3 }
	var ps []*testPeer
	for range 3 {
		ps = append(ps, b.peer(testCoin, auto))
	}
	big := b.peer(testDenom+100_000, auto)
	waitFor(t, 30*time.Second, "the automatic round", func() bool { return b.mixedIn(ps[0]) != nil })
	checkJoin(t, b.mixedIn(ps[0]), ps)
	if rs := big.rounds(t); len(rs) != 0 || !big.idle() {
		t.Fatalf("a coin outside the band was mixed: %+v", rs)
	}
	cs, err := big.svc.Coins(context.Background())
	if err != nil || len(cs) != 1 || cs[0].Fits || !cs[0].Traceable {
		t.Fatalf("coins %+v %v", cs, err)
	}
}

// TestSplitFitsEveryRound: a premix cuts coins of the denomination plus
// the fee share of a round of T, which every round of T to 2T takes;
// requests out of bounds are refused before the wallet is asked.
func TestSplitFitsEveryRound(t *testing.T) {
	b := newTestBed(t)
	p := b.peer(testCoin, nil)
	ctx := context.Background()
	rep, err := p.svc.Split(ctx, SplitRequest{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	params := Params{Denomination: p.svc.cfg.Denomination, FeeRate: p.svc.cfg.FeeRate}
	for n := p.svc.cfg.T; n <= 2*p.svc.cfg.T; n++ {
		if err := params.CheckInput(Input{Value: rep.Value, PkScript: make([]byte, 22)}, n); err != nil &&
			!strings.Contains(err.Error(), "P2WPKH") {
			t.Errorf("a split coin of %d sat does not fit a round of %d: %v", rep.Value, n, err)
		}
		lo, hi := params.InputRange(n)
		if rep.Value < lo || rep.Value > hi {
			t.Errorf("a split coin of %d sat is outside a round of %d's range %d–%d", rep.Value, n, lo, hi)
		}
	}
	if want := fmt.Sprintf("regular 3×%d", rep.Value); len(p.w.splits) != 1 || p.w.splits[0] != want {
		t.Fatalf("wallet asked %q, want %q", p.w.splits, want)
	}
	for _, req := range []SplitRequest{{Count: 0}, {Count: wallet.MaxSplit + 1}, {Count: 1, From: "bond"}, {Count: 1, Denomination: 10}} {
		if _, err := p.svc.Split(ctx, req); err == nil {
			t.Errorf("split %+v accepted", req)
		}
	}
	if len(p.w.splits) != 1 {
		t.Fatalf("refused splits reached the wallet: %q", p.w.splits)
	}
}

// TestInputsLostOnTheWay: every participant's input reaches the initiator
// only, as if lost on the way to the others (a peer that died with it in
// tor's buffers). The initiator relays the inputs it keeps with its
// confirmation, so the round completes with everyone and no one is
// blamed; without the relay each would refuse the confirmation.
func TestInputsLostOnTheWay(t *testing.T) {
	b := newTestBed(t)
	var ps []*testPeer
	for range 4 {
		ps = append(ps, b.peer(testCoin, func(c *Config) { c.Fault = faultInputToInitiator }))
	}
	mixAll(t, ps)
	waitFor(t, 30*time.Second, "every session to end", allIdle(ps))
	b.joined(t, ps)
	for _, p := range ps {
		// Newest first. An attempt may fail on a slow machine (a link
		// not up in time) without blaming anyone into prison: all four
		// are in the join.
		rs := p.rounds(t)
		if len(rs) == 0 || rs[0].State != StateBroadcast || rs[0].Participants != len(ps) {
			t.Fatalf("rounds %+v", rs)
		}
	}
}
