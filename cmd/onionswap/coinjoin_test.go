package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/wallet"
)

const (
	cjCoin  = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b:1"
	cjOther = "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098:0"
	cjRound = "d0d0cafed0d0cafed0d0cafed0d0cafed0d0cafed0d0cafed0d0cafed0d0cafe"
	cjTxid  = "f00dbabef00dbabef00dbabef00dbabef00dbabef00dbabef00dbabef00dbabe"
)

// cjNode serves the CoinJoin's control endpoints on a data dir's socket
// with canned answers, and records the requests.
type cjNode struct {
	mu     sync.Mutex
	starts []coinjoin.StartRequest
	rounds []coinjoin.RoundsRequest
	stops  int
	busy   bool      // the next start is refused: a coin is being mixed
	idle   bool      // the next stop is refused: nothing is being mixed
	recent time.Time // the newest round's start
	splits []coinjoin.SplitRequest
}

func (n *cjNode) lastStart() coinjoin.StartRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts[len(n.starts)-1]
}

func (n *cjNode) lastRounds() coinjoin.RoundsRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rounds[len(n.rounds)-1]
}

func startCJNode(t *testing.T, dir string) *cjNode {
	t.Helper()
	now := time.Now().UTC()
	n := &cjNode{recent: now.Add(-10 * time.Minute)}
	r := control.NewRouter(slog.New(slog.DiscardHandler))
	control.Post(r, "/v1/coinjoin/start", func(_ context.Context, req coinjoin.StartRequest) (coinjoin.SessionInfo, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.starts = append(n.starts, req)
		switch {
		case n.busy:
			return coinjoin.SessionInfo{}, fmt.Errorf("%w: %w", control.ErrBadRequest, coinjoin.ErrBusy)
		case req.Coin == cjOther:
			return coinjoin.SessionInfo{}, fmt.Errorf("%w: %w: %s is not a free confirmed coin of 100600 to 105100 sat",
				control.ErrBadRequest, coinjoin.ErrNoCoin, req.Coin)
		}
		d := req.Denomination
		if d == 0 {
			d = 100_000
		}
		return coinjoin.SessionInfo{Coin: cjCoin, Value: 102_345, Denomination: d, T: 5, Began: now, Attempts: 0, Phase: "announcing"}, nil
	})
	control.Post(r, "/v1/coinjoin/stop", func(context.Context, struct{}) (struct{}, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.stops++
		if n.idle {
			return struct{}{}, fmt.Errorf("%w: %w", control.ErrBadRequest, coinjoin.ErrIdle)
		}
		return struct{}{}, nil
	})
	control.Get(r, "/v1/coinjoin/status", func(context.Context, control.Request) (coinjoin.StatusReply, error) {
		return coinjoin.StatusReply{Auto: true, Denomination: 100_000, T: 5, StartAt: 15, FeeRate: 2, Announced: 7,
			Session: &coinjoin.SessionInfo{Coin: cjCoin, Value: 102_345, Denomination: 100_000, T: 5,
				Began: now.Add(-3 * time.Minute), Attempts: 2, Phase: "in a round", Round: cjRound, Participants: 6,
				Last: "coinjoin: round failed: a peer did not sign\x1b[2J"},
			Imprisoned: 1, Completed: 3, Failed: 2}, nil
	})
	control.Post(r, "/v1/coinjoin/rounds", func(_ context.Context, req coinjoin.RoundsRequest) ([]coinjoin.RoundInfo, error) {
		n.mu.Lock()
		n.rounds = append(n.rounds, req)
		n.mu.Unlock()
		rs := []coinjoin.RoundInfo{
			{ID: cjRound, Started: n.recent, Ended: now.Add(-8 * time.Minute), Initiator: true, Participants: 6,
				Denomination: 100_000, FeeRate: 2, Coin: cjCoin, CoinValue: 102_345, Fee: 2_345, State: coinjoin.StateBroadcast,
				Txid: cjTxid, MsgsSent: 40, MsgsRecv: 52, BytesSent: 12_000, BytesRecv: 15_500},
			{ID: strings.Repeat("ab", 32), Started: time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC), Participants: 5,
				Denomination: 100_000, FeeRate: 2, Coin: cjCoin, CoinValue: 102_345, Fee: 2_345, State: coinjoin.StateFailed,
				Reason: "blame: peer spoiled the shuffle", MsgsSent: 9, MsgsRecv: 11, BytesSent: 3_000, BytesRecv: 4_100},
		}
		if req.Limit > 0 && req.Limit < len(rs) {
			rs = rs[:req.Limit]
		}
		return rs, nil
	})
	control.Get(r, "/v1/coinjoin/coins", func(context.Context, control.Request) ([]coinjoin.CoinInfo, error) {
		return []coinjoin.CoinInfo{
			{Coin: cjOther, Value: 100_000, Category: "regular", Confirmations: 12, AnonSet: 6},
			{Coin: cjCoin, Value: 102_345, Category: "swept", Confirmations: 3, AnonSet: 1, Traceable: true, Fits: true},
			{Coin: "cc:2", Value: 50_000, Category: "regular", Confirmations: 900, Traceable: true, Reserved: true},
		}, nil
	})
	control.Post(r, "/v1/coinjoin/split", func(_ context.Context, req coinjoin.SplitRequest) (coinjoin.SplitReply, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.splits = append(n.splits, req)
		if req.From == "swept" {
			return coinjoin.SplitReply{}, fmt.Errorf("%w: coinjoin: split: %w", control.ErrBadRequest, wallet.ErrInsufficientFunds)
		}
		return coinjoin.SplitReply{Txid: strings.Repeat("ab", 32), Fee: 420, Count: req.Count, Value: 100_600}, nil
	})
	serveControl(t, dir, r)
	return n
}

