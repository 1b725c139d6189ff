package swap

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/protocol"
	"github.com/onionswap/onionswap/wallet"
	"github.com/onionswap/onionswap/wallet/script"
)

// Store persists swap records in the wallet database (tables of
// wallet/migrations/0002_swaps.sql). Every Save is one SQLite transaction
// (synchronous=FULL) writing the record's phase, its JSON state and its
// outputs: callers Save the phase, then act.
type Store struct {
	w   *wallet.Wallet
	now func() time.Time
}

// NewStore returns the store of w.
func NewStore(w *wallet.Wallet) *Store { return &Store{w: w, now: time.Now} }

// Record is what Save persists.
type Record interface {
	recordID() protocol.SwapID
	recordRole() Role
	recordPhase() Phase
	recordAmount() int64
	Outputs() []*Output
}

func (s *MakerSwap) recordID() protocol.SwapID { return s.ID }
func (s *MakerSwap) recordRole() Role          { return RoleMaker }
func (s *MakerSwap) recordPhase() Phase        { return s.Phase }
func (s *MakerSwap) recordAmount() int64       { return s.InTotal }
func (s *TakerSwap) recordID() protocol.SwapID { return s.ID }
func (s *TakerSwap) recordRole() Role          { return RoleTaker }
func (s *TakerSwap) recordPhase() Phase        { return s.Phase }
func (s *TakerSwap) recordAmount() int64       { return s.Amount }

// Save writes r (insert or update) and its outputs. A funding outpoint
// already bound (live) to another swap's output in the same direction is
// refused with ErrOutpointBound and nothing is written.
func (s *Store) Save(ctx context.Context, r Record) error {
	state, err := json.Marshal(r)
	if err != nil {
		return err
	}
	id := r.recordID()
	now := s.now().Unix()
	var txCount int
	var hash []byte
	switch v := r.(type) {
	case *MakerSwap:
		txCount, hash = v.TxCount, v.Hash[:]
	case *TakerSwap:
		txCount, hash = v.TxCount, v.Hash[:]
	}
	err = s.w.ExecTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO swaps (id, role, phase, final, created, updated, amount, tx_count, hash, state)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET phase = excluded.phase, final = excluded.final, updated = excluded.updated,
			amount = excluded.amount, tx_count = excluded.tx_count, state = excluded.state`,
			id[:], string(r.recordRole()), string(r.recordPhase()), r.recordPhase().Final(), now, now,
			r.recordAmount(), txCount, hash, state); err != nil {
			return err
		}
		for _, o := range r.Outputs() {
			ctxid := o.ContractTxid()
			if _, err := tx.ExecContext(ctx, `INSERT INTO swap_outputs (swap_id, hop, dir, idx, funding_txid, funding_vout,
				value, multisig_script, contract_script, contract_pk, contract_txid, status)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (swap_id, hop, dir, idx) DO UPDATE SET status = excluded.status`,
				id[:], o.Hop, string(o.Dir), o.Idx, o.FundingOutPoint.Hash[:], o.FundingOutPoint.Index, o.Value,
				o.MultisigScript, o.ContractScript, script.WitnessScriptHash(o.ContractScript), ctxid[:], o.Status); err != nil {
				if strings.Contains(err.Error(), "UNIQUE constraint failed") {
					return fmt.Errorf("%w: %v", ErrOutpointBound, o.FundingOutPoint)
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save swap %s: %w", id, err)
	}
	return nil
}

// OutpointBound reports whether op is bound (live) to a swap output in dir.
func (s *Store) OutpointBound(ctx context.Context, op wire.OutPoint, dir Dir) (bool, error) {
	var n int
	err := s.w.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM swap_outputs
		WHERE funding_txid = ? AND funding_vout = ? AND dir = ? AND status <> 'abandoned'`,
		op.Hash[:], op.Index, string(dir)).Scan(&n)
	return n > 0, err
}

