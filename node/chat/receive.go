package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/onionswap/onionswap/internal/ratelimit"
	"github.com/onionswap/onionswap/internal/sealbox"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
)

// The receiving side: direct streams (ServeConn) and the mailbox
// (mailLoop) hand sealed messages to receive, which opens, checks and
// persists them.

// Why a sealed message was not delivered (counted in Stats).
var (
	errSilenced = errors.New("chat: sender is blacklisted")
	errRate     = errors.New("chat: sender over its rate")
	errNoRoom   = errors.New("chat: no room for the sender's messages now (held out of order, or unread from strangers)")
)

// ServeConn implements service.Inbound: a direct stream opened with
// ChatKeyRequest. It answers with a one-time key for this stream (kept in
// memory only, forgotten when the stream ends: forward secrecy), then
// acknowledges each delivery.
func (s *Service) ServeConn(ctx context.Context, c *protocol.Conn, first protocol.Message) {
	if _, ok := first.(*protocol.ChatKeyRequest); !ok {
		_ = c.CloseWithError(protocol.CodeProtocolViolation, "a chat stream opens with ChatKeyRequest")
		return
	}
	k, err := sealbox.NewKey()
	if err != nil {
		_ = c.CloseWithError(protocol.CodeInternal, "chat: no key")
		return
	}
	pk := protocol.ChatPrekey{Key: k.Pub, Expiry: uint64(s.cfg.Now().Add(sessionIdle + time.Hour).Unix())}
	if err := pk.Sign(s.key); err != nil {
		_ = c.CloseWithError(protocol.CodeInternal, "chat: no key")
		return
	}
	s.mu.Lock()
	s.sessions[k.Pub] = k.Priv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, k.Pub)
		s.mu.Unlock()
	}()
	if err := c.Send(ctx, &protocol.ChatKey{Prekey: pk}); err != nil {
		return
	}
	abuse := 0
	for {
		msg, err := c.Receive(ctx)
		if err != nil {
			return
		}
		d, ok := msg.(*protocol.ChatDeliver)
		if !ok {
			_ = c.CloseWithError(protocol.CodeProtocolViolation, fmt.Sprintf("chat: unexpected %s", msg.Type()))
			return
		}
		ack := &protocol.ChatAck{Status: protocol.ChatAckStored}
		if _, err := s.receive(ctx, &d.Sealed, "direct"); err != nil {
			switch {
			case errors.Is(err, errRate), errors.Is(err, errNoRoom):
				abuse++
				ack = &protocol.ChatAck{Status: protocol.ChatAckLimited, RetryAfter: uint32(1 / PeerRate)}
			case errors.Is(err, errSilenced):
				// Silenced: told stored, so it stops trying; dropped.
			default:
				ack.Status = protocol.ChatAckRefused
				abuse++
			}
		}
		if abuse > connAbuse {
			_ = c.CloseWithError(protocol.CodeRateLimited, "chat: too many refused messages")
			return
		}
		if err := c.Send(ctx, ack); err != nil {
			return
		}
	}
}

// keyFor is the private half of one of our keys: a stream's one-time key
// or a prekey.
func (s *Service) keyFor(ctx context.Context, pub [protocol.X25519KeySize]byte) ([protocol.X25519KeySize]byte, bool) {
	s.mu.Lock()
	priv, ok := s.sessions[pub]
	s.mu.Unlock()
	if ok {
		return priv, true
	}
	priv, ok, err := s.st.prekeyPriv(ctx, pub, s.cfg.Now())
	return priv, ok && err == nil
}

