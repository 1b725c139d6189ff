package pool

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/internal/sqlitedb"
	"github.com/onionswap/onionswap/protocol"
)

// pool.db uses the plumbing shared with the wallet and the directory
// (internal/sqlitedb: WAL, settings in the DSN, numbered embedded
// migrations, ExecTx retried on busy). The pool writes in batches every
// persistInterval, off the relay path: what a crash loses is restored by
// the next join sync.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrationFS = sqlitedb.MustSub(migrationFiles, "migrations")

// Store errors.
var (
	ErrNewerSchema = errors.New("pool database was written by a newer version")
	ErrCorrupt     = errors.New("pool database is corrupted")
)

type store struct {
	sdb *sqlitedb.DB
	db  *sql.DB
}

func openStore(ctx context.Context, p string) (*store, error) {
	sdb, err := sqlitedb.OpenOwn(ctx, p, "pool db", migrationFS, sqlitedb.Errors{Corrupt: ErrCorrupt, NewerSchema: ErrNewerSchema})
	if err != nil {
		return nil, err
	}
	return &store{sdb: sdb, db: sdb.SQL()}, nil
}

func (s *store) close() error { return s.sdb.Close() }

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0)
}

// load reads identity, messages (re-checked: expired, malformed or forged
// rows are dropped), peers and bans.
func (p *Pool) load(ctx context.Context) error {
	db := p.store.db
	if p.identity == nil {
		var kb []byte
		switch err := db.QueryRowContext(ctx, `SELECT key FROM identity WHERE one = 1`).Scan(&kb); {
		case err == nil:
			p.identity, _ = btcec.PrivKeyFromBytes(kb)
		case errors.Is(err, sql.ErrNoRows):
			k, err := btcec.NewPrivateKey()
			if err != nil {
				return err
			}
			b := k.Key.Bytes()
			if _, err := db.ExecContext(ctx, `INSERT INTO identity (one, key) VALUES (1, ?)`, b[:]); err != nil {
				return fmt.Errorf("pool db: identity: %w", err)
			}
			p.identity = k
		default:
			return fmt.Errorf("pool db: identity: %w", err)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT raw, own FROM messages ORDER BY expiry DESC`)
	if err != nil {
		return fmt.Errorf("pool db: messages: %w", err)
	}
	now := p.cfg.Now()
	var stale []protocol.PoolID
	p.mu.Lock()
	for rows.Next() {
		var raw []byte
		var own bool
		if err := rows.Scan(&raw, &own); err != nil {
			rows.Close()
			p.mu.Unlock()
			return fmt.Errorf("pool db: messages: %w", err)
		}
		c, r := p.precheck(raw, now)
		if r == ReasonNone && protocol.VerifyPoolSig(c.id, c.env.Origin, c.env.Sig) != nil {
			r = ReasonBadSignature
		}
		if r != ReasonNone {
			if len(raw) >= protocol.SchnorrSigSize {
				stale = append(stale, protocol.PoolIDOf(raw))
			}
			continue
		}
		if held, r := p.insertLocked(c, own); !held && (r == ReasonTopicFull || r == ReasonRecipientFull) {
			// Over a cap lowered since (rows come longest-lived first):
			// refused as on arrival, and forgotten.
			stale = append(stale, c.id)
		}
	}
	rows.Close()
	for _, id := range stale {
		p.dirtyDel[id] = true
	}
	// Loading is not news: nothing to write back.
	clear(p.dirtyAdd)
	p.stats.Accepted = 0
	p.mu.Unlock()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pool db: messages: %w", err)
	}

	prow, err := db.QueryContext(ctx, `SELECT addr, source, last_seen, last_success, failures FROM peers`)
	if err != nil {
		return fmt.Errorf("pool db: peers: %w", err)
	}
	defer prow.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for prow.Next() {
		a := &addrInfo{}
		var seen, ok int64
		if err := prow.Scan(&a.addr, &a.source, &seen, &ok, &a.failures); err != nil {
			return fmt.Errorf("pool db: peers: %w", err)
		}
		a.lastSeen, a.lastSuccess = fromUnix(seen), fromUnix(ok)
		p.table[a.addr] = a
	}
	if err := prow.Err(); err != nil {
		return err
	}
	brow, err := db.QueryContext(ctx, `SELECT addr, reason, until FROM bans`)
	if err != nil {
		return fmt.Errorf("pool db: bans: %w", err)
	}
	defer brow.Close()
	for brow.Next() {
		var b Ban
		var until int64
		if err := brow.Scan(&b.Addr, &b.Reason, &until); err != nil {
			return fmt.Errorf("pool db: bans: %w", err)
		}
		b.Until = time.Unix(until, 0)
		if now.Before(b.Until) {
			p.bans[b.Addr] = b
		} else {
			p.dirtyBans[b.Addr] = true
		}
	}
	return brow.Err()
}

func (p *Pool) persistLoop() {
	defer p.wg.Done()
	t := time.NewTicker(persistInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.persist(p.ctx)
		case <-p.persistNow:
			p.persist(p.ctx)
		}
	}
}

type addrRow struct {
	addr                  string
	del                   bool
	source, failures      int
	lastSeen, lastSuccess int64
}

// persist writes the changes since the last call in one transaction. On
// failure they are kept for the next attempt.
func (p *Pool) persist(ctx context.Context) {
	if p.store == nil {
		return
	}
	p.mu.Lock()
	adds, dels := p.dirtyAdd, p.dirtyDel
	p.dirtyAdd, p.dirtyDel = map[protocol.PoolID]*entry{}, map[protocol.PoolID]bool{}
	p.dirtyBytes = 0
	var addrs []addrRow
	for a := range p.dirtyAddrs {
		if ai := p.table[a]; ai != nil {
			addrs = append(addrs, addrRow{addr: a, source: ai.source, failures: ai.failures,
				lastSeen: unixOrZero(ai.lastSeen), lastSuccess: unixOrZero(ai.lastSuccess)})
		} else {
			addrs = append(addrs, addrRow{addr: a, del: true})
		}
	}
	clear(p.dirtyAddrs)
	var bans []Ban
	var unban []string
	for a := range p.dirtyBans {
		if b, ok := p.bans[a]; ok {
			bans = append(bans, b)
		} else {
			unban = append(unban, a)
		}
	}
	clear(p.dirtyBans)
	p.mu.Unlock()
	if len(adds)+len(dels)+len(addrs)+len(bans)+len(unban) == 0 {
		return
	}
	err := p.store.sdb.ExecTx(ctx, func(tx *sql.Tx) error {
		for id := range dels {
			if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id = ?`, id[:]); err != nil {
				return err
			}
		}
		for id, e := range adds {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO messages (id, raw, own, expiry) VALUES (?, ?, ?, ?)`,
				id[:], e.raw, e.own, int64(e.expiry)); err != nil {
				return err
			}
		}
		for _, a := range addrs {
			var err error
			if a.del {
				_, err = tx.ExecContext(ctx, `DELETE FROM peers WHERE addr = ?`, a.addr)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO peers (addr, source, last_seen, last_success, failures)
					VALUES (?, ?, ?, ?, ?)`, a.addr, a.source, a.lastSeen, a.lastSuccess, a.failures)
			}
			if err != nil {
				return err
			}
		}
		for _, b := range bans {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO bans (addr, reason, until) VALUES (?, ?, ?)`,
				b.Addr, b.Reason, b.Until.Unix()); err != nil {
				return err
			}
		}
		for _, a := range unban {
			if _, err := tx.ExecContext(ctx, `DELETE FROM bans WHERE addr = ?`, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		p.mu.Lock()
		p.persistedLocked(adds)
		p.mu.Unlock()
		return
	}
	p.log.Warn("pool database write failed; will retry", "err", err)
	p.mu.Lock()
	for id, e := range adds {
		if _, gone := p.dirtyDel[id]; !gone {
			p.dirtyAdd[id] = e
			p.dirtyBytes += e.size
		}
	}
	for id := range dels {
		if _, back := p.dirtyAdd[id]; !back {
			p.dirtyDel[id] = true
		}
	}
	for _, a := range addrs {
		p.dirtyAddrs[a.addr] = true
	}
	for _, b := range bans {
		p.dirtyBans[b.Addr] = true
	}
	for _, a := range unban {
		p.dirtyBans[a] = true
	}
	p.mu.Unlock()
}
