package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/node/taker"
	"github.com/onionswap/onionswap/protocol"
)

func init() {
	roleFactories[RoleTaker] = func() Role { return &takerRole{} }
}

// takerRecoveryInterval: how often the taker daemon drives unfinished
// swaps (recovery after a crash or a failed swap) when the chain is quiet.
// Every block and every watched transaction also starts a pass at once
// (wallet.ChainChanges), so this timer only retries failed passes; a pass
// over no unfinished swap is one SQLite query.
const takerRecoveryInterval = 10 * time.Second

// takerRole runs node/taker: swaps on request (control API), recovery of
// unfinished swaps in the background. One swap (or the resume of the swaps
// a previous process left) at a time: swapMu. Recovery passes run on their
// own (recMu), also while a swap waits hours for confirmations: they skip
// the swaps a swap or resume call drives (node/taker claims them), so they
// never take a live swap for an abandoned one nor wait behind it.
type takerRole struct {
	control.Unimplemented
	env    *Env
	log    *slog.Logger
	faults *swap.FaultPlan

	swapMu sync.Mutex // one swap or resume at a time
	recMu  sync.Mutex // one recovery pass at a time
	t      *taker.Taker
	// resumed is closed once the swaps a previous process left were
	// resumed (or handed to recovery); TakerRecover waits for it.
	resumed chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// dirSource adapts the directory client to the taker's MakerSource.
type dirSource struct{ src *directory.Source }

func (d dirSource) Makers(ctx context.Context) ([]taker.Candidate, error) {
	cs, err := d.src.Candidates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]taker.Candidate, 0, len(cs))
	for i := range cs {
		p := cs[i].Proof
		out = append(out, taker.Candidate{Addr: cs[i].Addr, Proof: &p})
	}
	return out, nil
}

// source lists the makers of the directories dirs.
func (r *takerRole) source(dirs []string) (taker.MakerSource, error) {
	env := r.env
	src, err := directory.NewSource(directory.SourceConfig{
		Transport:   env.Transport,
		Directories: dirs,
		Client:      directory.ClientConfig{Network: ProtocolNetwork(env.Cfg.Network), Logger: env.Logs.For("directory")},
		Backend:     env.Backend,
		Policy:      env.Cfg.BondPolicy(),
		Logger:      env.Logs.For("directory"),
	})
	if err != nil {
		return nil, err
	}
	return dirSource{src}, nil
}

func (r *takerRole) newTaker(dirs []string) (*taker.Taker, error) {
	env := r.env
	src, err := r.source(dirs)
	if err != nil {
		return nil, err
	}
	poll := env.Cfg.ChainPoll
	return taker.New(taker.Config{
		Wallet:            env.Wallet,
		Backend:           env.Backend,
		Transport:         env.Transport,
		Network:           ProtocolNetwork(env.Cfg.Network),
		Source:            src,
		BondPolicy:        env.Cfg.BondPolicy(),
		RequiredConfirms:  uint32(env.Cfg.Taker.RequiredConfirms),
		KeepAliveInterval: env.Cfg.Taker.KeepAliveInterval,
		PollInterval:      poll,
		Faults:            r.faults,
		Logger:            r.log,
	})
}