// receive opens a sealed message and persists what it says. It returns
// the message's shared key (the mailbox envelope's names derive from it).
// Every refusal is counted by its reason.
func (s *Service) receive(ctx context.Context, sealed *protocol.ChatSealed, via string) ([32]byte, error) {
	priv, ok := s.keyFor(ctx, sealed.To)
	if !ok {
		s.count("refused-unknown-key")
		return [32]byte{}, ErrUndecryptable
	}
	raw, shared, err := open(sealed, priv)
	if err != nil {
		s.count("refused-undecryptable")
		return shared, err
	}
	m, err := protocol.DecodeChatPlain(raw)
	if err != nil {
		s.count("refused-malformed")
		return shared, err
	}
	if err := m.Verify(); err != nil {
		s.count("refused-forged")
		return shared, err
	}
	if m.To != s.me {
		s.count("refused-misaddressed")
		return shared, ErrMisaddressed
	}
	if f := s.cfg.Silenced; f != nil {
		if _, listed := f(ctx, m.From); listed {
			s.count("silenced")
			return shared, errSilenced
		}
	}
	now := s.cfg.Now()
	if m.Reply != nil && m.Reply.Identity == m.From && m.Reply.Verify() == nil && m.Reply.Expiry > uint64(now.Unix()) {
		if err := s.st.learn(ctx, m.From, m.Reply.Addr, m.Reply, now); err != nil {
			return shared, err
		}
		s.mu.Lock()
		ps := s.peers[m.From] // only peers we write to have one
		s.mu.Unlock()
		if ps != nil {
			s.reachable(ps) // news of the peer: try it directly again
			s.poke()
		}
	}
	cid := ConversationID(s.me, m.From, m.Context, m.ContextID)
	if m.Kind == protocol.ChatKindReceipt {
		if c, err := getConv(ctx, s.st.db, cid); err != nil || c == nil {
			s.count("refused-unknown-conversation")
			return shared, fmt.Errorf("chat: receipt for no conversation of ours")
		}
		s.count("receipts")
		return shared, s.st.delivered(ctx, cid, m.Delivered, m.Read, "")
	}
	if !s.allow(m.From) {
		s.count("limited")
		return shared, errRate
	}
	out, _, err := s.st.receive(ctx, s.me, m, via, s.cfg.StrangerUnread, now)
	if err != nil {
		return shared, err
	}
	switch out {
	case recvDuplicate:
		s.count("duplicates")
	case recvFull:
		s.count("refused-held-full")
		return shared, errNoRoom
	case recvStrangersFull:
		s.count("refused-strangers-full")
		return shared, errNoRoom
	default:
		s.count("received-" + via)
		s.poke() // the receipt
	}
	return shared, nil
}

// allow takes a token from the sender's bucket.
func (s *Service) allow(from [protocol.XOnlyKeySize]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[from]
	if b == nil {
		if len(s.buckets) > 4*MaxInboxPeers {
			clear(s.buckets) // bounded: a flood of fresh identities
		}
		b = ratelimit.New(PeerRate, PeerBurst, s.cfg.Now)
		s.buckets[from] = b
	}
	return b.Allow()
}

// mailLoop reads the mailbox: envelopes addressed to us as they arrive,
// and the whole topic every ScanInterval (a join sync can deliver more
// than a subscription holds; mail over a sender's rate waits there).
func (s *Service) mailLoop(ctx context.Context, ch <-chan pool.Delivery, unsub func()) {
	defer s.wg.Done()
	defer unsub()
	me := RecipientHash(s.me)
	s.scanMail(ctx, me)
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case d, ok := <-ch:
			if !ok {
				return
			}
			s.takeMail(ctx, me, d.ID, d.Envelope)
		case <-t.C:
			s.scanMail(ctx, me)
		}
	}
}

func (s *Service) scanMail(ctx context.Context, me protocol.PoolID) {
	held := map[protocol.PoolID]bool{}
	for _, m := range s.cfg.Pool.Messages(TopicMail) {
		var id protocol.PoolID
		if err := decodeHexID(m.ID, &id); err != nil || m.Removal {
			continue
		}
		held[id] = true
		s.mu.Lock()
		seen := s.seenMail[id]
		s.mu.Unlock()
		if seen {
			continue
		}
		raw, err := s.cfg.Pool.Envelope(ctx, id)
		if err != nil {
			continue
		}
		env, err := protocol.DecodePoolEnvelope(raw)
		if err != nil {
			continue
		}
		s.takeMail(ctx, me, id, env)
	}
	s.mu.Lock()
	for id := range s.seenMail {
		if !held[id] {
			delete(s.seenMail, id) // bounded by what the pool holds
		}
	}
	s.mu.Unlock()
}

// takeMail opens an envelope addressed to us and, once its message is
// persisted (or refused for good), removes it from the mailbox with a
// tombstone signed by the one-time origin key, freeing the relays'
// quota. Mail over the sender's rate stays for a later scan.
func (s *Service) takeMail(ctx context.Context, me protocol.PoolID, id protocol.PoolID, env *protocol.PoolEnvelope) {
	if env.IsRemoval() || env.Flags&protocol.PoolFlagRecipient == 0 || env.Recipient != me {
		s.markSeen(id)
		return
	}
	sealed, err := protocol.DecodeChatSealed(env.Body)
	if err != nil {
		s.markSeen(id)
		return
	}
	shared, err := s.receive(ctx, sealed, "mailbox")
	if errors.Is(err, errRate) || errors.Is(err, errNoRoom) {
		return // not seen: the next scan tries again
	}
	s.markSeen(id)
	if shared == ([32]byte{}) {
		return
	}
	origin := mailOrigin(shared)
	if [32]byte(schnorr.SerializePubKey(origin.PubKey())) != env.Origin {
		return // a copy someone else signed: not ours to remove
	}
	if _, err := s.cfg.Pool.RemoveWith(ctx, origin, TopicMail, env.Item); err != nil {
		s.log.Debug("chat: mailbox removal", "err", err)
	}
}

func (s *Service) markSeen(id protocol.PoolID) {
	s.mu.Lock()
	s.seenMail[id] = true
	s.mu.Unlock()
}
