package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onionswap/onionswap/internal/backoff"
	"github.com/onionswap/onionswap/protocol"
)

// The sending side: our messages and receipts go directly to the peer's
// onion while it answers, and to the mailbox while it does not.

func (s *Service) outboxLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.OutboxInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		s.flushAll(ctx)
		s.closeIdle()
	}
}

// flushAll delivers what every conversation owes its peer.
func (s *Service) flushAll(ctx context.Context) {
	cs, err := s.st.work(ctx, nil)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("chat outbox", "err", err)
		}
		return
	}
	done := map[[protocol.XOnlyKeySize]byte]bool{}
	for _, c := range cs {
		if done[c.peer] || ctx.Err() != nil {
			continue
		}
		done[c.peer] = true
		s.flushPeer(ctx, c.peer)
	}
}

func (s *Service) peer(id [protocol.XOnlyKeySize]byte) *peerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peers[id]
	if p == nil {
		p = &peerState{retry: newRetry(s.cfg.RetryMin, s.cfg.RetryMax)}
		s.peers[id] = p
	}
	return p
}

// flushPeer delivers every conversation's due messages and receipts to
// one peer, one delivery at a time per peer.
func (s *Service) flushPeer(ctx context.Context, peer [protocol.XOnlyKeySize]byte) {
	ps := s.peer(peer)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := s.cfg.Now()
	ct, err := s.st.contact(ctx, peer, now)
	if err != nil {
		s.log.Warn("chat contact", "err", err)
		return
	}
	cs, err := s.st.work(ctx, &peer)
	if err != nil {
		return
	}
	direct := ct.addr != "" && s.cfg.Dialer != nil && s.dialable(ps, now) && !now.Before(ps.limited)
	reply := s.reply(ctx, now) // our prekey and address, signed once for the whole flush
	for _, c := range cs {
		msgs, err := s.st.undelivered(ctx, c.id)
		if err != nil {
			return
		}
		for _, m := range msgs {
			plain := s.plain(c, reply)
			plain.Kind, plain.Seq, plain.Sent, plain.Text = protocol.ChatKindText, m.seq, uint64(m.sent), m.text
			if direct {
				switch err := s.direct(ctx, ps, ct, plain); {
				case err == nil:
					if err := s.st.delivered(ctx, c.id, m.seq, 0, "direct"); err != nil {
						return
					}
					s.count("sent-direct")
					continue
				case errors.Is(err, errLimited):
					direct = false
				default:
					s.log.Debug("chat: direct delivery failed", "err", err)
					direct = false
				}
			}
			if ct.prekey == nil || s.cfg.Pool == nil {
				continue // waits for the peer to be reachable
			}
			if m.state == StateStored && time.Unix(m.mailExpires, 0).Sub(now) > mailRepublish {
				continue // its mailbox copy is still there
			}
			exp, err := s.mail(ctx, ct, plain)
			if err != nil {
				s.log.Info("chat: mailbox refused a message", "err", err)
				continue
			}
			if err := s.st.stored(ctx, c.id, m.seq, exp); err != nil {
				return
			}
			s.count("sent-mailbox")
		}
		if c.inDelivered > c.toldDelivered || c.inRead > c.toldRead {
			r := s.plain(c, reply)
			r.Kind, r.Sent, r.Delivered, r.Read = protocol.ChatKindReceipt, uint64(now.Unix()), c.inDelivered, c.inRead
			sent := false
			if direct {
				if err := s.direct(ctx, ps, ct, r); err == nil {
					sent = true
				} else {
					direct = false
				}
			}
			if !sent && ct.prekey != nil && s.cfg.Pool != nil {
				_, err := s.mail(ctx, ct, r)
				sent = err == nil
			}
			if sent {
				_ = s.st.told(ctx, c.id, c.inDelivered, c.inRead)
			}
		}
	}
}

