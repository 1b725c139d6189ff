package wallet

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/merkle"
	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// Integrity fees (node/market): instead of locking a fidelity bond, a maker
// may back its offer by paying miners a fee now and then. The payment comes
// from a branch of its own, keys.BranchIntegrity: payment i creates the
// integrity output, a P2WPKH output to integrity key i, and payment i+1
// spends it. The chain of payments is linkable on purpose (a taker sees the
// same payer paying again), so its coins never meet the wallet's other
// coins, except in a top-up, which PayIntegrityFee documents.

// Integrity-fee constants.
const (
	// IntegrityMinOutput is the least an integrity output keeps after a
	// payment that spends the previous one alone. The output must stay
	// above the 294-sat P2WPKH dust limit (script.DustP2WPKH) and still pay
	// the relay floor of the next chain payment (integrityChainVSize =
	// 110 vB, 110 sat at 1 sat/vB): 294 + 110 = 404 sat at least; 1,000 sat
	// leaves room for a floor up to 6 sat/vB (294 + 6·110 = 954).
	IntegrityMinOutput btcutil.Amount = 1_000
	// IntegrityTopUpDays: a top-up moves at least this many payments'
	// worth (topUp ≥ IntegrityTopUpDays × fee) from the ordinary coins
	// into the chain. Each top-up links the coins it spends to the chain
	// once; with the market's daily payment a week's worth means at most
	// ~52 such links a year, and the caller may top up for longer.
	IntegrityTopUpDays = 7

	// integrityChainVSize is the estimated size of a payment that spends
	// the previous integrity output alone into the next one: overhead 42
	// WU + one P2WPKH input 272 WU + one P2WPKH output 124 WU = 438 WU,
	// ⌈438/4⌉ = 110 vB.
	integrityChainVSize = (script.TxOverheadWeight + script.P2WPKHInputWeight + script.P2WPKHOutputWeight + 3) / 4

	// integrityLabel labels integrity payments in the transactions table.
	integrityLabel = "integrity"
)

// Integrity-fee errors.
var (
	// ErrNoIntegrityPayment: the wallet has made no integrity payment (or
	// the one asked for was abandoned).
	ErrNoIntegrityPayment = errors.New("no integrity payment")
	// ErrIntegrityUnconfirmed: the integrity payment is not (or no longer)
	// in a block of the main chain; a proof needs its block.
	ErrIntegrityUnconfirmed = errors.New("integrity payment not confirmed")
)

// IntegrityPayment is one integrity-fee payment of this wallet.
type IntegrityPayment struct {
	OutPoint    wire.OutPoint  // the integrity output (P2WPKH of key KeyIndex on the integrity branch)
	Value       btcutil.Amount // its value
	Fee         btcutil.Amount // what the tx paid miners
	Tx          *wire.MsgTx    // signed, with witnesses
	InputValues []int64        // value of each input's prevout, in input order
	KeyIndex    uint32
	Height      int32          // block height that confirmed it; 0 while unconfirmed
	Block       chainhash.Hash // that block's hash (zero while unconfirmed)
	Created     time.Time
}

// integrityPlan is a reserved payment waiting to be signed.
type integrityPlan struct {
	inputs   []selected // the previous integrity output first (if spent), then top-up coins
	keyIndex uint32     // the new integrity output's key
	outPk    []byte
	outValue int64
	changePk []byte
	change   int64
	fee      int64
	topUp    bool
	added    [][]byte // scripts to watch (change branch top-up)
}

