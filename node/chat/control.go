package chat

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/protocol"
)

// Conversation is one conversation in the inbox.
type Conversation struct {
	ID   string `json:"id"`
	Peer string `json:"peer"`
	// Addr: the peer's last known onion address ("" : none).
	Addr string `json:"addr,omitempty"`
	// Context: "" (general), "offer <offer id>" or "swap <swap id>".
	Context string `json:"context,omitempty"`
	Unread  int    `json:"unread"`
	// Undelivered: our messages the peer does not have yet.
	Undelivered int       `json:"undelivered"`
	Last        time.Time `json:"last"`
}

// History is a conversation's messages, oldest first.
type History struct {
	Conversation
	Messages []Message `json:"messages"`
}

// HistoryRequest names a conversation: its id, or a peer (identity, onion
// or offer id: its most recent conversation). MarkRead marks the peer's
// messages read (the next receipt tells it).
type HistoryRequest struct {
	Peer     string `json:"peer"`
	Limit    int    `json:"limit,omitempty"`
	MarkRead bool   `json:"mark_read,omitempty"`
}

// StatusReply is the chat's summary.
type StatusReply struct {
	Identity      string            `json:"identity"`
	Unread        int               `json:"unread"`
	Conversations int               `json:"conversations"`
	Stats         map[string]uint64 `json:"stats"`
}

// Unread counts the peers' messages the user has not read (for status).
func (s *Service) Unread(ctx context.Context) int {
	n, _ := s.st.unread(ctx)
	return n
}

// Status summarises the chat.
func (s *Service) Status(ctx context.Context) (StatusReply, error) {
	cs, err := s.st.conversations(ctx)
	if err != nil {
		return StatusReply{}, err
	}
	s.mu.Lock()
	st := maps.Clone(s.stats)
	s.mu.Unlock()
	return StatusReply{Identity: hex.EncodeToString(s.me[:]), Unread: s.Unread(ctx), Conversations: len(cs), Stats: st}, nil
}

func (s *Service) describe(ctx context.Context, c *conv) Conversation {
	out := Conversation{ID: hex.EncodeToString(c.id[:]), Peer: hex.EncodeToString(c.peer[:]),
		Unread: int(c.inDelivered - c.inRead), Last: time.Unix(c.lastAt, 0).UTC()}
	switch c.context {
	case protocol.ChatContextOffer:
		out.Context = "offer " + hex.EncodeToString(c.contextID[:])[:market.OfferIDLen]
	case protocol.ChatContextSwap:
		out.Context = "swap " + hex.EncodeToString(c.contextID[:protocol.SwapIDSize])
	}
	if ct, err := s.st.contact(ctx, c.peer, s.cfg.Now()); err == nil {
		out.Addr = ct.addr
	}
	if ms, err := s.st.undelivered(ctx, c.id); err == nil {
		out.Undelivered = len(ms)
	}
	return out
}

// Inbox lists the conversations, the most recent first.
func (s *Service) Inbox(ctx context.Context) ([]Conversation, error) {
	cs, err := s.st.conversations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Conversation, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.describe(ctx, c))
	}
	return out, nil
}

// History returns one conversation's messages.
func (s *Service) History(ctx context.Context, req HistoryRequest) (History, error) {
	c, err := s.findConv(ctx, req.Peer)
	if err != nil {
		return History{}, err
	}
	limit := req.Limit
	if limit <= 0 || limit > 10_000 {
		limit = 200
	}
	if req.MarkRead {
		if err := s.st.markRead(ctx, c.id); err != nil {
			return History{}, err
		}
		s.poke() // the read receipt
		if c2, err := getConv(ctx, s.st.db, c.id); err == nil && c2 != nil {
			c = c2
		}
	}
	ms, err := s.st.history(ctx, c.id, limit)
	if err != nil {
		return History{}, err
	}
	return History{Conversation: s.describe(ctx, c), Messages: ms}, nil
}

// findConv: a conversation id, else the peer's most recent conversation.
func (s *Service) findConv(ctx context.Context, peer string) (*conv, error) {
	cs, err := s.st.conversations(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if hex.EncodeToString(c.id[:]) == peer {
			return c, nil
		}
	}
	var id [protocol.XOnlyKeySize]byte
	if b, err := hex.DecodeString(peer); err == nil && len(b) == len(id) {
		copy(id[:], b)
	} else if pid, ok, err := s.st.contactByAddr(ctx, withPort(peer)); err == nil && ok {
		id = pid
	} else if s.cfg.Offer != nil {
		addr, _, err := s.cfg.Offer(ctx, peer)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, peer)
		}
		pid, ok, err := s.st.contactByAddr(ctx, addr)
		if err != nil || !ok {
			return nil, fmt.Errorf("%w: no conversation with the maker of %q", ErrUnknownPeer, peer)
		}
		id = pid
	}
	for _, c := range cs { // most recent first
		if c.peer == id {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: no conversation with %q", ErrUnknownPeer, peer)
}

// RegisterControl implements service.Controlled:
//
//	POST /v1/chat/send     SendRequest → SendReply
//	GET  /v1/chat/inbox    → []Conversation
//	POST /v1/chat/history  HistoryRequest → History
//	GET  /v1/chat/status   → StatusReply
func (s *Service) RegisterControl(r *control.Router) {
	control.Post(r, "/v1/chat/send", func(ctx context.Context, req SendRequest) (SendReply, error) {
		rep, err := s.Send(ctx, req)
		return rep, badRequest(err)
	})
	control.Get(r, "/v1/chat/inbox", func(ctx context.Context, _ control.Request) ([]Conversation, error) {
		return s.Inbox(ctx)
	})
	control.Post(r, "/v1/chat/history", func(ctx context.Context, req HistoryRequest) (History, error) {
		h, err := s.History(ctx, req)
		return h, badRequest(err)
	})
	control.Get(r, "/v1/chat/status", func(ctx context.Context, _ control.Request) (StatusReply, error) {
		return s.Status(ctx)
	})
}

func withPort(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			if _, err := strconv.Atoi(addr[i+1:]); err == nil {
				return addr
			}
		}
	}
	return addr + ":80"
}

// badRequest maps the caller's mistakes to the control API's bad request
// (a wrong peer, a text too long, a full queue); other errors pass.
func badRequest(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownPeer), errors.Is(err, ErrText), errors.Is(err, ErrQueueFull):
		return fmt.Errorf("%w: %w", control.ErrBadRequest, err)
	}
	return err
}

// Received lists the texts of the peer's messages, in order.
func (h History) Received() []string {
	var out []string
	for _, m := range h.Messages {
		if m.Dir == "in" {
			out = append(out, m.Text)
		}
	}
	return out
}

// OutState is the state of our message seq ("missing" when the history
// does not hold it).
func (h History) OutState(seq uint64) string {
	for _, m := range h.Messages {
		if m.Dir == "out" && m.Seq == seq {
			return m.State
		}
	}
	return "missing"
}
