package maker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/node/swap"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

// errDrop: a fault says to close the connection without a word.
var errDrop = errors.New("fault injection: drop connection")

// ServeConn implements service.Inbound: it speaks the swap protocol on
// one handshaken connection, starting with first, until it ends. Every
// refusal is an explicit Error followed by a disconnect; the node's server
// contains panics.
func (m *Maker) ServeConn(ctx context.Context, c *protocol.Conn, first protocol.Message) {
	m.mu.Lock()
	if m.stopped || !m.started {
		m.mu.Unlock()
		_ = c.CloseWithError(protocol.CodeShutdown, "maker not running")
		return
	}
	// The swaps this connection carried: when it closes, those that funded
	// nothing of ours are released after ReleaseAfterDisconnect.
	carried := map[protocol.SwapID]struct{}{}
	m.conns[c] = carried
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
		m.detach(carried)
	}()
	for msg := first; ; {
		replies, after, id, err := m.handle(ctx, msg)
		if id != nil {
			m.mu.Lock()
			if len(carried) < maxCarriedSwaps {
				carried[*id] = struct{}{}
			}
			m.mu.Unlock()
		}
		if errors.Is(err, errDrop) {
			m.log.Info("fault injection: dropping the connection", "msg", msg.Type().String())
			return
		}
		if err != nil {
			code := swap.Code(err)
			m.log.Info("refusing peer request", "msg", msg.Type().String(), "swap", idString(id), "code", code.String(), "err", err)
			e := &protocol.Error{Code: code, SwapID: id, Text: protocol.Clip(err.Error())}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_ = c.Send(sctx, e)
			cancel()
			time.Sleep(50 * time.Millisecond) // let the Error leave before the close
			return
		}
		for _, r := range replies {
			if err := c.Send(ctx, r); err != nil {
				return
			}
		}
		if after != nil {
			if err := after(); errors.Is(err, errDrop) {
				return
			}
		}
		if msg, err = c.Receive(ctx); err != nil {
			return
		}
	}
}

// staleOffer returns our current offer when h names terms other than
// ours (the taker priced the route from an offer in its book that we
// have changed since), nil when h names ours or none.
func (m *Maker) staleOffer(ctx context.Context, h *protocol.SetupHop) (*protocol.Offer, error) {
	if h.OfferHash == ([32]byte{}) {
		return nil, nil
	}
	t, err := m.terms()
	if err != nil {
		return nil, err
	}
	if t.TermsHash() == h.OfferHash {
		return nil, nil
	}
	o, err := m.Offer(ctx)
	if err != nil {
		if errors.Is(err, ErrNoBond) {
			return nil, fmt.Errorf("%w: no fidelity bond yet", swap.ErrBusy)
		}
		return nil, err
	}
	m.log.Info("setup priced with terms we no longer offer; answering with our current offer", "swap", h.SwapID)
	return o, nil
}

// maxCarriedSwaps bounds the swap ids one connection is remembered for
// (a taker runs one swap per maker connection; a peer naming random ids
// gets no memory out of it). Swaps beyond it fall back to the idle timeout.
const maxCarriedSwaps = 16