func (r *takerRole) Start(ctx context.Context, env *Env) error {
	r.env, r.log = env, env.Logs.For("taker")
	fp, err := env.Cfg.FaultPlan(r.log)
	if err != nil {
		return err
	}
	r.faults = fp
	r.resumed = make(chan struct{})
	t, err := r.newTaker(env.Cfg.Directories)
	if err != nil {
		return err
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	// Swaps a previous process left with their makers are claimed before
	// anything can run a recovery pass (the loop below, or TakerRecover
	// once Ready), then resumed alongside the recovery passes.
	var interrupted []protocol.SwapID
	switch {
	case r.faults.Has(swap.FaultTakerVanish):
		// A vanished taker does nothing on its own (recoveryLoop says so).
	case r.faults.Has(swap.FaultTakerNoResume):
		r.log.Info("fault injection: interrupted swaps are recovered on chain, not resumed")
	default:
		interrupted, err = t.ClaimInterrupted(ctx)
	}
	if err != nil {
		r.cancel()
		return err
	}
	r.t = t
	r.wg.Add(2)
	go r.resume(interrupted)
	go r.recoveryLoop()
	return nil
}

// resume continues the swaps a previous process left with their makers
// (cooperative end, no contract on chain); what cannot be resumed is
// handed to the recovery passes.
func (r *takerRole) resume(ids []protocol.SwapID) {
	defer r.wg.Done()
	defer close(r.resumed)
	if len(ids) == 0 {
		return
	}
	r.swapMu.Lock()
	defer r.swapMu.Unlock()
	n, err := r.t.ResumeClaimed(r.ctx, ids)
	switch {
	case err != nil && r.ctx.Err() == nil:
		r.log.Warn("resuming interrupted swaps failed; recovery takes over", "err", err)
	case n > 0:
		r.log.Info("interrupted swaps resumed", "completed", n)
	}
}

// recoveryLoop drives unfinished swaps (after a crash, or a swap that
// failed after funding) until they end.
func (r *takerRole) recoveryLoop() {
	defer r.wg.Done()
	if r.faults.Has(swap.FaultTakerVanish) {
		// Fault injection: a vanished taker does nothing on its own; only
		// an explicit `taker recover` drives its swaps.
		r.log.Info("fault injection: automatic recovery off (taker:vanish-after-funding)")
		return
	}
	chainChanged, unsubscribe := r.env.Wallet.ChainChanges()
	defer unsubscribe()
	lastN := 0
	for {
		r.recMu.Lock()
		n, err := r.t.RecoverStep(r.ctx)
		r.recMu.Unlock()
		if err != nil && r.ctx.Err() == nil {
			r.log.Warn("recovery pass failed; retrying", "err", err, "retry_in", takerRecoveryInterval)
		} else if n != lastN {
			// Passes run on every block: say so only when the count moves.
			r.log.Info("recovery pass", "unfinished_swaps", n)
		}
		if err == nil {
			lastN = n
		}
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(takerRecoveryInterval):
		case <-chainChanged:
		}
	}
}

func (r *takerRole) Ready() bool { return r.t != nil }

func (r *takerRole) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

func (r *takerRole) TakerSwap(ctx context.Context, req control.TakerSwapRequest) (*control.SwapReport, error) {
	switch {
	case req.Amount <= 0:
		return nil, fmt.Errorf("%w: amount must be positive", control.ErrBadRequest)
	case req.Makers < 1 || req.TxCount < 1:
		return nil, fmt.Errorf("%w: makers and tx_count must be at least 1", control.ErrBadRequest)
	}
	t := r.t
	treq := taker.Request{Amount: req.Amount, TxCount: req.TxCount, Makers: req.Makers}
	if len(req.Directories) > 0 {
		// Other directories for this swap only: the same taker (one
		// engine, one set of claims), another maker source.
		src, err := r.source(req.Directories)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", control.ErrBadRequest, err)
		}
		treq.Source = src
	}
	type result struct {
		rep *taker.Report
		err error
	}
	// The swap runs on the daemon's lifetime, not the request's: a client
	// that goes away must not abort a swap in the middle.
	done := make(chan result, 1)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.swapMu.Lock()
		defer r.swapMu.Unlock()
		rep, err := t.Swap(r.ctx, treq)
		done <- result{rep, err}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the request ended; the swap goes on in the daemon (see `onionswap taker swaps`)", control.ErrUnavailable)
	case res := <-done:
		if res.err != nil {
			if errors.Is(res.err, swap.ErrFundedRecovering) {
				return nil, fmt.Errorf("swap failed after funding; recovery runs in the daemon: %w", res.err)
			}
			return nil, res.err
		}
		return swapReport(res.rep, req), nil
	}
}

