package taker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/directory"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
)

// RecoveryInterval: how often the taker service drives unfinished swaps
// (recovery after a crash or a failed swap) when the chain is quiet. Every
// block and every watched transaction also starts a pass at once
// (wallet.ChainChanges), so this timer only retries failed passes; a pass
// over no unfinished swap is one SQLite query.
const RecoveryInterval = 10 * time.Second

// ErrNoSource: a swap was asked of a taker that has no way to find makers.
var ErrNoSource = errors.New("taker: no maker source: configure at least one --directory")

// DirectorySource lists makers from directories (node/directory), each
// bond verified on the taker's own node.
type DirectorySource struct{ src *directory.Source }

// NewDirectorySource checks cfg.
func NewDirectorySource(cfg directory.SourceConfig) (*DirectorySource, error) {
	src, err := directory.NewSource(cfg)
	if err != nil {
		return nil, err
	}
	return &DirectorySource{src}, nil
}

// Makers implements MakerSource.
func (d *DirectorySource) Makers(ctx context.Context) ([]Candidate, error) {
	cs, err := d.src.Candidates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Candidate, 0, len(cs))
	for i := range cs {
		p := cs[i].Proof
		out = append(out, Candidate{Addr: cs[i].Addr, Proof: &p})
	}
	return out, nil
}

// ServiceConfig configures the taker as a node service.
type ServiceConfig struct {
	Taker Config
	// SourceFor builds a maker source for the directories a single swap
	// request names (nil: requests cannot name directories).
	SourceFor func(dirs []string) (MakerSource, error)
	// Named returns the makers a swap request names by address, from the
	// offer book (nil: requests cannot name makers).
	Named func(ctx context.Context, addrs []string) (MakerSource, error)
	// Healthy reports whether the chain backend answers: no new swap
	// starts while it does not (nil: always).
	Healthy func() bool
	// ChainChanges wakes the recovery loop on every block and watched
	// transaction (nil: the timer only).
	ChainChanges func() (<-chan struct{}, func())
}

// Service runs a Taker inside a node: swaps on request (control API, one
// at a time: swapMu), the resume of the swaps a previous process left
// with their makers, and recovery passes in the background (recMu). The
// passes skip the swaps a swap or resume call drives (claims), so they
// never take a live swap for an abandoned one nor wait behind it.
type Service struct {
	cfg ServiceConfig
	t   *Taker

	swapMu sync.Mutex // one swap or resume at a time
	recMu  sync.Mutex // one recovery pass at a time
	// resumed is closed once the swaps a previous process left were
	// resumed (or handed to recovery); Recover waits for it.
	resumed chan struct{}

	mu      sync.Mutex
	started bool
	stopped bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var (
	_ service.Service    = (*Service)(nil)
	_ service.Controlled = (*Service)(nil)
)

// NewService checks cfg.
func NewService(cfg ServiceConfig) (*Service, error) {
	t, err := New(cfg.Taker)
	if err != nil {
		return nil, err
	}
	if cfg.Healthy == nil {
		cfg.Healthy = func() bool { return true }
	}
	return &Service{cfg: cfg, t: t, resumed: make(chan struct{})}, nil
}

// Taker is the service's taker.
func (s *Service) Taker() *Taker { return s.t }

// Name implements service.Service.
func (s *Service) Name() string { return "taker" }

// Start claims the swaps a previous process left with their makers
// (before any recovery pass can see them), then resumes them alongside the
// recovery loop. Idempotent.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil
	}
	if s.stopped {
		return errors.New("taker: stopped")
	}
	faults, log := s.t.cfg.Faults, s.t.log
	if _, err := s.t.eng.ReleaseOrphanHeld(ctx); err != nil {
		return fmt.Errorf("taker: %w", err)
	}
	var interrupted []protocol.SwapID
	var err error
	switch {
	case faults.Has(swap.FaultTakerVanish):
		// A vanished taker does nothing on its own (recoveryLoop says so).
	case faults.Has(swap.FaultTakerNoResume):
		log.Info("fault injection: interrupted swaps are recovered on chain, not resumed")
	default:
		interrupted, err = s.t.ClaimInterrupted(ctx)
	}
	if err != nil {
		return err
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.started = true
	s.wg.Add(2)
	go s.resume(interrupted)
	go s.recoveryLoop()
	return nil
}

