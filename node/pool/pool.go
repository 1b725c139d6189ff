package pool

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/onionswap/onionswap/internal/ratelimit"
	"github.com/onionswap/onionswap/protocol"
)

// entry is one held envelope: a live message or a removal (tombstone).
type entry struct {
	id      protocol.PoolID
	short   protocol.ShortID
	key     itemKey
	seq     uint64
	created uint64
	expiry  uint64
	size    int // of the encoding
	removal bool
	own     bool
	// addressed: a recipient-addressed envelope that is not a removal,
	// counted against its recipient's quota (caps.go).
	addressed bool
	recipient [protocol.PoolIDSize]byte
	// raw is the encoding while memory is its only copy: always without
	// a database; with one, until the persister has written it to
	// pool.db, which serves it from then on (rawOf). A node holding a
	// full book keeps ~200 bytes per envelope in memory, not ~2 KB.
	// Guarded by p.mu.
	raw []byte
}

// request is an outstanding fetch.
type request struct {
	peer *peer
	at   time.Time
	// sync: asked because of a PoolSyncReply; such envelopes are not
	// charged to origin and topic buckets (they are old, not new).
	sync bool
	// alts: other peers that announced the id, asked if peer does not
	// deliver within FetchTimeout.
	alts []*peer
}

// maxAlts bounds the alternative sources remembered per fetch.
const maxAlts = 4

// Pool is the message pool of one node. Create it with New, serve
// inbound peers with ServeConn (node/service), Start it for outbound
// peers, housekeeping and persistence, Stop it at the end.
type Pool struct {
	cfg          Config
	log          *slog.Logger
	topics       map[string]*Topic
	topicBuckets map[string]*ratelimit.Bucket
	identity     *btcec.PrivateKey
	store        *store

	mu        sync.Mutex
	msgs      map[protocol.ShortID]*entry
	items     map[itemKey]*entry
	bytes     int
	origins   map[[protocol.XOnlyKeySize]byte]*ratelimit.Bucket
	rejected  *rollingSet
	requested map[protocol.ShortID]*request
	peers     map[*peer]struct{}
	table     map[string]*addrInfo
	bans      map[string]Ban
	dialing   map[string]bool
	subs      map[*subscription]struct{}

	// held and recipients: what msgs holds per topic and per recipient
	// of a topic (caps.go), kept on every insert and drop.
	held       map[string]usage
	recipients map[recipientKey]usage

	// syncing is the peer whose PoolSyncReply we wait for or whose
	// fetches are outstanding; syncQueue peers reconcile after it.
	syncing   *peer
	syncSince time.Time
	syncLeft  int
	syncQueue []*peer
	// dirty state for the persister.
	dirtyAdd   map[protocol.PoolID]*entry
	dirtyDel   map[protocol.PoolID]bool
	dirtyAddrs map[string]bool
	dirtyBans  map[string]bool
	// dirtyBytes: encodings waiting in dirtyAdd; at persistBatchBytes
	// persistNow wakes the persister early.
	dirtyBytes int
	persistNow chan struct{}
	stats      Stats

	startOnce sync.Once
	stopOnce  sync.Once
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	kick      chan struct{}
	slowShed  atomic.Uint64
	nextSync  time.Time
}

// Stats counts what the pool did.
type Stats struct {
	Messages       int            `json:"messages"`
	Tombstones     int            `json:"tombstones"`
	Bytes          int            `json:"bytes"`
	Own            int            `json:"own"`
	Peers          int            `json:"peers"`
	Outbound       int            `json:"outbound"`
	Inbound        int            `json:"inbound"`
	KnownAddrs     int            `json:"known_addrs"`
	Bans           int            `json:"bans"`
	Accepted       uint64         `json:"accepted"`
	Duplicates     uint64         `json:"duplicates"`
	Refused        map[string]int `json:"refused"`
	Evicted        uint64         `json:"evicted"`
	Expired        uint64         `json:"expired"`
	Syncs          uint64         `json:"syncs"`
	FetchTimeouts  uint64         `json:"fetch_timeouts"`
	PeersBanned    uint64         `json:"peers_banned"`
	SlowPeersShed  uint64         `json:"slow_peers_shed"`
	UnsolicitedIn  uint64         `json:"unsolicited_in"`
	FloodDropped   uint64         `json:"flood_dropped"`
	SyncIDsFetched uint64         `json:"sync_ids_fetched"`
	// Topics: what is held per topic, every topic the node relays.
	Topics map[string]TopicStats `json:"topics"`
}

