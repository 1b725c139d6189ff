package wallet

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// ReservationTTL is how long selected coins stay reserved for one builder.
// Building, signing and one TestAccept call take milliseconds (the RPC call
// timeout bounds the worst case at tens of seconds); 10 minutes leaves a
// large margin while making sure coins held by a crashed builder come back.
const ReservationTTL = 10 * time.Minute

// Sequence for wallet inputs: final except for nLockTime (which we set to
// the synced height against fee sniping, as Bitcoin Core does), and not
// signalling BIP125 replaceability. Not signalling does not make a
// transaction irreplaceable: Bitcoin Core ≥ 28 relays any higher-fee
// conflict (full RBF by default). Swap funding is therefore trusted only
// once confirmed (RequiredConfirms ≥ 1), never in the mempool.
const walletSequence = wire.MaxTxInSequenceNum - 1

// Tx statuses (transactions.status).
const (
	statusHeld    = "held"
	statusPublish = "publish"
)

// SentTx is a transaction the wallet built and stored.
type SentTx struct {
	Tx   *wire.MsgTx
	Txid chainhash.Hash
	Fee  btcutil.Amount
}

// buildReq describes one wallet transaction.
type buildReq struct {
	category Category
	outputs  []*wire.TxOut
	feeRate  int64
	sendMax  bool
	status   string // statusPublish: TestAccept + broadcast; statusHeld: stored only
	label    string
	// insufficient decorates an InsufficientFundsError (CreateBond adds an address).
	insufficient func(*InsufficientFundsError)
	// persist runs inside the storing transaction (bond rows, scripts...).
	persist func(ctx context.Context, tx *sql.Tx, msg *wire.MsgTx) error
	// offerCoins: the coins that back the published offer may be spent
	// (the swaps the offer promises fund from them; a send may not).
	offerCoins bool
}

// selected is a reserved candidate with what is needed to sign it.
type selected struct {
	candidate
	pkScript []byte
	branch   keys.Branch
	index    uint32
}

// Send pays amount to addr from Regular coins at feeRate sat/kvB (0 = the
// backend's estimate), stores the transaction, then broadcasts it.
func (w *Wallet) Send(ctx context.Context, addr btcutil.Address, amount btcutil.Amount, feeRate int64) (*SentTx, error) {
	pk, err := w.payScript(addr)
	if err != nil {
		return nil, err
	}
	return w.build(ctx, buildReq{category: Regular, outputs: []*wire.TxOut{wire.NewTxOut(int64(amount), pk)},
		feeRate: feeRate, status: statusPublish, label: "send"})
}

// SendMax sends every confirmed coin of cat (Regular or Swept) to addr, less
// the fee, without change.
func (w *Wallet) SendMax(ctx context.Context, addr btcutil.Address, cat Category, feeRate int64) (*SentTx, error) {
	pk, err := w.payScript(addr)
	if err != nil {
		return nil, err
	}
	return w.build(ctx, buildReq{category: cat, outputs: []*wire.TxOut{wire.NewTxOut(0, pk)},
		feeRate: feeRate, sendMax: true, status: statusPublish, label: "send-max"})
}

// FundOutputs builds and signs a transaction paying outputs from coins of
// cat and stores it in state "held": its inputs count as spent, but it is
// not broadcast. The swap engine persists its own state, then calls
// BroadcastStored (or AbandonTx). A change output, if any, is at a random
// position; find the caller's outputs by pkScript.
func (w *Wallet) FundOutputs(ctx context.Context, outputs []*wire.TxOut, feeRate int64, cat Category) (*SentTx, error) {
	return w.build(ctx, buildReq{category: cat, outputs: outputs, feeRate: feeRate, status: statusHeld, label: "fund",
		offerCoins: true})
}

func (w *Wallet) payScript(addr btcutil.Address) ([]byte, error) {
	if addr == nil || !addr.IsForNet(w.cfg.Params) {
		return nil, fmt.Errorf("%w: address is not for %s", ErrNetworkMismatch, w.cfg.Params.Name)
	}
	return txscript.PayToAddrScript(addr)
}