func idString(id *protocol.SwapID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// handle dispatches one message. It returns the replies, an action to run
// after they are sent, and the swap id (for the Error).
func (m *Maker) handle(ctx context.Context, msg protocol.Message) ([]protocol.Message, func() error, *protocol.SwapID, error) {
	switch v := msg.(type) {
	case *protocol.OfferRequest:
		o, err := m.Offer(ctx)
		if err != nil {
			if errors.Is(err, ErrNoBond) {
				return nil, nil, nil, fmt.Errorf("%w: no fidelity bond yet", swap.ErrBusy)
			}
			return nil, nil, nil, err
		}
		return []protocol.Message{o}, nil, nil, nil
	case *protocol.TrustRequest:
		tp, err := m.TrustProofs(ctx, time.Now())
		if err != nil {
			return nil, nil, nil, err
		}
		return []protocol.Message{tp}, nil, nil, nil
	case *protocol.SetupHop:
		id := v.SwapID
		if m.cfg.Faults.CloseAt("setup") {
			return nil, nil, &id, errDrop
		}
		defer m.lock(id)()
		r, err := m.handleSetup(ctx, v)
		return []protocol.Message{r}, nil, &id, err
	case *protocol.FundHop:
		id := v.SwapID
		if m.cfg.Faults.CloseAt("funding") {
			return nil, nil, &id, errDrop
		}
		unlock := m.lock(id)
		r, after, err := m.handleFund(ctx, v)
		unlock()
		return []protocol.Message{r}, after, &id, err
	case *protocol.Preimage:
		id := v.SwapID
		if m.cfg.Faults.CloseAt("preimage") {
			return nil, nil, &id, errDrop
		}
		defer m.lock(id)()
		r, err := m.handlePreimage(ctx, v)
		return []protocol.Message{r}, nil, &id, err
	case *protocol.PrivKeyHandover:
		id := v.SwapID
		if m.cfg.Faults.CloseAt("privkeys") {
			return nil, nil, &id, errDrop
		}
		defer m.lock(id)()
		err := m.handleKeys(ctx, v)
		if err == nil && m.cfg.Faults.Has(swap.FaultMakerCloseAfterSweep) {
			return nil, nil, &id, errDrop
		}
		return nil, nil, &id, err
	case *protocol.WaitingFundingConfirmation:
		if ok, _ := m.st.Exists(ctx, v.SwapID); ok {
			m.touch(v.SwapID)
			m.log.Debug("keep-alive received", "swap", v.SwapID)
			id := v.SwapID
			return nil, nil, &id, nil
		}
		return nil, nil, nil, nil
	case *protocol.Abort:
		id := v.SwapID
		defer m.lock(id)()
		return nil, nil, &id, m.handleAbort(ctx, v)
	}
	return nil, nil, nil, fmt.Errorf("%w: %s", swap.ErrWrongPhase, msg.Type())
}

// handleSetup checks a SetupHop, reserves liquidity (held funding txs),
// builds and signs its outgoing contracts, signs the incoming ones as
// receiver, commits phase reserved and returns the reply. A SetupHop
// priced with other terms than ours is answered with our current Offer,
// nothing reserved (see protocol.SetupHop).
func (m *Maker) handleSetup(ctx context.Context, h *protocol.SetupHop) (protocol.Message, error) {
	reqHash, err := requestHash(h)
	if err != nil {
		return nil, err
	}
	if rec, err := m.st.LoadMaker(ctx, h.SwapID); err == nil {
		if rec.Phase == swap.MakerReserved && len(rec.Reply) > 0 { // the taker re-dialed
			// Our stored reply (outpoints, contracts, signatures) answers
			// that request only: anyone who learned the swap id must not
			// get it for another.
			if !bytes.Equal(rec.Request, reqHash[:]) {
				return nil, fmt.Errorf("%w: swap id in use by another request", swap.ErrWrongPhase)
			}
			msg, err := protocol.DecodePayload(protocol.TypeSetupHopReply, rec.Reply[protocol.HeaderSize:])
			if err != nil {
				return nil, err
			}
			m.touch(h.SwapID)
			return msg.(*protocol.SetupHopReply), nil
		}
		return nil, fmt.Errorf("%w: swap %s is %s", swap.ErrWrongPhase, h.SwapID, rec.Phase)
	} else if ok, _ := m.st.Exists(ctx, h.SwapID); ok {
		return nil, fmt.Errorf("%w: swap id in use", swap.ErrWrongPhase)
	}
	if o, err := m.staleOffer(ctx, h); o != nil || err != nil {
		return o, err
	}
	if err := m.eng.Healthy(); err != nil {
		return nil, err
	}
	est, err := m.eng.FeeRate(ctx)
	if err != nil {
		return nil, err
	}
	maxSize, err := m.maxSize(ctx)
	if err != nil {
		return nil, err
	}
	inTotal, err := swap.CheckSetupTerms(h, swap.MakerPolicy{MinSize: m.cfg.MinSize, MaxSize: maxSize,
		MinLocktime: m.cfg.MinLocktime, ReactionBlocks: m.cfg.ReactionBlocks,
		FeeRateFloor: est * swap.FeeRateTolerancePercent / 100})
	if err != nil {
		if errors.Is(err, swap.ErrAmount) && inTotal == 0 {
			return nil, fmt.Errorf("%w (%w)", err, swap.ErrLiquidity)
		}
		return nil, err
	}
	kr := m.cfg.Wallet.Keys()
	tp, err := kr.TweakablePoint()
	if err != nil {
		return nil, err
	}
	P := tp.PubKey()
	tp.Zero()
	cfr := int64(h.ContractFeeRate)
	rec := &swap.MakerSwap{ID: h.SwapID, Phase: swap.MakerReserved, TxCount: len(h.Incoming), Hash: h.Hash,
		InLocktime: h.InLocktime, OutLocktime: h.OutLocktime, FundingFeeRate: int64(h.FundingFeeRate),
		ContractFeeRate: cfr, Reimbursement: h.Reimbursement, InTotal: inTotal}
	reply := &protocol.SetupHopReply{SwapID: h.SwapID}
	backedBy := map[wire.OutPoint]chainhash.Hash{}

	// Incoming: keys from our tweakable point, exact scripts and tx, the
	// sender's signature, no outpoint bound twice.
	for i := range h.Incoming {
		in := &h.Incoming[i]
		myMS := script.TweakPubKey(P, in.MultisigNonce)
		myHL := script.TweakPubKey(P, in.HashlockNonce)
		peer, err := swap.OtherKey(in.MultisigScript, myMS)
		if err != nil {
			return nil, fmt.Errorf("incoming %d: %w", i, err)
		}
		cs, err := swap.ContractFor(h.Hash, myHL, in.TimelockPubKey, h.InLocktime)
		if err != nil {
			return nil, err
		}
		if err := swap.CheckContractTx(in.ContractTx, in.FundingOutPoint, in.FundingValue, cs, cfr); err != nil {
			return nil, fmt.Errorf("incoming %d: %w", i, err)
		}
		if err := swap.CheckSig(in.ContractTx, in.MultisigScript, in.FundingValue, peer, in.SenderSig); err != nil {
			return nil, fmt.Errorf("incoming %d sender signature: %w", i, err)
		}
		// An outpoint of a transaction already in the chain must be
		// unspent and exactly as described; one that is not (the usual
		// case: funding comes after the setup) must come with proof that
		// its funding tx spends the sender's own unspent coins, and no
		// coin may back two reservations waiting for their funding.
		if _, _, err := m.cfg.Backend.Tx(ctx, in.FundingOutPoint.Hash); err == nil {
			if _, err := m.eng.FundingConfs(ctx, in.FundingOutPoint, in.MultisigScript, in.FundingValue); err != nil {
				return nil, fmt.Errorf("incoming %d: %w", i, err)
			}
		} else {
			coins, err := swap.CheckFundingProof(ctx, m.cfg.Backend, &in.Proof, in.FundingOutPoint, in.FundingValue, in.MultisigScript)
			if err != nil {
				return nil, fmt.Errorf("incoming %d: %w", i, err)
			}
			for _, c := range coins {
				if txid, dup := backedBy[c]; dup && txid != in.FundingOutPoint.Hash {
					return nil, fmt.Errorf("%w: coin %v backs two funding txs", swap.ErrFundingProof, c)
				} else if !dup {
					backedBy[c] = in.FundingOutPoint.Hash
					rec.Backing = append(rec.Backing, c)
				}
			}
		}
		msKey := swap.TweakKeyRef(in.MultisigNonce)
		priv, err := msKey.Priv(kr)
		if err != nil {
			return nil, err
		}
		sig, err := swap.SignContract(in.ContractTx, in.MultisigScript, in.FundingValue, priv)
		priv.Zero()
		if err != nil {
			return nil, err
		}
		reply.ReceiverSigs = append(reply.ReceiverSigs, sig)
		rec.In = append(rec.In, &swap.Output{Hop: 0, Dir: swap.DirIn, Idx: i, FundingOutPoint: in.FundingOutPoint,
			Value: in.FundingValue, MultisigScript: in.MultisigScript, ContractScript: cs,
			ContractTx: swap.SerializeTx(in.ContractTx), MyKey: msKey, LockKey: swap.TweakKeyRef(in.HashlockNonce),
			PeerPub: peer.SerializeCompressed(), MySig: sig, PeerSig: in.SenderSig, Status: swap.StatusLive})
	}

	rec.Fee = swap.MakerFee(m.cfg.Terms, inTotal, h.OutLocktime)
	rec.OutTotal = swap.Forward(inTotal, rec.Fee, h.Reimbursement) - m.cfg.Faults.SkimFee()
	parts, err := swap.SplitAmount(rec.OutTotal, len(h.Outgoing), swap.MinOutputValue)
	if err != nil {
		return nil, err
	}
	// The incoming outpoints are ours to bind until the record is saved
	// (no other setup may bind them meanwhile), and the swap index is
	// allocated: all of it checked and claimed under setupMu, briefly.
	unclaim, err := m.claimIncoming(ctx, h, rec.Backing)
	if err != nil {
		return nil, err
	}
	defer unclaim()
	if rec.SwapIndex, err = m.st.AllocSwapIndex(ctx); err != nil {
		return nil, err
	}
	var held []chainhash.Hash
	release := func() {
		for _, txid := range held {
			if err := m.cfg.Wallet.AbandonTx(context.WithoutCancel(ctx), txid); err != nil {
				m.log.Warn("releasing a held funding tx failed", "txid", txid, "err", err)
			}
		}
	}
	// Outgoing 2-of-2 scripts first (key derivation only), then the
	// reservation itself: every held funding tx of the swap in one
	// critical section, so two concurrent setups never each take part of
	// the coins and both fail; then contracts and signatures in parallel
	// with other setups.
	type outgoing struct {
		msKey, tlKey swap.KeyRef
		ms, pk       []byte
		tlPub        *btcec.PublicKey
		sent         *wallet.SentTx
		locked       int64 // the coins its held funding tx spends
	}
	outs := make([]outgoing, len(h.Outgoing))
	var pendingAdd int64
	for k := range h.Outgoing {
		o := &outs[k]
		o.msKey, o.tlKey = swap.SwapKeyRef(rec.SwapIndex, swap.MakerOutMultisigSlot(k)), swap.SwapKeyRef(rec.SwapIndex, swap.MakerOutTimelockSlot(k))
		msPub, err := o.msKey.Pub(kr)
		if err != nil {
			return nil, err
		}
		if o.tlPub, err = o.tlKey.Pub(kr); err != nil {
			return nil, err
		}
		if o.ms, err = script.MultisigScript(msPub, h.Outgoing[k].MultisigPubKey); err != nil {
			return nil, fmt.Errorf("%w: outgoing %d: %v", swap.ErrScript, k, err)
		}
		o.pk = script.WitnessScriptHash(o.ms)
	}
	if err := func() error {
		m.setupMu.Lock()
		defer m.setupMu.Unlock()
		if err := m.checkUnfundedShare(ctx, rec.OutTotal); err != nil {
			return err
		}
		for k := range outs {
			o := &outs[k]
			sent, err := m.cfg.Wallet.FundOutputs(ctx, []*wire.TxOut{wire.NewTxOut(parts[k], o.pk)}, rec.FundingFeeRate, wallet.Regular)
			if err != nil {
				if errors.Is(err, wallet.ErrInsufficientFunds) {
					return fmt.Errorf("%w: %v", swap.ErrLiquidity, err)
				}
				return err
			}
			o.sent = sent
			held = append(held, sent.Txid)
			if k == 0 {
				m.cfg.Faults.AfterCommit(swap.CrashFundingHeld)
			}
		}
		for _, o := range outs {
			fee, _ := m.cfg.Wallet.TxFee(ctx, o.sent.Txid)
			o.locked = int64(fee)
			for _, out := range o.sent.Tx.TxOut {
				o.locked += out.Value
			}
			pendingAdd += o.locked
		}
		m.pending += pendingAdd
		return nil
	}(); err != nil {
		release()
		return nil, err
	}
	defer func() {
		m.setupMu.Lock()
		m.pending -= pendingAdd
		m.setupMu.Unlock()
	}()
	rec.ReservedAt = time.Now().Unix()
	for k := range outs {
		o, next := &outs[k], &h.Outgoing[k]
		op, _ := outpointOf(o.sent.Tx, o.pk)
		cs, err := swap.ContractFor(h.Hash, next.HashlockPubKey, o.tlPub, h.OutLocktime)
		if err != nil {
			release()
			return nil, err
		}
		ctxn, err := script.NewContractTx(op, parts[k], cs, swap.ContractFee(cfr))
		if err != nil {
			release()
			return nil, err
		}
		msPriv, err := o.msKey.Priv(kr)
		if err != nil {
			release()
			return nil, err
		}
		sig, err := swap.SignContract(ctxn, o.ms, parts[k], msPriv)
		msPriv.Zero()
		if err != nil {
			release()
			return nil, err
		}
		txid := o.sent.Txid
		rec.Out = append(rec.Out, &swap.Output{Hop: 1, Dir: swap.DirOut, Idx: k, FundingOutPoint: op, Value: parts[k],
			MultisigScript: o.ms, ContractScript: cs, ContractTx: swap.SerializeTx(ctxn), MyKey: o.msKey, LockKey: o.tlKey,
			PeerPub: next.MultisigPubKey.SerializeCompressed(), MySig: sig, FundingTxid: &txid, Status: swap.StatusLive})
		proof, err := swap.ProveFunding(ctx, m.cfg.Wallet, o.sent.Tx)
		if err != nil {
			release()
			return nil, err
		}
		reply.Outgoing = append(reply.Outgoing, protocol.OutgoingOutput{FundingOutPoint: op, FundingValue: parts[k],
			MultisigScript: o.ms, TimelockPubKey: o.tlPub, ContractTx: ctxn, SenderSig: sig, Proof: proof})
	}
	frame, err := protocol.EncodeMessage(reply)
	if err != nil {
		release()
		return nil, err
	}
	rec.Reply, rec.Request = frame, reqHash[:]
	if err := m.eng.Watch(ctx, rec.Outputs()); err != nil {
		release()
		return nil, err
	}
	if err := m.st.Save(ctx, rec); err != nil {
		release()
		return nil, err
	}
	m.touch(h.SwapID)
	m.log.Info("swap reserved", "swap", h.SwapID, "in_total", inTotal, "out_total", rec.OutTotal, "fee", rec.Fee,
		"reimbursement", rec.Reimbursement, "tx_count", rec.TxCount, "in_locktime", h.InLocktime, "out_locktime", h.OutLocktime)
	m.cfg.Faults.AfterCommit(rec.Phase)
	return reply, nil
}

// checkUnfundedShare refuses a reservation of out that would bring the
// reservations whose incoming funding is not on our node yet above
// MaxUnfundedPercent of the liquidity. Called with setupMu held.
func (m *Maker) checkUnfundedShare(ctx context.Context, out int64) error {
	liq, _, err := m.cfg.Wallet.Liquidity(ctx)
	if err != nil {
		return err
	}
	swaps, err := m.st.MakerSwaps(ctx)
	if err != nil {
		return err
	}
	unfunded := m.pending
	for _, r := range swaps {
		if r.Phase == swap.MakerReserved && !m.funded[r.ID] {
			unfunded += m.lockedBy(ctx, r)
		}
	}
	// liq is what is left after every reservation (held txs spent
	// their coins); the unfunded ones count back into the whole.
	whole := int64(liq) + unfunded
	// One reservation may be as large as the offer allows when it is the
	// only one waiting for its funding; several share the limit.
	if limit := whole * int64(m.cfg.MaxUnfundedPercent) / 100; unfunded > 0 && unfunded+out > limit {
		return fmt.Errorf("%w: reservations not yet funded hold %d of %d sat, the limit is %d%%; retry later",
			swap.ErrBusy, unfunded, whole, m.cfg.MaxUnfundedPercent)
	}
	return nil
}

// lockedBy is what a reservation takes out of the liquidity: the coins its
// held funding txs spend (their change is not spendable either until they
// confirm), at least its outgoing total.
func (m *Maker) lockedBy(ctx context.Context, r *swap.MakerSwap) int64 {
	var locked int64
	for _, o := range r.Out {
		if o.FundingTxid == nil {
			continue
		}
		tx, _, err := m.cfg.Wallet.StoredTx(ctx, *o.FundingTxid)
		if err != nil {
			continue
		}
		fee, _ := m.cfg.Wallet.TxFee(ctx, *o.FundingTxid)
		locked += int64(fee)
		for _, out := range tx.TxOut {
			locked += out.Value
		}
	}
	return max(locked, r.OutTotal)
}

// claimIncoming checks that no swap (stored, or being set up right now)
// binds any of h's incoming outpoints, and that none of the coins backing
// their funding proofs backs another reservation still waiting for its
// funding, and claims both until the returned func is called (after the
// record is saved or the setup failed).
func (m *Maker) claimIncoming(ctx context.Context, h *protocol.SetupHop, backing []wire.OutPoint) (func(), error) {
	m.setupMu.Lock()
	defer m.setupMu.Unlock()
	for i := range h.Incoming {
		op := h.Incoming[i].FundingOutPoint
		if _, busy := m.inflight[op]; busy {
			return nil, fmt.Errorf("%w: %v (being set up)", swap.ErrOutpointBound, op)
		}
		if bound, err := m.st.OutpointBound(ctx, op, swap.DirIn); err != nil {
			return nil, err
		} else if bound {
			return nil, fmt.Errorf("%w: %v", swap.ErrOutpointBound, op)
		}
	}
	if len(backing) > 0 {
		for _, c := range backing {
			if _, busy := m.inflight[c]; busy {
				return nil, fmt.Errorf("%w: coin %v backs a reservation being set up", swap.ErrFundingProof, c)
			}
		}
		swaps, err := m.st.MakerSwaps(ctx)
		if err != nil {
			return nil, err
		}
		mine := make(map[wire.OutPoint]bool, len(backing))
		for _, c := range backing {
			mine[c] = true
		}
		for _, r := range swaps {
			if r.Phase != swap.MakerReserved {
				continue
			}
			for _, c := range r.Backing {
				if mine[c] {
					return nil, fmt.Errorf("%w: coin %v already backs a reservation waiting for its funding", swap.ErrFundingProof, c)
				}
			}
		}
	}
	claimed := append([]wire.OutPoint(nil), backing...)
	for i := range h.Incoming {
		claimed = append(claimed, h.Incoming[i].FundingOutPoint)
	}
	for _, op := range claimed {
		m.inflight[op] = struct{}{}
	}
	return func() {
		m.setupMu.Lock()
		defer m.setupMu.Unlock()
		for _, op := range claimed {
			delete(m.inflight, op)
		}
	}, nil
}

// requestHash identifies a SetupHop by its encoding (decoding then
// re-encoding is canonical: the codec has one encoding per message).
func requestHash(h *protocol.SetupHop) ([32]byte, error) {
	frame, err := protocol.EncodeMessage(h)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(frame), nil
}

// broadcastFunding publishes our outgoing funding txs (idempotent: a tx
// the node already has counts as sent).
func (m *Maker) broadcastFunding(ctx context.Context, rec *swap.MakerSwap) {
	if m.cfg.Faults.Has(swap.FaultMakerSkipFunding) {
		return
	}
	for _, o := range rec.Out {
		if err := m.cfg.Wallet.BroadcastStored(ctx, *o.FundingTxid); err != nil {
			// Stored as publish: the wallet rebroadcasts it; recovery
			// handles a refusal.
			m.log.Warn("funding broadcast failed", "swap", rec.ID, "txid", o.FundingTxid, "err", err)
		}
	}
}

func fundingBroadcastReply(rec *swap.MakerSwap) *protocol.FundingBroadcast {
	r := &protocol.FundingBroadcast{SwapID: rec.ID}
	for _, o := range rec.Out {
		r.Txids = append(r.Txids, o.FundingOutPoint.Hash)
	}
	return r
}

// handleFund verifies the next receiver's signatures on our outgoing
// contracts, checks our incoming funding on our own node (confirmed ≥
// RequiredConfirms, exact script and value), commits, and broadcasts our
// funding (idempotent).
func (m *Maker) handleFund(ctx context.Context, f *protocol.FundHop) (*protocol.FundingBroadcast, func() error, error) {
	rec, err := m.st.LoadMaker(ctx, f.SwapID)
	if err != nil {
		return nil, nil, err
	}
	m.touch(f.SwapID)
	switch rec.Phase {
	case swap.MakerFundingBroadcast:
		// A repeated FundHop (the taker re-dialed, or we restarted right
		// after committing): the broadcast may never have left.
		m.broadcastFunding(ctx, rec)
		return fundingBroadcastReply(rec), nil, nil
	case swap.MakerPreimageKnown, swap.MakerKeysSent:
		return fundingBroadcastReply(rec), nil, nil
	case swap.MakerReserved, swap.MakerIncomingConfirmed:
	default:
		return nil, nil, fmt.Errorf("%w: swap is %s", swap.ErrWrongPhase, rec.Phase)
	}
	if len(f.ReceiverSigs) != len(rec.Out) {
		return nil, nil, fmt.Errorf("%w: %d signatures for %d outputs", swap.ErrSignature, len(f.ReceiverSigs), len(rec.Out))
	}
	for i, o := range rec.Out {
		tx, err := o.UnsignedContractTx()
		if err != nil {
			return nil, nil, err
		}
		peer, err := btcec.ParsePubKey(o.PeerPub)
		if err != nil {
			return nil, nil, err
		}
		if err := swap.CheckSig(tx, o.MultisigScript, o.Value, peer, f.ReceiverSigs[i]); err != nil {
			return nil, nil, fmt.Errorf("outgoing %d receiver signature: %w", i, err)
		}
	}
	// Incoming confirmed on OUR node. A swap already reserved waits for
	// an unreachable chain backend (or watcher) to return, up to
	// FundHopWait, instead of failing the swap.
	deadline := time.Now().Add(m.cfg.FundHopWait)
	for {
		herr := m.eng.Healthy()
		if herr == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, herr
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(fundHopPoll):
		}
	}
	var minConfs int32
	for {
		minConfs, err = m.incomingConfs(ctx, rec)
		if err == nil && minConfs >= int32(m.cfg.RequiredConfirms) {
			break
		}
		if err != nil && !errors.Is(err, swap.ErrFundingMissing) && !errors.Is(err, swap.ErrUnavailable) {
			return nil, nil, err
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%w: %d of %d confirmations", swap.ErrNotConfirmed, minConfs, m.cfg.RequiredConfirms)
			}
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(fundHopPoll):
		}
	}
	tip, _, err := m.cfg.Backend.Tip(ctx)
	if err != nil {
		return nil, nil, err
	}
	for i, o := range rec.Out {
		o.PeerSig = f.ReceiverSigs[i]
	}
	rec.IncomingConfHeight = tip - minConfs + 1
	rec.Phase = swap.MakerIncomingConfirmed
	if err := m.st.Save(ctx, rec); err != nil {
		return nil, nil, err
	}
	m.cfg.Faults.AfterCommit(rec.Phase)
	rec.Phase = swap.MakerFundingBroadcast
	if err := m.st.Save(ctx, rec); err != nil {
		return nil, nil, err
	}
	m.cfg.Faults.AfterCommit(rec.Phase)
	m.broadcastFunding(ctx, rec)
	m.log.Info("funding broadcast", "swap", rec.ID, "incoming_confs", minConfs, "txs", len(rec.Out))
	var after func() error
	if m.cfg.Faults.Has(swap.FaultMakerBroadcastContracts) {
		// The contracts go out with the funding, before the reply: a
		// block mined between the two broadcasts would otherwise let the
		// taker see a clean hop first (a race that made the scenario
		// flaky, not a different attack).
		m.mu.Lock()
		m.vanished[rec.ID] = true
		m.mu.Unlock()
		if err := m.eng.BroadcastContracts(context.WithoutCancel(ctx), m.cfg.Wallet.Keys(), rec.Outputs()); err != nil {
			m.log.Warn("fault injection: contract broadcast failed", "err", err)
		}
		after = func() error {
			m.log.Info("fault injection: contracts broadcast, vanishing", "swap", rec.ID)
			return errDrop
		}
	}
	return fundingBroadcastReply(rec), after, nil
}

