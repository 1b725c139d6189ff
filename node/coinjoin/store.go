package coinjoin

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/onionswap/onionswap/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrationFS = sqlitedb.MustSub(migrationFiles, "migrations")

// Store errors.
var (
	ErrNewerSchema = errors.New("coinjoin database was written by a newer version")
	ErrCorrupt     = errors.New("coinjoin database is corrupted")
)

// Round states, as stored and shown.
const (
	StateLinking   = "linking"   // invite sent or taken, inputs not all in
	StateShuffling = "shuffling" // inputs agreed, outputs being shuffled
	StateSigning   = "signing"   // we signed the transaction (it is in tx)
	StateBroadcast = "broadcast" // complete: tx holds every signature
	StateFailed    = "failed"    // ended without a transaction; reason says why
)

// RoundRecord is one round as the node remembers it.
type RoundRecord struct {
	ID           [32]byte
	Started      time.Time
	Deadline     time.Time
	Initiator    bool
	Peers        int
	Denomination int64
	FeeRate      int64
	Coin         wire.OutPoint
	CoinValue    int64
	Output       []byte
	State        string
	Tx           *wire.MsgTx
	Reason       string
	Ended        time.Time
	Traffic      Traffic
}

// Traffic counts a round's messages and their bytes (frames included).
type Traffic struct {
	MsgsSent, MsgsRecv   int
	BytesSent, BytesRecv int64
}

type store struct {
	sdb *sqlitedb.DB
	db  *sql.DB
}

func openStore(ctx context.Context, p string) (*store, error) {
	sdb, err := sqlitedb.OpenOwn(ctx, p, "coinjoin db", migrationFS, sqlitedb.Errors{Corrupt: ErrCorrupt, NewerSchema: ErrNewerSchema})
	if err != nil {
		return nil, err
	}
	return &store{sdb: sdb, db: sdb.SQL()}, nil
}

func (s *store) close() error { return s.sdb.Close() }

// begin records a round before its first message leaves.
func (s *store) begin(ctx context.Context, r *RoundRecord) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO rounds (id, started, deadline, initiator, peers, denomination,
		fee_rate, coin_txid, coin_vout, coin_value, output, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID[:], r.Started.UnixMilli(), r.Deadline.Unix(), r.Initiator, r.Peers, r.Denomination, r.FeeRate,
		r.Coin.Hash[:], r.Coin.Index, r.CoinValue, r.Output, r.State)
	return err
}

// update records a round's progress: its state, its transaction (nil:
// unchanged), why it ended and its traffic.
func (s *store) update(ctx context.Context, id [32]byte, state string, tx *wire.MsgTx, reason string, tr Traffic, ended bool) error {
	var raw []byte
	if tx != nil {
		var b bytes.Buffer
		if err := tx.Serialize(&b); err != nil {
			return err
		}
		raw = b.Bytes()
	}
	var end any
	if ended {
		end = time.Now().UnixMilli()
	}
	_, err := s.db.ExecContext(ctx, `UPDATE rounds SET state = ?, tx = COALESCE(?, tx), reason = ?,
		ended = COALESCE(?, ended), msgs_sent = ?, msgs_recv = ?, bytes_sent = ?, bytes_recv = ? WHERE id = ?`,
		state, raw, reason, end, tr.MsgsSent, tr.MsgsRecv, tr.BytesSent, tr.BytesRecv, id[:])
	return err
}

const roundCols = `id, started, deadline, initiator, peers, denomination, fee_rate, coin_txid, coin_vout,
	coin_value, output, state, tx, reason, ended, msgs_sent, msgs_recv, bytes_sent, bytes_recv`

// rounds lists the newest rounds first (limit ≤ 0: all), or those in the
// given states.
func (s *store) rounds(ctx context.Context, limit int, states ...string) ([]RoundRecord, error) {
	q := `SELECT ` + roundCols + ` FROM rounds`
	var args []any
	if len(states) > 0 {
		q += ` WHERE state IN (?` + string(bytes.Repeat([]byte(", ?"), len(states)-1)) + `)`
		for _, st := range states {
			args = append(args, st)
		}
	}
	q += ` ORDER BY started DESC, id`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RoundRecord
	for rows.Next() {
		var r RoundRecord
		var id, coin, raw []byte
		var started, deadline int64
		var ended sql.NullInt64
		if err := rows.Scan(&id, &started, &deadline, &r.Initiator, &r.Peers, &r.Denomination, &r.FeeRate,
			&coin, &r.Coin.Index, &r.CoinValue, &r.Output, &r.State, &raw, &r.Reason, &ended,
			&r.Traffic.MsgsSent, &r.Traffic.MsgsRecv, &r.Traffic.BytesSent, &r.Traffic.BytesRecv); err != nil {
			return nil, err
		}
		copy(r.ID[:], id)
		if h, err := chainhash.NewHash(coin); err == nil {
			r.Coin.Hash = *h
		}
		r.Started, r.Deadline = time.UnixMilli(started).UTC(), time.Unix(deadline, 0).UTC()
		if ended.Valid {
			r.Ended = time.UnixMilli(ended.Int64).UTC()
		}
		if raw != nil {
			tx := new(wire.MsgTx)
			if err := tx.Deserialize(bytes.NewReader(raw)); err == nil {
				r.Tx = tx
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// counts is the number of rounds in each state.
func (s *store) counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM rounds GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// imprison refuses op until until (a later sentence wins).
func (s *store) imprison(ctx context.Context, op wire.OutPoint, until time.Time, reason string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO prison (txid, vout, until, reason) VALUES (?, ?, ?, ?)
		ON CONFLICT (txid, vout) DO UPDATE SET until = MAX(until, excluded.until), reason = excluded.reason`,
		op.Hash[:], op.Index, until.Unix(), reason)
	return err
}

// imprisoned reports whether op is refused at now.
func (s *store) imprisoned(ctx context.Context, op wire.OutPoint, now time.Time) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM prison WHERE txid = ? AND vout = ? AND until > ?`,
		op.Hash[:], op.Index, now.Unix()).Scan(&n)
	return n > 0, err
}

// prisoners counts the inputs refused at now.
func (s *store) prisoners(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM prison WHERE until > ?`, now.Unix()).Scan(&n)
	return n, err
}