func swapReport(rep *taker.Report, req control.TakerSwapRequest) *control.SwapReport {
	out := &control.SwapReport{
		SwapID: rep.SwapID.String(), Outcome: string(swap.TakerComplete), Makers: len(rep.Makers), TxCount: req.TxCount,
		AmountSent: rep.AmountSent, AmountReceived: rep.AmountReceived, MiningFees: rep.FundingFees + rep.SweepFees,
		Duration: rep.Total, BlockWait: rep.BlockWait, RoundTrips: rep.RoundTrips, Connections: rep.Connections,
		BytesSent: rep.BytesSent, BytesReceived: rep.BytesReceived, Attempts: rep.Attempts, ReplacedMakers: rep.ReplacedMakers,
	}
	for i, m := range rep.Makers {
		out.MakerFees = append(out.MakerFees, control.MakerFee{Hop: i + 1, Fee: m.Fee, Reimbursement: m.Reimbursement})
	}
	for _, id := range rep.FundingTxids {
		out.Txids = append(out.Txids, id.String())
	}
	for _, id := range rep.SweepTxids {
		out.Txids = append(out.Txids, id.String())
	}
	for _, p := range rep.Phases {
		out.Phases = append(out.Phases, control.Phase{Name: p.Phase, Duration: p.Wall, BlockWait: p.BlockWait})
	}
	out.Detail, _ = json.Marshal(map[string]any{
		"maker_fees": rep.MakerFees, "reimbursements": rep.Reimbursements,
		"funding_fees": rep.FundingFees, "sweep_fees": rep.SweepFees,
	})
	return out
}

func (r *takerRole) TakerRecover(ctx context.Context) (*control.RecoverReply, error) {
	// Swaps being resumed with their makers end first: `taker recover`
	// (one-shot) must not stop the daemon in the middle of their resume.
	select {
	case <-r.resumed:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.recMu.Lock()
	n, err := r.t.RecoverStep(ctx)
	r.recMu.Unlock()
	if err != nil {
		return nil, err
	}
	swaps, err := r.Swaps(ctx)
	if err != nil {
		return nil, err
	}
	return &control.RecoverReply{Swaps: swaps, Unfinished: n}, nil
}

func (r *takerRole) Swaps(ctx context.Context) ([]control.SwapInfo, error) {
	swaps, err := r.t.Swaps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]control.SwapInfo, 0, len(swaps))
	for _, s := range swaps {
		out = append(out, takerSwapInfo(s))
	}
	return out, nil
}

func (r *takerRole) Swap(ctx context.Context, id string) (*control.SwapInfo, error) {
	swaps, err := r.Swaps(ctx)
	if err != nil {
		return nil, err
	}
	for i := range swaps {
		if swaps[i].ID == id {
			return &swaps[i], nil
		}
	}
	return nil, fmt.Errorf("%w: swap %s", control.ErrNotFound, id)
}

func takerSwapInfo(s *swap.TakerSwap) control.SwapInfo {
	info := control.SwapInfo{ID: s.ID.String(), Role: string(swap.RoleTaker), Phase: string(s.Phase), Amount: s.Amount,
		TxCount: s.TxCount, Final: s.Phase.Final(), Error: s.Error}
	makers := make([]map[string]any, 0, len(s.Makers))
	for _, m := range s.Makers {
		makers = append(makers, map[string]any{"fee": m.Fee, "reimbursement": m.Reimbursement,
			"in_total": m.InTotal, "out_total": m.OutTotal})
	}
	info.Detail, _ = json.Marshal(map[string]any{
		"locktimes": s.Locktimes, "funded_hops": s.FundedHops, "settled_makers": s.SettledMakers,
		"attempt": s.Attempt, "makers": makers, "outputs": outputsJSON(s.Outputs()),
	})
	return info
}