// resolveFeeRate applies the estimate, the floor and the sanity ceiling.
func (w *Wallet) resolveFeeRate(ctx context.Context, rate int64) (int64, error) {
	if rate <= 0 {
		est, err := w.backend.FeeRate(ctx, w.cfg.FeeTargetBlocks)
		if err != nil {
			return 0, fmt.Errorf("fee estimate: %w", err)
		}
		rate = est
	}
	if rate > MaxFeeRate {
		return 0, fmt.Errorf("fee rate %d sat/kvB above the %d sanity limit (sat/vB given as sat/kvB?)", rate, MaxFeeRate)
	}
	return max(rate, MinFeeRate), nil
}

// build runs the four steps every wallet transaction takes:
//
//  1. reserve: select coins and mark them reserved, in one immediate
//     (write-locked) SQLite transaction — concurrent builders never see the
//     same free coin;
//  2. sign and verify with txscript's engine, without holding the lock;
//     for transactions to publish, ask the node (TestAccept) whether it
//     would accept it, so a refusal costs nothing;
//  3. persist: in one transaction, store the raw transaction, mark its
//     inputs spent by it, add its change — committed with synchronous=FULL;
//  4. act: broadcast (publish only). A refusal now abandons the
//     transaction; an unreachable node leaves it stored for the next Sync.
func (w *Wallet) build(ctx context.Context, req buildReq) (*SentTx, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	if !req.category.spendable() {
		return nil, fmt.Errorf("%w: %s", ErrNotSpendable, req.category)
	}
	if len(req.outputs) == 0 {
		return nil, errors.New("build: no outputs")
	}
	for i, o := range req.outputs {
		if o == nil || (!req.sendMax && o.Value < script.DustLimit(o.PkScript)) {
			return nil, fmt.Errorf("%w: output %d", ErrDust, i)
		}
	}
	rate, err := w.resolveFeeRate(ctx, req.feeRate)
	if err != nil {
		return nil, err
	}
	req.feeRate = rate

	resID := newReservationID()
	sel, inputs, changePk, added, err := w.reserve(ctx, req, resID)
	if err != nil {
		return nil, err
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := w.releaseReservation(rctx, resID); err != nil {
			w.log.Warn("releasing coin reservation failed; it expires by itself", "err", err)
		}
	}

	msg, err := w.signTx(ctx, req, sel, inputs, changePk)
	if err != nil {
		release()
		return nil, err
	}
	if req.status == statusPublish {
		if err := w.testAccept(ctx, msg); err != nil {
			release()
			return nil, err
		}
	}
	res := &SentTx{Tx: msg, Txid: msg.TxHash(), Fee: btcutil.Amount(sel.fee)}
	if err := w.persistTx(ctx, req, msg, sel.fee, resID, inputs, changePk); err != nil {
		release()
		return nil, err
	}
	w.watchScripts(ctx, added)
	if req.status == statusPublish {
		if err := w.publish(ctx, msg); err != nil {
			return res, err
		}
	}
	w.log.Info("transaction stored", "txid", res.Txid, "status", req.status, "fee", sel.fee, "label", req.label)
	return res, nil
}

func newReservationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// reserve selects and reserves coins and, when there is change, issues a
// change address (Regular change goes to the internal branch, Swept change
// stays in the swept account).
func (w *Wallet) reserve(ctx context.Context, req buildReq, resID string) (selection, []selected, []byte, [][]byte, error) {
	var sel selection
	var inputs []selected
	var changePk []byte
	var added [][]byte
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		sel, inputs, changePk, added = selection{}, nil, nil, nil
		tip, err := w.syncedHeight(ctx, tx)
		if err != nil {
			return err
		}
		now := w.now().Unix()
		rows, err := tx.QueryContext(ctx, `
			SELECT c.txid, c.vout, c.value, c.pk_script, a.branch, a.idx
			FROM coins c JOIN addresses a ON a.pk_script = c.pk_script
			WHERE c.category = ? AND c.spent_by IS NULL AND c.height > 0
			  AND (c.coinbase = 0 OR ? - c.height + 1 >= ?)
			  AND (c.reserved_by IS NULL OR c.reserved_until <= ?)
			  AND (c.offer_lock = 0 OR ?)`,
			string(req.category), tip, CoinbaseMaturity, now, req.offerCoins)
		if err != nil {
			return err
		}
		coins, err := scanP2WPKH(rows)
		if err != nil {
			return err
		}
		byOp := map[wire.OutPoint]selected{}
		var cands []candidate
		for _, s := range coins {
			byOp[s.op] = s
			cands = append(cands, s.candidate)
		}
		changeBranch := keys.BranchInternal
		if req.category == Swept {
			changeBranch = keys.BranchSwept
		}
		// Sizes only: every P2WPKH script has the same length.
		template := make([]byte, script.P2WPKHPkScriptLen)
		template[1] = txscript.OP_DATA_20
		target := int64(0)
		for _, o := range req.outputs {
			target += o.Value
		}
		sel, err = selectCoins(cands, target, selectParams{outputs: req.outputs, changePkScript: template,
			feeRate: req.feeRate, sendMax: req.sendMax})
		if err != nil {
			return err
		}
		for _, c := range sel.inputs {
			res, err := tx.ExecContext(ctx, `UPDATE coins SET reserved_by = ?, reserved_until = ?
				WHERE txid = ? AND vout = ? AND spent_by IS NULL`,
				resID, now+int64(ReservationTTL/time.Second), c.op.Hash[:], c.op.Index)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return ErrReservationLost
			}
			inputs = append(inputs, byOp[c.op])
		}
		if sel.change > 0 {
			addr, _, more, err := w.issueAddress(ctx, tx, changeBranch)
			added = more
			if err != nil {
				return err
			}
			if changePk, err = txscript.PayToAddrScript(addr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var ife *InsufficientFundsError
		if errors.As(err, &ife) {
			ife.Category = req.category
			if !req.offerCoins {
				ife.OfferLocked = w.offerLocked(ctx, req.category)
			}
			if req.insufficient != nil {
				req.insufficient(ife)
			}
			return selection{}, nil, nil, nil, ife
		}
		return selection{}, nil, nil, nil, fmt.Errorf("coin selection: %w", err)
	}
	return sel, inputs, changePk, added, nil
}