// Exists reports whether a swap id is known (any role).
func (s *Store) Exists(ctx context.Context, id protocol.SwapID) (bool, error) {
	var n int
	err := s.w.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM swaps WHERE id = ?`, id[:]).Scan(&n)
	return n > 0, err
}

// LoadMaker loads a maker record (ErrUnknownSwap when absent).
func (s *Store) LoadMaker(ctx context.Context, id protocol.SwapID) (*MakerSwap, error) {
	var r MakerSwap
	if err := s.load(ctx, id, RoleMaker, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// LoadTaker loads a taker record (ErrUnknownSwap when absent).
func (s *Store) LoadTaker(ctx context.Context, id protocol.SwapID) (*TakerSwap, error) {
	var r TakerSwap
	if err := s.load(ctx, id, RoleTaker, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Store) load(ctx context.Context, id protocol.SwapID, role Role, v any) error {
	var state []byte
	var created, updated int64
	err := s.w.DB().QueryRowContext(ctx, `SELECT state, created, updated FROM swaps WHERE id = ? AND role = ?`,
		id[:], string(role)).Scan(&state, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", ErrUnknownSwap, id)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(state, v); err != nil {
		return err
	}
	if t, ok := v.(interface{ setTimes(c, u int64) }); ok {
		t.setTimes(created, updated)
	}
	return nil
}

func (t *Times) setTimes(c, u int64) {
	t.Created, t.Updated = time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
}

// Live lists the ids of the role's swaps that are not final.
func (s *Store) Live(ctx context.Context, role Role) ([]protocol.SwapID, error) {
	return s.ids(ctx, `SELECT id FROM swaps WHERE role = ? AND final = 0 ORDER BY created`, string(role))
}

// All lists the ids of every swap of the role, oldest first.
func (s *Store) All(ctx context.Context, role Role) ([]protocol.SwapID, error) {
	return s.ids(ctx, `SELECT id FROM swaps WHERE role = ? ORDER BY created`, string(role))
}

func (s *Store) ids(ctx context.Context, q string, args ...any) ([]protocol.SwapID, error) {
	rows, err := s.w.DB().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []protocol.SwapID
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var id protocol.SwapID
		copy(id[:], b)
		out = append(out, id)
	}
	return out, rows.Err()
}

// OutputRef locates a swap output by its contract script.
type OutputRef struct {
	SwapID protocol.SwapID
	Role   Role
	Dir    Dir
}

// ByContractPk finds the live swaps with an output paying pk (P2WSH of a
// contract script).
func (s *Store) ByContractPk(ctx context.Context, pk []byte) ([]OutputRef, error) {
	rows, err := s.w.DB().QueryContext(ctx, `SELECT o.swap_id, s.role, o.dir FROM swap_outputs o JOIN swaps s ON s.id = o.swap_id
		WHERE o.contract_pk = ? AND s.final = 0`, pk)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutputRef
	for rows.Next() {
		var b []byte
		var role, dir string
		if err := rows.Scan(&b, &role, &dir); err != nil {
			return nil, err
		}
		var r OutputRef
		copy(r.SwapID[:], b)
		r.Role, r.Dir = Role(role), Dir(dir)
		out = append(out, r)
	}
	return out, rows.Err()
}

// MakerSwaps loads every maker swap record, oldest first.
func (s *Store) MakerSwaps(ctx context.Context) ([]*MakerSwap, error) {
	return loadAll(ctx, s, RoleMaker, s.LoadMaker)
}

// TakerSwaps loads every taker swap record, oldest first.
func (s *Store) TakerSwaps(ctx context.Context) ([]*TakerSwap, error) {
	return loadAll(ctx, s, RoleTaker, s.LoadTaker)
}

func loadAll[R any](ctx context.Context, s *Store, role Role, load func(context.Context, protocol.SwapID) (R, error)) ([]R, error) {
	ids, err := s.All(ctx, role)
	if err != nil {
		return nil, err
	}
	out := make([]R, 0, len(ids))
	for _, id := range ids {
		r, err := load(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// AllocSwapIndex returns a fresh index for keys.SwapKey (shared counter of
// the wallet's 'swap' key chain).
func (s *Store) AllocSwapIndex(ctx context.Context) (uint32, error) {
	var idx uint32
	err := s.w.ExecTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO key_counters (name, next) VALUES ('swap', 1)
			ON CONFLICT (name) DO UPDATE SET next = next + 1 RETURNING next - 1`).Scan(&idx)
	})
	return idx, err
}

// MarkBadMaker remembers a maker the taker avoids until until (zero: for
// good): a short while for one that was unreachable, for good for one that
// broke the protocol or cheated.
func (s *Store) MarkBadMaker(ctx context.Context, addr, reason string, until time.Time) error {
	// A maker avoided for good stays so (BlacklistAdd): a later
	// "unreachable" must not shorten a cheat's listing.
	return s.w.BlacklistAdd(ctx, wallet.BlacklistEntry{Kind: wallet.ListOnion, Value: addr, Reason: reason,
		Added: s.now(), Until: until, Source: wallet.ListSourceAuto})
}

// BadMakers returns the makers avoided at now and why: the onion entries
// of the blacklist, whoever listed them.
func (s *Store) BadMakers(ctx context.Context, now time.Time) (map[string]string, error) {
	es, err := s.w.Blacklist(ctx, wallet.ListOnion, now)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(es))
	for _, e := range es {
		out[e.Value] = e.Reason
	}
	return out, nil
}