// TestCoinJoinStart: --coin and --denomination reach the request, the
// reply is said in words or as JSON, the node's refusals read as such, and
// a malformed command line never reaches the node.
func TestCoinJoinStart(t *testing.T) {
	dir := privateDir(t)
	n := startCJNode(t, dir)
	for _, tc := range []struct {
		name    string
		args    []string
		busy    bool
		code    int
		want    string // in stdout (code 0) or stderr
		wantReq *coinjoin.StartRequest
	}{
		{"any coin", nil, false, 0,
			"mixing " + cjCoin + " (102345 sat) into an output of 100000 sat, in a round of at least 5 participants\n",
			&coinjoin.StartRequest{}},
		{"named coin and denomination", []string{"--coin", cjCoin, "--denomination", "200000"}, false, 0,
			"into an output of 200000 sat", &coinjoin.StartRequest{Coin: cjCoin, Denomination: 200_000}},
		{"json", []string{"--json"}, false, 0, `"phase": "announcing"`, &coinjoin.StartRequest{}},
		{"busy", nil, true, 1, "onionswap coinjoin start: refused: a coin is being mixed already\n", &coinjoin.StartRequest{}},
		{"coin that does not fit", []string{"--coin", cjOther}, false, 1,
			"onionswap coinjoin start: refused: no coin to mix: " + cjOther + " is not a free confirmed coin of 100600 to 105100 sat\n",
			&coinjoin.StartRequest{Coin: cjOther}},
		{"malformed coin", []string{"--coin", "abc:1"}, false, 2, `--coin "abc:1": want TXID:VOUT`, nil},
		{"negative denomination", []string{"--denomination", "-1"}, false, 2, "--denomination -1: want 0 or more", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n.mu.Lock()
			n.busy = tc.busy
			before := len(n.starts)
			n.mu.Unlock()
			code, out, errs := cli(t, "", append([]string{"coinjoin", "start", "--datadir", dir}, tc.args...)...)
			got := out
			if tc.code != 0 {
				got = errs
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q; want %q", code, tc.code, out, errs, tc.want)
			}
			n.mu.Lock()
			sent := len(n.starts) - before
			n.mu.Unlock()
			if tc.wantReq == nil {
				if sent != 0 {
					t.Fatalf("a refused command line reached the node: %+v", n.lastStart())
				}
				return
			}
			if req := n.lastStart(); sent != 1 || req != *tc.wantReq {
				t.Fatalf("request %+v (%d), want %+v", req, sent, *tc.wantReq)
			}
		})
	}
	code, out, _ := cli(t, "", "coinjoin", "start", "--datadir", dir, "--json")
	var si coinjoin.SessionInfo
	if code != 0 || json.Unmarshal([]byte(out), &si) != nil || si.Coin != cjCoin || si.Value != 102_345 || si.T != 5 {
		t.Fatalf("--json: exit %d:\n%s", code, out)
	}
}

