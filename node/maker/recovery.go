package maker

import (
	"context"
	"errors"
	"time"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/chain"
)

func (m *Maker) recoveryLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.RecoveryInterval)
	defer t.Stop()
	// Deadlines are counted in blocks: every block (and every watched
	// transaction the watcher sees) starts a pass at once, so the reaction
	// window is spent waiting for confirmations, not for this timer.
	chainChanged, unsubscribe := m.cfg.Wallet.ChainChanges()
	defer unsubscribe()
	caughtUp := false
	for {
		if !caughtUp {
			// A contract that appeared while the maker was down sends its
			// swap into recovery now, not at the idle timeout.
			if _, err := m.eng.CatchUp(ctx, swap.RoleMaker); err != nil {
				m.log.Warn("checking the chain for contracts of live swaps failed; retrying", "err", err)
			} else {
				caughtUp = true
			}
		}
		m.DriveOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wake:
		case <-chainChanged:
		}
	}
}

// DriveOnce runs one pass over every non-final swap: abandon what funded
// nothing and went idle, enter recovery on a deadline, an idle taker or a
// contract seen on chain, and run a recovery step. Idempotent.
func (m *Maker) DriveOnce(ctx context.Context) {
	ids, err := m.st.Live(ctx, swap.RoleMaker)
	if err != nil {
		m.log.Warn("loading live swaps failed", "err", err)
		return
	}
	m.forget(ids)
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		gone := m.vanished[id]
		m.mu.Unlock()
		if gone {
			continue
		}
		unlock := m.lock(id)
		if err := m.drive(ctx, id); err != nil {
			m.log.Warn("driving swap failed; retrying", "swap", id, "err", err)
		}
		unlock()
	}
}

func (m *Maker) drive(ctx context.Context, id protocol.SwapID) error {
	rec, err := m.st.LoadMaker(ctx, id)
	if err != nil {
		return err
	}
	pre, contractSeen, err := m.eng.Signals(ctx, id)
	if err != nil {
		return err
	}
	if pre != nil && rec.Preimage == nil {
		rec.Preimage = pre
		if err := m.st.Save(ctx, rec); err != nil {
			return err
		}
		m.log.Info("preimage learned from the chain", "swap", id)
	}
	idle := m.idle(id)
	if rec.Phase != swap.MakerReserved {
		m.setupMu.Lock()
		delete(m.funded, id)
		m.setupMu.Unlock()
	}
	switch rec.Phase {
	case swap.MakerReserved, swap.MakerIncomingConfirmed:
		// Nothing of ours is funded (funding_broadcast is committed before
		// the broadcast): release on idleness or any contract on chain.
		// A taker gone before it funded anything loses nothing by our
		// release; once its coins are in, it gets the whole idle timeout
		// to come back (a restarted taker resumes).
		detached := m.detachedFor(id)
		unfunded := m.incomingUnfunded(ctx, rec)
		if rec.Phase == swap.MakerReserved {
			m.setupMu.Lock()
			m.funded[id] = !unfunded
			m.setupMu.Unlock()
		}
		gone := detached > m.cfg.ReleaseAfterDisconnect && unfunded
		// The hard deadline: keep-alives do not extend it.
		expired := rec.ReservedAt > 0 && time.Since(time.Unix(rec.ReservedAt, 0)) > m.cfg.UnfundedLifetime &&
			rec.Phase == swap.MakerReserved && unfunded
		// The coins that proved the incoming funding moved elsewhere: it
		// can no longer come, and the lock would be free from now on. The
		// funding itself spends them, so it is looked for again after
		// the coins were seen spent, never before.
		moved := rec.Phase == swap.MakerReserved && unfunded && m.backingMoved(ctx, rec) && m.incomingUnfunded(ctx, rec)
		if contractSeen || idle > m.cfg.IdleTimeout || gone || expired || moved {
			m.log.Info("abandoning swap that funded nothing", "swap", id, "idle", idle.Round(time.Second),
				"taker_gone", detached.Round(time.Second), "contract_seen", contractSeen, "unfunded_past_deadline", expired,
				"backing_moved", moved)
			return m.abandon(ctx, rec)
		}
	case swap.MakerFundingBroadcast, swap.MakerPreimageKnown, swap.MakerKeysSent:
		tip, _, err := m.cfg.Backend.Tip(ctx)
		if err != nil {
			return err
		}
		deadline := rec.IncomingConfHeight > 0 && tip >= rec.IncomingConfHeight+m.cfg.SwapTimeoutBlocks
		if contractSeen || idle > m.cfg.IdleTimeout || deadline {
			m.log.Info("swap stalled or broken; recovering", "swap", id, "phase", rec.Phase,
				"idle", idle.Round(time.Second), "deadline_reached", deadline, "contract_seen", contractSeen)
			rec.Phase = swap.PhaseRecovering
			if err := m.st.Save(ctx, rec); err != nil {
				return err
			}
			m.cfg.Faults.AfterCommit(rec.Phase)
			return m.recoverStep(ctx, rec)
		}
	case swap.MakerIncomingKeysKnown, swap.MakerSwept:
		return m.sweep(ctx, rec)
	case swap.PhaseRecovering:
		return m.recoverStep(ctx, rec)
	}
	return nil
}

// recoverStep runs one engine pass and finishes the swap when nothing is
// left: every outgoing output resolved, and every incoming one resolved
// unless we never learned the preimage (then it is the sender's to refund).
func (m *Maker) recoverStep(ctx context.Context, rec *swap.MakerSwap) error {
	learned, err := m.eng.Resolve(ctx, m.cfg.Wallet.Keys(), rec.Outputs(), rec.Hash, rec.Preimage)
	if err != nil {
		return err
	}
	if learned != nil && rec.Preimage == nil {
		rec.Preimage = learned
		// Use it at once on our incoming contracts.
		if _, err := m.eng.Resolve(ctx, m.cfg.Wallet.Keys(), rec.In, rec.Hash, rec.Preimage); err != nil {
			return err
		}
	}
	done := true
	for _, o := range rec.Out {
		done = done && o.Resolved()
	}
	if rec.Preimage != nil {
		for _, o := range rec.In {
			done = done && o.Resolved()
		}
	}
	if done {
		rec.Phase = swap.PhaseRecovered
		m.log.Info("swap recovered", "swap", rec.ID, "preimage_known", rec.Preimage != nil)
	}
	return m.st.Save(ctx, rec)
}

// backingMoved: a coin that backed the reservation's funding proof is
// spent, and not by the incoming funding (the caller checks that it is
// not on our node). An unreachable node answers false.
func (m *Maker) backingMoved(ctx context.Context, rec *swap.MakerSwap) bool {
	for _, c := range rec.Backing {
		if _, _, err := m.cfg.Backend.UTXO(ctx, c); errors.Is(err, chain.ErrNotFound) {
			return true
		}
	}
	return false
}

// incomingUnfunded: none of the swap's incoming funding outputs is on our
// node (chain or mempool). An unreachable node answers false.
func (m *Maker) incomingUnfunded(ctx context.Context, rec *swap.MakerSwap) bool {
	for _, o := range rec.In {
		_, err := m.eng.FundingConfs(ctx, o.FundingOutPoint, o.MultisigScript, o.Value)
		if !errors.Is(err, swap.ErrFundingMissing) {
			return false
		}
	}
	return true
}