// incomingConfs returns the least confirmation count of our incoming
// funding outputs on our node.
func (m *Maker) incomingConfs(ctx context.Context, rec *swap.MakerSwap) (int32, error) {
	least := int32(-1)
	for _, o := range rec.In {
		c, err := m.eng.FundingConfs(ctx, o.FundingOutPoint, o.MultisigScript, o.Value)
		if err != nil {
			return 0, err
		}
		if least < 0 || c < least {
			least = c
		}
	}
	return least, nil
}

// handlePreimage checks the preimage, commits it, then hands over our
// outgoing keys (our incoming is secured: confirmed, fully signed contract,
// preimage known).
func (m *Maker) handlePreimage(ctx context.Context, p *protocol.Preimage) (*protocol.PrivKeyHandover, error) {
	rec, err := m.st.LoadMaker(ctx, p.SwapID)
	if err != nil {
		return nil, err
	}
	m.touch(p.SwapID)
	if script.PreimageHash(p.Preimage) != rec.Hash {
		return nil, fmt.Errorf("%w: preimage does not hash to the swap's hash", swap.ErrHash)
	}
	switch rec.Phase {
	case swap.MakerFundingBroadcast, swap.MakerPreimageKnown, swap.MakerKeysSent:
	default:
		return nil, fmt.Errorf("%w: swap is %s", swap.ErrWrongPhase, rec.Phase)
	}
	if rec.Phase == swap.MakerFundingBroadcast {
		// Our incoming must still be there for the preimage to secure it.
		if _, err := m.incomingConfs(ctx, rec); err != nil {
			return nil, err
		}
		pre := p.Preimage
		rec.Preimage = &pre
		rec.Phase = swap.MakerPreimageKnown
		if err := m.st.Save(ctx, rec); err != nil {
			return nil, err
		}
		m.cfg.Faults.AfterCommit(rec.Phase)
	}
	if rec.Phase == swap.MakerPreimageKnown {
		rec.Phase = swap.MakerKeysSent
		for _, o := range rec.Out {
			o.Status = swap.StatusGiven
		}
		if err := m.st.Save(ctx, rec); err != nil {
			return nil, err
		}
		m.cfg.Faults.AfterCommit(rec.Phase)
	}
	reply := &protocol.PrivKeyHandover{SwapID: rec.ID}
	for _, o := range rec.Out {
		k, err := o.MyKey.Priv(m.cfg.Wallet.Keys())
		if err != nil {
			return nil, err
		}
		reply.Keys = append(reply.Keys, k)
	}
	m.log.Info("preimage received; outgoing keys handed over", "swap", rec.ID)
	return reply, nil
}