// Stop ends the loops and any swap in flight (its state stays on disk and
// resumes at the next start) and waits for them. Idempotent.
func (s *Service) Stop() {
	s.mu.Lock()
	s.stopped = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}

// Readiness implements service.Service: the taker is ready once started;
// a taker without a maker source can only recover.
func (s *Service) Readiness(context.Context) service.Readiness {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return service.NotReady("taker stopped")
	case !s.started:
		return service.NotReady("taker not started")
	}
	return service.ReadyNow
}

// resume continues the swaps a previous process left with their makers
// (cooperative end, no contract on chain); what cannot be resumed is
// handed to the recovery passes.
func (s *Service) resume(ids []protocol.SwapID) {
	defer s.wg.Done()
	defer close(s.resumed)
	if len(ids) == 0 {
		return
	}
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	n, err := s.t.ResumeClaimed(s.ctx, ids)
	switch {
	case err != nil && s.ctx.Err() == nil:
		s.t.log.Warn("resuming interrupted swaps failed; recovery takes over", "err", err)
	case n > 0:
		s.t.log.Info("interrupted swaps resumed", "completed", n)
	}
}

// recoveryLoop drives unfinished swaps (after a crash, or a swap that
// failed after funding) until they end.
func (s *Service) recoveryLoop() {
	defer s.wg.Done()
	log := s.t.log
	if s.t.cfg.Faults.Has(swap.FaultTakerVanish) {
		// Fault injection: a vanished taker does nothing on its own; only
		// an explicit `taker recover` drives its swaps.
		log.Info("fault injection: automatic recovery off (taker:vanish-after-funding)")
		return
	}
	var chainChanged <-chan struct{}
	if s.cfg.ChainChanges != nil {
		ch, unsubscribe := s.cfg.ChainChanges()
		defer unsubscribe()
		chainChanged = ch
	}
	lastN := 0
	for {
		s.recMu.Lock()
		n, err := s.t.RecoverStep(s.ctx)
		s.recMu.Unlock()
		if err != nil && s.ctx.Err() == nil {
			log.Warn("recovery pass failed; retrying", "err", err, "retry_in", RecoveryInterval)
		} else if n != lastN {
			// Passes run on every block: say so only when the count moves.
			log.Info("recovery pass", "unfinished_swaps", n)
		}
		if err == nil {
			lastN = n
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(RecoveryInterval):
		case <-chainChanged:
		}
	}
}

// Swap runs one swap as req says. The swap runs on the service's lifetime,
// not the request's: a client that goes away must not abort a swap in the
// middle.
func (s *Service) Swap(ctx context.Context, req control.TakerSwapRequest) (*control.SwapReport, error) {
	switch {
	case req.Amount <= 0:
		return nil, fmt.Errorf("%w: amount must be positive", control.ErrBadRequest)
	case len(req.Offers) > 0 && req.Makers != len(req.Offers):
		return nil, fmt.Errorf("%w: %d makers named, but a route of %d", control.ErrBadRequest, len(req.Offers), req.Makers)
	case req.Makers < 1 || req.TxCount < 1:
		return nil, fmt.Errorf("%w: makers and tx_count must be at least 1", control.ErrBadRequest)
	case !s.cfg.Healthy():
		return nil, fmt.Errorf("%w: chain backend unreachable: no new swap", control.ErrUnavailable)
	}
	s.mu.Lock()
	sctx, running := s.ctx, s.started && !s.stopped
	s.mu.Unlock()
	if !running {
		return nil, fmt.Errorf("%w: taker not running", control.ErrUnavailable)
	}
	treq := Request{Amount: req.Amount, TxCount: req.TxCount, Makers: req.Makers}
	switch {
	case len(req.Offers) > 0:
		if s.cfg.Named == nil {
			return nil, fmt.Errorf("%w: this node has no offer book (--pool-off)", control.ErrBadRequest)
		}
		src, err := s.cfg.Named(ctx, req.Offers)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", control.ErrBadRequest, err)
		}
		treq.Source, treq.Named = src, req.Offers
	case len(req.Directories) > 0 && s.cfg.SourceFor != nil:
		// Other directories for this swap only: the same taker (one
		// engine, one set of claims), another maker source.
		src, err := s.cfg.SourceFor(req.Directories)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", control.ErrBadRequest, err)
		}
		treq.Source = src
	case s.t.cfg.Source == nil:
		return nil, fmt.Errorf("%w: %w", control.ErrBadRequest, ErrNoSource)
	}
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.swapMu.Lock()
		defer s.swapMu.Unlock()
		rep, err := s.t.Swap(sctx, treq)
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
		return SwapReport(res.rep, req), nil
	}
}

