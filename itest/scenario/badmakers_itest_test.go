//go:build itest

package scenario

import (
	"context"
	"net/http"
	"testing"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/wallet"
)

// badMakers is the taker's list of makers it will not use again: the
// onion entries of its blacklist (`onionswap market blacklist list`).
func badMakers(t *testing.T, ctx context.Context, tk *cluster.Proc) map[string]string {
	t.Helper()
	es, err := control.Call[[]wallet.BlacklistEntry](ctx, tk.Client(), http.MethodGet, "/v1/market/blacklist", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		if e.Kind == wallet.ListOnion {
			out[e.Value] = e.Reason
		}
	}
	return out
}

// forgiveMaker takes addr off the taker's blacklist, as an operator would
// (`onionswap market blacklist remove onion ADDR`), so the next scenario
// can route through it again.
func forgiveMaker(t *testing.T, ctx context.Context, tk *cluster.Proc, addr string) {
	t.Helper()
	if _, err := control.Call[market.ListRemoveReply](ctx, tk.Client(), http.MethodPost, "/v1/market/blacklist/remove",
		market.ListRemoveRequest{Kind: wallet.ListOnion, Value: addr}); err != nil {
		t.Fatal(err)
	}
}