func (w *Wallet) releaseReservation(ctx context.Context, resID string) error {
	return w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE coins SET reserved_by = NULL, reserved_until = NULL WHERE reserved_by = ?`, resID)
		return err
	})
}

// signTx assembles, signs and verifies the transaction.
func (w *Wallet) signTx(ctx context.Context, req buildReq, sel selection, inputs []selected, changePk []byte) (*wire.MsgTx, error) {
	tip, err := w.syncedHeight(ctx, w.store.db)
	if err != nil {
		return nil, err
	}
	msg := wire.NewMsgTx(2)
	msg.LockTime = uint32(max(tip, 0))
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(inputs))
	var in int64
	for _, s := range inputs {
		op := s.op
		txIn := wire.NewTxIn(&op, nil, nil)
		txIn.Sequence = walletSequence
		msg.AddTxIn(txIn)
		prevOuts[op] = wire.NewTxOut(s.value, s.pkScript)
		in += s.value
	}
	for _, o := range req.outputs {
		msg.AddTxOut(wire.NewTxOut(o.Value, o.PkScript))
	}
	if req.sendMax {
		msg.TxOut[0].Value = in - sel.fee
		if msg.TxOut[0].Value < script.DustLimit(msg.TxOut[0].PkScript) {
			return nil, fmt.Errorf("%w: %d sat left after a %d sat fee", ErrDust, msg.TxOut[0].Value, sel.fee)
		}
	}
	if sel.change > 0 {
		pos, err := rand.Int(rand.Reader, big.NewInt(int64(len(msg.TxOut)+1)))
		if err != nil {
			return nil, err
		}
		i := int(pos.Int64())
		msg.TxOut = append(msg.TxOut[:i], append([]*wire.TxOut{wire.NewTxOut(sel.change, changePk)}, msg.TxOut[i:]...)...)
	}
	for i, s := range inputs {
		if err := w.signP2WPKH(msg, i, s.branch, s.index, s.value, s.pkScript); err != nil {
			return nil, err
		}
	}
	if err := script.Verify(msg, prevOuts); err != nil {
		return nil, err
	}
	var out int64
	for _, o := range msg.TxOut {
		out += o.Value
	}
	if in-out != sel.fee || script.FeeForVSize(script.TxVSize(msg), req.feeRate) > sel.fee {
		return nil, fmt.Errorf("build: fee %d does not cover %d vB at %d sat/kvB (bug)", in-out, script.TxVSize(msg), req.feeRate)
	}
	return msg, nil
}

// signP2WPKH signs input idx of msg, which spends value sat paying pkScript,
// with the BIP84 key (branch, index).
func (w *Wallet) signP2WPKH(msg *wire.MsgTx, idx int, b keys.Branch, index uint32, value int64, pkScript []byte) error {
	key, err := w.keys.P2WPKHKey(b, index)
	if err != nil {
		return err
	}
	defer key.Zero()
	if !bytes.Equal(script.P2WPKHPkScript(key.PubKey()), pkScript) {
		return fmt.Errorf("sign input %d: key %s/%d does not match the coin's script", idx, b, index)
	}
	sig, err := script.SignInput(msg, idx, nil, value, pkScript, key)
	if err != nil {
		return fmt.Errorf("sign input %d: %w", idx, err)
	}
	msg.TxIn[idx].Witness = script.P2WPKHWitness(sig, key.PubKey())
	return nil
}

// SignWalletInputs signs every input of msg that spends one of the wallet's
// P2WPKH coins (prevOuts gives every spent output, for amounts and scripts)
// and leaves the others alone. For transactions the swap engine assembles
// itself; it does not store or verify the whole transaction.
func (w *Wallet) SignWalletInputs(ctx context.Context, msg *wire.MsgTx, prevOuts map[wire.OutPoint]*wire.TxOut) (int, error) {
	if err := w.checkOpen(); err != nil {
		return 0, err
	}
	n := 0
	for i, in := range msg.TxIn {
		prev, ok := prevOuts[in.PreviousOutPoint]
		if !ok {
			continue
		}
		var b keys.Branch
		var index uint32
		err := w.store.db.QueryRowContext(ctx, `SELECT branch, idx FROM addresses WHERE pk_script = ?`, prev.PkScript).Scan(&b, &index)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return n, err
		}
		if err := w.signP2WPKH(msg, i, b, index, prev.Value, prev.PkScript); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// persistTx is step 3 of build.
func (w *Wallet) persistTx(ctx context.Context, req buildReq, msg *wire.MsgTx, fee int64, resID string,
	inputs []selected, changePk []byte) error {
	txid := msg.TxHash()
	var raw bytes.Buffer
	if err := msg.Serialize(&raw); err != nil {
		return err
	}
	return w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		for _, s := range inputs {
			res, err := tx.ExecContext(ctx, `UPDATE coins SET spent_by = ?, reserved_by = NULL, reserved_until = NULL
				WHERE txid = ? AND vout = ? AND spent_by IS NULL AND reserved_by = ?`,
				txid[:], s.op.Hash[:], s.op.Index, resID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("%w: %v", ErrReservationLost, s.op)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO transactions (txid, raw, status, fee, label, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, txid[:], raw.Bytes(), req.status, fee, req.label, w.now().Unix()); err != nil {
			return err
		}
		for i, o := range msg.TxOut {
			if changePk == nil || !bytes.Equal(o.PkScript, changePk) {
				continue
			}
			set, err := anonSet(ctx, tx, msg, o.Value)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO coins (txid, vout, value, pk_script, category, height, anon_set)
				VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (txid, vout) DO NOTHING`,
				txid[:], i, o.Value, o.PkScript, string(req.category), set); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE addresses SET used = 1 WHERE pk_script = ?`, o.PkScript); err != nil {
				return err
			}
		}
		if req.persist != nil {
			return req.persist(ctx, tx, msg)
		}
		return nil
	})
}

// publish is step 4: broadcast a stored transaction. A refusal by the node
// abandons it (it never entered a mempool, so its inputs are free again); an
// unreachable node leaves it stored for rebroadcast by the next Sync.
func (w *Wallet) publish(ctx context.Context, msg *wire.MsgTx) error {
	_, err := w.backend.Broadcast(ctx, msg)
	if err == nil {
		return nil
	}
	txid := msg.TxHash()
	if isRefusal(err) {
		aerr := w.store.ExecTx(ctx, func(tx *sql.Tx) error { return abandonTx(ctx, tx, txid, false) })
		if aerr != nil {
			w.log.Warn("abandoning a refused transaction failed", "txid", txid, "err", aerr)
		}
		return fmt.Errorf("%w: %w", ErrBroadcast, err)
	}
	return fmt.Errorf("broadcast %s (stored; the next Sync rebroadcasts it): %w", txid, err)
}

// BroadcastStored broadcasts a stored transaction (normally one FundOutputs
// left "held"). It is marked for rebroadcast first, so a crash right after
// still publishes it at the next Sync. A refusal is returned as is: the
// caller decides whether to AbandonTx.
func (w *Wallet) BroadcastStored(ctx context.Context, txid chainhash.Hash) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	var raw []byte
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT raw, status FROM transactions WHERE txid = ?`, txid[:]).Scan(&raw, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %v", ErrUnknownTx, txid)
		}
		if err != nil {
			return err
		}
		if status == "abandoned" {
			return fmt.Errorf("%w: %v is abandoned", ErrTxState, txid)
		}
		_, err = tx.ExecContext(ctx, `UPDATE transactions SET status = 'publish' WHERE txid = ? AND status = 'held'`, txid[:])
		return err
	})
	if err != nil {
		return err
	}
	msg := new(wire.MsgTx)
	if err := msg.Deserialize(bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("%w: stored tx %v: %w", ErrCorrupt, txid, err)
	}
	if _, err := w.backend.Broadcast(ctx, msg); err != nil {
		if isRefusal(err) {
			return fmt.Errorf("%w: %w", ErrBroadcast, err)
		}
		return err
	}
	return nil
}

