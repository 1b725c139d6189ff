package wallet

import (
	"bytes"
	"context"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"database/sql"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/wallet/chain"
	"github.com/onionswap/onionswap/wallet/keys"
	"github.com/onionswap/onionswap/wallet/script"
)

// Bond is one of our fidelity bonds.
type Bond struct {
	OutPoint      wire.OutPoint
	KeyIndex      uint32 // m/175'/coin'/1'/KeyIndex'
	LockHeight    uint32
	Amount        btcutil.Amount
	WitnessScript []byte
	// ConfHeight is 0 until the bond transaction confirms.
	ConfHeight int32
	// Status: pending (unconfirmed), confirmed, redeemed (spend confirmed).
	Status string
	// RedeemTxid is the spending transaction once one exists.
	RedeemTxid *chainhash.Hash
}

// BondChain is what verifying a bond asks of a chain backend: the tip, the
// bond's transaction and the headers of its block and of the tip (for the
// lock window and median times), and whether its output is still unspent
// in the chain and the mempool. A directory needs nothing else of the
// chain; chain.Backend implements it.
type BondChain interface {
	Tip(ctx context.Context) (int32, chainhash.Hash, error)
	Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, chain.TxStatus, error)
	BlockHeader(ctx context.Context, hash chainhash.Hash) (*wire.BlockHeader, error)
	UTXO(ctx context.Context, op wire.OutPoint) (*wire.TxOut, int32, error)
	MempoolSpender(ctx context.Context, op wire.OutPoint) (*chainhash.Hash, error)
}

// BondPolicy is the acceptance policy VerifyBondOnChain applies (minimum
// amount, lock window relative to the confirmation height, confirmations,
// certificate lifetime); script.DefaultBondParams gives mainnet values.
type BondPolicy = script.BondParams

// CreateBond locks amount in a new fidelity bond until lockHeight, funded
// from Regular coins at feeRate (0 = estimate). The bond transaction and
// the bond record are stored before the broadcast. When the wallet is
// short, the InsufficientFundsError carries a fresh address to send the
// missing amount to.
func (w *Wallet) CreateBond(ctx context.Context, amount btcutil.Amount, lockHeight uint32, feeRate int64) (*Bond, *SentTx, error) {
	if err := w.checkOpen(); err != nil {
		return nil, nil, err
	}
	tip, _, err := w.backend.Tip(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("create bond: %w", err)
	}
	if int64(lockHeight) <= int64(tip) {
		return nil, nil, fmt.Errorf("create bond: lock height %d is not above the tip %d", lockHeight, tip)
	}
	// The bond key's index is only consumed with the bond itself (in
	// persist, in the same SQLite transaction): an attempt that finds the
	// wallet short burns no index, so a restore scanning bond keys finds
	// every bond without gaps.
	var index uint32
	if err := w.store.db.QueryRowContext(ctx, `SELECT COALESCE((SELECT next FROM key_counters WHERE name = 'bond'), 0)`).Scan(&index); err != nil {
		return nil, nil, fmt.Errorf("create bond: %w", err)
	}
	key, err := w.keys.BondKey(index)
	if err != nil {
		return nil, nil, err
	}
	pub := key.PubKey()
	key.Zero()
	ws, err := script.BondScript(pub, lockHeight)
	if err != nil {
		return nil, nil, err
	}
	pk := script.WitnessScriptHash(ws)
	bond := &Bond{KeyIndex: index, LockHeight: lockHeight, Amount: amount, WitnessScript: ws, Status: "pending"}
	sent, err := w.build(ctx, buildReq{
		category: Regular,
		outputs:  []*wire.TxOut{wire.NewTxOut(int64(amount), pk)},
		feeRate:  feeRate,
		status:   statusPublish,
		label:    "bond",
		insufficient: func(e *InsufficientFundsError) {
			if addr, err := w.PurposeAddress(context.WithoutCancel(ctx), "bond"); err == nil {
				e.Address = addr.EncodeAddress()
			}
		},
		persist: func(ctx context.Context, tx *sql.Tx, msg *wire.MsgTx) error {
			vout := -1
			for i, o := range msg.TxOut {
				if bytes.Equal(o.PkScript, pk) {
					vout = i
				}
			}
			if vout < 0 {
				return errors.New("bond output missing (bug)")
			}
			var claimed uint32
			if err := tx.QueryRowContext(ctx, `INSERT INTO key_counters (name, next) VALUES ('bond', 1)
				ON CONFLICT (name) DO UPDATE SET next = next + 1 RETURNING next - 1`).Scan(&claimed); err != nil {
				return err
			}
			if claimed != index {
				return fmt.Errorf("bond key %d was taken by a concurrent bond; retry", index)
			}
			txid := msg.TxHash()
			bond.OutPoint = wire.OutPoint{Hash: txid, Index: uint32(vout)}
			if _, err := tx.ExecContext(ctx, `INSERT INTO scripts (pk_script, witness_script, category, label)
				VALUES (?, ?, ?, 'bond') ON CONFLICT (pk_script) DO NOTHING`, pk, ws, string(FidelityBond)); err != nil {
				return err
			}
			set, err := anonSet(ctx, tx, msg, int64(amount))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO coins (txid, vout, value, pk_script, category, height, anon_set)
				VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (txid, vout) DO NOTHING`,
				txid[:], vout, int64(amount), pk, string(FidelityBond), set); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO bonds (txid, vout, key_index, lock_height, amount, witness_script, status, created_at)
				VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)`, txid[:], vout, index, lockHeight, int64(amount), ws, w.now().Unix())
			return err
		},
	})
	if sent != nil {
		w.watchScripts(ctx, [][]byte{pk})
	}
	if err != nil {
		return nil, sent, fmt.Errorf("create bond: %w", err)
	}
	return bond, sent, nil
}