// TopicStats is what the node holds in one topic: live envelopes and
// bytes of their encodings (tombstones included), the quantities of
// Topic.MaxHeld and MaxHeldBytes.
type TopicStats struct {
	Held  int `json:"held"`
	Bytes int `json:"bytes"`
}

// New returns a pool. It opens the database (if DBPath is set) and loads
// messages, peers and bans; nothing runs until Start.
func New(cfg Config) (*Pool, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Pool{
		cfg: cfg, log: cfg.Logger,
		topics: map[string]*Topic{}, topicBuckets: map[string]*ratelimit.Bucket{},
		msgs: map[protocol.ShortID]*entry{}, items: map[itemKey]*entry{},
		held: map[string]usage{}, recipients: map[recipientKey]usage{},
		origins:  map[[protocol.XOnlyKeySize]byte]*ratelimit.Bucket{},
		rejected: newRollingSet(rejectCache), requested: map[protocol.ShortID]*request{},
		peers: map[*peer]struct{}{}, table: map[string]*addrInfo{}, bans: map[string]Ban{},
		dialing: map[string]bool{}, subs: map[*subscription]struct{}{},
		dirtyAdd: map[protocol.PoolID]*entry{}, dirtyDel: map[protocol.PoolID]bool{},
		dirtyAddrs: map[string]bool{}, dirtyBans: map[string]bool{},
		kick: make(chan struct{}, 1), persistNow: make(chan struct{}, 1),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.stats.Refused = map[string]int{}
	for i := range cfg.Topics {
		t := &cfg.Topics[i]
		p.topics[t.Name] = t
		p.topicBuckets[t.Name] = ratelimit.New(t.Rate, float64(t.Burst), cfg.Now)
	}
	p.identity = cfg.Identity
	if cfg.DBPath != "" {
		st, err := openStore(context.Background(), cfg.DBPath)
		if err != nil {
			return nil, err
		}
		p.store = st
		if err := p.load(context.Background()); err != nil {
			st.close()
			return nil, err
		}
		// What was loaded is in pool.db: served from there.
		p.mu.Lock()
		for _, e := range p.msgs {
			e.raw = nil
		}
		p.dirtyBytes = 0
		p.mu.Unlock()
	}
	if p.identity == nil {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		p.identity = k
	}
	now := cfg.Now()
	for _, a := range cfg.Bootstrap {
		if a != cfg.ListenAddr {
			p.learnLocked(a, srcConfig, now)
		}
	}
	return p, nil
}

// Identity is the x-only public key of the node's own messages.
func (p *Pool) Identity() [protocol.XOnlyKeySize]byte {
	var k [protocol.XOnlyKeySize]byte
	copy(k[:], schnorr.SerializePubKey(p.identity.PubKey()))
	return k
}

// Start runs the pool's background work: outbound dialing,
// housekeeping, persistence. Idempotent.
func (p *Pool) Start(ctx context.Context) error {
	p.startOnce.Do(func() {
		stop := context.AfterFunc(ctx, p.cancel)
		p.wg.Add(4)
		go func() {
			defer p.wg.Done()
			<-p.ctx.Done()
			stop()
		}()
		go p.dialLoop()
		go p.housekeeping()
		go p.persistLoop()
	})
	return nil
}

// Stop closes every peer connection, writes what is not persisted yet and
// closes the database. Idempotent.
func (p *Pool) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.cancel()
		peers := make([]*peer, 0, len(p.peers))
		for pr := range p.peers {
			peers = append(peers, pr)
		}
		for s := range p.subs {
			close(s.ch)
			delete(p.subs, s)
		}
		p.mu.Unlock()
		for _, pr := range peers {
			pr.close(protocol.CodeShutdown, "node shutting down")
		}
		p.wg.Wait()
		p.persist(context.Background())
		if p.store != nil {
			_ = p.store.close()
		}
	})
}

// ErrRefused: a local publish did not pass validation.
var ErrRefused = errors.New("pool: message refused")

// Publish signs and publishes body on topic under item with the node's
// identity; a newer publish of the same item replaces the older one
// everywhere. It returns the envelope's id.
func (p *Pool) Publish(ctx context.Context, topic string, item protocol.PoolItem, body []byte, ttl time.Duration) (protocol.PoolID, error) {
	return p.publish(ctx, topic, item, body, ttl, 0, p.identity)
}

// PublishWith is Publish with another key: a fresh one-use key for a
// CoinJoin announcement, or the recipient-addressed envelope of a chat
// (recipient non-nil: a hash of the recipient's key; the body encrypted
// to it by the caller).
func (p *Pool) PublishWith(ctx context.Context, key *btcec.PrivateKey, topic string, item protocol.PoolItem, body []byte, ttl time.Duration, recipient *protocol.PoolID) (protocol.PoolID, error) {
	e, err := p.envelope(topic, item, key, ttl)
	if err != nil {
		return protocol.PoolID{}, err
	}
	e.Body = body
	if recipient != nil {
		e.Flags |= protocol.PoolFlagRecipient
		e.Recipient = *recipient
	}
	return p.signAndPublish(ctx, e, key)
}

