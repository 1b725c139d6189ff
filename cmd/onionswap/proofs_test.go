package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/maker"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/protocol"
)

// fakeProver is a maker with one completed swap.
type fakeProver struct{ ps maker.ProofSwap }

func (f *fakeProver) ProofSwaps(context.Context) ([]maker.ProofSwap, error) {
	return []maker.ProofSwap{f.ps}, nil
}

func (f *fakeProver) ShareProof(_ context.Context, id protocol.SwapID, share bool) error {
	if id != f.ps.ID {
		return maker.ErrNotShareable
	}
	f.ps.Shared = share
	return nil
}

// TestProofsPublishNeedsYes: `market proofs publish` says what the proof
// reveals and shares nothing without --yes (exit 1); with it, shares.
func TestProofsPublishNeedsYes(t *testing.T) {
	dir := privateDir(t)
	fp := &fakeProver{ps: maker.ProofSwap{ID: protocol.SwapID{1}, Amount: 2_000_000, Date: time.Unix(1_800_000_000, 0),
		Funding: "ab:0", PubKeys: []string{"02aa", "03bb"}}}
	svc := market.NewService(nil, nil, nil)
	svc.SetTrust(market.TrustConfig{Prover: fp})
	r := control.NewRouter(slog.New(slog.DiscardHandler))
	svc.RegisterControl(r)
	serveControl(t, dir, r)
	id := fp.ps.ID.String()

	code, _, errs := cli(t, "", "market", "proofs", "publish", "--datadir", dir, id)
	if code != 1 || !strings.Contains(errs, "funding outpoint ab:0") || !strings.Contains(errs, "02aa 03bb") ||
		!strings.Contains(errs, "--yes") || fp.ps.Shared {
		t.Fatalf("without --yes: code %d, shared %v, stderr %s", code, fp.ps.Shared, errs)
	}
	code, out, errs := cli(t, "", "market", "proofs", "publish", "--datadir", dir, id, "--yes")
	if code != 0 || !fp.ps.Shared || !strings.Contains(out, "true") {
		t.Fatalf("with --yes: code %d, shared %v, %s %s", code, fp.ps.Shared, out, errs)
	}
	code, out, _ = cli(t, "", "market", "proofs", "list", "--datadir", dir)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "2000000") {
		t.Fatalf("list: code %d, %s", code, out)
	}
}