// AbandonTx drops a stored transaction that is not confirmed: its inputs are
// free again and its outputs are forgotten. Only call it for a transaction
// that never left the process (held) or that the node refused — abandoning a
// transaction that is in some mempool risks paying twice.
func (w *Wallet) AbandonTx(ctx context.Context, txid chainhash.Hash) error {
	if err := w.checkOpen(); err != nil {
		return err
	}
	return w.store.ExecTx(ctx, func(tx *sql.Tx) error { return abandonTx(ctx, tx, txid, false) })
}

// abandonTx marks txid abandoned, frees the coins it spends and deletes the
// unconfirmed outputs it created. conflicted: a conflicting spend was seen,
// so the coin the conflict spends is updated by the caller.
func abandonTx(ctx context.Context, tx *sql.Tx, txid chainhash.Hash, conflicted bool) error {
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM transactions WHERE txid = ?`, txid[:]).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %v", ErrUnknownTx, txid)
	}
	if err != nil {
		return err
	}
	switch status {
	case "abandoned":
		return nil
	case "confirmed":
		if !conflicted {
			return fmt.Errorf("%w: %v is confirmed", ErrTxState, txid)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE transactions SET status = 'abandoned' WHERE txid = ?`, txid[:]); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE coins SET spent_by = NULL, spent_height = NULL WHERE spent_by = ?`, txid[:]); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM coins WHERE txid = ? AND spent_by IS NULL`, txid[:]); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE bonds SET redeem_txid = NULL WHERE redeem_txid = ?`, txid[:]); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM integrity_payments WHERE txid = ?`, txid[:]); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM bonds WHERE txid = ?`, txid[:])
	return err
}

// StoredSpender returns our stored (not abandoned) transaction labelled
// label that spends op, or nil. It reads the stored transactions
// themselves, not the coins' spent_by (which follows what the node shows),
// so it finds a transaction the node has lost or never received.
func (w *Wallet) StoredSpender(ctx context.Context, op wire.OutPoint, label string) (*wire.MsgTx, error) {
	rows, err := w.store.db.QueryContext(ctx, `SELECT raw FROM transactions WHERE label = ? AND status != 'abandoned'
		ORDER BY created_at`, label)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		msg := new(wire.MsgTx)
		if err := msg.Deserialize(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("%w: stored transaction: %w", ErrCorrupt, err)
		}
		for _, in := range msg.TxIn {
			if in.PreviousOutPoint == op {
				return msg, nil
			}
		}
	}
	return nil, rows.Err()
}

// HeldTxids lists the transactions stored as held: signed swap funding
// not to be broadcast until its swap says so.
func (w *Wallet) HeldTxids(ctx context.Context) ([]chainhash.Hash, error) {
	txs, err := w.storedTxs(ctx, `status = 'held'`)
	if err != nil {
		return nil, err
	}
	out := make([]chainhash.Hash, 0, len(txs))
	for _, tx := range txs {
		out = append(out, tx.TxHash())
	}
	return out, nil
}

// storedTxs loads stored transactions matching a fixed WHERE clause.
func (w *Wallet) storedTxs(ctx context.Context, where string) ([]*wire.MsgTx, error) {
	rows, err := w.store.db.QueryContext(ctx, `SELECT raw FROM transactions WHERE `+where+` ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*wire.MsgTx
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		msg := new(wire.MsgTx)
		if err := msg.Deserialize(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("%w: stored transaction: %w", ErrCorrupt, err)
		}
		out = append(out, msg)
	}
	return out, rows.Err()
}