// TestCoinJoinStop: a stop says so; stopping with nothing being mixed is
// a refusal.
func TestCoinJoinStop(t *testing.T) {
	dir := privateDir(t)
	n := startCJNode(t, dir)
	if code, out, errs := cli(t, "", "coinjoin", "stop", "--datadir", dir); code != 0 || out != "stopped: no coin is being mixed\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, _ := cli(t, "", "coinjoin", "stop", "--datadir", dir, "--json"); code != 0 || strings.TrimSpace(out) != "{}" {
		t.Fatalf("--json: exit %d, %q", code, out)
	}
	n.mu.Lock()
	n.idle = true
	n.mu.Unlock()
	if code, _, errs := cli(t, "", "coinjoin", "stop", "--datadir", dir); code != 1 ||
		errs != "onionswap coinjoin stop: refused: nothing is being mixed\n" {
		t.Fatalf("idle: exit %d, stderr %q", code, errs)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stops != 3 {
		t.Fatalf("%d stops reached the node, want 3", n.stops)
	}
}

// TestCoinJoinStatus: the terms, the session with its round and last
// outcome (control characters escaped), and the counts; --json.
func TestCoinJoinStatus(t *testing.T) {
	dir := privateDir(t)
	startCJNode(t, dir)
	code, out, errs := cli(t, "", "coinjoin", "status", "--datadir", dir)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{
		"auto          on (",
		"denomination  100000 sat\n",
		"T             5 (",
		"start at      15 announcements\n",
		"fee rate      at most 2 sat/vB\n",
		"announced     7 live announcements",
		"session       " + cjCoin + " (102345 sat), in a round, 2 attempts, began 3m ago\n",
		"round         d0d0cafed0d0…, 6 participants\n",
		"last attempt  coinjoin: round failed: a peer did not sign\\x1b[2J\n",
		"imprisoned    1 inputs\n",
		"rounds        3 completed, 2 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "session terms") {
		t.Fatalf("the session's terms are the node's, yet:\n%s", out)
	}
	code, out, _ = cli(t, "", "coinjoin", "status", "--datadir", dir, "--json")
	var st coinjoin.StatusReply
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || !st.Auto || st.Session == nil || st.Session.Round != cjRound || st.Failed != 2 {
		t.Fatalf("--json: exit %d:\n%s", code, out)
	}

	// No session.
	var b strings.Builder
	if err := showCoinJoinStatus(&b, coinjoin.StatusReply{Denomination: 100_000, T: 5}, time.Now()); err != nil ||
		!strings.Contains(b.String(), "auto          off (") || !strings.Contains(b.String(), "session       none\n") {
		t.Fatalf("idle status:\n%s", b.String())
	}
}

