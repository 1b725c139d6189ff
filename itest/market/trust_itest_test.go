//go:build itest

package market

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/market"
)

func trustOf(ctx context.Context, p *cluster.Proc, addr string) (market.TrustReply, error) {
	return control.Call[market.TrustReply](ctx, p.Client(), http.MethodGet, "/v1/market/trust?addr="+url.QueryEscape(addr), nil)
}

// TestTrustProofsOverTor: after a swap through maker t1, its operator
// shares the swap's proof; the taker asks t1 over Tor and verifies it on
// its own node (score > 0, proof ok, its own completed swap counted). The
// maker t2, which shares nothing and never swapped with the taker, scores
// 0 with no proofs.
func TestTrustProofsOverTor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	stopMine := clu.AutoMine(ctx, cluster.AutoMineOptions{})
	defer stopMine()
	t1, t2 := spawnLine(t, ctx, "tdir", "t1", "t2")
	tk := spawnTaker(t, ctx, "ttaker", t2.Onion())
	bookHolds(t, ctx, tk, "both offers", t1.Onion(), t2.Onion())
	waitFunded(t, ctx, tk)
	rep, err := tk.Client().TakerSwap(ctx, control.TakerSwapRequest{Amount: 2_000_000, Makers: 1, TxCount: 1,
		Offers: []string{t1.Onion()}})
	if err != nil || rep.Outcome != "complete" {
		t.Fatalf("swap through t1: %+v %v", rep, err)
	}
	for _, p := range []*cluster.Proc{t1, tk} {
		if err := cluster.Poll(ctx, 250*time.Millisecond, p.Name+" settled", func() (bool, string) { return p.Settled(ctx) }); err != nil {
			t.Fatal(err)
		}
	}

	// Nothing shared yet: the proof list says so, the taker gets none.
	list, err := control.Call[[]maker.ProofSwap](ctx, t1.Client(), http.MethodGet, "/v1/market/proofs", nil)
	if err != nil || len(list) != 1 || list[0].Shared {
		t.Fatalf("t1's proof list %+v %v", list, err)
	}
	if r, err := trustOf(ctx, tk, t1.Onion()); err != nil || len(r.Proofs) != 0 || r.History.Completed != 1 {
		t.Fatalf("trust of t1 before sharing: %+v %v", r, err)
	}
	list, err = control.Call[[]maker.ProofSwap](ctx, t1.Client(), http.MethodPost, "/v1/market/proofs/publish",
		market.ShareRequest{ID: list[0].ID})
	if err != nil || len(list) != 1 || !list[0].Shared {
		t.Fatalf("share: %+v %v", list, err)
	}

	// The sweep confirms in a block or two: poll until the proof is built
	// and verifies.
	start := time.Now()
	var r market.TrustReply
	err = cluster.Poll(ctx, time.Second, "t1's proof verified by the taker", func() (bool, string) {
		r, err = trustOf(ctx, tk, t1.Onion())
		if err != nil {
			return false, err.Error()
		}
		return len(r.Proofs) == 1 && r.Proofs[0].OK, fmt.Sprintf("%+v", r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Bound || r.Score <= market.TrustCompletedPoints || r.Proofs[0].Value != list[0].Amount {
		t.Fatalf("trust of t1: %+v", r)
	}
	t.Logf("t1: score %.2f, proof %s of %d sat verified, %s to ask and verify over Tor",
		r.Score, r.Proofs[0].OutPoint, r.Proofs[0].Value, time.Since(start).Round(10*time.Millisecond))

	r, err = trustOf(ctx, tk, t2.Onion())
	if err != nil || r.Error != "" || !r.Bound || r.Score != 0 || len(r.Proofs) != 0 {
		t.Fatalf("trust of t2 (nothing shared, no history): %+v %v", r, err)
	}
}