func (p *Pool) publish(ctx context.Context, topic string, item protocol.PoolItem, body []byte, ttl time.Duration, flags uint8, key *btcec.PrivateKey) (protocol.PoolID, error) {
	e, err := p.envelope(topic, item, key, ttl)
	if err != nil {
		return protocol.PoolID{}, err
	}
	e.Flags, e.Body = flags, body
	return p.signAndPublish(ctx, e, key)
}

// envelope prepares an unsigned envelope with the next sequence number
// of (topic, key, item): the current time in milliseconds, or one more
// than the held sequence, so it increases across restarts without state.
func (p *Pool) envelope(topic string, item protocol.PoolItem, key *btcec.PrivateKey, ttl time.Duration) (*protocol.PoolEnvelope, error) {
	t := p.topics[topic]
	if t == nil {
		return nil, fmt.Errorf("%w: unknown topic %q", ErrRefused, topic)
	}
	if ttl <= 0 || ttl > t.MaxTTL {
		return nil, fmt.Errorf("%w: ttl %v not in (0, %v]", ErrRefused, ttl, t.MaxTTL)
	}
	now := p.cfg.Now()
	var origin [protocol.XOnlyKeySize]byte
	copy(origin[:], schnorr.SerializePubKey(key.PubKey()))
	seq := uint64(now.UnixMilli())
	p.mu.Lock()
	if cur := p.items[itemKey{topic, origin, item}]; cur != nil && cur.seq >= seq {
		seq = cur.seq + 1
	}
	p.mu.Unlock()
	return &protocol.PoolEnvelope{Network: p.cfg.Network, Topic: topic, Item: item, Seq: seq,
		Created: uint64(now.Unix()), Expiry: uint64(now.Add(ttl).Unix())}, nil
}

