package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// CoinBlocks returns the blocks that confirmed a watched output (coins
// table) and the transaction that spent it (when that is one of ours,
// e.g. a swap sweep: transactions table), nil for each that is not known
// confirmed. A maker builds its swap proofs from them (node/maker trust.go)
// without needing txindex on its node.
func (w *Wallet) CoinBlocks(ctx context.Context, op wire.OutPoint) (funding, spend *chainhash.Hash, err error) {
	var fb, sb []byte
	err = w.store.db.QueryRowContext(ctx, `SELECT c.block_hash, t.block_hash FROM coins c
		LEFT JOIN transactions t ON t.txid = c.spent_by AND t.status = 'confirmed'
		WHERE c.txid = ? AND c.vout = ? AND c.height > 0`, op.Hash[:], op.Index).Scan(&fb, &sb)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("coin blocks of %v: %w", op, err)
	}
	if len(fb) == chainhash.HashSize {
		h, _ := chainhash.NewHash(fb)
		funding = h
	}
	if len(sb) == chainhash.HashSize {
		h, _ := chainhash.NewHash(sb)
		spend = h
	}
	return funding, spend, nil
}