// PayIntegrityFee pays fee (sat) to miners from the integrity branch and
// returns the new payment (persisted, then broadcast).
//
// If the newest integrity output is unspent and holds at least fee +
// IntegrityMinOutput, the transaction spends it ALONE into the next
// integrity output (its value − fee): nothing else is linked to the chain.
//
// Otherwise it also spends ordinary wallet coins (confirmed Regular coins:
// never offer-locked, bond, swap or swept coins) to move topUp into the
// chain: the new integrity output holds the old one's value (when there is
// one left) + topUp, the coins pay topUp and the fee, and the rest returns
// as change (a remainder too small for a change output goes into the
// integrity output, so the fee stays exact). THAT TOP-UP LINKS THE COINS
// IT SPENDS, and their change, TO THE INTEGRITY CHAIN, once and for good.
// topUp must be at least max(IntegrityTopUpDays × fee, IntegrityMinOutput);
// 0 means that minimum. The smallest single coin that covers the top-up is
// preferred (one coin linked); else the largest coins first.
//
// The previous payment must be confirmed before the next one is made:
// ErrIntegrityUnconfirmed otherwise (a chain of unconfirmed payments would
// have to be rebroadcast in order after a restart).
//
// The transaction's fee is exactly max(fee, MinFeeRate × vsize), vsize
// being the wallet's upper-bound estimate (72-byte signatures): the miners'
// fee IS the payment. Every input is P2WPKH (the verifier relies on BIP143
// committing each input's value), at most protocol.MaxIntegrityInputs, and
// the transaction is at most protocol.MaxIntegrityTxSize bytes.
//
// When the ordinary coins cannot pay the top-up, the InsufficientFundsError
// carries a receive address to send the missing amount to (reused until
// paid, as for bonds).
//
// As with Send, the transaction is stored before it is broadcast: an
// unreachable node returns the stored payment with the error, and the
// next Sync rebroadcasts it; a refusal by the node abandons it.
func (w *Wallet) PayIntegrityFee(ctx context.Context, fee, topUp btcutil.Amount) (*IntegrityPayment, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	if fee <= 0 {
		return nil, fmt.Errorf("pay integrity fee: fee %d sat is not positive", fee)
	}
	minTopUp := max(fee*IntegrityTopUpDays, IntegrityMinOutput)
	if topUp == 0 {
		topUp = minTopUp
	}
	if topUp < minTopUp {
		return nil, fmt.Errorf("pay integrity fee: top-up %d sat below %d (%d payments of %d sat, at least %d)",
			topUp, minTopUp, IntegrityTopUpDays, fee, IntegrityMinOutput)
	}
	// One payment at a time in this process: each extends the chain from
	// the output the previous one created. (The reservation and the key
	// claim in persist also stop a second process.)
	w.imu.Lock()
	defer w.imu.Unlock()

	resID := newReservationID()
	plan, err := w.planIntegrity(ctx, int64(fee), int64(topUp), resID)
	if err != nil {
		var ife *InsufficientFundsError
		if errors.As(err, &ife) {
			ife.OfferLocked = w.offerLocked(ctx, Regular)
			if addr, aerr := w.PurposeAddress(context.WithoutCancel(ctx), integrityLabel); aerr == nil {
				ife.Address = addr.EncodeAddress()
			}
		}
		return nil, fmt.Errorf("pay integrity fee: %w", err)
	}
	w.watchScripts(ctx, plan.added)
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := w.releaseReservation(rctx, resID); err != nil {
			w.log.Warn("releasing coin reservation failed; it expires by itself", "err", err)
		}
	}
	msg, inputValues, err := w.signIntegrity(ctx, plan)
	if err != nil {
		release()
		return nil, fmt.Errorf("pay integrity fee: %w", err)
	}
	if err := w.testAccept(ctx, msg); err != nil {
		release()
		return nil, fmt.Errorf("pay integrity fee: %w", err)
	}
	txid := msg.TxHash()
	p := &IntegrityPayment{OutPoint: wire.OutPoint{Hash: txid, Index: 0}, Value: btcutil.Amount(plan.outValue),
		Fee: btcutil.Amount(plan.fee), Tx: msg, InputValues: inputValues, KeyIndex: plan.keyIndex,
		Created: time.Unix(w.now().Unix(), 0)} // as stored: whole seconds
	var added [][]byte
	req := buildReq{category: Regular, status: statusPublish, label: integrityLabel,
		persist: func(ctx context.Context, tx *sql.Tx, msg *wire.MsgTx) error {
			var err error
			added, err = w.persistIntegrity(ctx, tx, p, msg, plan.outPk)
			return err
		}}
	if err := w.persistTx(ctx, req, msg, plan.fee, resID, plan.inputs, plan.changePk); err != nil {
		release()
		return nil, fmt.Errorf("pay integrity fee: %w", err)
	}
	w.watchScripts(ctx, added)
	w.log.Info("integrity payment stored", "txid", txid, "fee", plan.fee, "key", plan.keyIndex,
		"value", plan.outValue, "inputs", len(msg.TxIn), "top_up", plan.topUp)
	if err := w.publish(ctx, msg); err != nil {
		if errors.Is(err, ErrBroadcast) {
			return nil, fmt.Errorf("pay integrity fee: %w", err) // refused: publish abandoned it
		}
		return p, fmt.Errorf("pay integrity fee: %w", err)
	}
	return p, nil
}

