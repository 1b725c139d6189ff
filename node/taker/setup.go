package taker

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

func randomID() protocol.SwapID {
	var id protocol.SwapID
	_, _ = rand.Read(id[:])
	return id
}

func mustNonce() *btcec.PrivateKey {
	n, err := script.NewNonce()
	if err != nil {
		panic(err)
	}
	return n
}

// setup runs the SetupHop round trip with every maker: all contracts of all hops built and
// cross-signed, nothing broadcast. A maker failure returns *errMaker
// after the attempt was aborted (Abort to every maker, held funding dropped).
func (r *run) setup(ctx context.Context, req Request, locks []uint16, attempt int) error {
	t := r.t
	kr := t.cfg.Wallet.Keys()
	n := req.Makers
	rec := &swap.TakerSwap{ID: randomID(), Phase: swap.TakerNegotiating, Amount: req.Amount, TxCount: req.TxCount,
		Locktimes: locks, Attempt: attempt}
	if _, err := rand.Read(rec.Preimage[:]); err != nil {
		return err
	}
	rec.Hash = script.PreimageHash(rec.Preimage)
	fr, err := t.eng.FeeRate(ctx)
	if err != nil {
		return err
	}
	rec.FundingFeeRate, rec.ContractFeeRate = fr, fr*swap.ContractFeeMultiplier
	if rec.SwapIndex, err = t.st.AllocSwapIndex(ctx); err != nil {
		return err
	}
	// Amounts along the route, exact.
	in := req.Amount
	for i, p := range r.peers {
		leg := swap.MakerLeg{Addr: p.addr, SwapID: randomID(), Terms: swap.TermsOf(p.offer),
			RequiredConfirms: p.offer.RequiredConfirms, TweakablePoint: p.point.SerializeCompressed()}
		leg.InTotal = in
		leg.Fee = swap.MakerFee(leg.Terms, in, locks[i+1])
		leg.Reimbursement = swap.Reimbursement(req.TxCount, fr)
		leg.OutTotal = swap.Forward(in, leg.Fee, leg.Reimbursement)
		if in < p.offer.MinSize || in > p.offer.MaxSize {
			return &errMaker{i, fmt.Errorf("%w: %d sat outside the offer's [%d, %d]", swap.ErrAmount, in, p.offer.MinSize, p.offer.MaxSize)}
		}
		if leg.OutTotal < int64(req.TxCount)*swap.MinOutputValue {
			return fmt.Errorf("%w: %d sat left after maker %d's fees", swap.ErrAmount, leg.OutTotal, i+1)
		}
		rec.Makers = append(rec.Makers, leg)
		in = leg.OutTotal
	}
	rec.Hops = make([][]swap.HopOutput, n+1)
	r.proofs = make([][]protocol.FundingProof, n+1)
	for h := range r.proofs {
		r.proofs[h] = make([]protocol.FundingProof, req.TxCount)
	}
	// Receiver keys of every hop, chosen now: nonces for makers, our keys
	// for the last hop.
	for h := 0; h <= n; h++ {
		rec.Hops[h] = make([]swap.HopOutput, req.TxCount)
		for k := range rec.Hops[h] {
			ho := &rec.Hops[h][k]
			if h < n {
				mn, hn := mustNonce(), mustNonce()
				P := r.peers[h].point
				ho.ReceiverPub = script.TweakPubKey(P, mn).SerializeCompressed()
				ho.HashlockPub = script.TweakPubKey(P, hn).SerializeCompressed()
				mb, hb := mn.Key.Bytes(), hn.Key.Bytes()
				ho.MultisigNonce, ho.HashlockNonce = mb[:], hb[:]
			} else {
				ms, err := swap.SwapKeyRef(rec.SwapIndex, uint32(swap.TakerInMultisigSlot+k)).Pub(kr)
				if err != nil {
					return err
				}
				hl, err := swap.SwapKeyRef(rec.SwapIndex, uint32(swap.TakerInHashlockSlot+k)).Pub(kr)
				if err != nil {
					return err
				}
				ho.ReceiverPub, ho.HashlockPub = ms.SerializeCompressed(), hl.SerializeCompressed()
			}
		}
	}
	// Hop 0: our funding (held), contracts, our sender signatures.
	parts, err := swap.SplitAmount(req.Amount, req.TxCount, swap.MinOutputValue)
	if err != nil {
		return err
	}
	abandon := func() {
		for _, o := range rec.Out {
			if o.FundingTxid != nil {
				_ = t.cfg.Wallet.AbandonTx(context.WithoutCancel(ctx), *o.FundingTxid)
			}
		}
	}
	for k := range parts {
		ho := &rec.Hops[0][k]
		msKey, tlKey := swap.SwapKeyRef(rec.SwapIndex, uint32(swap.TakerOutMultisigSlot+k)), swap.SwapKeyRef(rec.SwapIndex, uint32(swap.TakerOutTimelockSlot+k))
		msPriv, err := msKey.Priv(kr)
		if err != nil {
			abandon()
			return err
		}
		tlPub, err := tlKey.Pub(kr)
		if err != nil {
			msPriv.Zero()
			abandon()
			return err
		}
		myPub := msPriv.PubKey()
		recv, _ := btcec.ParsePubKey(ho.ReceiverPub)
		hl, _ := btcec.ParsePubKey(ho.HashlockPub)
		ms, err := script.MultisigScript(myPub, recv)
		if err != nil {
			msPriv.Zero()
			abandon()
			return err
		}
		pk := script.WitnessScriptHash(ms)
		sent, err := t.cfg.Wallet.FundOutputs(ctx, []*wire.TxOut{wire.NewTxOut(parts[k], pk)}, fr, wallet.Regular)
		if err != nil {
			msPriv.Zero()
			abandon()
			return err
		}
		if k == 0 {
			t.cfg.Faults.AfterCommit(swap.CrashFundingHeld)
		}
		if r.proofs[0][k], err = swap.ProveFunding(ctx, t.cfg.Wallet, sent.Tx); err != nil {
			msPriv.Zero()
			abandon()
			return err
		}
		op := outpointOf(sent.Tx, pk)
		cs, err := swap.ContractFor(rec.Hash, hl, tlPub, locks[0])
		if err != nil {
			msPriv.Zero()
			abandon()
			return err
		}
		ctxn, err := script.NewContractTx(op, parts[k], cs, swap.ContractFee(rec.ContractFeeRate))
		if err != nil {
			msPriv.Zero()
			abandon()
			return err
		}
		sig, err := swap.SignContract(ctxn, ms, parts[k], msPriv)
		msPriv.Zero()
		if err != nil {
			abandon()
			return err
		}
		txid := sent.Txid
		*ho = swap.HopOutput{FundingOutPoint: op, Value: parts[k], MultisigScript: ms, ContractScript: cs,
			ContractTx: swap.SerializeTx(ctxn), SenderPub: myPub.SerializeCompressed(), ReceiverPub: ho.ReceiverPub,
			TimelockPub: tlPub.SerializeCompressed(), HashlockPub: ho.HashlockPub, MultisigNonce: ho.MultisigNonce,
			HashlockNonce: ho.HashlockNonce, SenderSig: sig}
		rec.Out = append(rec.Out, &swap.Output{Hop: 0, Dir: swap.DirOut, Idx: k, FundingOutPoint: op, Value: parts[k],
			MultisigScript: ms, ContractScript: cs, ContractTx: ho.ContractTx, MyKey: msKey, LockKey: tlKey,
			PeerPub: ho.ReceiverPub, MySig: sig, FundingTxid: &txid, Status: swap.StatusLive})
		rec.FundingFees = append(rec.FundingFees, int64(sent.Fee))
	}
	// Claimed before the first commit: from then on the record is live,
	// and a concurrent recovery pass must not take it for an interrupted
	// swap.
	t.claims.claim(rec.ID)
	r.claims = append(r.claims, rec.ID)
	r.rec = rec
	if err := t.st.Save(ctx, rec); err != nil {
		abandon()
		return err
	}
	t.cfg.Faults.AfterCommit(rec.Phase)
	t.log.Info("swap negotiating", "swap", rec.ID, "amount", rec.Amount, "tx_count", rec.TxCount, "makers", n,
		"attempt", attempt, "funding_fee_rate", fr, "contract_fee_rate", rec.ContractFeeRate)

	for i := 1; i <= n; i++ {
		if err := r.setupMaker(ctx, i); err != nil {
			r.abort(ctx, i, err)
			_ = t.fail(ctx, rec, protocol.Clip(err.Error()))
			var em *errMaker
			if errors.As(err, &em) {
				return err
			}
			return &errMaker{i - 1, err}
		}
	}
	// Hop n: we are the receiver; sign as receiver.
	for k := range rec.Hops[n] {
		ho := &rec.Hops[n][k]
		myKey := swap.SwapKeyRef(rec.SwapIndex, uint32(swap.TakerInMultisigSlot+k))
		priv, err := myKey.Priv(kr)
		if err != nil {
			return err
		}
		tx, err := decodeTx(ho.ContractTx)
		if err != nil {
			priv.Zero()
			return err
		}
		sig, err := swap.SignContract(tx, ho.MultisigScript, ho.Value, priv)
		priv.Zero()
		if err != nil {
			return err
		}
		ho.ReceiverSig = sig
		rec.In = append(rec.In, &swap.Output{Hop: n, Dir: swap.DirIn, Idx: k, FundingOutPoint: ho.FundingOutPoint,
			Value: ho.Value, MultisigScript: ho.MultisigScript, ContractScript: ho.ContractScript, ContractTx: ho.ContractTx,
			MyKey: myKey, LockKey: swap.SwapKeyRef(rec.SwapIndex, uint32(swap.TakerInHashlockSlot+k)), PeerPub: ho.SenderPub,
			MySig: sig, PeerSig: ho.SenderSig, Status: swap.StatusLive})
	}
	if err := t.eng.Watch(ctx, rec.Outputs()); err != nil {
		return err
	}
	rec.Phase = swap.TakerSetupDone
	if err := t.st.Save(ctx, rec); err != nil {
		return err
	}
	t.cfg.Faults.AfterCommit(rec.Phase)
	t.log.Info("setup done: every contract signed, nothing funded", "swap", rec.ID)
	return nil
}