// handleKeys checks the sender's keys of our incoming outputs, commits
// them and sweeps the incoming coins into the wallet (Swept).
func (m *Maker) handleKeys(ctx context.Context, k *protocol.PrivKeyHandover) error {
	rec, err := m.st.LoadMaker(ctx, k.SwapID)
	if err != nil {
		return err
	}
	m.touch(k.SwapID)
	switch rec.Phase {
	case swap.MakerKeysSent, swap.PhaseRecovering:
	case swap.MakerIncomingKeysKnown, swap.MakerSwept, swap.MakerComplete:
		return nil
	default:
		return fmt.Errorf("%w: swap is %s", swap.ErrWrongPhase, rec.Phase)
	}
	if len(k.Keys) != len(rec.In) {
		return fmt.Errorf("%w: %d keys for %d outputs", swap.ErrKeyMismatch, len(k.Keys), len(rec.In))
	}
	for i, o := range rec.In {
		if !bytes.Equal(k.Keys[i].PubKey().SerializeCompressed(), o.PeerPub) {
			return fmt.Errorf("%w: key %d", swap.ErrKeyMismatch, i)
		}
	}
	for i, o := range rec.In {
		b := k.Keys[i].Key.Bytes()
		o.PeerPriv = b[:]
	}
	if rec.Phase == swap.PhaseRecovering {
		return m.st.Save(ctx, rec) // the recovery pass sweeps cooperatively
	}
	rec.Phase = swap.MakerIncomingKeysKnown
	if err := m.st.Save(ctx, rec); err != nil {
		return err
	}
	m.cfg.Faults.AfterCommit(rec.Phase)
	return m.sweep(ctx, rec)
}