// integrityFee is the fee of a payment with n P2WPKH inputs paying pks:
// the asked fee, or the relay floor when the transaction is larger.
func integrityFee(fee int64, n int, pks ...[]byte) int64 {
	kinds := make([]script.InputKind, n)
	for i := range kinds {
		kinds[i] = script.InputP2WPKH
	}
	return max(fee, script.FeeForVSize(script.EstimateVSize(kinds, pks), MinFeeRate))
}

// planIntegrity chooses the inputs and outputs of the next payment and
// reserves the inputs, in one immediate SQLite transaction.
func (w *Wallet) planIntegrity(ctx context.Context, fee, topUp int64, resID string) (*integrityPlan, error) {
	var plan *integrityPlan
	err := w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		plan = &integrityPlan{}
		now := w.now().Unix()
		prev, err := w.previousIntegrityOutput(ctx, tx, now)
		if err != nil {
			return err
		}
		var next int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx), -1) + 1 FROM addresses
			WHERE branch = ? AND (issued = 1 OR used = 1)`, keys.BranchIntegrity).Scan(&next); err != nil {
			return err
		}
		plan.keyIndex = uint32(next)
		_, pub, err := w.keys.P2WPKHAddress(keys.BranchIntegrity, plan.keyIndex)
		if err != nil {
			return err
		}
		plan.outPk = script.P2WPKHPkScript(pub)
		var base []selected
		var baseValue int64
		if prev != nil {
			base, baseValue = []selected{*prev}, prev.value
			// The chain payment: the previous output alone.
			if f := integrityFee(fee, 1, plan.outPk); prev.value >= f+int64(IntegrityMinOutput) {
				plan.inputs, plan.fee, plan.outValue = base, f, prev.value-f
				return w.reserveIntegrity(ctx, tx, plan.inputs, resID, now)
			}
		}
		// The top-up: ordinary confirmed coins, never offer-locked ones.
		tip, err := w.syncedHeight(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT c.txid, c.vout, c.value, c.pk_script, a.branch, a.idx
			FROM coins c JOIN addresses a ON a.pk_script = c.pk_script
			WHERE c.category = ? AND c.spent_by IS NULL AND c.height > 0
			  AND (c.coinbase = 0 OR ? - c.height + 1 >= ?)
			  AND (c.reserved_by IS NULL OR c.reserved_until <= ?)
			  AND c.offer_lock = 0`, string(Regular), tip, CoinbaseMaturity, now)
		if err != nil {
			return err
		}
		coins, err := scanP2WPKH(rows)
		if err != nil {
			return err
		}
		var have int64
		for _, s := range coins {
			have += s.value
		}
		// Sizes only: every P2WPKH script has the same length.
		changeTemplate := make([]byte, script.P2WPKHPkScriptLen)
		changeTemplate[1] = txscript.OP_DATA_20
		dust := script.DustLimit(changeTemplate)
		// fits reports whether chosen pays topUp and the fee, with change
		// when the rest is worth a change output.
		fits := func(chosen []selected) bool {
			var sum int64
			for _, c := range chosen {
				sum += c.value
			}
			n := len(base) + len(chosen)
			if f := integrityFee(fee, n, plan.outPk, changeTemplate); sum >= topUp+f+dust {
				plan.fee, plan.change, plan.outValue = f, sum-topUp-f, baseValue+topUp
				return true
			}
			if f := integrityFee(fee, n, plan.outPk); sum >= topUp+f {
				// Too little left for a change output: it stays in the
				// chain rather than raising the fee above the payment.
				plan.fee, plan.change, plan.outValue = f, 0, baseValue+sum-f
				return true
			}
			return false
		}
		var chosen []selected
		sort.Slice(coins, func(i, j int) bool { return coins[i].value < coins[j].value })
		for _, c := range coins {
			if fits([]selected{c}) {
				chosen = []selected{c}
				break
			}
		}
		if chosen == nil {
			room := protocol.MaxIntegrityInputs - len(base)
			for i := len(coins) - 1; i >= 0 && len(chosen) < room; i-- {
				chosen = append(chosen, coins[i])
				if fits(chosen) {
					break
				}
			}
			if !fits(chosen) {
				need := topUp + integrityFee(fee, min(len(base)+len(coins), protocol.MaxIntegrityInputs), plan.outPk, changeTemplate)
				if need <= have {
					// Enough value, but not within MaxIntegrityInputs coins.
					return fmt.Errorf("%w: the top-up needs more than %d coins; consolidate the wallet's coins first",
						ErrInsufficientFunds, protocol.MaxIntegrityInputs-len(base))
				}
				return &InsufficientFundsError{Category: Regular, Need: btcutil.Amount(need), Have: btcutil.Amount(have)}
			}
		}
		plan.topUp = true
		plan.inputs = append(base, chosen...)
		if err := w.reserveIntegrity(ctx, tx, plan.inputs, resID, now); err != nil {
			return err
		}
		if plan.change > 0 {
			addr, _, more, err := w.issueAddress(ctx, tx, keys.BranchInternal)
			if err != nil {
				return err
			}
			plan.added = more
			if plan.changePk, err = txscript.PayToAddrScript(addr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// previousIntegrityOutput returns the newest payment's integrity output
// when it is still ours to spend, nil when the chain has to start again
// (no payment yet, or its output was spent elsewhere: a restored copy of
// the wallet), ErrIntegrityUnconfirmed while it is unconfirmed.
func (w *Wallet) previousIntegrityOutput(ctx context.Context, tx *sql.Tx, now int64) (*selected, error) {
	var s selected
	var txid, pk, spentBy []byte
	var value, height sql.NullInt64
	var reserved bool
	err := tx.QueryRowContext(ctx, `SELECT p.txid, p.vout, p.key_index, c.value, c.height, c.pk_script, c.spent_by,
			COALESCE(c.reserved_by IS NOT NULL AND c.reserved_until > ?, 0)
		FROM integrity_payments p LEFT JOIN coins c ON c.txid = p.txid AND c.vout = p.vout
		ORDER BY p.key_index DESC LIMIT 1`, now).
		Scan(&txid, &s.op.Index, &s.index, &value, &height, &pk, &spentBy, &reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.op.Hash, err = hashFromBytes(txid); err != nil {
		return nil, err
	}
	switch {
	case !value.Valid || spentBy != nil:
		w.log.Warn("the newest integrity output is spent or gone; the next payment starts a new chain", "outpoint", s.op)
		return nil, nil
	case height.Int64 <= 0:
		return nil, fmt.Errorf("%w: the previous payment %v must confirm before the next one", ErrIntegrityUnconfirmed, s.op.Hash)
	case reserved:
		return nil, fmt.Errorf("%w: integrity output %v is held by another payment", ErrReservationLost, s.op)
	}
	s.value, s.pkScript, s.branch, s.kind = value.Int64, pk, keys.BranchIntegrity, script.InputP2WPKH
	return &s, nil
}

func (w *Wallet) reserveIntegrity(ctx context.Context, tx *sql.Tx, inputs []selected, resID string, now int64) error {
	for _, c := range inputs {
		res, err := tx.ExecContext(ctx, `UPDATE coins SET reserved_by = ?, reserved_until = ?
			WHERE txid = ? AND vout = ? AND spent_by IS NULL`,
			resID, now+int64(ReservationTTL/time.Second), c.op.Hash[:], c.op.Index)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrReservationLost
		}
	}
	return nil
}

// signIntegrity assembles and signs the payment: inputs in plan order, the
// integrity output at index 0 (a proof names it anyway), change after it.
func (w *Wallet) signIntegrity(ctx context.Context, plan *integrityPlan) (*wire.MsgTx, []int64, error) {
	tip, err := w.syncedHeight(ctx, w.store.db)
	if err != nil {
		return nil, nil, err
	}
	msg := wire.NewMsgTx(2)
	msg.LockTime = uint32(max(tip, 0)) // against fee sniping, as signTx
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(plan.inputs))
	values := make([]int64, len(plan.inputs))
	var in int64
	for i, s := range plan.inputs {
		op := s.op
		txIn := wire.NewTxIn(&op, nil, nil)
		txIn.Sequence = walletSequence
		msg.AddTxIn(txIn)
		prevOuts[op] = wire.NewTxOut(s.value, s.pkScript)
		values[i] = s.value
		in += s.value
	}
	msg.AddTxOut(wire.NewTxOut(plan.outValue, plan.outPk))
	if plan.change > 0 {
		msg.AddTxOut(wire.NewTxOut(plan.change, plan.changePk))
	}
	for i, s := range plan.inputs {
		if err := w.signP2WPKH(msg, i, s.branch, s.index, s.value, s.pkScript); err != nil {
			return nil, nil, err
		}
	}
	if err := script.Verify(msg, prevOuts); err != nil {
		return nil, nil, err
	}
	var out int64
	for _, o := range msg.TxOut {
		out += o.Value
	}
	switch {
	case in-out != plan.fee:
		return nil, nil, fmt.Errorf("integrity payment pays %d sat, planned %d (bug)", in-out, plan.fee)
	case script.FeeForVSize(script.TxVSize(msg), MinFeeRate) > plan.fee:
		return nil, nil, fmt.Errorf("integrity payment: fee %d below the relay floor for %d vB (bug)", plan.fee, script.TxVSize(msg))
	case len(msg.TxIn) > protocol.MaxIntegrityInputs:
		return nil, nil, fmt.Errorf("integrity payment: %d inputs > %d (bug)", len(msg.TxIn), protocol.MaxIntegrityInputs)
	case msg.SerializeSize() > protocol.MaxIntegrityTxSize:
		return nil, nil, fmt.Errorf("integrity payment: %d bytes > %d (bug)", msg.SerializeSize(), protocol.MaxIntegrityTxSize)
	case plan.outValue < int64(IntegrityMinOutput):
		return nil, nil, fmt.Errorf("integrity payment: output %d below %d (bug)", plan.outValue, IntegrityMinOutput)
	}
	return msg, values, nil
}

// persistIntegrity runs inside persistTx: claims the integrity key, files
// the integrity output as an Integrity coin and records the payment.
func (w *Wallet) persistIntegrity(ctx context.Context, tx *sql.Tx, p *IntegrityPayment, msg *wire.MsgTx, outPk []byte) ([][]byte, error) {
	res, err := tx.ExecContext(ctx, `UPDATE addresses SET issued = 1, used = 1
		WHERE branch = ? AND idx = ? AND pk_script = ? AND issued = 0 AND used = 0`, keys.BranchIntegrity, p.KeyIndex, outPk)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, fmt.Errorf("integrity key %d was taken by a concurrent payment; retry", p.KeyIndex)
	}
	added, err := topUpAddresses(ctx, tx, w.keys, keys.BranchIntegrity)
	if err != nil {
		return nil, err
	}
	txid := msg.TxHash()
	set, err := anonSet(ctx, tx, msg, int64(p.Value))
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO coins (txid, vout, value, pk_script, category, height, anon_set)
		VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (txid, vout) DO NOTHING`,
		txid[:], p.OutPoint.Index, int64(p.Value), outPk, string(Integrity), set); err != nil {
		return nil, err
	}
	return added, insertIntegrityPayment(ctx, tx, p)
}

func insertIntegrityPayment(ctx context.Context, tx *sql.Tx, p *IntegrityPayment) error {
	var raw bytes.Buffer
	if err := p.Tx.Serialize(&raw); err != nil {
		return err
	}
	values := make([]byte, 0, 8*len(p.InputValues))
	for _, v := range p.InputValues {
		values = binary.LittleEndian.AppendUint64(values, uint64(v))
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO integrity_payments
		(key_index, txid, vout, value, fee, raw, input_values, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		p.KeyIndex, p.OutPoint.Hash[:], p.OutPoint.Index, int64(p.Value), int64(p.Fee), raw.Bytes(), values, p.Created.Unix())
	return err
}

// recordChainIntegrity records a payment found on chain that pays one of
// our integrity keys and that the database does not know: a restored
// wallet finding its chain again. It is ours when every input spends a
// P2WPKH coin of the wallet (so the wallet knows each input's value, which
// the proof needs); anything else paying an integrity key (anyone can pay
// a published address) stays an Integrity coin, outside the chain.
func (w *Wallet) recordChainIntegrity(ctx context.Context, tx *sql.Tx, ev chain.Event) error {
	if ev.Tx == nil || ev.Output == nil {
		return nil
	}
	var known int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM integrity_payments WHERE txid = ? AND vout = ?`,
		ev.OutPoint.Hash[:], ev.OutPoint.Index).Scan(&known); err != nil || known > 0 {
		return err
	}
	var idx int64
	err := tx.QueryRowContext(ctx, `SELECT idx FROM addresses WHERE branch = ? AND pk_script = ?`,
		keys.BranchIntegrity, ev.Output.PkScript).Scan(&idx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // not an integrity key (the caller filters; a failing handler would stall the watcher)
	}
	if err != nil {
		return err
	}
	values := make([]int64, len(ev.Tx.TxIn))
	var in, out int64
	for i, txIn := range ev.Tx.TxIn {
		var pk []byte
		err := tx.QueryRowContext(ctx, `SELECT value, pk_script FROM coins WHERE txid = ? AND vout = ?`,
			txIn.PreviousOutPoint.Hash[:], txIn.PreviousOutPoint.Index).Scan(&values[i], &pk)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !txscript.IsPayToWitnessPubKeyHash(pk)) {
			w.log.Info("a payment to an integrity key that this wallet did not make; left out of the chain",
				"outpoint", ev.OutPoint)
			return nil
		}
		if err != nil {
			return err
		}
		in += values[i]
	}
	for _, o := range ev.Tx.TxOut {
		out += o.Value
	}
	if in < out || len(values) > protocol.MaxIntegrityInputs {
		return nil
	}
	return insertIntegrityPayment(ctx, tx, &IntegrityPayment{OutPoint: ev.OutPoint, Value: btcutil.Amount(ev.Output.Value),
		Fee: btcutil.Amount(in - out), Tx: ev.Tx, InputValues: values, KeyIndex: uint32(idx), Created: time.Unix(w.now().Unix(), 0)})
}