// Recover runs one recovery pass now and lists the swaps.
func (s *Service) Recover(ctx context.Context) (*control.RecoverReply, error) {
	// Swaps being resumed with their makers end first: `taker recover`
	// (one-shot) must not stop the node in the middle of their resume.
	select {
	case <-s.resumed:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.recMu.Lock()
	n, err := s.t.RecoverStep(ctx)
	s.recMu.Unlock()
	if err != nil {
		return nil, err
	}
	swaps, err := s.Swaps(ctx)
	if err != nil {
		return nil, err
	}
	return &control.RecoverReply{Swaps: swaps, Unfinished: n}, nil
}

// Swaps lists the taker's swaps for the control API.
func (s *Service) Swaps(ctx context.Context) ([]control.SwapInfo, error) {
	swaps, err := s.t.Swaps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]control.SwapInfo, 0, len(swaps))
	for _, sw := range swaps {
		out = append(out, SwapInfo(sw))
	}
	return out, nil
}

// RegisterControl implements service.Controlled.
func (s *Service) RegisterControl(r *control.Router) {
	control.Post(r, "/v1/taker/swap", s.Swap)
	control.Post(r, "/v1/taker/recover", func(ctx context.Context, _ control.Empty) (*control.RecoverReply, error) {
		return s.Recover(ctx)
	})
	control.Get(r, "/v1/swaps", func(ctx context.Context, _ control.Request) ([]control.SwapInfo, error) {
		return s.Swaps(ctx)
	})
	control.Get(r, "/v1/swaps/{id}", func(ctx context.Context, q control.Request) (*control.SwapInfo, error) {
		id := q.PathValue("id")
		if _, err := control.ParseSwapID(id); err != nil {
			return nil, err
		}
		swaps, err := s.Swaps(ctx)
		if err != nil {
			return nil, err
		}
		for i := range swaps {
			if swaps[i].ID == id {
				return &swaps[i], nil
			}
		}
		return nil, fmt.Errorf("%w: swap %s", control.ErrNotFound, id)
	})
}

// SwapReport converts a finished swap's report for the control API.
func SwapReport(rep *Report, req control.TakerSwapRequest) *control.SwapReport {
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

// SwapInfo describes a taker swap for the control API.
func SwapInfo(s *swap.TakerSwap) control.SwapInfo {
	info := control.SwapInfo{ID: s.ID.String(), Role: string(swap.RoleTaker), Phase: string(s.Phase), Amount: s.Amount,
		TxCount: s.TxCount, Final: s.Phase.Final(), Error: s.Error, Created: s.Created, Updated: s.Updated}
	if info.Final {
		info.Outcome = info.Phase
	}
	makers := make([]map[string]any, 0, len(s.Makers))
	for _, m := range s.Makers {
		info.Legs = append(info.Legs, control.SwapLeg{Addr: m.Addr, ID: m.SwapID.String()})
		makers = append(makers, map[string]any{"fee": m.Fee, "reimbursement": m.Reimbursement,
			"in_total": m.InTotal, "out_total": m.OutTotal})
	}
	info.Detail, _ = json.Marshal(map[string]any{
		"locktimes": s.Locktimes, "funded_hops": s.FundedHops, "settled_makers": s.SettledMakers,
		"attempt": s.Attempt, "makers": makers, "outputs": swap.OutputsView(s.Outputs()),
	})
	return info
}