func (p *Pool) signAndPublish(ctx context.Context, e *protocol.PoolEnvelope, key *btcec.PrivateKey) (protocol.PoolID, error) {
	if err := e.Sign(key); err != nil {
		return protocol.PoolID{}, err
	}
	raw, err := e.Encode()
	if err != nil {
		return protocol.PoolID{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return p.PublishRaw(ctx, raw)
}

// PublishRaw publishes an envelope signed elsewhere. It passes the same
// checks as a received one (but no rate limit), the topic's caps included
// (an error wrapping ErrRefused names the reason: "recipient-full" is
// the recipient's mailbox), and is held as the node's own: never evicted.
func (p *Pool) PublishRaw(ctx context.Context, raw []byte) (protocol.PoolID, error) {
	c, r := p.check(ctx, raw, false)
	if r != ReasonNone {
		return protocol.PoolID{}, fmt.Errorf("%w: %s", ErrRefused, r)
	}
	p.mu.Lock()
	held, r := p.insertLocked(c, true)
	if held {
		p.relayLocked(c.short, nil)
	}
	p.mu.Unlock()
	if !held {
		// Our own are never evicted: not held means refused.
		return c.id, fmt.Errorf("%w: %s", ErrRefused, cmp.Or(r, ReasonStale))
	}
	return c.id, nil
}

// Remove publishes a signed removal of our item on topic: a tombstone
// that replaces the item everywhere and outlives it, so stale copies
// cannot come back.
func (p *Pool) Remove(ctx context.Context, topic string, item protocol.PoolItem) (protocol.PoolID, error) {
	return p.RemoveWith(ctx, p.identity, topic, item)
}

// RemoveWith is Remove of an item published under another key: the one
// PublishWith used, or one the caller derives (a chat recipient
// tombstones the mail it has read, signed with the mail's one-time origin
// key, which frees the recipient's quota at every relay). The tombstone
// carries no recipient.
func (p *Pool) RemoveWith(ctx context.Context, key *btcec.PrivateKey, topic string, item protocol.PoolItem) (protocol.PoolID, error) {
	e, err := p.envelope(topic, item, key, time.Second)
	if err != nil {
		return protocol.PoolID{}, err
	}
	e.Flags = protocol.PoolFlagRemoval
	var origin [protocol.XOnlyKeySize]byte
	copy(origin[:], schnorr.SerializePubKey(key.PubKey()))
	expiry := uint64(p.cfg.Now().Unix())
	p.mu.Lock()
	if cur := p.items[itemKey{topic, origin, item}]; cur != nil {
		expiry = max(expiry, cur.expiry)
	}
	p.mu.Unlock()
	e.Expiry = expiry + uint64(DefaultTombstoneGrace/time.Second)
	return p.signAndPublish(ctx, e, key)
}

// insertLocked stores c (replacing an older sequence of its item) and
// evicts beyond the global caps. It reports whether c is held and, if
// not, why: ReasonStale, a topic cap (ReasonTopicFull,
// ReasonRecipientFull: checked here under the lock of the insert, as
// check() ran without it), or ReasonNone when c itself was evicted at
// once by the global caps.
func (p *Pool) insertLocked(c *checked, own bool) (bool, Reason) {
	cur := p.items[c.key]
	if cur != nil && c.env.Seq <= cur.seq {
		return false, ReasonStale
	}
	if r := p.capLocked(c); r != ReasonNone {
		return false, r
	}
	if cur != nil {
		p.dropLocked(cur)
	}
	if e := p.msgs[c.short]; e != nil {
		// Another envelope with the same short id (a 2^-64 accident, or
		// an attacker's own collision): first come, first kept.
		return false, ReasonStale
	}
	e := &entry{id: c.id, short: c.short, key: c.key, seq: c.env.Seq, created: c.env.Created,
		expiry: c.env.Expiry, size: len(c.raw), removal: c.env.IsRemoval(), own: own, raw: c.raw,
		addressed: addressed(c.env), recipient: c.env.Recipient}
	p.msgs[e.short] = e
	p.items[e.key] = e
	p.bytes += e.size
	p.countLocked(e, 1)
	p.dirtyAdd[e.id] = e
	delete(p.dirtyDel, e.id)
	p.dirtyBytes += e.size
	if p.store != nil {
		if p.dirtyBytes >= persistBatchBytes {
			select {
			case p.persistNow <- struct{}{}:
			default:
			}
		}
	}
	p.stats.Accepted++
	for len(p.msgs) > p.cfg.MaxMessages || p.bytes > p.cfg.MaxBytes {
		v := p.victimLocked()
		if v == nil {
			break
		}
		p.dropLocked(v)
		delete(p.items, v.key)
		p.stats.Evicted++
		if v == e {
			return false, ReasonNone
		}
	}
	if obs := p.cfg.Observer; obs != nil {
		obs.Accepted(e.id)
	}
	p.notifyLocked(e, c.env)
	return true, ReasonNone
}

// victimLocked: the envelope that expires first, never our own ("evict
// the oldest and cheapest": the one with the least life left is worth
// least to the book).
func (p *Pool) victimLocked() *entry {
	var v *entry
	for _, e := range p.msgs {
		if e.own {
			continue
		}
		if v == nil || e.expiry < v.expiry || e.expiry == v.expiry && e.created < v.created {
			v = e
		}
	}
	return v
}

// dropLocked forgets e's body (its item slot is the caller's business).
func (p *Pool) dropLocked(e *entry) {
	if p.msgs[e.short] == e {
		delete(p.msgs, e.short)
		p.bytes -= e.size
		p.countLocked(e, -1)
	}
	if _, ok := p.dirtyAdd[e.id]; ok {
		p.dirtyBytes -= e.size
		delete(p.dirtyAdd, e.id)
	}
	if p.store != nil {
		p.dirtyDel[e.id] = true
	}
}

// relayLocked queues short's announcement to every peer that does not
// have it, except from (which sent or announced it; nil: our own
// message, which gets the full trickle everywhere).
func (p *Pool) relayLocked(short protocol.ShortID, from *peer) {
	for pr := range p.peers {
		if pr == from || pr.closed {
			continue
		}
		if _, ok := pr.known.has(short); ok {
			continue
		}
		pr.queueInvLocked(short, from != nil)
	}
}

// expireLocked drops envelopes past their expiry.
func (p *Pool) expireLocked(now time.Time) {
	unix := uint64(max(now.Unix(), 0))
	for _, e := range p.msgs {
		if e.expiry <= unix {
			p.dropLocked(e)
			if p.items[e.key] == e {
				delete(p.items, e.key)
			}
			p.stats.Expired++
		}
	}
	// Origin buckets of keys we no longer hold anything from are
	// forgotten once there are many (fresh one-use keys), bounding memory.
	if len(p.origins) > 2*p.cfg.MaxMessages {
		held := map[[protocol.XOnlyKeySize]byte]bool{}
		for k := range p.items {
			held[k.origin] = true
		}
		for o := range p.origins {
			if !held[o] {
				delete(p.origins, o)
			}
		}
	}
}

func (p *Pool) originBucket(o [protocol.XOnlyKeySize]byte) *ratelimit.Bucket {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.origins[o]
	if b == nil {
		b = ratelimit.New(p.cfg.OriginRate, float64(p.cfg.OriginBurst), p.cfg.Now)
		p.origins[o] = b
	}
	return b
}

// Message is one held envelope, for the control API.
type Message struct {
	ID      string    `json:"id"`
	Topic   string    `json:"topic"`
	Origin  string    `json:"origin"`
	Item    string    `json:"item"`
	Seq     uint64    `json:"seq"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Size    int       `json:"size"`
	Own     bool      `json:"own"`
	Removal bool      `json:"removal,omitempty"`
}

// Messages lists the held envelopes of topic ("" for all), live messages
// and tombstones, ordered by topic, origin and item.
func (p *Pool) Messages(topic string) []Message {
	p.mu.Lock()
	out := make([]Message, 0, len(p.msgs))
	for _, e := range p.msgs {
		if topic != "" && e.key.topic != topic {
			continue
		}
		out = append(out, Message{ID: e.id.String(), Topic: e.key.topic,
			Origin: fmt.Sprintf("%x", e.key.origin), Item: fmt.Sprintf("%x", e.key.item), Seq: e.seq,
			Created: time.Unix(int64(e.created), 0).UTC(), Expires: time.Unix(int64(e.expiry), 0).UTC(),
			Size: e.size, Own: e.own, Removal: e.removal})
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b Message) int {
		return cmpStrings(a.Topic+a.Origin+a.Item, b.Topic+b.Origin+b.Item)
	})
	return out
}

func cmpStrings(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

// Envelope returns the encoding of the held envelope id. Messages lists
// without encodings: they live in pool.db, and a listing of the whole
// book would read megabytes into memory for nothing.
func (p *Pool) Envelope(ctx context.Context, id protocol.PoolID) ([]byte, error) {
	p.mu.Lock()
	e := p.msgs[id.Short()]
	var raw []byte
	if e != nil && e.id == id {
		raw = e.raw
	}
	p.mu.Unlock()
	if e == nil || e.id != id {
		return nil, errGone
	}
	return p.rawOf(ctx, id, raw)
}

// Has reports whether the pool holds the envelope with this id.
func (p *Pool) Has(id protocol.PoolID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.msgs[id.Short()]
	return e != nil && e.id == id
}

// Len is the number of held envelopes (messages and tombstones).
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

// Stats returns the counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Refused = maps2(p.stats.Refused)
	for _, e := range p.msgs {
		if e.removal {
			s.Tombstones++
		} else {
			s.Messages++
		}
		if e.own {
			s.Own++
		}
	}
	s.Bytes = p.bytes
	s.SlowPeersShed = p.slowShed.Load()
	for pr := range p.peers {
		s.Peers++
		if pr.outbound {
			s.Outbound++
		} else {
			s.Inbound++
		}
	}
	s.KnownAddrs = len(p.table)
	s.Bans = len(p.bans)
	s.Topics = make(map[string]TopicStats, len(p.topics))
	for name := range p.topics {
		u := p.held[name]
		s.Topics[name] = TopicStats{Held: u.count, Bytes: u.bytes}
	}
	return s
}

func maps2(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Delivery is an accepted envelope handed to a subscriber.
type Delivery struct {
	ID       protocol.PoolID
	Envelope *protocol.PoolEnvelope
}

type subscription struct {
	topic string
	ch    chan Delivery
}

// Subscribe returns a channel of the envelopes accepted on topic from now
// on (removals included) and a cancel function. A subscriber that falls
// behind by subscriberQueue deliveries loses the overflow; Messages has
// the whole book.
func (p *Pool) Subscribe(topic string) (<-chan Delivery, func()) {
	s := &subscription{topic: topic, ch: make(chan Delivery, subscriberQueue)}
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			p.mu.Lock()
			if _, ok := p.subs[s]; ok {
				delete(p.subs, s)
				close(s.ch)
			}
			p.mu.Unlock()
		})
	}
}

func (p *Pool) notifyLocked(e *entry, env *protocol.PoolEnvelope) {
	for s := range p.subs {
		if s.topic != e.key.topic {
			continue
		}
		select {
		case s.ch <- Delivery{ID: e.id, Envelope: env}:
		default:
		}
	}
}

func (p *Pool) refusedLocked(r Reason) { p.stats.Refused[r.String()]++ }

// NewItem returns a random item id.
func NewItem() protocol.PoolItem {
	var it protocol.PoolItem
	_, _ = rand.Read(it[:])
	return it
}