// LatestIntegrityPayment returns the newest payment (ErrNoIntegrityPayment
// when none), with its confirmation as the wallet's chain watcher last saw
// it (Sync first for the current one).
func (w *Wallet) LatestIntegrityPayment(ctx context.Context) (*IntegrityPayment, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	p, _, err := w.loadIntegrity(ctx, w.store.db, `1 = 1`)
	return p, err
}

// proofCache is the merkle branch cached with a payment.
type proofCache struct {
	block   []byte // the block it is for (nil: none)
	txIndex int64
	branch  []byte
}

// loadIntegrity loads the newest payment matching where (a fixed clause on
// p = integrity_payments), with its confirmation from its coin's row.
func (w *Wallet) loadIntegrity(ctx context.Context, q queryer, where string, args ...any) (*IntegrityPayment, proofCache, error) {
	var p IntegrityPayment
	var pc proofCache
	var txid, raw, values, block []byte
	var value, fee, created int64
	var height sql.NullInt64
	var txIndex sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT p.key_index, p.txid, p.vout, p.value, p.fee, p.raw, p.input_values,
			p.created_at, c.height, c.block_hash, p.proof_block, p.tx_index, p.branch
		FROM integrity_payments p LEFT JOIN coins c ON c.txid = p.txid AND c.vout = p.vout
		WHERE `+where+` ORDER BY p.key_index DESC LIMIT 1`, args...).
		Scan(&p.KeyIndex, &txid, &p.OutPoint.Index, &value, &fee, &raw, &values, &created, &height, &block,
			&pc.block, &txIndex, &pc.branch)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pc, ErrNoIntegrityPayment
	}
	if err != nil {
		return nil, pc, err
	}
	if p.OutPoint.Hash, err = hashFromBytes(txid); err != nil {
		return nil, pc, err
	}
	p.Tx = new(wire.MsgTx)
	if err := p.Tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, pc, fmt.Errorf("%w: stored integrity payment: %w", ErrCorrupt, err)
	}
	if len(values) != 8*len(p.Tx.TxIn) {
		return nil, pc, fmt.Errorf("%w: integrity payment %v: %d bytes of input values for %d inputs",
			ErrCorrupt, p.OutPoint, len(values), len(p.Tx.TxIn))
	}
	p.InputValues = make([]int64, len(p.Tx.TxIn))
	for i := range p.InputValues {
		p.InputValues[i] = int64(binary.LittleEndian.Uint64(values[8*i:]))
	}
	p.Value, p.Fee, p.Created = btcutil.Amount(value), btcutil.Amount(fee), time.Unix(created, 0)
	if height.Int64 > 0 && block != nil {
		if p.Block, err = hashFromBytes(block); err != nil {
			return nil, pc, err
		}
		p.Height = int32(height.Int64)
	}
	pc.txIndex = txIndex.Int64
	return &p, pc, nil
}

// IntegrityProof returns the proof of a confirmed payment for
// protocol.MarketOffer: the transaction with the value each input spends,
// the integrity output and its key, the confirming block and the merkle
// branch from the txid to that block's header, and Sig, the integrity
// key's DER ECDSA signature (low S) over digest. The block is fetched once
// (chain backend's Block) and the branch cached in the database, so a
// restart does not fetch it again. ErrIntegrityUnconfirmed while p is not
// in a block of the main chain (as the watcher saw it, checked against
// the backend's hash at that height). Only p.OutPoint is read: the payment
// is reloaded from the database, so any stored payment can be proven (an
// older one keeps backing an offer while its successor confirms).
func (w *Wallet) IntegrityProof(ctx context.Context, p *IntegrityPayment, digest [32]byte) (*protocol.IntegrityProof, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("integrity proof: %w", ErrNoIntegrityPayment)
	}
	// The stored payment, not the caller's copy: it may have confirmed (or
	// been reorganised out) since the caller got it.
	cur, pc, err := w.loadIntegrity(ctx, w.store.db, `p.txid = ? AND p.vout = ?`, p.OutPoint.Hash[:], p.OutPoint.Index)
	if err != nil {
		return nil, fmt.Errorf("integrity proof %v: %w", p.OutPoint, err)
	}
	if cur.Height <= 0 {
		return nil, fmt.Errorf("integrity proof %v: %w", p.OutPoint, ErrIntegrityUnconfirmed)
	}
	// The watcher can be a poll behind a reorg; a proof for a block that
	// is no longer in the main chain would be refused by every verifier.
	if h, err := w.backend.BlockHash(ctx, cur.Height); errors.Is(err, chain.ErrNotFound) {
		return nil, fmt.Errorf("integrity proof %v: %w: the chain is now shorter than height %d",
			p.OutPoint, ErrIntegrityUnconfirmed, cur.Height)
	} else if err != nil {
		return nil, fmt.Errorf("integrity proof: %w", err)
	} else if h != cur.Block {
		return nil, fmt.Errorf("integrity proof %v: %w: block %v at height %d was reorganised out",
			p.OutPoint, ErrIntegrityUnconfirmed, cur.Block, cur.Height)
	}
	txIndex, branch, err := w.integrityBranch(ctx, cur, pc)
	if err != nil {
		return nil, fmt.Errorf("integrity proof %v: %w", p.OutPoint, err)
	}
	key, err := w.keys.P2WPKHKey(keys.BranchIntegrity, cur.KeyIndex)
	if err != nil {
		return nil, err
	}
	defer key.Zero()
	if !bytes.Equal(script.P2WPKHPkScript(key.PubKey()), cur.Tx.TxOut[cur.OutPoint.Index].PkScript) {
		return nil, fmt.Errorf("integrity proof %v: key %d does not pay the integrity output (bug)", p.OutPoint, cur.KeyIndex)
	}
	return &protocol.IntegrityProof{
		Tx:          cur.Tx,
		InputValues: cur.InputValues,
		Vout:        uint16(cur.OutPoint.Index),
		Key:         key.PubKey(),
		Height:      uint32(cur.Height),
		Block:       cur.Block,
		TxIndex:     txIndex,
		Branch:      branch,
		Sig:         ecdsa.Sign(key, digest[:]).Serialize(),
	}, nil
}

// integrityBranch returns the payment's position in its block and its
// merkle branch: cached, or from the block (then cached).
func (w *Wallet) integrityBranch(ctx context.Context, p *IntegrityPayment, pc proofCache) (uint32, []chainhash.Hash, error) {
	if bytesEqualHash(pc.block, p.Block) && len(pc.branch)%chainhash.HashSize == 0 {
		branch := make([]chainhash.Hash, len(pc.branch)/chainhash.HashSize)
		for i := range branch {
			copy(branch[i][:], pc.branch[i*chainhash.HashSize:])
		}
		return uint32(pc.txIndex), branch, nil
	}
	blk, err := w.backend.Block(ctx, p.Block)
	if err != nil {
		return 0, nil, err
	}
	if blk.BlockHash() != p.Block {
		return 0, nil, fmt.Errorf("the backend answered block %v for %v", blk.BlockHash(), p.Block)
	}
	txids := make([]chainhash.Hash, len(blk.Transactions))
	index := -1
	for i, tx := range blk.Transactions {
		txids[i] = tx.TxHash()
		if txids[i] == p.OutPoint.Hash {
			index = i
		}
	}
	if index < 0 {
		return 0, nil, fmt.Errorf("%w: block %v does not hold %v", ErrIntegrityUnconfirmed, p.Block, p.OutPoint.Hash)
	}
	branch, err := merkle.Branch(txids, index)
	if err != nil {
		return 0, nil, err
	}
	if merkle.Root(p.OutPoint.Hash, uint32(index), branch) != blk.Header.MerkleRoot {
		return 0, nil, fmt.Errorf("merkle branch of %v does not lead to block %v's root", p.OutPoint.Hash, p.Block)
	}
	if len(branch) > protocol.MaxMerkleBranch {
		return 0, nil, fmt.Errorf("merkle branch of %d hashes > %d", len(branch), protocol.MaxMerkleBranch)
	}
	flat := make([]byte, 0, len(branch)*chainhash.HashSize)
	for _, h := range branch {
		flat = append(flat, h[:]...)
	}
	// A failed cache write costs a block fetch next time, not the proof.
	err = w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE integrity_payments SET proof_block = ?, tx_index = ?, branch = ?
			WHERE txid = ? AND vout = ?`, p.Block[:], index, flat, p.OutPoint.Hash[:], p.OutPoint.Index)
		return err
	})
	if err != nil {
		w.log.Warn("caching the integrity merkle branch failed", "err", err)
	}
	return uint32(index), branch, nil
}