func decodeTx(b []byte) (*wire.MsgTx, error) {
	tx := new(wire.MsgTx)
	return tx, tx.Deserialize(bytes.NewReader(b))
}

func outpointOf(tx *wire.MsgTx, pk []byte) wire.OutPoint {
	for i, o := range tx.TxOut {
		if bytes.Equal(o.PkScript, pk) {
			return wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}
		}
	}
	return wire.OutPoint{}
}

// setupMaker sends SetupHop to maker i (1-based) and checks its reply.
func (r *run) setupMaker(ctx context.Context, i int) error {
	t, rec := r.t, r.rec
	leg := &rec.Makers[i-1]
	p := r.peers[i-1]
	msg := &protocol.SetupHop{SwapID: leg.SwapID, Hash: rec.Hash, InLocktime: rec.Locktimes[i-1], OutLocktime: rec.Locktimes[i],
		FundingFeeRate: uint32(rec.FundingFeeRate), ContractFeeRate: uint32(rec.ContractFeeRate), Reimbursement: leg.Reimbursement,
		OfferHash: p.offer.TermsHash()}
	for k := range rec.Hops[i-1] {
		ho := &rec.Hops[i-1][k]
		tx, err := decodeTx(ho.ContractTx)
		if err != nil {
			return err
		}
		mn, _ := btcec.PrivKeyFromBytes(ho.MultisigNonce)
		hn, _ := btcec.PrivKeyFromBytes(ho.HashlockNonce)
		tl, err := btcec.ParsePubKey(ho.TimelockPub)
		if err != nil {
			return err
		}
		msg.Incoming = append(msg.Incoming, protocol.IncomingOutput{FundingOutPoint: ho.FundingOutPoint, FundingValue: ho.Value,
			MultisigScript: ho.MultisigScript, MultisigNonce: mn, HashlockNonce: hn, TimelockPubKey: tl, ContractTx: tx,
			SenderSig: ho.SenderSig, Proof: r.proofs[i-1][k]})
	}
	for k := range rec.Hops[i] {
		ms, _ := btcec.ParsePubKey(rec.Hops[i][k].ReceiverPub)
		hl, _ := btcec.ParsePubKey(rec.Hops[i][k].HashlockPub)
		msg.Outgoing = append(msg.Outgoing, protocol.NextHopKeys{MultisigPubKey: ms, HashlockPubKey: hl})
	}
	reply, err := r.sendSetup(ctx, p, msg)
	if err != nil {
		return &errMaker{i - 1, err}
	}
	if err := r.checkReply(ctx, i, reply); err != nil {
		return &errMaker{i - 1, err}
	}
	if err := t.st.Save(ctx, rec); err != nil {
		return err
	}
	t.log.Info("maker set up its hop", "swap", rec.ID, "position", i, "fee", leg.Fee, "reimbursement", leg.Reimbursement,
		"forwarded", leg.OutTotal)
	return nil
}