// TestCoinJoinRounds: the table newest first, --limit in the request,
// --json whole.
func TestCoinJoinRounds(t *testing.T) {
	dir := privateDir(t)
	n := startCJNode(t, dir)
	code, out, errs := cli(t, "", "coinjoin", "rounds", "--datadir", dir)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || lines[3] != "2 rounds, 1 broadcast" {
		t.Fatalf("rounds:\n%s", out)
	}
	head := strings.Join(strings.Fields(lines[0]), " ")
	if head != "started id participants state fee (sat) msgs sent/recv bytes sent/recv txid / reason" {
		t.Fatalf("header %q", head)
	}
	at := n.recent.Format("15:04")
	if f := strings.Fields(lines[1]); len(f) != 8 || f[0] != at || f[1] != "d0d0cafed0d0…" || f[2] != "6" || f[3] != "broadcast" ||
		f[4] != "2345" || f[5] != "40/52" || f[6] != "12000/15500" || f[7] != "f00dbabef00dbabe…" {
		t.Fatalf("completed round %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "2025-03-04 05:06  abababababab…  5 ") || !strings.Contains(lines[2], " failed ") ||
		!strings.Contains(lines[2], "9/11") || !strings.HasSuffix(lines[2], "blame: peer spoiled the shuffle") {
		t.Fatalf("failed round %q", lines[2])
	}
	if req := n.lastRounds(); req.Limit != 0 {
		t.Fatalf("request %+v, want no limit", req)
	}

	code, out, _ = cli(t, "", "coinjoin", "rounds", "--datadir", dir, "--limit", "1", "--json")
	var rs []coinjoin.RoundInfo
	if code != 0 || json.Unmarshal([]byte(out), &rs) != nil || len(rs) != 1 || rs[0].ID != cjRound || rs[0].Txid != cjTxid || !rs[0].Initiator {
		t.Fatalf("--json: exit %d:\n%s", code, out)
	}
	if req := n.lastRounds(); req.Limit != 1 {
		t.Fatalf("request %+v, want limit 1", req)
	}
	if code, _, errs := cli(t, "", "coinjoin", "rounds", "--datadir", dir, "--limit", "-2"); code != 2 || !strings.Contains(errs, "--limit -2: want 0 or more") {
		t.Fatalf("negative limit: exit %d, %q", code, errs)
	}
}

// TestCoinJoinCoins: the largest coin first, the anon set ("?" when
// unknown), traceable, fits and reserved as yes/no; --json.
func TestCoinJoinCoins(t *testing.T) {
	dir := privateDir(t)
	startCJNode(t, dir)
	code, out, errs := cli(t, "", "coinjoin", "coins", "--datadir", dir)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 || lines[4] != "3 coins, 2 traceable, 1 fit a round" ||
		strings.Join(strings.Fields(lines[0]), " ") != "outpoint value (sat) category confs anon set traceable fits reserved" {
		t.Fatalf("coins:\n%s", out)
	}
	for i, want := range []string{
		cjCoin + " 102345 swept 3 1 yes yes no",
		cjOther + " 100000 regular 12 6 no no no",
		"cc:2 50000 regular 900 ? yes no yes",
	} {
		if got := strings.Join(strings.Fields(lines[1+i]), " "); got != want {
			t.Fatalf("line %d %q, want %q", 1+i, got, want)
		}
	}
	code, out, _ = cli(t, "", "coinjoin", "coins", "--datadir", dir, "--json")
	var cs []coinjoin.CoinInfo
	if code != 0 || json.Unmarshal([]byte(out), &cs) != nil || len(cs) != 3 || !strings.Contains(out, `"fits": true`) {
		t.Fatalf("--json: exit %d:\n%s", code, out)
	}
}

// TestCoinJoinNotRunning: a node without the CoinJoin (a directory) and a
// data dir where no node runs are said in words.
func TestCoinJoinNotRunning(t *testing.T) {
	dir := privateDir(t)
	serveControl(t, dir, control.NewRouter(slog.New(slog.DiscardHandler)))
	code, _, errs := cli(t, "", "coinjoin", "status", "--datadir", dir)
	if code != 1 || errs != "onionswap coinjoin status: this node runs no CoinJoin: only maker and taker nodes do\n" {
		t.Fatalf("no coinjoin: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := cli(t, "", "coinjoin", "coins", "--datadir", privateDir(t)); code != 1 || !strings.Contains(errs, "no onionswap daemon is running") {
		t.Fatalf("no node: exit %d, stderr %q", code, errs)
	}
}

// TestCoinJoinSplit: the premix's flags reach the request, its reply is
// said, a refusal reads as one, and a bad count never reaches the node.
func TestCoinJoinSplit(t *testing.T) {
	dir := privateDir(t)
	n := startCJNode(t, dir)
	code, out, errs := cli(t, "", "coinjoin", "split", "--datadir", dir, "--count", "3", "--denomination", "100000")
	if code != 0 || !strings.Contains(out, "split: 3 coins of 100600 sat in transaction abab") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = cli(t, "", "coinjoin", "split", "--datadir", dir, "--count", "2", "--from", "swept")
	if code != 1 || !strings.Contains(errs, "refused: split: insufficient funds") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, args := range [][]string{{"--count", "0"}, {"--count", "17"}, {"--count", "2", "--from", "bond"}} {
		if code, _, _ := cli(t, "", append([]string{"coinjoin", "split", "--datadir", dir}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.splits) != 2 || n.splits[0] != (coinjoin.SplitRequest{Count: 3, Denomination: 100_000, From: "regular"}) {
		t.Fatalf("requests %+v", n.splits)
	}
}