// reply is our current prekey and onion address, signed: what every
// message carries so that its recipient can answer while we are offline
// (nil if the prekey cannot be had).
func (s *Service) reply(ctx context.Context, now time.Time) *protocol.ChatPrekey {
	k, exp, err := s.st.prekey(ctx, now)
	if err != nil {
		return nil
	}
	r := &protocol.ChatPrekey{Key: k.Pub, Expiry: uint64(exp.Unix()), Addr: s.cfg.Addr}
	if err := r.Sign(s.key); err != nil {
		return nil
	}
	return r
}

// plain is a message of conversation c carrying reply.
func (s *Service) plain(c *conv, reply *protocol.ChatPrekey) *protocol.ChatPlain {
	return &protocol.ChatPlain{From: s.me, To: c.peer, Context: c.context, ContextID: c.contextID, Reply: reply}
}

var errLimited = errors.New("chat: the peer asks us to wait")

// direct seals p to the peer's stream key and delivers it on the peer's
// stream, opening one when needed.
func (s *Service) direct(ctx context.Context, ps *peerState, ct contact, p *protocol.ChatPlain) error {
	if ps.conn == nil || ps.conn.Err() != nil {
		if err := s.open(ctx, ps, ct.identity, ct.addr); err != nil {
			s.failed(ps)
			return err
		}
	}
	sealed, _, err := Seal(p, s.key, ps.key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	if err := ps.conn.Send(ctx, &protocol.ChatDeliver{Sealed: *sealed}); err != nil {
		s.dropConn(ps)
		return err
	}
	msg, err := ps.conn.Receive(ctx)
	if err != nil {
		s.dropConn(ps)
		return err
	}
	ps.used = s.cfg.Now()
	switch m := msg.(type) {
	case *protocol.ChatAck:
		switch m.Status {
		case protocol.ChatAckStored:
			s.reachable(ps)
			return nil
		case protocol.ChatAckLimited:
			ps.limited = s.cfg.Now().Add(time.Duration(max(m.RetryAfter, 1)) * time.Second)
			return errLimited
		}
		s.dropConn(ps)
		s.failed(ps)
		return errors.New("chat: the peer refused our message")
	case *protocol.Error:
		s.dropConn(ps)
		return fmt.Errorf("chat: peer: %s", m.Text)
	}
	s.dropConn(ps)
	return fmt.Errorf("chat: unexpected %s", msg.Type())
}

func (s *Service) dropConn(ps *peerState) {
	if ps.conn != nil {
		ps.conn.Close()
		ps.conn = nil
	}
}

// open dials addr, asks for a stream key and checks that it is signed by
// want (zero: anyone; a first contact learns the identity here).
func (s *Service) open(ctx context.Context, ps *peerState, want [protocol.XOnlyKeySize]byte, addr string) error {
	c, k, err := s.dial(ctx, addr)
	if err != nil {
		return err
	}
	if want != ([protocol.XOnlyKeySize]byte{}) && k.Identity != want {
		c.Close()
		return fmt.Errorf("chat: %s now answers with another identity", "peer")
	}
	ps.conn, ps.key, ps.used = c, k.Key, s.cfg.Now()
	return nil
}

func (s *Service) dial(ctx context.Context, addr string) (*protocol.Conn, *protocol.ChatPrekey, error) {
	if s.cfg.Dialer == nil {
		return nil, nil, errors.New("chat: no transport")
	}
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	hello := protocol.NewHello(s.cfg.Network, "onionswap")
	c, err := protocol.DialPeer(ctx, s.cfg.Dialer, addr, s.cfg.Conn, hello, "chat peer", &protocol.ChatKeyRequest{})
	if err != nil {
		return nil, nil, err
	}
	msg, err := c.Receive(ctx)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("chat: key: %w", err)
	}
	m, ok := msg.(*protocol.ChatKey)
	if !ok {
		c.Close()
		if e, ok := msg.(*protocol.Error); ok {
			return nil, nil, fmt.Errorf("chat: peer refused: %s", e.Text)
		}
		return nil, nil, fmt.Errorf("chat: unexpected %s", msg.Type())
	}
	if err := m.Prekey.Verify(); err != nil || m.Prekey.Expiry <= uint64(s.cfg.Now().Unix()) {
		c.Close()
		return nil, nil, fmt.Errorf("chat: peer's stream key: %v", cmpErr(err, "expired"))
	}
	return c, &m.Prekey, nil
}

