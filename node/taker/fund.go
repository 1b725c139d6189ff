package taker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
)

// keepAlive sends WaitingFundingConfirmation to every maker every
// KeepAliveInterval until stop is closed.
func (r *run) keepAlive(ctx context.Context, stop <-chan struct{}) {
	tk := time.NewTicker(r.t.cfg.KeepAliveInterval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-tk.C:
			for i, p := range r.peers {
				if c := p.c(); c != nil && c.Err() == nil {
					sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					_ = c.Send(sctx, &protocol.WaitingFundingConfirmation{SwapID: r.rec.Makers[i].SwapID})
					cancel()
				}
			}
		}
	}
}

// waitConfs waits until every funding output of hop h has ≥ confs
// confirmations on our node. It gives up when a contract of the swap
// appears on chain, or when the hop is still unconfirmed deadline blocks
// after we started waiting (deadline 0: no block limit).
func (r *run) waitConfs(ctx context.Context, h int, confs uint32, deadline int32) error {
	t, rec := r.t, r.rec
	t0 := time.Now()
	defer func() { r.waitT += time.Since(t0) }()
	// The chain backend unreachable is no reason to give up a running
	// swap: wait for it to return (nothing is decided while blind; the
	// block deadline counts once the tip is known again).
	startTip, _, err := t.cfg.Backend.Tip(ctx)
	for err != nil {
		t.log.Warn("chain backend unreachable while waiting for confirmations; waiting for it", "swap", rec.ID, "hop", h, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(t.cfg.PollInterval):
		}
		startTip, _, err = t.cfg.Backend.Tip(ctx)
	}
	for {
		least := int32(1 << 30)
		var missing []wire.OutPoint
		for _, ho := range rec.Hops[h] {
			c, err := t.eng.FundingConfs(ctx, ho.FundingOutPoint, ho.MultisigScript, ho.Value)
			if err != nil {
				if !errors.Is(err, swap.ErrFundingMissing) && !errors.Is(err, swap.ErrUnavailable) {
					return err
				}
				if errors.Is(err, swap.ErrFundingMissing) {
					missing = append(missing, ho.FundingOutPoint)
				}
				c = -1
			}
			least = min(least, c)
		}
		if least >= int32(confs) {
			return nil
		}
		_, seen, err := t.eng.Signals(ctx, rec.ID)
		if err == nil && !seen && least < 0 {
			// A funding output missing or spent: maybe by a contract
			// whose event this process never got (it appeared before a
			// restart); ask the node.
			seen, err = t.eng.ContractOnChain(ctx, rec.Outputs())
		}
		if err == nil && seen {
			return fmt.Errorf("a contract of the swap appeared on chain while waiting for hop %d", h)
		}
		// A hop between two makers (or one that confirmed while we were
		// down) may be funded, confirmed and already spent by a maker's
		// contract: none of its contracts is ours to watch, so the only
		// sign is a confirmed funding transaction whose output is gone.
		// Say so rather than waiting for a confirmation that happened.
		if op, ok := r.spentAfterConfirming(ctx, missing); ok {
			return fmt.Errorf("hop %d was funded and confirmed, but its output %s is already spent on chain (a maker's contract, most likely): recovering on chain", h, op)
		}
		if deadline > 0 {
			tip, _, err := t.cfg.Backend.Tip(ctx)
			if err == nil && tip >= startTip+deadline+int32(confs) {
				return fmt.Errorf("hop %d not confirmed %d blocks after broadcast", h, deadline)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(t.cfg.PollInterval):
		}
	}
}

// spentAfterConfirming returns the first of ops whose transaction is
// confirmed on our node although the output is no longer unspent.
func (r *run) spentAfterConfirming(ctx context.Context, ops []wire.OutPoint) (wire.OutPoint, bool) {
	for _, op := range ops {
		if _, st, err := r.t.cfg.Backend.Tx(ctx, op.Hash); err == nil && st.Confirmations > 0 {
			return op, true
		}
	}
	return wire.OutPoint{}, false
}

// fund broadcasts hop 0 and walks the route: each maker funds its hop
// once its incoming hop has the confirmations it requires.
//
// A resumed swap (Resume) picks up at rec.FundedHops: hop 0 is broadcast
// again when no maker funded yet (idempotent), and the FundHop of the
// next maker is sent again when its answer was not committed (the maker
// answers a repeated FundHop with the same FundingBroadcast).
func (r *run) fund(ctx context.Context) error {
	t, rec := r.t, r.rec
	n := len(rec.Makers)
	if rec.Phase != swap.TakerHop0Broadcast && rec.FundedHops == 0 {
		rec.Phase = swap.TakerHop0Broadcast
		if err := t.st.Save(ctx, rec); err != nil {
			return err
		}
		t.cfg.Faults.AfterCommit(rec.Phase)
	}
	if rec.FundedHops <= 1 {
		for _, o := range rec.Out {
			if err := t.cfg.Wallet.BroadcastStored(ctx, *o.FundingTxid); err != nil {
				return fmt.Errorf("broadcast hop 0: %w", err)
			}
		}
		rec.FundedHops = 1
		t.log.Info("hop 0 funding broadcast", "swap", rec.ID, "txs", len(rec.Out))
	}
	stop := make(chan struct{})
	defer close(stop)
	go r.keepAlive(ctx, stop)
	for i := rec.FundedHops; i <= n; i++ {
		leg := &rec.Makers[i-1]
		var deadline int32
		if i > 1 {
			deadline = t.cfg.FundingTimeoutBlocks
		}
		if err := r.waitConfs(ctx, i-1, leg.RequiredConfirms, deadline); err != nil {
			return err
		}
		fh := &protocol.FundHop{SwapID: leg.SwapID}
		for k := range rec.Hops[i] {
			fh.ReceiverSigs = append(fh.ReceiverSigs, rec.Hops[i][k].ReceiverSig)
		}
		// Hop i's receiver signatures: from maker i+1's SetupHopReply,
		// or ours for the last hop.
		fb, err := request[*protocol.FundingBroadcast](ctx, t, r.peers[i-1], r.cnt, fh)
		if err != nil {
			return fmt.Errorf("maker %d funding: %w", i, err)
		}
		want := map[string]bool{}
		for _, ho := range rec.Hops[i] {
			want[ho.FundingOutPoint.Hash.String()] = true
		}
		for _, h := range fb.Txids {
			if !want[h.String()] {
				return fmt.Errorf("maker %d reported funding tx %v not in its hop", i, h)
			}
		}
		leg.FundingTxids = fb.Txids
		rec.FundedHops = i + 1
		rec.Phase = swap.TakerFunded
		if err := t.st.Save(ctx, rec); err != nil {
			return err
		}
		t.cfg.Faults.AfterCommit(rec.Phase)
		t.log.Info("maker funded its hop", "swap", rec.ID, "position", i)
	}
	if err := r.waitConfs(ctx, n, t.cfg.RequiredConfirms, t.cfg.FundingTimeoutBlocks); err != nil {
		return err
	}
	r.phase("funding")
	switch {
	case t.cfg.Faults.Has(swap.FaultTakerVanish):
		t.log.Info("fault injection: taker vanishes after funding", "swap", rec.ID)
		return errVanish
	case t.cfg.Faults.Has(swap.FaultTakerStall):
		t.log.Info("fault injection: taker stalls with keep-alives", "swap", rec.ID)
		<-ctx.Done()
		return errVanish
	case t.cfg.Faults.Has(swap.FaultTakerBroadcastContracts):
		t.log.Info("fault injection: taker broadcasts its contracts", "swap", rec.ID)
		if err := t.eng.BroadcastContracts(ctx, t.cfg.Wallet.Keys(), rec.Outputs()); err != nil {
			return err
		}
		return errors.New("fault injection: contracts broadcast")
	}
	return nil
}

// errVanish: fault injection, stop without recovering.
var errVanish = errors.New("fault injection: taker vanished")

// settle hands the preimage and keys over in route order. A resumed swap
// starts again at the last maker whose keys were committed (maybe never
// sent): it answers the repeated Preimage with the same keys and ignores
// keys it already has.
func (r *run) settle(ctx context.Context) error {
	t, rec := r.t, r.rec
	if rec.Phase != swap.TakerSettling && rec.Phase != swap.TakerPrivkeysSent {
		rec.Phase = swap.TakerSettling
		if err := t.st.Save(ctx, rec); err != nil {
			return err
		}
		t.cfg.Faults.AfterCommit(rec.Phase)
	}
	kr := t.cfg.Wallet.Keys()
	for i := max(1, rec.SettledMakers); i <= len(rec.Makers); i++ {
		leg := &rec.Makers[i-1]
		keys, err := request[*protocol.PrivKeyHandover](ctx, t, r.peers[i-1], r.cnt, &protocol.Preimage{SwapID: leg.SwapID, Preimage: rec.Preimage})
		if err != nil {
			return fmt.Errorf("maker %d settlement: %w", i, err)
		}
		if len(keys.Keys) != rec.TxCount {
			return fmt.Errorf("maker %d: %w: %d keys", i, swap.ErrKeyMismatch, len(keys.Keys))
		}
		for k, key := range keys.Keys {
			if !bytes.Equal(key.PubKey().SerializeCompressed(), rec.Hops[i][k].SenderPub) {
				return fmt.Errorf("maker %d: %w: key %d", i, swap.ErrKeyMismatch, k)
			}
			b := key.Key.Bytes()
			rec.Hops[i][k].SenderPriv = b[:]
		}
		if i == len(rec.Makers) {
			for k, o := range rec.In {
				o.PeerPriv = rec.Hops[i][k].SenderPriv
			}
		}
		// Hand over hop i−1's sender keys: ours for maker 1, the previous
		// maker's (just received) for the others.
		out := &protocol.PrivKeyHandover{SwapID: leg.SwapID}
		for k := range rec.Hops[i-1] {
			var key *btcec.PrivateKey
			if i == 1 {
				if key, err = rec.Out[k].MyKey.Priv(kr); err != nil {
					return err
				}
				rec.Out[k].Status = swap.StatusGiven
			} else {
				key, _ = btcec.PrivKeyFromBytes(rec.Hops[i-1][k].SenderPriv)
			}
			out.Keys = append(out.Keys, key)
		}
		rec.SettledMakers = i
		rec.Phase = swap.TakerPrivkeysSent
		if err := t.st.Save(ctx, rec); err != nil {
			return err
		}
		t.cfg.Faults.AfterCommit(rec.Phase)
		sctx, cancel := context.WithTimeout(ctx, t.cfg.StepTimeout)
		err = r.peers[i-1].c().Send(sctx, out)
		cancel()
		if err != nil {
			t.log.Warn("sending keys failed; the maker can claim by preimage", "swap", rec.ID, "position", i, "err", err)
		}
		t.log.Info("maker settled", "swap", rec.ID, "position", i)
	}
	r.phase("settle")
	return nil
}

// failFunded commits phase recovering after a failure once something was
// broadcast.
func (r *run) failFunded(ctx context.Context, cause error) error {
	if errors.Is(cause, errVanish) {
		return cause
	}
	if err := r.t.commitRecovering(ctx, r.rec, cause); err != nil {
		return fmt.Errorf("%w: %v (and saving failed: %v)", swap.ErrFundedRecovering, cause, err)
	}
	return fmt.Errorf("%w: %w", swap.ErrFundedRecovering, cause)
}

// commitRecovering hands a swap that cannot go on to the recovery passes
// (RecoverStep): phase recovering, committed even when ctx is ending.
func (t *Taker) commitRecovering(ctx context.Context, rec *swap.TakerSwap, cause error) error {
	rec.Phase, rec.Error = swap.PhaseRecovering, protocol.Clip(cause.Error())
	if err := t.st.Save(context.WithoutCancel(ctx), rec); err != nil {
		return err
	}
	t.cfg.Faults.AfterCommit(rec.Phase)
	t.log.Warn("swap cannot go on; recovering on chain", "swap", rec.ID, "err", cause)
	return nil
}

// sweep publishes the cooperative sweeps of our incoming hop and completes.
func (t *Taker) sweep(ctx context.Context, rec *swap.TakerSwap) error {
	if rec.Phase != swap.TakerSweeping {
		rec.Phase = swap.TakerSweeping
		if err := t.st.Save(ctx, rec); err != nil {
			return err
		}
		t.cfg.Faults.AfterCommit(rec.Phase)
	}
	rate, err := t.eng.FeeRate(ctx)
	if err != nil {
		return err
	}
	// One output's failure never blocks the others (Engine.Sweep finds a
	// sweep published before a crash instead of rebuilding it).
	var failed []error
	for _, o := range rec.In {
		if o.Status != swap.StatusLive {
			continue
		}
		tx, fee, err := t.eng.Sweep(ctx, t.cfg.Wallet.Keys(), o, rate)
		if err != nil {
			failed = append(failed, fmt.Errorf("sweep of %v: %w", o.FundingOutPoint, err))
			continue
		}
		h := tx.TxHash()
		o.Status, o.ResolveTxid = swap.StatusSettled, &h
		rec.SweepFees = append(rec.SweepFees, fee)
		if err := t.st.Save(ctx, rec); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	rec.Phase = swap.TakerComplete
	return t.st.Save(ctx, rec)
}