// StoredTx returns a stored transaction and its status.
func (w *Wallet) StoredTx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, string, error) {
	var raw []byte
	var status string
	err := w.store.db.QueryRowContext(ctx, `SELECT raw, status FROM transactions WHERE txid = ?`, txid[:]).Scan(&raw, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("%w: %v", ErrUnknownTx, txid)
	}
	if err != nil {
		return nil, "", err
	}
	msg := new(wire.MsgTx)
	if err := msg.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, "", fmt.Errorf("%w: stored transaction: %w", ErrCorrupt, err)
	}
	return msg, status, nil
}

// scanP2WPKH reads coin rows (txid, vout, value, pk_script, branch,
// key_index) as P2WPKH inputs, and closes rows.
func scanP2WPKH(rows *sql.Rows) ([]selected, error) {
	defer rows.Close()
	var out []selected
	for rows.Next() {
		var s selected
		var txid []byte
		if err := rows.Scan(&txid, &s.op.Index, &s.value, &s.pkScript, &s.branch, &s.index); err != nil {
			return nil, err
		}
		var err error
		if s.op.Hash, err = hashFromBytes(txid); err != nil {
			return nil, err
		}
		s.kind = script.InputP2WPKH
		out = append(out, s)
	}
	return out, rows.Err()
}

// testAccept asks the node whether tx would enter its mempool now: a
// refusal is ErrBroadcast with the node's reason.
func (w *Wallet) testAccept(ctx context.Context, tx *wire.MsgTx) error {
	ok, reason, err := w.backend.TestAccept(ctx, tx)
	if err != nil {
		return fmt.Errorf("test accept: %w", err)
	}
	if !ok {
		if chain.AlreadyKnown(reason) {
			return fmt.Errorf("%w: %s", errAlreadyKnown, reason)
		}
		return fmt.Errorf("%w: %s", ErrBroadcast, reason)
	}
	return nil
}

// errAlreadyKnown: the node has the transaction already (another party of
// a joint transaction broadcast it a moment before us).
var errAlreadyKnown = fmt.Errorf("%w: the node already has the transaction", ErrBroadcast)
