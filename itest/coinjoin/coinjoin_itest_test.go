//go:build itest

package coinjoin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
)

// Test sizes and timings, with their derivation.
const (
	// T: the T; peers: T honest takers and one disruptor.
	T     = 5
	peers = T + 1
	// denom and coinValue: the default denomination and a coin inside
	// its band for rounds of 5 to 10 at 2 sat/vB (fee share ~200 sat, at
	// most 4,500 more), so every round costs a participant 1,500 sat.
	denom     = coinjoin.DefaultDenomination
	coinValue = denom + 1_500
	// phase: each round phase's timeout. A message on an open stream of
	// the private network takes ~0.1 s and a first stream to a fresh
	// onion a few seconds; 10 s keeps the disruptors' timeouts short.
	phase = 10 * time.Second
	// patience: honest peers wait for start-at 7 (more than the 6 there
	// are) and start with T after 20 s, which leaves the alterer, who
	// starts with 6, the first round of its scenario.
	patience = 20 * time.Second
	// testTimeout bounds the four scenarios (each a failed round, fresh
	// onions and a good round, ~1–2 min) and the kill's hold expiry.
	testTimeout = 20 * time.Minute
	// floodAnnouncements: stamped announcements a stranger pushes at a
	// node in one go, three times the topic's burst.
	floodAnnouncements = 300
)

func args(startAt int) []string {
	return []string{"--pool-outbound", "1", "--coinjoin-t", strconv.Itoa(T), "--coinjoin-start-at", strconv.Itoa(startAt),
		"--coinjoin-patience", patience.String(), "--coinjoin-phase-timeout", phase.String()}
}

// TestCoinJoin: six takers (hub and five others whose pool dials the hub).
func TestCoinJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := clu.Spawn(ctx, cluster.Spec{Name: "dir", Role: cluster.RoleDirectory}); err != nil {
		t.Fatal(err)
	}
	hub, err := clu.Spawn(ctx, cluster.Spec{Name: "t1", Role: cluster.RoleTaker, Args: args(7)})
	if err != nil {
		t.Fatal(err)
	}
	specs := []cluster.Spec{}
	for i := 2; i <= peers; i++ {
		specs = append(specs, cluster.Spec{Name: fmt.Sprintf("t%d", i), Role: cluster.RoleTaker, Directories: []string{},
			Args: append([]string{"--pool-peer", hub.Onion()}, args(7)...)})
	}
	specs[len(specs)-1].Args = append(specs[len(specs)-1].Args, "--coinjoin-fault", coinjoin.FaultNoSign)
	rest, err := clu.SpawnAll(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]*cluster.Proc{hub}, rest...)
	honest, bad := all[:T], all[T]

	t.Run("T peers complete, a non-signer is blamed", func(t *testing.T) {
		testNoSigner(t, ctx, honest, bad)
	})
	if t.Failed() {
		return
	}
	t.Run("an altered output is refused", func(t *testing.T) {
		bad.SetFlag("coinjoin-fault", coinjoin.FaultAlterOutput)
		bad.SetFlag("coinjoin-start-at", strconv.Itoa(peers))
		testAltered(t, ctx, honest, bad)
	})
	if t.Failed() {
		return
	}
	t.Run("a peer killed in a round loses nothing", func(t *testing.T) {
		bad.SetFlag("coinjoin-fault", coinjoin.FaultCrashAfterInput)
		bad.SetFlag("coinjoin-start-at", "7")
		testKilled(t, ctx, honest, bad)
	})
	if t.Failed() {
		return
	}
	t.Run("an announcement flood is throttled", func(t *testing.T) { testFlood(t, ctx, hub) })
}

func call[T any](ctx context.Context, p *cluster.Proc, method, path string, req any) (T, error) {
	return control.Call[T](ctx, p.Client(), method, path, req)
}

