package chat

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/onionswap/onionswap/internal/backoff"
	"github.com/onionswap/onionswap/internal/ratelimit"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/node/service"
	"github.com/onionswap/onionswap/protocol"
)

// Pool is what the chat needs of the message pool: the mailbox.
type Pool interface {
	PublishRaw(ctx context.Context, raw []byte) (protocol.PoolID, error)
	RemoveWith(ctx context.Context, key *btcec.PrivateKey, topic string, item protocol.PoolItem) (protocol.PoolID, error)
	Subscribe(topic string) (<-chan pool.Delivery, func())
	Messages(topic string) []pool.Message
	Envelope(ctx context.Context, id protocol.PoolID) ([]byte, error)
}

// Config configures the chat service.
type Config struct {
	// DBPath is chat.db.
	DBPath  string
	Network protocol.Network
	// Addr is our onion "host:port", given to the peers we write to so
	// they can answer directly ("" : they answer by mailbox only).
	Addr string
	// Dialer reaches peers' onion services (nil: mailbox only).
	Dialer protocol.StreamDialer
	// Pool carries the mailbox (nil: direct delivery only).
	Pool Pool
	// Silenced reports whether a chat identity is blacklisted, and why
	// (nil: nobody is).
	Silenced func(ctx context.Context, id [protocol.XOnlyKeySize]byte) (string, bool)
	// Offer resolves an offer id of the book to its maker's onion address
	// and the offer's origin, the maker's pool identity (nil: no book).
	Offer func(ctx context.Context, id string) (addr string, origin [protocol.XOnlyKeySize]byte, err error)
	// SwapLeg maps a swap id and a peer's onion to the id the peer knows
	// the swap by (a taker gives each maker its own; nil, or not found:
	// the id as given).
	SwapLeg func(ctx context.Context, swapID, addr string) (string, bool)
	// Conn configures outbound streams.
	Conn protocol.ConnConfig

	RetryMin, RetryMax time.Duration
	OutboxInterval     time.Duration
	ScanInterval       time.Duration
	// StampBits overrides the network's mailbox difficulty (tests).
	StampBits int
	// StrangerUnread: unread messages from peers we never wrote to, in
	// all (0: maxStrangerUnread).
	StrangerUnread int
	Now            func() time.Time
	Logger         *slog.Logger
}

func (c Config) withDefaults() Config {
	c.RetryMin = cmp.Or(c.RetryMin, RetryMin)
	c.RetryMax = cmp.Or(c.RetryMax, RetryMax)
	c.OutboxInterval = cmp.Or(c.OutboxInterval, outboxInterval)
	c.ScanInterval = cmp.Or(c.ScanInterval, scanInterval)
	c.StampBits = cmp.Or(c.StampBits, stampBits(c.Network))
	c.StrangerUnread = cmp.Or(c.StrangerUnread, maxStrangerUnread)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default().With("subsystem", "chat")
	}
	return c
}

// Service is the chat of one node: a service.Inbound for direct streams,
// with background delivery, mailbox reading and a control API.
type Service struct {
	cfg Config
	log *slog.Logger
	st  *store
	key *btcec.PrivateKey
	me  [protocol.XOnlyKeySize]byte

	mu       sync.Mutex
	sessions map[[protocol.X25519KeySize]byte][protocol.X25519KeySize]byte // one-time keys of open streams
	buckets  map[[protocol.XOnlyKeySize]byte]*ratelimit.Bucket
	peers    map[[protocol.XOnlyKeySize]byte]*peerState
	seenMail map[protocol.PoolID]bool
	stats    map[string]uint64

	kick      chan struct{}
	ctx       context.Context // the service's: ends at Stop
	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// peerState is our direct link to one peer.
type peerState struct {
	mu sync.Mutex // one delivery at a time per peer; guards the rest but retry and next
	// retry and next: the back-off of direct delivery (guarded by s.mu).
	retry   backoff.Backoff
	next    time.Time
	conn    *protocol.Conn
	key     [protocol.X25519KeySize]byte // the stream's one-time key
	used    time.Time
	limited time.Time // told to wait until
}

// New opens chat.db and loads (or creates) the chat identity.
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	st, err := openStore(ctx, cfg.DBPath)
	if err != nil {
		return nil, err
	}
	k, err := st.identity(ctx)
	if err != nil {
		st.close()
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger, st: st, key: k,
		sessions: map[[32]byte][32]byte{}, buckets: map[[32]byte]*ratelimit.Bucket{},
		peers: map[[32]byte]*peerState{}, seenMail: map[protocol.PoolID]bool{},
		stats: map[string]uint64{}, kick: make(chan struct{}, 1)}
	copy(s.me[:], schnorr.SerializePubKey(k.PubKey()))
	return s, nil
}

