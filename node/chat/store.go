package chat

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/internal/sqlitedb"
	"github.com/onionswap/onionswap/protocol"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrationFS = sqlitedb.MustSub(migrationFiles, "migrations")

// Store errors.
var (
	ErrNewerSchema = errors.New("chat database was written by a newer version")
	ErrCorrupt     = errors.New("chat database is corrupted")
	// ErrQueueFull: MaxPendingOut of our messages to the peer wait for
	// delivery.
	ErrQueueFull = errors.New("chat: too many undelivered messages to this peer")
)

// Message states.
const (
	StateSent      = 0 // ours: persisted, not yet stored anywhere else
	StateStored    = 1 // ours: in the pool's mailbox
	StateDelivered = 2 // ours: the peer has it
	StateRead      = 3 // ours: the peer read it

	stateHeld     = 0 // theirs: waiting for an earlier message
	stateReceived = 1 // theirs: delivered in order
)

type store struct {
	sdb *sqlitedb.DB
	db  *sql.DB
}

func openStore(ctx context.Context, p string) (*store, error) {
	sdb, err := sqlitedb.OpenOwn(ctx, p, "chat db", migrationFS, sqlitedb.Errors{Corrupt: ErrCorrupt, NewerSchema: ErrNewerSchema})
	if err != nil {
		return nil, err
	}
	return &store{sdb: sdb, db: sdb.SQL()}, nil
}

func (s *store) close() error { return s.sdb.Close() }

// identity loads the chat identity, creating it on first use.
func (s *store) identity(ctx context.Context) (*btcec.PrivateKey, error) {
	var raw []byte
	err := s.db.QueryRowContext(ctx, `SELECT key FROM identity WHERE id = 1`).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO identity (id, key) VALUES (1, ?)`, k.Serialize()); err != nil {
			return nil, fmt.Errorf("chat db: identity: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("chat db: identity: %w", err)
	}
	k, _ := btcec.PrivKeyFromBytes(raw)
	return k, nil
}

// prekey returns our newest prekey, making a new one when the newest is
// PrekeyRotate old, and deletes the private halves of expired ones.
func (s *store) prekey(ctx context.Context, now time.Time) (sealbox.Key, time.Time, error) {
	var k sealbox.Key
	if _, err := s.db.ExecContext(ctx, `DELETE FROM prekeys WHERE expires <= ?`, now.Unix()); err != nil {
		return k, time.Time{}, fmt.Errorf("chat db: prekeys: %w", err)
	}
	var pub, priv []byte
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT pub, priv, created, expires FROM prekeys ORDER BY created DESC LIMIT 1`).
		Scan(&pub, &priv, &created, &expires)
	if err == nil && now.Sub(time.Unix(created, 0)) < PrekeyRotate {
		copy(k.Pub[:], pub)
		copy(k.Priv[:], priv)
		return k, time.Unix(expires, 0), nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return k, time.Time{}, fmt.Errorf("chat db: prekeys: %w", err)
	}
	if k, err = sealbox.NewKey(); err != nil {
		return k, time.Time{}, err
	}
	exp := now.Add(PrekeyLife)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO prekeys (pub, priv, created, expires) VALUES (?, ?, ?, ?)`,
		k.Pub[:], k.Priv[:], now.Unix(), exp.Unix()); err != nil {
		return k, time.Time{}, fmt.Errorf("chat db: prekeys: %w", err)
	}
	return k, exp, nil
}

// prekeyPriv is the private half of our prekey pub, if we still hold it.
func (s *store) prekeyPriv(ctx context.Context, pub [protocol.X25519KeySize]byte, now time.Time) ([protocol.X25519KeySize]byte, bool, error) {
	var priv [protocol.X25519KeySize]byte
	var raw []byte
	err := s.db.QueryRowContext(ctx, `SELECT priv FROM prekeys WHERE pub = ? AND expires > ?`, pub[:], now.Unix()).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return priv, false, nil
	}
	if err != nil {
		return priv, false, fmt.Errorf("chat db: prekeys: %w", err)
	}
	copy(priv[:], raw)
	return priv, true, nil
}

// Contact is what we know of another chat identity.
type contact struct {
	identity [protocol.XOnlyKeySize]byte
	addr     string
	prekey   *protocol.ChatPrekey // nil: none, or expired
}

func (s *store) contact(ctx context.Context, id [protocol.XOnlyKeySize]byte, now time.Time) (contact, error) {
	c := contact{identity: id}
	var raw []byte
	var exp int64
	err := s.db.QueryRowContext(ctx, `SELECT addr, prekey, prekey_expires FROM contacts WHERE identity = ?`, id[:]).
		Scan(&c.addr, &raw, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("chat db: contacts: %w", err)
	}
	if raw != nil && exp > now.Unix() {
		if k, err := protocol.DecodeChatPrekey(raw); err == nil {
			c.prekey = k
		}
	}
	return c, nil
}

// contactByAddr finds the identity last seen at an onion address.
func (s *store) contactByAddr(ctx context.Context, addr string) ([protocol.XOnlyKeySize]byte, bool, error) {
	var id [protocol.XOnlyKeySize]byte
	var raw []byte
	err := s.db.QueryRowContext(ctx, `SELECT identity FROM contacts WHERE addr = ? ORDER BY updated DESC LIMIT 1`, addr).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return id, false, nil
	}
	if err != nil {
		return id, false, fmt.Errorf("chat db: contacts: %w", err)
	}
	copy(id[:], raw)
	return id, true, nil
}

// learn records a contact's address and (a verified) prekey: the prekey
// only when it lives longer than the one we hold, so a replayed old
// message cannot roll it back.
func (s *store) learn(ctx context.Context, id [protocol.XOnlyKeySize]byte, addr string, k *protocol.ChatPrekey, now time.Time) error {
	return s.sdb.ExecTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO contacts (identity, updated) VALUES (?, ?) ON CONFLICT DO NOTHING`, id[:], now.Unix()); err != nil {
			return err
		}
		if addr != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE contacts SET addr = ?, updated = ? WHERE identity = ?`, addr, now.Unix(), id[:]); err != nil {
				return err
			}
		}
		if k != nil {
			raw, err := k.Encode()
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE contacts SET prekey = ?, prekey_expires = ? WHERE identity = ? AND prekey_expires < ?`,
				raw, int64(k.Expiry), id[:], int64(k.Expiry)); err != nil {
				return err
			}
		}
		return nil
	})
}

