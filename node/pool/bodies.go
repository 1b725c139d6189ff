package pool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/onionswap/onionswap/protocol"
)

// errGone: the envelope is no longer in pool.db (dropped since it was
// looked up).
var errGone = errors.New("pool: envelope no longer held")

// rawOf returns the encoding of the envelope id: raw if the caller found
// it in memory (see entry.raw), else the row in pool.db.
func (p *Pool) rawOf(ctx context.Context, id protocol.PoolID, raw []byte) ([]byte, error) {
	if raw != nil {
		return raw, nil
	}
	if p.store == nil {
		return nil, errGone
	}
	err := p.store.db.QueryRowContext(ctx, `SELECT raw FROM messages WHERE id = ?`, id[:]).Scan(&raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errGone
	case err != nil:
		p.log.Warn("pool database read failed", "err", err)
		return nil, fmt.Errorf("pool db: read %s: %w", id, err)
	}
	return raw, nil
}

// persistedLocked forgets the in-memory encodings of entries the
// persister has written: pool.db serves them from now on.
func (p *Pool) persistedLocked(written map[protocol.PoolID]*entry) {
	for _, e := range written {
		e.raw = nil
	}
}