func cmpErr(err error, alt string) string {
	if err != nil {
		return err.Error()
	}
	return alt
}

// dialIdentity learns the chat identity of the node at addr (a first
// contact) and keeps the stream for the message that follows.
func (s *Service) dialIdentity(ctx context.Context, addr string) ([protocol.XOnlyKeySize]byte, error) {
	c, k, err := s.dial(ctx, addr)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %s does not answer and is no contact of ours: %w", ErrUnknownPeer, addr, err)
	}
	if k.Identity == s.me {
		c.Close()
		return [32]byte{}, fmt.Errorf("%w: that is this node", ErrUnknownPeer)
	}
	if err := s.st.learn(ctx, k.Identity, addr, nil, s.cfg.Now()); err != nil {
		c.Close()
		return [32]byte{}, err
	}
	ps := s.peer(k.Identity)
	ps.mu.Lock()
	s.dropConn(ps)
	ps.conn, ps.key, ps.used = c, k.Key, s.cfg.Now()
	ps.mu.Unlock()
	s.reachable(ps)
	return k.Identity, nil
}

// mail seals p to the contact's prekey and publishes it in the mailbox,
// stamped, under the one-time origin key both ends can derive. It
// returns the envelope's expiry.
func (s *Service) mail(ctx context.Context, ct contact, p *protocol.ChatPlain) (time.Time, error) {
	now := s.cfg.Now()
	// The copy must not outlive the prekey it is sealed to.
	ttl := min(MailTTL, time.Unix(int64(ct.prekey.Expiry), 0).Sub(now))
	if ttl < time.Minute {
		return time.Time{}, errors.New("chat: the peer's key expires now")
	}
	sealed, shared, err := Seal(p, s.key, ct.prekey.Key)
	if err != nil {
		return time.Time{}, err
	}
	raw, err := MailEnvelope(s.cfg.Network, sealed, shared, ct.identity, s.cfg.StampBits, ttl, now)
	if err != nil {
		return time.Time{}, err
	}
	if _, err := s.cfg.Pool.PublishRaw(ctx, raw); err != nil {
		return time.Time{}, err
	}
	return now.Add(ttl), nil
}

// closeIdle closes direct streams unused for sessionIdle.
func (s *Service) closeIdle() {
	now := s.cfg.Now()
	s.mu.Lock()
	ps := make([]*peerState, 0, len(s.peers))
	for _, p := range s.peers {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		if p.mu.TryLock() {
			if p.conn != nil && now.Sub(p.used) > sessionIdle {
				s.dropConn(p)
			}
			p.mu.Unlock()
		}
	}
}

func newRetry(lo, hi time.Duration) backoff.Backoff {
	return backoff.Backoff{Min: lo, Max: hi, Jitter: true}
}

// The direct back-off of a peer is guarded by s.mu, not ps.mu (which a
// delivery holds through a dial of up to DialTimeout), so that news of the
// peer (a message from it, with its current address) can end the wait at
// once: a taker's onion is new at every start, and a peer that went
// offline and came back is reachable again at its new address.

func (s *Service) dialable(ps *peerState, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !now.Before(ps.next)
}

func (s *Service) failed(ps *peerState) {
	s.mu.Lock()
	ps.next = s.cfg.Now().Add(ps.retry.Next())
	s.mu.Unlock()
}

func (s *Service) reachable(ps *peerState) {
	s.mu.Lock()
	ps.next = time.Time{}
	ps.retry.Reset()
	s.mu.Unlock()
}