// Bonds lists our fidelity bonds, newest first.
func (w *Wallet) Bonds(ctx context.Context) ([]Bond, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	return w.queryBonds(ctx, `1 = 1`)
}

func (w *Wallet) bond(ctx context.Context, op wire.OutPoint) (*Bond, error) {
	bs, err := w.queryBonds(ctx, `txid = ? AND vout = ?`, op.Hash[:], op.Index)
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("%w: %v", ErrUnknownBond, op)
	}
	return &bs[0], nil
}

func (w *Wallet) queryBonds(ctx context.Context, where string, args ...any) ([]Bond, error) {
	rows, err := w.store.db.QueryContext(ctx, `SELECT txid, vout, key_index, lock_height, amount, witness_script,
		conf_height, status, redeem_txid FROM bonds WHERE `+where+` ORDER BY created_at DESC, key_index DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Bond
	for rows.Next() {
		var b Bond
		var txid, redeem []byte
		var amount int64
		if err := rows.Scan(&txid, &b.OutPoint.Index, &b.KeyIndex, &b.LockHeight, &amount, &b.WitnessScript,
			&b.ConfHeight, &b.Status, &redeem); err != nil {
			return nil, err
		}
		if b.OutPoint.Hash, err = hashFromBytes(txid); err != nil {
			return nil, err
		}
		if redeem != nil {
			h, err := hashFromBytes(redeem)
			if err != nil {
				return nil, err
			}
			b.RedeemTxid = &h
		}
		b.Amount = btcutil.Amount(amount)
		out = append(out, b)
	}
	return out, rows.Err()
}

// BondProof signs a certificate binding bond op to the address onion until
// expiryHeight, for the directory and takers to check with VerifyBondOnChain.
func (w *Wallet) BondProof(ctx context.Context, op wire.OutPoint, onion string, expiryHeight uint32) (*script.BondCert, []byte, error) {
	if err := w.checkOpen(); err != nil {
		return nil, nil, err
	}
	b, err := w.bond(ctx, op)
	if err != nil {
		return nil, nil, err
	}
	key, err := w.keys.BondKey(b.KeyIndex)
	if err != nil {
		return nil, nil, err
	}
	defer key.Zero()
	cert := &script.BondCert{OutPoint: op, PubKey: key.PubKey(), LockHeight: b.LockHeight, Amount: int64(b.Amount),
		Onion: onion, ExpiryHeight: expiryHeight}
	sig, err := cert.Sign(key)
	if err != nil {
		return nil, nil, err
	}
	return cert, sig, nil
}

// SignWithBondKey signs digest with the key of our bond op (strict low-S
// DER): the answer to a directory's registration challenge, proving that
// we hold the bond key now.
func (w *Wallet) SignWithBondKey(ctx context.Context, op wire.OutPoint, digest [32]byte) ([]byte, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	b, err := w.bond(ctx, op)
	if err != nil {
		return nil, err
	}
	key, err := w.keys.BondKey(b.KeyIndex)
	if err != nil {
		return nil, err
	}
	defer key.Zero()
	return ecdsa.Sign(key, digest[:]).Serialize(), nil
}

// VerifyBondOnChain checks a maker's fidelity bond against our own node and
// returns its value (script.BondValue with block header times). onion is the
// address the maker is reached at ("" skips that check). Each refusal wraps
// one sentinel so the caller can say why:
//
//	script.ErrBondOnionMismatch   certificate is for another address (forged/copied)
//	script.ErrBondBadSignature    signature does not verify (forged)
//	script.ErrBondCertExpired     certificate expiry height reached
//	script.ErrBondCertLifetime    certificate valid for too long
//	script.ErrBondNotFound        no such transaction or output
//	script.ErrBondScriptMismatch  output does not pay P2WSH(bond script of the cert)
//	script.ErrBondAmountMismatch  output value differs from the certificate
//	script.ErrBondUnconfirmed     unconfirmed, or fewer than MinConfirmations
//	script.ErrBondLockWindow      lock height − confirmation height outside the window
//	script.ErrBondTooSmall        amount below MinAmount
//	script.ErrBondExpired         lock height reached: the coins can move
//	script.ErrBondSpent           spent in the chain or in the mempool
//	script.ErrBondCertInvalid     malformed certificate
//
// Chain errors (unreachable node, no txindex) are returned wrapped as they are.
func VerifyBondOnChain(ctx context.Context, b BondChain, cert *script.BondCert, sig []byte,
	onion string, policy BondPolicy) (float64, error) {
	if cert == nil {
		return 0, script.ErrBondCertInvalid
	}
	if err := cert.Validate(); err != nil {
		return 0, err
	}
	if onion != "" {
		if err := cert.CheckOnion(onion); err != nil {
			return 0, err
		}
	}
	// The signature first: a forged certificate needs no chain lookups.
	if err := cert.VerifySig(sig); err != nil {
		return 0, err
	}
	tipH, tipHash, err := b.Tip(ctx)
	if err != nil {
		return 0, fmt.Errorf("verify bond: %w", err)
	}
	tx, st, err := b.Tx(ctx, cert.OutPoint.Hash)
	if errors.Is(err, chain.ErrNotFound) {
		return 0, fmt.Errorf("%w: transaction %v", script.ErrBondNotFound, cert.OutPoint.Hash)
	}
	if err != nil {
		return 0, fmt.Errorf("verify bond: %w", err)
	}
	if int(cert.OutPoint.Index) >= len(tx.TxOut) {
		return 0, fmt.Errorf("%w: output %v", script.ErrBondNotFound, cert.OutPoint)
	}
	// Spent first: a spent bond is worthless whatever else is true (and a
	// bond can only be spent once its lock expired, which CheckBond would
	// report instead). UTXO reports an output spent in the chain or by a
	// mempool transaction alike (chain.Backend: on btcd it asks the mempool
	// itself), so one call answers both.
	if _, _, err := b.UTXO(ctx, cert.OutPoint); errors.Is(err, chain.ErrNotFound) {
		return 0, fmt.Errorf("%w: %v (%v)", script.ErrBondSpent, cert.OutPoint, err)
	} else if err != nil {
		return 0, fmt.Errorf("verify bond: %w", err)
	}
	out := tx.TxOut[cert.OutPoint.Index]
	if err := script.CheckBond(cert, sig, policy, tipH, st.Height, out.Value, out.PkScript); err != nil {
		return 0, err
	}
	confHdr, err := b.BlockHeader(ctx, *st.BlockHash)
	if err != nil {
		return 0, fmt.Errorf("verify bond: %w", err)
	}
	tipHdr, err := b.BlockHeader(ctx, tipHash)
	if err != nil {
		return 0, fmt.Errorf("verify bond: %w", err)
	}
	return script.BondValueAt(cert.Amount, confHdr.Timestamp, cert.LockHeight, tipH, tipHdr.Timestamp), nil
}

// RedeemBond spends a bond whose lock height has passed back to a Regular
// change address at feeRate (0 = estimate). Before the lock height the node
// refuses the transaction (non-final) and nothing is stored.
func (w *Wallet) RedeemBond(ctx context.Context, op wire.OutPoint, feeRate int64) (*SentTx, error) {
	if err := w.checkOpen(); err != nil {
		return nil, err
	}
	b, err := w.bond(ctx, op)
	if err != nil {
		return nil, err
	}
	if b.RedeemTxid != nil {
		return nil, fmt.Errorf("%w: bond %v already spent by %v", ErrTxState, op, b.RedeemTxid)
	}
	rate, err := w.resolveFeeRate(ctx, feeRate)
	if err != nil {
		return nil, err
	}
	var destPk []byte
	var added [][]byte
	err = w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		addr, _, more, err := w.issueAddress(ctx, tx, keys.BranchInternal)
		if err != nil {
			return err
		}
		added = more
		destPk, err = txscript.PayToAddrScript(addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redeem bond: %w", err)
	}
	w.watchScripts(ctx, added)
	fee := script.FeeForVSize(script.EstimateVSize([]script.InputKind{script.InputBond}, [][]byte{destPk}), rate)
	key, err := w.keys.BondKey(b.KeyIndex)
	if err != nil {
		return nil, err
	}
	msg, err := script.BondRedeemTx(op, int64(b.Amount), b.WitnessScript, key, destPk, fee)
	key.Zero()
	if err != nil {
		return nil, fmt.Errorf("redeem bond: %w", err)
	}
	if err := w.testAccept(ctx, msg); err != nil {
		return nil, fmt.Errorf("redeem bond: %w", err)
	}
	txid := msg.TxHash()
	var raw bytes.Buffer
	if err := msg.Serialize(&raw); err != nil {
		return nil, err
	}
	err = w.store.ExecTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE coins SET spent_by = ? WHERE txid = ? AND vout = ? AND spent_by IS NULL`,
			txid[:], op.Hash[:], op.Index)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: bond coin %v not unspent in the wallet", ErrTxState, op)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO transactions (txid, raw, status, fee, label, created_at)
			VALUES (?, ?, 'publish', ?, 'bond-redeem', ?)`, txid[:], raw.Bytes(), fee, w.now().Unix()); err != nil {
			return err
		}
		set, err := anonSet(ctx, tx, msg, msg.TxOut[0].Value)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO coins (txid, vout, value, pk_script, category, height, anon_set)
			VALUES (?, 0, ?, ?, ?, 0, ?) ON CONFLICT (txid, vout) DO NOTHING`,
			txid[:], msg.TxOut[0].Value, destPk, string(Regular), set); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE addresses SET used = 1 WHERE pk_script = ?`, destPk); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE bonds SET redeem_txid = ? WHERE txid = ? AND vout = ?`, txid[:], op.Hash[:], op.Index)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redeem bond: %w", err)
	}
	sent := &SentTx{Tx: msg, Txid: txid, Fee: btcutil.Amount(fee)}
	if err := w.publish(ctx, msg); err != nil {
		return sent, err
	}
	w.log.Info("bond redeemed", "bond", op, "txid", txid)
	return sent, nil
}