// conv is one conversation's row.
type conv struct {
	id                      [32]byte
	peer                    [protocol.XOnlyKeySize]byte
	context                 uint8
	contextID               [32]byte
	nextOut                 uint64
	inDelivered, inRead     uint64
	toldDelivered, toldRead uint64
	peerDelivered, peerRead uint64
	lastAt                  int64
}

const convCols = `id, peer, context, context_id, next_out, in_delivered, in_read, told_delivered, told_read, peer_delivered, peer_read, last_at`

func scanConv(sc interface{ Scan(...any) error }) (*conv, error) {
	var c conv
	var id, peer, cid []byte
	if err := sc.Scan(&id, &peer, &c.context, &cid, &c.nextOut, &c.inDelivered, &c.inRead, &c.toldDelivered, &c.toldRead,
		&c.peerDelivered, &c.peerRead, &c.lastAt); err != nil {
		return nil, err
	}
	copy(c.id[:], id)
	copy(c.peer[:], peer)
	copy(c.contextID[:], cid)
	return &c, nil
}

func getConv(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id [32]byte) (*conv, error) {
	c, err := scanConv(q.QueryRowContext(ctx, `SELECT `+convCols+` FROM conversations WHERE id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

func ensureConv(ctx context.Context, tx *sql.Tx, me, peer [protocol.XOnlyKeySize]byte, context uint8, contextID [32]byte, now time.Time) (*conv, error) {
	id := ConversationID(me, peer, context, contextID)
	if _, err := tx.ExecContext(ctx, `INSERT INTO conversations (id, peer, context, context_id, created) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, id[:], peer[:], context, contextID[:], now.Unix()); err != nil {
		return nil, err
	}
	return getConv(ctx, tx, id)
}

// queue persists one of our messages before anything is sent.
func (s *store) queue(ctx context.Context, me, peer [protocol.XOnlyKeySize]byte, context uint8, contextID [32]byte, text string, now time.Time) (*conv, uint64, error) {
	var c *conv
	var seq uint64
	err := s.sdb.ExecTx(ctx, func(tx *sql.Tx) error {
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conv
			WHERE c.peer = ? AND m.dir = 0 AND m.state < ?`, peer[:], StateDelivered).Scan(&pending); err != nil {
			return err
		}
		if pending >= MaxPendingOut {
			return ErrQueueFull
		}
		var err error
		if c, err = ensureConv(ctx, tx, me, peer, context, contextID, now); err != nil {
			return err
		}
		seq = c.nextOut
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages (conv, dir, seq, text, sent, at, state) VALUES (?, 0, ?, ?, ?, ?, ?)`,
			c.id[:], seq, text, now.Unix(), now.Unix(), StateSent); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE conversations SET next_out = ?, last_at = ? WHERE id = ?`, seq+1, now.Unix(), c.id[:])
		return err
	})
	if err != nil && !errors.Is(err, ErrQueueFull) {
		err = fmt.Errorf("chat db: queue: %w", err)
	}
	return c, seq, err
}

// outMsg is one of our messages waiting for delivery.
type outMsg struct {
	seq         uint64
	text        string
	sent        int64
	state       int
	mailExpires int64
}

// undelivered lists our messages of conversation id not yet delivered,
// in order.
func (s *store) undelivered(ctx context.Context, id [32]byte) ([]outMsg, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, text, sent, state, mail_expires FROM messages
		WHERE conv = ? AND dir = 0 AND state < ? ORDER BY seq`, id[:], StateDelivered)
	if err != nil {
		return nil, fmt.Errorf("chat db: %w", err)
	}
	defer rows.Close()
	var out []outMsg
	for rows.Next() {
		var m outMsg
		if err := rows.Scan(&m.seq, &m.text, &m.sent, &m.state, &m.mailExpires); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// work lists the conversations with something to send: our undelivered
// messages, or a receipt the peer has not had; of one peer, or of all
// (peer nil).
func (s *store) work(ctx context.Context, peer *[protocol.XOnlyKeySize]byte) ([]*conv, error) {
	var only []byte
	if peer != nil {
		only = peer[:]
	}
	return s.convs(ctx, `SELECT `+convCols+` FROM conversations c
		WHERE (? IS NULL OR peer = ?)
		  AND (in_delivered > told_delivered OR in_read > told_read
		   OR EXISTS (SELECT 1 FROM messages m WHERE m.conv = c.id AND m.dir = 0 AND m.state < ?))`, only, only, StateDelivered)
}

// convs runs a query of conversation rows.
func (s *store) convs(ctx context.Context, query string, args ...any) ([]*conv, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("chat db: %w", err)
	}
	defer rows.Close()
	var out []*conv
	for rows.Next() {
		c, err := scanConv(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// stored records that our message seq is in the mailbox until expires.
func (s *store) stored(ctx context.Context, id [32]byte, seq uint64, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE messages SET state = MAX(state, ?), via = 'mailbox', mail_expires = ?
		WHERE conv = ? AND dir = 0 AND seq = ?`, StateStored, expires.Unix(), id[:], seq)
	return err
}

// delivered records that the peer has our messages up to seq (via: how
// we know: "direct" when its node acknowledged it on our stream).
func (s *store) delivered(ctx context.Context, id [32]byte, upto, read uint64, via string) error {
	return s.sdb.ExecTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET peer_delivered = MAX(peer_delivered, ?), peer_read = MAX(peer_read, ?)
			WHERE id = ?`, upto, read, id[:]); err != nil {
			return err
		}
		if via != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET via = ? WHERE conv = ? AND dir = 0 AND seq <= ? AND state < ?`,
				via, id[:], upto, StateDelivered); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET state = ? WHERE conv = ? AND dir = 0 AND seq <= ? AND state < ?`,
			StateDelivered, id[:], upto, StateDelivered); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE messages SET state = ? WHERE conv = ? AND dir = 0 AND seq <= ? AND state < ?`,
			StateRead, id[:], read, StateRead)
		return err
	})
}

// told records the receipt we sent.
func (s *store) told(ctx context.Context, id [32]byte, delivered, read uint64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE conversations SET told_delivered = MAX(told_delivered, ?), told_read = MAX(told_read, ?)
		WHERE id = ?`, delivered, read, id[:])
	return err
}

// Outcomes of receiving a text message.
type recvOutcome int

const (
	recvNew           recvOutcome = iota // delivered (possibly with held successors)
	recvHeld                             // held until an earlier one arrives
	recvDuplicate                        // we had it: a replay or a second copy
	recvFull                             // too many held out of order: refused
	recvStrangersFull                    // too many unread from strangers: refused
)

// receive persists a peer's text message, in order: seq next after what
// we have is delivered together with the held messages that follow it; a
// later one is held; an earlier one is a duplicate.
func (s *store) receive(ctx context.Context, me [protocol.XOnlyKeySize]byte, m *protocol.ChatPlain, via string, strangers int, now time.Time) (recvOutcome, [32]byte, error) {
	var out recvOutcome
	var cid [32]byte
	err := s.sdb.ExecTx(ctx, func(tx *sql.Tx) error {
		c, err := ensureConv(ctx, tx, me, m.From, m.Context, m.ContextID, now)
		if err != nil {
			return err
		}
		cid = c.id
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE conv = ? AND dir = 1 AND seq = ?`, c.id[:], m.Seq).
			Scan(&exists); err != nil {
			return err
		}
		if m.Seq <= c.inDelivered || exists > 0 {
			out = recvDuplicate
			return nil
		}
		// A stranger (a peer we never wrote to) may leave at most
		// maxStrangerUnread unread or held messages in all: a flood of
		// fresh identities, each within its own rate, cannot fill the disk.
		var ours, unread int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversations WHERE peer = ? AND next_out > 1`, m.From[:]).
			Scan(&ours); err != nil {
			return err
		}
		if ours == 0 {
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conv
				WHERE m.dir = 1 AND (m.state = ? OR m.seq > c.in_read)
				  AND NOT EXISTS (SELECT 1 FROM conversations d WHERE d.peer = c.peer AND d.next_out > 1)`, stateHeld).
				Scan(&unread); err != nil {
				return err
			}
			if unread >= strangers {
				out = recvStrangersFull
				return nil
			}
		}
		state := stateReceived
		if m.Seq > c.inDelivered+1 {
			var held int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE conv = ? AND dir = 1 AND state = ?`, c.id[:], stateHeld).
				Scan(&held); err != nil {
				return err
			}
			if held >= maxPendingIn {
				out = recvFull
				return nil
			}
			state, out = stateHeld, recvHeld
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages (conv, dir, seq, text, sent, at, state, via) VALUES (?, 1, ?, ?, ?, ?, ?, ?)`,
			c.id[:], m.Seq, m.Text, int64(m.Sent), now.Unix(), state, via); err != nil {
			return err
		}
		if state == stateHeld {
			return nil
		}
		// Deliver the held successors that are now in order.
		upto := m.Seq
		for {
			// Its time is its delivery's, so that history (by time) shows
			// it after the message that completed the order.
			res, err := tx.ExecContext(ctx, `UPDATE messages SET state = ?, at = ? WHERE conv = ? AND dir = 1 AND seq = ? AND state = ?`,
				stateReceived, now.Unix(), c.id[:], upto+1, stateHeld)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				break
			}
			upto++
		}
		_, err = tx.ExecContext(ctx, `UPDATE conversations SET in_delivered = ?, last_at = ? WHERE id = ?`, upto, now.Unix(), c.id[:])
		return err
	})
	if err != nil {
		return 0, cid, fmt.Errorf("chat db: receive: %w", err)
	}
	return out, cid, nil
}

// markRead records that the user read the peer's messages of conversation
// id up to what has been delivered; the next receipt says so.
func (s *store) markRead(ctx context.Context, id [32]byte) error {
	_, err := s.db.ExecContext(ctx, `UPDATE conversations SET in_read = in_delivered WHERE id = ?`, id[:])
	return err
}

// Message is one message of a conversation, for the control API.
type Message struct {
	// Dir: "out" (ours) or "in".
	Dir   string    `json:"dir"`
	Seq   uint64    `json:"seq"`
	Text  string    `json:"text"`
	Sent  time.Time `json:"sent"`
	At    time.Time `json:"at"`
	State string    `json:"state"`
	Via   string    `json:"via,omitempty"`
}

var outStates = [...]string{StateSent: "sent", StateStored: "stored", StateDelivered: "delivered", StateRead: "read"}

// outState names the state of our message seq of conversation id.
func (s *store) outState(ctx context.Context, id [32]byte, seq uint64) (string, error) {
	var st int
	if err := s.db.QueryRowContext(ctx, `SELECT state FROM messages WHERE conv = ? AND dir = 0 AND seq = ?`, id[:], seq).Scan(&st); err != nil {
		return "", fmt.Errorf("chat db: %w", err)
	}
	return outStates[min(max(st, 0), StateRead)], nil
}

func (s *store) history(ctx context.Context, id [32]byte, limit int) ([]Message, error) {
	c, err := getConv(ctx, s.db, id)
	if err != nil || c == nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT dir, seq, text, sent, at, state, via FROM messages
		WHERE conv = ? AND NOT (dir = 1 AND state = ?) ORDER BY at DESC, dir, seq DESC LIMIT ?`, id[:], stateHeld, limit)
	if err != nil {
		return nil, fmt.Errorf("chat db: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var dir, state int
		var sent, at int64
		if err := rows.Scan(&dir, &m.Seq, &m.Text, &sent, &at, &state, &m.Via); err != nil {
			return nil, err
		}
		m.Sent, m.At = time.Unix(sent, 0).UTC(), time.Unix(at, 0).UTC()
		if dir == 0 {
			m.Dir, m.State = "out", outStates[min(state, StateRead)]
		} else {
			m.Dir, m.State = "in", "unread"
			if m.Seq <= c.inRead {
				m.State = "read"
			}
		}
		out = append(out, m)
	}
	// Oldest first, as a chat reads.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}

// conversations lists every conversation, the most recent first.
func (s *store) conversations(ctx context.Context) ([]*conv, error) {
	return s.convs(ctx, `SELECT `+convCols+` FROM conversations ORDER BY last_at DESC LIMIT ?`, MaxInboxPeers)
}

// unread counts the peers' delivered messages the user has not read.
func (s *store) unread(ctx context.Context) (int, error) {
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT SUM(in_delivered - in_read) FROM conversations`).Scan(&n)
	return int(n.Int64), err
}