// sweep publishes the cooperative sweeps of unsettled incoming outputs and
// completes the swap. Each output is swept on its own (Engine.Sweep finds
// a sweep published before a crash instead of rebuilding it), so one
// output's failure never blocks the others; progress is saved after the
// pass. While any output is unswept the swap goes on being driven, and
// once its incoming timelock comes within the reaction time (the sender
// could take those coins back) or a contract appears, it is handed to
// recovery, which claims by hashlock: we know the preimage.
func (m *Maker) sweep(ctx context.Context, rec *swap.MakerSwap) error {
	rate, err := m.eng.FeeRate(ctx)
	if err != nil {
		return err
	}
	var fees int64
	var failed []error
	swept := 0
	for _, o := range rec.In {
		if o.Status != swap.StatusLive {
			continue
		}
		tx, fee, err := m.eng.Sweep(ctx, m.cfg.Wallet.Keys(), o, rate)
		if err != nil {
			failed = append(failed, fmt.Errorf("sweep of %v: %w", o.FundingOutPoint, err))
			continue
		}
		h := tx.TxHash()
		o.Status, o.ResolveTxid = swap.StatusSettled, &h
		fees += fee
		swept++
		if swept == 1 {
			m.cfg.Faults.AfterCommit(swap.CrashFirstSweep)
		}
	}
	if len(failed) > 0 {
		if swept > 0 {
			if err := m.st.Save(ctx, rec); err != nil {
				return err
			}
		}
		err := errors.Join(failed...)
		if m.sweepTooLate(ctx, rec) || errors.Is(err, swap.ErrContractOnChain) {
			m.log.Warn("cooperative sweep failed close to the incoming timelock or against a contract; recovering by hashlock",
				"swap", rec.ID, "err", err)
			rec.Phase = swap.PhaseRecovering
			if err := m.st.Save(ctx, rec); err != nil {
				return err
			}
			m.cfg.Faults.AfterCommit(rec.Phase)
			return m.recoverStep(ctx, rec)
		}
		return err
	}
	rec.Phase = swap.MakerSwept
	if err := m.st.Save(ctx, rec); err != nil {
		return err
	}
	m.cfg.Faults.AfterCommit(rec.Phase)
	rec.Phase = swap.MakerComplete
	if err := m.st.Save(ctx, rec); err != nil {
		return err
	}
	m.log.Info("swap complete: incoming swept", "swap", rec.ID, "sweep_fees", fees, "gain_before_mining_fees", rec.InTotal-rec.OutTotal)
	return nil
}