func status(t testing.TB, ctx context.Context, p *cluster.Proc) coinjoin.StatusReply {
	t.Helper()
	s, err := call[coinjoin.StatusReply](ctx, p, http.MethodGet, "/v1/coinjoin/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rounds(t testing.TB, ctx context.Context, p *cluster.Proc) []coinjoin.RoundInfo {
	t.Helper()
	rs, err := call[[]coinjoin.RoundInfo](ctx, p, http.MethodPost, "/v1/coinjoin/rounds", coinjoin.RoundsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func coins(t testing.TB, ctx context.Context, p *cluster.Proc) []coinjoin.CoinInfo {
	t.Helper()
	cs, err := call[[]coinjoin.CoinInfo](ctx, p, http.MethodGet, "/v1/coinjoin/coins", nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func waitFor(t testing.TB, ctx context.Context, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := cluster.Poll(pctx, 500*time.Millisecond, what, cond); err != nil {
		t.Fatal(err)
	}
}

// fundAll pays each of ps one coin of coinValue, mines it and returns the
// outpoints, once every wallet sees its coin confirmed.
func fundAll(t testing.TB, ctx context.Context, ps []*cluster.Proc) []string {
	t.Helper()
	txids := make([]chainhash.Hash, len(ps))
	for i, p := range ps {
		var err error
		if txids[i], err = clu.Fund(ctx, p, btcutil.Amount(coinValue)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := clu.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ops := make([]string, len(ps))
	for i, p := range ps {
		waitFor(t, ctx, time.Minute, p.Name+"'s new coin", func() (bool, string) {
			for _, c := range coins(t, ctx, p) {
				if strings.HasPrefix(c.Coin, txids[i].String()+":") && c.Confirmations >= 1 {
					ops[i] = c.Coin
					return true, ""
				}
			}
			return false, "not yet"
		})
	}
	return ops
}

func start(t testing.TB, ctx context.Context, p *cluster.Proc, coin string) {
	t.Helper()
	if _, err := call[coinjoin.SessionInfo](ctx, p, http.MethodPost, "/v1/coinjoin/start", coinjoin.StartRequest{Coin: coin}); err != nil {
		t.Fatalf("%s: start: %v", p.Name, err)
	}
}

func spendable(t testing.TB, ctx context.Context, p *cluster.Proc) int64 {
	t.Helper()
	v, err := p.Spendable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mixAndCheck starts every peer on its coin, waits for the honest ones'
// sessions to end with one transaction, mines it, and checks it: T
// inputs (theirs), T outputs of the denomination, each honest wallet down
// by exactly its fee (input less output), its new coin of anonymity set
// T. It returns the completed round as the initiator recorded it.
func mixAndCheck(t *testing.T, ctx context.Context, honest []*cluster.Proc, bad *cluster.Proc, ops []string) coinjoin.RoundInfo {
	t.Helper()
	before := make([]int64, len(honest))
	for i, p := range honest {
		before[i] = spendable(t, ctx, p)
	}
	for i, p := range append(slices.Clone(honest), bad) {
		start(t, ctx, p, ops[i])
	}
	var txid string
	waitFor(t, ctx, 6*time.Minute, "the honest sessions to end", func() (bool, string) {
		for _, p := range honest {
			if s := status(t, ctx, p); s.Session != nil {
				return false, fmt.Sprintf("%s: %+v", p.Name, *s.Session)
			}
		}
		return true, ""
	})
	var initiator coinjoin.RoundInfo
	for _, p := range honest {
		rs := rounds(t, ctx, p)
		if len(rs) == 0 || rs[0].State != coinjoin.StateBroadcast {
			t.Fatalf("%s: last round %+v", p.Name, rs)
		}
		if txid == "" {
			txid = rs[0].Txid
		} else if rs[0].Txid != txid {
			t.Fatalf("%s is in %s, another in %s", p.Name, rs[0].Txid, txid)
		}
		if rs[0].Initiator {
			initiator = rs[0]
		}
	}
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatal(err)
	}
	tx, _, err := clu.Backend().Tx(ctx, *h)
	if err != nil {
		t.Fatalf("the round's transaction is not on the chain backend: %v", err)
	}
	if len(tx.TxIn) != T || len(tx.TxOut) != T {
		t.Fatalf("transaction with %d inputs and %d outputs, want %d", len(tx.TxIn), len(tx.TxOut), T)
	}
	for _, o := range tx.TxOut {
		if o.Value != denom {
			t.Fatalf("an output of %d sat", o.Value)
		}
	}
	for _, in := range tx.TxIn {
		if !slices.Contains(ops[:T], in.PreviousOutPoint.String()) {
			t.Fatalf("input %v is not an honest peer's coin", in.PreviousOutPoint)
		}
	}
	if _, err := clu.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i, p := range honest {
		waitFor(t, ctx, time.Minute, p.Name+"'s wallet to see the join confirmed", func() (bool, string) {
			for _, c := range coins(t, ctx, p) {
				if strings.HasPrefix(c.Coin, txid+":") && c.Confirmations >= 1 {
					if c.AnonSet != T || c.Traceable || c.Value != denom {
						return false, fmt.Sprintf("mixed coin %+v", c)
					}
					return true, ""
				}
			}
			return false, "no mixed coin yet"
		})
		if got := spendable(t, ctx, p) - before[i]; got != denom-coinValue {
			t.Fatalf("%s's wallet changed by %d sat, want %d (its output less its input)", p.Name, got, denom-coinValue)
		}
	}
	return initiator
}

func logRound(t *testing.T, r coinjoin.RoundInfo) {
	t.Logf("round of %d over Tor: %v from the initiator's invite to broadcast; the initiator sent %d messages (%d bytes) and received %d (%d bytes)",
		r.Participants, r.Ended.Sub(r.Started).Round(time.Millisecond), r.MsgsSent, r.BytesSent, r.MsgsRecv, r.BytesRecv)
}

// failedWith returns, for each of ps, its failed round whose reason
// contains why (nil: none), and fails the test unless at least T−1 of
// them had it: the disruptor and T−1 honest peers are the least a round
// goes on with (an honest peer whose fresh onion the leader could not
// reach in time is left out, as any unreachable peer is).
func failedWith(t *testing.T, ctx context.Context, ps []*cluster.Proc, why string) []*coinjoin.RoundInfo {
	t.Helper()
	out := make([]*coinjoin.RoundInfo, len(ps))
	n := 0
	for i, p := range ps {
		for _, r := range rounds(t, ctx, p) {
			if r.State == coinjoin.StateFailed && strings.Contains(r.Reason, why) {
				out[i] = &r
				n++
				break
			}
		}
	}
	if n < T-1 {
		t.Fatalf("%d honest peers have a failed round for %q, want at least %d", n, why, T-1)
	}
	return out
}

// testNoSigner: all six announce; a round of six forms and the
// disruptor never signs; everyone blames it and the five others complete
// without it. The disruptor's coin is untouched.
func testNoSigner(t *testing.T, ctx context.Context, honest []*cluster.Proc, bad *cluster.Proc) {
	ops := fundAll(t, ctx, append(slices.Clone(honest), bad))
	badBefore := spendable(t, ctx, bad)
	r := mixAndCheck(t, ctx, honest, bad, ops)
	logRound(t, r)
	for i, f := range failedWith(t, ctx, honest, "did not sign") {
		if f == nil {
			continue
		}
		if f.Participants < T || f.Txid != "" {
			t.Fatalf("%s: the failed round %+v", honest[i].Name, *f)
		}
		if s := status(t, ctx, honest[i]); s.Imprisoned < 1 {
			t.Fatalf("%s imprisons no input", honest[i].Name)
		}
	}
	if got := spendable(t, ctx, bad); got != badBefore {
		t.Fatalf("the non-signer's wallet changed by %d", got-badBefore)
	}
}

// testAltered: the disruptor leads a round of six, places itself last
// and swaps another's output for its own. The victim misses its output,
// all reveal their round keys, the replay blames the alterer, and no one
// signs; then the five complete without it.
func testAltered(t *testing.T, ctx context.Context, honest []*cluster.Proc, bad *cluster.Proc) {
	if _, err := bad.Restart(ctx, false); err != nil {
		t.Fatal(err)
	}
	ops := fundAll(t, ctx, append(slices.Clone(honest), bad))
	badBefore := spendable(t, ctx, bad)
	mixAndCheck(t, ctx, honest, bad, ops)
	for i, f := range failedWith(t, ctx, honest, "spoilt the shuffle") {
		if f != nil && (f.Txid != "" || f.Participants < T) {
			t.Fatalf("%s: spoilt round %+v", honest[i].Name, *f)
		}
	}
	if got := spendable(t, ctx, bad); got != badBefore {
		t.Fatalf("the alterer's wallet changed by %d", got-badBefore)
	}
}

// testKilled: the disruptor dies (SIGKILL) right after it sent its input.
// The others blame it and complete without it. Restarted, it finds its
// coin held by the dead round until the round's deadline, and free after:
// nothing lost.
func testKilled(t *testing.T, ctx context.Context, honest []*cluster.Proc, bad *cluster.Proc) {
	if _, err := bad.Restart(ctx, false); err != nil {
		t.Fatal(err)
	}
	ops := fundAll(t, ctx, append(slices.Clone(honest), bad))
	badBefore := spendable(t, ctx, bad)
	mixAndCheck(t, ctx, honest, bad, ops)
	select {
	case <-bad.Exited():
	case <-ctx.Done():
		t.Fatal("the disruptor did not die")
	}
	bad.SetFlag("coinjoin-fault", "")
	if _, err := bad.Restart(ctx, false); err != nil {
		t.Fatal(err)
	}
	rs := rounds(t, ctx, bad)
	if len(rs) == 0 || rs[0].State != coinjoin.StateFailed || !strings.Contains(rs[0].Reason, "restart") {
		t.Fatalf("the killed peer's rounds: %+v", rs)
	}
	deadline := rs[0].Started.Add(roundDurationOf(rs[0].Participants))
	waitFor(t, ctx, 6*time.Minute, "the killed peer's coin to be free", func() (bool, string) {
		for _, c := range coins(t, ctx, bad) {
			if c.Coin == ops[T] {
				return !c.Reserved, fmt.Sprintf("reserved %v (deadline about %v)", c.Reserved, deadline.Format(time.TimeOnly))
			}
		}
		return false, "its coin is gone"
	})
	if got := spendable(t, ctx, bad); got != badBefore {
		t.Fatalf("the killed peer's wallet changed by %d", got-badBefore)
	}
	t.Logf("the killed peer's coin was free again %v after its round began (deadline + one phase)", time.Since(rs[0].Started).Round(time.Second))
}

// roundDurationOf is the longest a round of n takes with the test's
// phase timeout (node/coinjoin roundDuration; the daemon links for two
// phases).
func roundDurationOf(n int) time.Duration { return 2*phase + time.Duration(n+5)*phase }

// testFlood: a stranger's pool connection pushes announcements at the
// hub: unstamped ones are refused as such, and of a burst of stamped
// ones the hub takes only what the per-peer budget and the topic's rate
// allow.
func testFlood(t *testing.T, ctx context.Context, hub *cluster.Proc) {
	tr, err := clu.OutsideTransport(ctx, "flooder")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	o, err := cluster.DialPool(ctx, tr, hub)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Conn.Close()
	poolStats := func() pool.Stats {
		s, err := call[pool.Stats](ctx, hub, http.MethodGet, "/v1/pool/stats", nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := poolStats()
	// Another denomination: the flood must not stand in the way of the
	// next test's rounds (it expires with AnnounceTTL).
	terms := coinjoin.Terms{Denomination: 2 * denom, T: T, FeeRate: 2}
	var junk [][]byte
	for range 10 {
		raw, _, err := coinjoin.NewAnnouncement(protocol.Regtest, terms, "flood.onion:1", 1)
		if err != nil {
			t.Fatal(err)
		}
		junk = append(junk, raw)
	}
	var flood [][]byte
	for range floodAnnouncements {
		raw, _, err := coinjoin.NewAnnouncement(protocol.Regtest, terms, "flood.onion:1", 0)
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, raw)
	}
	sent := time.Now()
	for i := 0; i < len(flood); i += 100 {
		batch := flood[i:min(i+100, len(flood))]
		if i == 0 {
			batch = append(junk, batch...)
		}
		if err := o.Conn.Send(ctx, &protocol.PoolMsgs{Envelopes: batch}); err != nil {
			t.Logf("the hub cut the flooder after %d announcements: %v", i, err)
			break
		}
	}
	time.Sleep(5 * time.Second)
	after := poolStats()
	held := after.Topics[coinjoin.TopicAnnounce].Held - before.Topics[coinjoin.TopicAnnounce].Held
	refused := 0
	for k, v := range after.Refused {
		refused += v - before.Refused[k]
	}
	t.Logf("announcement flood of %d stamped (+10 unstamped) in %v: the hub holds %d more, refused %d (%v), dropped %d, banned %d peers",
		floodAnnouncements, time.Since(sent).Round(time.Millisecond), held, refused, after.Refused,
		after.FloodDropped-before.FloodDropped, after.PeersBanned-before.PeersBanned)
	if held >= floodAnnouncements/2 {
		t.Fatalf("the hub took %d of %d flooded announcements", held, floodAnnouncements)
	}
	if after.Refused["bad-stamp"] <= before.Refused["bad-stamp"] && after.PeersBanned == before.PeersBanned {
		t.Fatalf("no unstamped announcement was refused and the flooder was not banned: %+v", after.Refused)
	}
	// The hub still serves the takers: its pool still has peers.
	if after.Peers == 0 {
		t.Fatal("the hub lost its pool peers")
	}
}