// Identity is our chat identity (x-only).
func (s *Service) Identity() [protocol.XOnlyKeySize]byte { return s.me }

// Name implements service.Service.
func (s *Service) Name() string { return "chat" }

// Feature implements service.Inbound.
func (s *Service) Feature() protocol.FeatureBit { return protocol.FeatureChat }

// Owns implements service.Inbound.
func (s *Service) Owns(t protocol.MessageType) bool {
	return t >= protocol.RangeChatFirst && t <= protocol.RangeChatLast
}

// Limits implements service.Inbound's limits.
func (s *Service) Limits() service.Limits {
	return service.Limits{MaxConns: maxInbound, IdleTimeout: sessionIdle + time.Minute}
}

// Readiness implements service.Service: the chat is ready once started.
func (s *Service) Readiness(context.Context) service.Readiness { return service.ReadyNow }

// Start runs delivery and the mailbox reader.
func (s *Service) Start(ctx context.Context) error {
	s.startOnce.Do(func() {
		ctx, s.cancel = context.WithCancel(ctx)
		s.mu.Lock()
		s.ctx = ctx
		s.mu.Unlock()
		s.wg.Add(1)
		go s.outboxLoop(ctx)
		if s.cfg.Pool != nil {
			ch, unsub := s.cfg.Pool.Subscribe(TopicMail)
			s.wg.Add(1)
			go s.mailLoop(ctx, ch, unsub)
		}
	})
	return nil
}

// Stop ends the loops, closes the streams and the database. Idempotent.
func (s *Service) Stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock() // no Send adds to wg once the context is cancelled
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.mu.Lock()
		for _, p := range s.peers {
			if p.conn != nil {
				p.conn.Close()
			}
		}
		s.mu.Unlock()
		s.st.close()
	})
}

func (s *Service) count(what string) {
	s.mu.Lock()
	s.stats[what]++
	s.mu.Unlock()
}

func (s *Service) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Errors of Send.
var (
	ErrUnknownPeer = errors.New("chat: unknown peer")
	ErrText        = errors.New("chat: text is empty, too long or not UTF-8")
	ErrNotRunning  = errors.New("chat: not running")
)

// SendRequest is a message to send.
type SendRequest struct {
	// To: an onion address, an offer id of the book, a chat identity (64
	// hex) or a conversation id we have.
	To   string `json:"to"`
	Text string `json:"text"`
	// Swap ties the message to a swap's conversation (its id, hex).
	Swap string `json:"swap,omitempty"`
}

// SendReply says where the message went.
type SendReply struct {
	Conversation string `json:"conversation"`
	Peer         string `json:"peer"`
	Seq          uint64 `json:"seq"`
	State        string `json:"state"`
}