// sweepTooLate: the incoming contracts' timelock (counted from the
// incoming funding's confirmation) is within ReactionBlocks of expiring,
// so the sender could soon refund: stop retrying cooperative sweeps and
// claim by hashlock. Unknown tip or confirmation height: not yet.
func (m *Maker) sweepTooLate(ctx context.Context, rec *swap.MakerSwap) bool {
	if rec.IncomingConfHeight <= 0 {
		return false
	}
	tip, _, err := m.cfg.Backend.Tip(ctx)
	if err != nil {
		return false
	}
	return tip+int32(m.cfg.ReactionBlocks) >= rec.IncomingConfHeight+int32(rec.InLocktime)
}

// handleAbort releases a swap that funded nothing.
func (m *Maker) handleAbort(ctx context.Context, a *protocol.Abort) error {
	rec, err := m.st.LoadMaker(ctx, a.SwapID)
	if errors.Is(err, swap.ErrUnknownSwap) {
		return nil
	}
	if err != nil {
		return err
	}
	switch rec.Phase {
	case swap.MakerReserved, swap.MakerIncomingConfirmed:
		m.log.Info("swap aborted by the taker", "swap", rec.ID)
		return m.abandon(ctx, rec)
	}
	m.log.Info("abort ignored: our funding may be out; recovery decides", "swap", rec.ID, "phase", rec.Phase)
	return nil
}

// abandon drops the held funding txs (liquidity released) and marks the
// swap abandoned. Only for phases before funding_broadcast.
func (m *Maker) abandon(ctx context.Context, rec *swap.MakerSwap) error {
	for _, o := range rec.Out {
		if o.FundingTxid != nil {
			if err := m.cfg.Wallet.AbandonTx(ctx, *o.FundingTxid); err != nil && !errors.Is(err, wallet.ErrUnknownTx) {
				return err
			}
		}
		o.Status = swap.StatusAbandoned
	}
	for _, o := range rec.In {
		o.Status = swap.StatusAbandoned
	}
	rec.Phase = swap.PhaseAbandoned
	m.setupMu.Lock()
	delete(m.funded, rec.ID)
	m.setupMu.Unlock()
	return m.st.Save(ctx, rec)
}

var _ = btcutil.Amount(0)
