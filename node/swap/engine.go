package swap

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// Chain is what the swap engine and the maker and taker ask of the chain
// backend: the tip, transactions, unspent outputs and their mempool
// spenders, fee estimates (lnd's BlockChainIO is five methods too).
// chain.Backend implements it; unit tests use wallet/chain/chaintest.
type Chain interface {
	Tip(ctx context.Context) (int32, chainhash.Hash, error)
	Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, chain.TxStatus, error)
	UTXO(ctx context.Context, op wire.OutPoint) (*wire.TxOut, int32, error)
	MempoolSpender(ctx context.Context, op wire.OutPoint) (*chainhash.Hash, error)
	FeeRate(ctx context.Context, targetBlocks int) (int64, error)
}

// Engine is the chain side of swaps shared by both roles: fee estimates,
// funding checks on our own node, cooperative sweeps, the watcher hook
// and the per-output recovery step.
type Engine struct {
	W     *wallet.Wallet
	B     Chain
	Store *Store
	Log   *slog.Logger
	// FeeTarget is the confirmation target of fee estimates.
	FeeTarget int
	// OnSignal is called (outside any lock) when the watcher hook flagged
	// a swap (contract on chain, preimage learned), to wake its driver.
	OnSignal func(id protocol.SwapID)
}

// NewEngine returns an engine over w and b.
func NewEngine(w *wallet.Wallet, b Chain, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.Default().With("subsystem", "swap")
	}
	return &Engine{W: w, B: b, Store: NewStore(w), Log: log, FeeTarget: wallet.DefaultFeeTargetBlocks}
}