// Send persists a message and hands it to delivery: directly when the
// peer is online, else to the mailbox. It returns once the message is
// persisted and one delivery attempt is over, or after sendWait (the
// attempt goes on: `chat history` shows where the message went).
func (s *Service) Send(ctx context.Context, req SendRequest) (SendReply, error) {
	text := strings.TrimSpace(req.Text)
	if text == "" || len(text) > protocol.MaxChatText || !validUTF8(text) {
		return SendReply{}, ErrText
	}
	// Delivery runs on the service's context, so it outlives the request.
	s.mu.Lock()
	sctx := s.ctx
	running := sctx != nil && sctx.Err() == nil
	if running {
		s.wg.Add(1) // Stop waits for the delivery below
	}
	s.mu.Unlock()
	if !running {
		return SendReply{}, ErrNotRunning
	}
	handed := false
	defer func() {
		if !handed {
			s.wg.Done()
		}
	}()
	peer, context, cid, err := s.resolve(ctx, req.To)
	if err != nil {
		return SendReply{}, err
	}
	if req.Swap != "" {
		if f := s.cfg.SwapLeg; f != nil {
			if ct, err := s.st.contact(ctx, peer, s.cfg.Now()); err == nil && ct.addr != "" {
				if leg, ok := f(ctx, req.Swap, ct.addr); ok {
					req.Swap = leg
				}
			}
		}
		var id protocol.SwapID
		if err := id.UnmarshalText([]byte(req.Swap)); err != nil {
			return SendReply{}, fmt.Errorf("chat: swap id: %w", err)
		}
		context, cid = protocol.ChatContextSwap, [32]byte{}
		copy(cid[:], id[:])
	}
	c, seq, err := s.st.queue(ctx, s.me, peer, context, cid, text, s.cfg.Now())
	if err != nil {
		return SendReply{}, err
	}
	// Deliver in the background (a dial to an offline onion can take
	// DialTimeout) and report what happened within sendWait.
	done := make(chan struct{})
	handed = true
	go func() {
		defer s.wg.Done()
		defer close(done)
		s.flushPeer(sctx, peer)
	}()
	select {
	case <-done:
	case <-time.After(sendWait):
	case <-ctx.Done():
	}
	st, err := s.st.outState(ctx, c.id, seq)
	if err != nil {
		return SendReply{}, err
	}
	return SendReply{Conversation: hex.EncodeToString(c.id[:]), Peer: hex.EncodeToString(peer[:]), Seq: seq, State: st}, nil
}

// resolve names the peer of a send: an identity, a conversation, an
// onion (a contact's, or the identity the onion's node shows when we
// dial it) or an offer of the book (its maker's onion; the conversation
// is the offer's).
func (s *Service) resolve(ctx context.Context, to string) ([protocol.XOnlyKeySize]byte, uint8, [32]byte, error) {
	var peer, cid [32]byte
	if b, err := hex.DecodeString(to); err == nil && len(b) == 32 {
		copy(cid[:], b)
		if c, err := getConv(ctx, s.st.db, cid); err == nil && c != nil {
			return c.peer, c.context, c.contextID, nil
		}
		copy(peer[:], b)
		if _, err := schnorr.ParsePubKey(b); err != nil {
			return peer, 0, [32]byte{}, fmt.Errorf("%w: %s is neither a conversation nor a chat identity", ErrUnknownPeer, to)
		}
		return peer, protocol.ChatContextNone, [32]byte{}, nil
	}
	addr, context := to, protocol.ChatContextNone
	if !strings.Contains(to, ".onion") && s.cfg.Offer != nil {
		a, origin, err := s.cfg.Offer(ctx, to)
		if err != nil {
			return peer, 0, cid, fmt.Errorf("%w: %q: %w", ErrUnknownPeer, to, err)
		}
		addr, context, cid = a, protocol.ChatContextOffer, origin
	}
	if !strings.Contains(addr, ":") {
		addr += ":80" // tor.DefaultOnionPort: every onionswap node's
	}
	if id, ok, err := s.st.contactByAddr(ctx, addr); err != nil || ok {
		return id, context, cid, err
	}
	// A first contact: the node at addr tells us its identity.
	id, err := s.dialIdentity(ctx, addr)
	return id, context, cid, err
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