// sendSetup sends msg to p and returns its SetupHopReply. A maker known
// only from the book is dialed now, msg riding behind our Hello (one
// round trip for both). A maker answering with its current offer fails
// with *errStaleOffer.
func (r *run) sendSetup(ctx context.Context, p *peer, msg *protocol.SetupHop) (*protocol.SetupHopReply, error) {
	var reply protocol.Message
	var err error
	if p.c() == nil {
		reply, err = r.t.dialPipelined(ctx, p, r.cnt, msg)
	} else {
		reply, err = requestAny(ctx, r.t, p, r.cnt, msg)
	}
	if err != nil {
		return nil, err
	}
	switch v := reply.(type) {
	case *protocol.SetupHopReply:
		return v, nil
	case *protocol.Offer:
		return nil, &errStaleOffer{offer: v}
	}
	return nil, fmt.Errorf("%w: got %s", swap.ErrWrongPhase, reply.Type())
}

// checkReply verifies maker i's receiver signatures on hop i−1 and its
// outgoing hop i: the exact forwarded total, our receiver keys in every
// 2-of-2, the exact contracts and its sender signatures.
func (r *run) checkReply(ctx context.Context, i int, reply *protocol.SetupHopReply) error {
	rec := r.rec
	leg := &rec.Makers[i-1]
	if reply.SwapID != leg.SwapID {
		return fmt.Errorf("%w: reply for another swap", swap.ErrWrongPhase)
	}
	if len(reply.ReceiverSigs) != rec.TxCount || len(reply.Outgoing) != rec.TxCount {
		return fmt.Errorf("%w: %d sigs, %d outputs for tx_count %d", swap.ErrTxCount, len(reply.ReceiverSigs), len(reply.Outgoing), rec.TxCount)
	}
	for k := range rec.Hops[i-1] {
		ho := &rec.Hops[i-1][k]
		tx, err := decodeTx(ho.ContractTx)
		if err != nil {
			return err
		}
		recv, _ := btcec.ParsePubKey(ho.ReceiverPub)
		if err := swap.CheckSig(tx, ho.MultisigScript, ho.Value, recv, reply.ReceiverSigs[k]); err != nil {
			return fmt.Errorf("receiver signature %d: %w", k, err)
		}
	}
	var total int64
	seen := map[wire.OutPoint]bool{}
	for h := 0; h < i; h++ {
		for _, ho := range rec.Hops[h] {
			seen[ho.FundingOutPoint] = true
		}
	}
	for k, o := range reply.Outgoing {
		ho := &rec.Hops[i][k]
		if seen[o.FundingOutPoint] {
			return fmt.Errorf("%w: %v", swap.ErrDuplicate, o.FundingOutPoint)
		}
		seen[o.FundingOutPoint] = true
		if o.FundingValue < swap.MinOutputValue {
			return fmt.Errorf("%w: output %d of %d sat", swap.ErrAmount, k, o.FundingValue)
		}
		total += o.FundingValue
		recv, _ := btcec.ParsePubKey(ho.ReceiverPub)
		sender, err := swap.OtherKey(o.MultisigScript, recv)
		if err != nil {
			return fmt.Errorf("outgoing %d: %w", k, err)
		}
		hl, _ := btcec.ParsePubKey(ho.HashlockPub)
		cs, err := swap.ContractFor(rec.Hash, hl, o.TimelockPubKey, rec.Locktimes[i])
		if err != nil {
			return err
		}
		if err := swap.CheckContractTx(o.ContractTx, o.FundingOutPoint, o.FundingValue, cs, rec.ContractFeeRate); err != nil {
			return fmt.Errorf("outgoing %d: %w", k, err)
		}
		if err := swap.CheckSig(o.ContractTx, o.MultisigScript, o.FundingValue, sender, o.SenderSig); err != nil {
			return fmt.Errorf("outgoing %d sender signature: %w", k, err)
		}
		// Checked here, so that a maker whose proof the next maker would
		// refuse is blamed itself.
		if _, err := swap.CheckFundingProof(ctx, r.t.cfg.Backend, &o.Proof, o.FundingOutPoint, o.FundingValue, o.MultisigScript); err != nil {
			return fmt.Errorf("outgoing %d: %w", k, err)
		}
		r.proofs[i][k] = o.Proof
		ho.FundingOutPoint, ho.Value, ho.MultisigScript, ho.ContractScript = o.FundingOutPoint, o.FundingValue, o.MultisigScript, cs
		ho.ContractTx, ho.SenderPub, ho.TimelockPub, ho.SenderSig = swap.SerializeTx(o.ContractTx), sender.SerializeCompressed(),
			o.TimelockPubKey.SerializeCompressed(), o.SenderSig
	}
	if total != leg.OutTotal {
		return fmt.Errorf("%w: maker forwards %d, must be %d − %d − %d = %d", swap.ErrFeeSkim, total, leg.InTotal, leg.Fee,
			leg.Reimbursement, leg.OutTotal)
	}
	for k := range rec.Hops[i-1] {
		rec.Hops[i-1][k].ReceiverSig = reply.ReceiverSigs[k]
	}
	for _, o := range rec.Out {
		if o.Hop == 0 && i == 1 {
			o.PeerSig = reply.ReceiverSigs[o.Idx]
		}
	}
	return nil
}

// abort tells makers 1..upto that the attempt is over (best effort).
func (r *run) abort(ctx context.Context, upto int, why error) {
	for i := 1; i <= upto && i <= len(r.peers); i++ {
		p := r.peers[i-1]
		if p == nil || p.c() == nil || p.c().Err() != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = p.c().Send(sctx, &protocol.Abort{SwapID: r.rec.Makers[i-1].SwapID, Reason: protocol.Clip("taker aborted the attempt")})
		cancel()
	}
	r.t.log.Info("setup attempt aborted; nothing was funded", "swap", r.rec.ID, "reason", why)
}