// ReleaseOrphanHeld abandons held funding transactions that no unfinished
// swap owns. A held transaction is committed (its inputs marked spent)
// before the swap record that references it; a process killed between the
// two leaves coins that nothing would ever free. Run it at start, before
// any swap is set up. It returns how many were released.
func (e *Engine) ReleaseOrphanHeld(ctx context.Context) (int, error) {
	held, err := e.W.HeldTxids(ctx)
	if err != nil || len(held) == 0 {
		return 0, err
	}
	owned := map[chainhash.Hash]bool{}
	makers, err := e.Store.MakerSwaps(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range makers {
		if !r.Phase.Final() {
			for _, o := range r.Out {
				if o.FundingTxid != nil {
					owned[*o.FundingTxid] = true
				}
			}
		}
	}
	takers, err := e.Store.TakerSwaps(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range takers {
		if !r.Phase.Final() {
			for _, o := range r.Out {
				if o.FundingTxid != nil {
					owned[*o.FundingTxid] = true
				}
			}
		}
	}
	n := 0
	for _, txid := range held {
		if owned[txid] {
			continue
		}
		if err := e.W.AbandonTx(ctx, txid); err != nil {
			return n, fmt.Errorf("releasing orphan held tx %s: %w", txid, err)
		}
		e.Log.Warn("released a held funding transaction that no swap owns (a crash between funding and the swap's commit)", "txid", txid)
		n++
	}
	return n, nil
}

// FeeRate returns our node's estimate, floored at the wallet minimum.
func (e *Engine) FeeRate(ctx context.Context) (int64, error) {
	r, err := e.B.FeeRate(ctx, e.FeeTarget)
	if err != nil {
		return 0, fmt.Errorf("%w: fee estimate: %w", ErrUnavailable, err)
	}
	return min(max(r, wallet.MinFeeRate), wallet.MaxFeeRate), nil
}

// Healthy fails closed: the wallet's watcher must poll successfully.
func (e *Engine) Healthy() error {
	if err := e.W.Healthy(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// FundingConfs checks on our own node that op exists unspent, pays the
// P2WSH of ms with value sat, and returns its confirmations (0 = mempool).
func (e *Engine) FundingConfs(ctx context.Context, op wire.OutPoint, ms []byte, value int64) (int32, error) {
	out, confs, err := e.B.UTXO(ctx, op)
	if errors.Is(err, chain.ErrNotFound) {
		return 0, refuse(ErrFundingMissing, "%v not found unspent", op)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if out.Value != value || !bytes.Equal(out.PkScript, script.WitnessScriptHash(ms)) {
		return 0, refuse(ErrFundingMissing, "%v pays %d to another script or value", op, out.Value)
	}
	return confs, nil
}

// Watch makes the wallet watch the contract script of every output and
// the 2-of-2 of incoming ones (SwapIncoming), before any of it can appear.
func (e *Engine) Watch(ctx context.Context, outs []*Output) error {
	for _, o := range outs {
		if o.Dir == DirIn {
			if _, err := e.W.WatchScript(ctx, o.MultisigScript, wallet.SwapIncoming, "swap-in"); err != nil {
				return err
			}
		}
		if _, err := e.W.WatchScript(ctx, o.ContractScript, wallet.Contract, "contract"); err != nil {
			return err
		}
	}
	return nil
}

// HandleEvent is the wallet watcher hook: a contract of a live swap
// appearing flags the swap for recovery; a spend of a contract output
// that reveals the preimage records it. Idempotent.
func (e *Engine) HandleEvent(ctx context.Context, ev chain.Event) error {
	if ev.Output == nil || ev.Kind == chain.Disconnected {
		return nil
	}
	refs, err := e.Store.ByContractPk(ctx, ev.Output.PkScript)
	if err != nil || len(refs) == 0 {
		return err
	}
	for _, ref := range refs {
		var pre []byte
		if ev.Kind == chain.Spent && ev.Tx != nil && ev.InputIndex >= 0 && ev.InputIndex < len(ev.Tx.TxIn) {
			var hash []byte
			if err := e.W.DB().QueryRowContext(ctx, `SELECT hash FROM swaps WHERE id = ?`, ref.SwapID[:]).Scan(&hash); err != nil {
				return err
			}
			var h [20]byte
			copy(h[:], hash)
			if p, ok := script.PreimageFromWitness(ev.Tx.TxIn[ev.InputIndex].Witness, h); ok {
				pre = p[:]
			}
		}
		changed, err := e.requestRecovery(ctx, ref.SwapID, pre)
		if err != nil {
			return err
		}
		if changed {
			e.Log.Info("contract of a live swap seen on chain", "swap", ref.SwapID, "event", ev.Kind.String(),
				"txid", ev.Txid, "preimage_learned", pre != nil)
		}
		if e.OnSignal != nil {
			e.OnSignal(ref.SwapID)
		}
	}
	return nil
}

// CatchUp flags, as HandleEvent would, every live swap of role that has a
// contract tx in the mempool or the chain, and returns how many it
// flagged. The watcher delivers an event once: those of the start's first
// sync, and any before this engine's handler was registered (the node was
// down), never reach HandleEvent. Call it once the handler is registered.
// Learned preimages need no catching up: recovery reads hashlock spends
// from the chain itself (Resolve).
func (e *Engine) CatchUp(ctx context.Context, role Role) (int, error) {
	ids, err := e.Store.Live(ctx, role)
	if err != nil {
		return 0, err
	}
	flagged := 0
	for _, id := range ids {
		var outs []*Output
		switch role {
		case RoleTaker:
			rec, err := e.Store.LoadTaker(ctx, id)
			if err != nil {
				return flagged, err
			}
			outs = rec.Outputs()
		default:
			rec, err := e.Store.LoadMaker(ctx, id)
			if err != nil {
				return flagged, err
			}
			outs = rec.Outputs()
		}
		seen, err := e.ContractOnChain(ctx, outs)
		if err != nil {
			return flagged, err
		}
		if !seen {
			continue
		}
		changed, err := e.requestRecovery(ctx, id, nil)
		if err != nil {
			return flagged, err
		}
		if changed {
			flagged++
			e.Log.Info("contract of a live swap found on chain at start", "swap", id)
			if e.OnSignal != nil {
				e.OnSignal(id)
			}
		}
	}
	return flagged, nil
}

// requestRecovery flags swap id for recovery and records pre (a preimage
// read from a hashlock spend; nil if none). It reports whether anything
// changed: a new flag, or a first preimage.
func (e *Engine) requestRecovery(ctx context.Context, id protocol.SwapID, pre []byte) (bool, error) {
	var changed int64
	err := e.W.ExecTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE swaps SET recover_requested = 1,
			learned_preimage = COALESCE(learned_preimage, ?) WHERE id = ?
			AND (recover_requested = 0 OR (learned_preimage IS NULL AND ? IS NOT NULL))`, pre, id[:], pre)
		if err == nil {
			changed, _ = res.RowsAffected()
		}
		return err
	})
	return changed > 0, err
}

// ContractOnChain: the contract tx of one of outs is in our node's mempool
// or chain. Unlike Signals it asks the node, so it also sees what happened
// while this process was not watching.
func (e *Engine) ContractOnChain(ctx context.Context, outs []*Output) (bool, error) {
	for _, o := range outs {
		if len(o.ContractTx) == 0 {
			continue
		}
		_, _, err := e.B.Tx(ctx, o.ContractTxid())
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, chain.ErrNotFound) {
			return false, err
		}
	}
	return false, nil
}

// Signals returns what the watcher hook recorded for a swap.
func (e *Engine) Signals(ctx context.Context, id protocol.SwapID) (*[32]byte, bool, error) {
	var pre []byte
	var rec bool
	err := e.W.DB().QueryRowContext(ctx, `SELECT learned_preimage, recover_requested FROM swaps WHERE id = ?`, id[:]).Scan(&pre, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if len(pre) != 32 {
		return nil, rec, nil
	}
	var p [32]byte
	copy(p[:], pre)
	return &p, rec, nil
}

// destScript returns a fresh wallet script (Swept for swap coins and
// claims, Regular internal for refunds).
func (e *Engine) destScript(ctx context.Context, b keys.Branch) ([]byte, error) {
	addr, err := e.W.NewAddress(ctx, b)
	if err != nil {
		return nil, err
	}
	return txscript.PayToAddrScript(addr)
}

// Sweep spends an incoming 2-of-2 output with both keys to a fresh Swept
// address at rate and publishes it. It returns the sweep tx and its fee.
func (e *Engine) Sweep(ctx context.Context, kr *keys.Keyring, o *Output, rate int64) (*wire.MsgTx, int64, error) {
	if len(o.PeerPriv) != 32 {
		return nil, 0, errors.New("sweep: counterparty key unknown")
	}
	// Idempotent per output: a sweep stored or published before (a crash,
	// a broadcast that failed while the node was unreachable) is found in
	// the wallet or on the node and sent again, not rebuilt (a new
	// destination address would make it another transaction, refused as
	// spending a spent output); an output the sender took back with its
	// contract is for recovery.
	if spent, err := e.spender(ctx, o.FundingOutPoint); err != nil {
		return nil, 0, fmt.Errorf("sweep: %w", err)
	} else if spent != nil {
		if spent.TxHash() == o.ContractTxid() {
			return nil, 0, fmt.Errorf("%w: the sender broadcast the contract of %v", ErrContractOnChain, o.FundingOutPoint)
		}
		fee := o.Value
		for _, out := range spent.TxOut {
			fee -= out.Value
		}
		return spent, fee, nil
	}
	if tx, err := e.W.StoredSpender(ctx, o.FundingOutPoint, sweepLabel); err != nil {
		return nil, 0, fmt.Errorf("sweep: %w", err)
	} else if tx != nil {
		fee, _ := e.W.TxFee(ctx, tx.TxHash())
		if err := e.W.PublishTx(ctx, tx, fee, sweepLabel); err != nil {
			return nil, 0, err
		}
		return tx, int64(fee), nil
	}
	mine, err := o.MyKey.Priv(kr)
	if err != nil {
		return nil, 0, err
	}
	defer mine.Zero()
	peer, _ := btcec.PrivKeyFromBytes(o.PeerPriv)
	dest, err := e.destScript(ctx, keys.BranchSwept)
	if err != nil {
		return nil, 0, err
	}
	fee := script.FeeForVSize(SweepTxVSize, rate)
	tx, err := script.CooperativeSpendTx(o.FundingOutPoint, o.Value, o.MultisigScript, mine, peer, dest, fee)
	if err != nil {
		return nil, 0, err
	}
	if err := e.W.PublishTx(ctx, tx, btcutil.Amount(fee), sweepLabel); err != nil {
		return nil, 0, err
	}
	return tx, fee, nil
}

// sweepLabel marks our cooperative sweeps in the wallet, where Sweep
// finds one published before.
const sweepLabel = "swap-sweep"

// spender returns the transaction spending op (mempool or chain), or nil
// when op is unspent (or unknown to our node).
func (e *Engine) spender(ctx context.Context, op wire.OutPoint) (*wire.MsgTx, error) {
	h, err := e.B.MempoolSpender(ctx, op)
	if err != nil {
		return nil, err
	}
	if h == nil {
		if _, _, err := e.B.UTXO(ctx, op); err == nil {
			return nil, nil
		} else if !errors.Is(err, chain.ErrNotFound) {
			return nil, err
		}
		if h, err = e.W.CoinSpender(ctx, op); err != nil || h == nil {
			return nil, err
		}
	}
	tx, _, err := e.B.Tx(ctx, *h)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

// publish publishes tx, treating "already there" as success.
func (e *Engine) publish(ctx context.Context, tx *wire.MsgTx, fee int64, label string) error {
	return e.W.PublishTx(ctx, tx, btcutil.Amount(fee), label)
}

// Resolve runs one idempotent recovery pass over outs (a swap that is
// Recovering): cooperative sweeps where we hold both keys, hashlock claims
// of incoming contracts when the preimage is known (broadcasting the
// contract first; the claim pays for both: CPFP), broadcast of outgoing
// contracts and timelock refunds once CSV allows. It updates the outputs'
// Status/ResolveTxid (the caller saves the record) and returns a preimage
// learned from a counterparty's hashlock spend, if any.
func (e *Engine) Resolve(ctx context.Context, kr *keys.Keyring, outs []*Output, hash [20]byte, preimage *[32]byte) (*[32]byte, error) {
	rate, err := e.FeeRate(ctx)
	if err != nil {
		return nil, err
	}
	var learned *[32]byte
	for _, o := range outs {
		if o.Resolved() {
			continue
		}
		p, err := e.resolveOne(ctx, kr, o, hash, preimage, rate)
		if err != nil {
			e.Log.Warn("recovery step failed; retrying later", "output", fmt.Sprintf("%s/%d/%d", o.Dir, o.Hop, o.Idx), "err", err)
			continue
		}
		if p != nil {
			learned, preimage = p, p
		}
	}
	return learned, nil
}

func (e *Engine) resolveOne(ctx context.Context, kr *keys.Keyring, o *Output, hash [20]byte, preimage *[32]byte, rate int64) (*[32]byte, error) {
	ctxid := o.ContractTxid()
	cop := o.ContractOutPoint()
	// The funding's spender first, the contract second: a contract
	// broadcast between the two reads is then seen as the contract. In the
	// other order it was taken for a cooperative sweep (the 2-of-2 spent,
	// "no contract"), and an incoming output marked settled is never
	// claimed by hashlock: the sender refunds it after CSV.
	fundingSpender, err := e.spender(ctx, o.FundingOutPoint)
	if err != nil {
		return nil, err
	}
	_, cst, err := e.B.Tx(ctx, ctxid)
	contractKnown := err == nil
	if err != nil && !errors.Is(err, chain.ErrNotFound) {
		return nil, err
	}
	if !contractKnown && fundingSpender != nil && fundingSpender.TxHash() == ctxid {
		return nil, fmt.Errorf("contract %v spends the funding but the node does not return it yet", ctxid)
	}
	_, _, ferr := e.B.UTXO(ctx, o.FundingOutPoint)
	fundingUnspent := ferr == nil

	if !contractKnown {
		switch {
		case fundingUnspent && o.Dir == DirIn && len(o.PeerPriv) == 32:
			tx, _, err := e.Sweep(ctx, kr, o, rate)
			if err != nil {
				return nil, err
			}
			h := tx.TxHash()
			o.Status, o.ResolveTxid = StatusSettled, &h
			return nil, nil
		case fundingUnspent && (o.Dir == DirOut || preimage != nil):
			tx, err := o.SignedContractTx(kr)
			if err != nil {
				return nil, err
			}
			if err := e.publish(ctx, tx, o.Value-o.ContractValue(), "swap-contract"); err != nil {
				return nil, err
			}
			e.Log.Info("contract tx broadcast", "txid", ctxid, "dir", string(o.Dir))
			// Fall through to the claim below on the next pass (in) or
			// wait for CSV (out); an incoming claim can go now as CPFP.
			if o.Dir == DirIn {
				return nil, e.claim(ctx, kr, o, *preimage, rate, false)
			}
			return nil, nil
		case fundingSpender != nil:
			// The 2-of-2 was spent by something else than the contract tx:
			// a cooperative sweep (ours or the receiver's after handover).
			h := fundingSpender.TxHash()
			if o.Dir == DirIn {
				o.Status, o.ResolveTxid = StatusSettled, &h
			} else {
				o.Status, o.ResolveTxid = StatusPeer, &h
			}
			return nil, nil
		case o.Dir == DirOut && o.FundingTxid != nil:
			// Our own funding never reached the chain: if it is still held
			// (never broadcast) drop it.
			if _, status, err := e.W.StoredTx(ctx, *o.FundingTxid); err == nil && (status == "held" || status == "abandoned") {
				if status == "held" {
					if err := e.W.AbandonTx(ctx, *o.FundingTxid); err != nil {
						return nil, err
					}
				}
				o.Status = StatusAbandoned
			}
			return nil, nil
		}
		return nil, nil // funding not on chain yet (or never): wait
	}

	// The contract tx is in the mempool or a block.
	sp, err := e.spender(ctx, cop)
	if err != nil {
		return nil, err
	}
	if sp != nil {
		h := sp.TxHash()
		if o.ResolveTxid != nil && *o.ResolveTxid == h {
			return nil, nil
		}
		var learned *[32]byte
		for _, in := range sp.TxIn {
			if in.PreviousOutPoint == cop {
				if p, ok := script.PreimageFromWitness(in.Witness, hash); ok {
					learned = &p
				}
			}
		}
		if learned == nil && o.Dir == DirIn || learned != nil && o.Dir == DirOut {
			o.Status, o.ResolveTxid = StatusPeer, &h
		} else {
			// our own claim/refund recorded elsewhere (e.g. before a crash)
			if o.Dir == DirIn {
				o.Status = StatusClaimed
			} else {
				o.Status = StatusRefunded
			}
			o.ResolveTxid = &h
		}
		if learned != nil {
			e.Log.Info("preimage learned from a hashlock spend", "txid", h)
		}
		return learned, nil
	}
	switch o.Dir {
	case DirIn:
		if preimage == nil {
			return nil, nil // the sender may refund after CSV; nothing we can do
		}
		return nil, e.claim(ctx, kr, o, *preimage, rate, cst.Height > 0 && !cst.InMempool)
	default:
		c, err := o.Contract()
		if err != nil {
			return nil, err
		}
		if cst.InMempool || cst.Confirmations < int32(c.CSV) {
			return nil, nil // CSV not reached yet
		}
		key, err := o.LockKey.Priv(kr)
		if err != nil {
			return nil, err
		}
		defer key.Zero()
		dest, err := e.destScript(ctx, keys.BranchInternal)
		if err != nil {
			return nil, err
		}
		fee := script.FeeForVSize(TimelockClaimVSize, rate)
		tx, err := script.TimelockSpendTx(cop, o.ContractValue(), o.ContractScript, key, dest, fee)
		if err != nil {
			return nil, err
		}
		if err := e.publish(ctx, tx, fee, "swap-refund"); err != nil {
			return nil, err
		}
		h := tx.TxHash()
		o.Status, o.ResolveTxid = StatusRefunded, &h
		e.Log.Info("timelock refund broadcast", "txid", h, "fee", fee)
		return nil, nil
	}
}

// claim publishes the hashlock claim of an incoming contract output. When
// the contract tx is unconfirmed the claim's fee also pays for it (CPFP):
// fee = rate × (contract vsize + claim vsize) − the contract's own fee.
func (e *Engine) claim(ctx context.Context, kr *keys.Keyring, o *Output, preimage [32]byte, rate int64, parentConfirmed bool) error {
	key, err := o.LockKey.Priv(kr)
	if err != nil {
		return err
	}
	defer key.Zero()
	dest, err := e.destScript(ctx, keys.BranchSwept)
	if err != nil {
		return err
	}
	fee := script.FeeForVSize(HashlockClaimVSize, rate)
	if !parentConfirmed {
		parentFee := o.Value - o.ContractValue()
		fee = max(fee, script.FeeForVSize(HashlockClaimVSize+ContractTxVSize, rate)-parentFee)
	}
	tx, err := script.HashlockSpendTx(o.ContractOutPoint(), o.ContractValue(), o.ContractScript, preimage, key, dest, fee)
	if err != nil {
		return err
	}
	if err := e.publish(ctx, tx, fee, "swap-claim"); err != nil {
		return err
	}
	h := tx.TxHash()
	o.Status, o.ResolveTxid = StatusClaimed, &h
	e.Log.Info("hashlock claim broadcast", "txid", h, "fee", fee, "cpfp", !parentConfirmed)
	return nil
}

// BroadcastContracts publishes the fully signed contract txs of outs
// (fault injection: a party that pushes a live swap on chain).
func (e *Engine) BroadcastContracts(ctx context.Context, kr *keys.Keyring, outs []*Output) error {
	for _, o := range outs {
		tx, err := o.SignedContractTx(kr)
		if err != nil {
			return err
		}
		if err := e.publish(ctx, tx, o.Value-o.ContractValue(), "swap-contract"); err != nil {
			return err
		}
	}
	return nil
}

// TxConfs returns a transaction's confirmations on our node (0 in the
// mempool, -1 unknown).
func (e *Engine) TxConfs(ctx context.Context, txid chainhash.Hash) (int32, error) {
	_, st, err := e.B.Tx(ctx, txid)
	if errors.Is(err, chain.ErrNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	if st.InMempool {
		return 0, nil
	}
	return st.Confirmations, nil
}
