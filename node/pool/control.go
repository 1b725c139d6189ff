package pool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/protocol"
)

// DefaultControlTTL: the lifetime of a message published through the
// control API without a ttl: the marketplace's offer TTL of 20 minutes
// (market-reference §6), a third of DefaultMaxTTL.
const DefaultControlTTL = 20 * time.Minute

// PublishRequest is POST /v1/pool/publish: a message of the node's own
// identity on a test topic.
type PublishRequest struct {
	Topic string `json:"topic"`
	// Item names the item: 32 hex digits, or any other text (then the
	// first 16 bytes of its SHA-256).
	Item string `json:"item"`
	Body string `json:"body"`
	// TTL is a Go duration ("20s", "10m"); "" is DefaultControlTTL.
	TTL string `json:"ttl,omitempty"`
}

// RemoveRequest is POST /v1/pool/remove: a signed removal of one of the
// node's own items.
type RemoveRequest struct {
	Topic string `json:"topic"`
	Item  string `json:"item"`
}

// PublishReply is the answer to both.
type PublishReply struct {
	ID   string `json:"id"`
	Item string `json:"item"`
}

// ParseItem reads an item name as PublishRequest.Item describes it.
func ParseItem(s string) (protocol.PoolItem, error) {
	var it protocol.PoolItem
	if s == "" {
		return it, fmt.Errorf("%w: empty item", control.ErrBadRequest)
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == len(it) {
		copy(it[:], b)
		return it, nil
	}
	h := sha256.Sum256([]byte(s))
	copy(it[:], h[:])
	return it, nil
}

// controlTopic checks that the control API may publish on topic: only a
// topic without an owner (TopicTest, registered on regtest), never one
// whose owner publishes itself (offers come from the marketplace).
func (p *Pool) controlTopic(topic string) error {
	if topic != TopicTest {
		return fmt.Errorf("%w: the control API publishes only on the test topic %s (regtest), not on %q: that topic's owner publishes itself",
			control.ErrBadRequest, TopicTest, topic)
	}
	t := p.topics[topic]
	switch {
	case t == nil:
		return fmt.Errorf("%w: this node does not relay %s (it exists on regtest only)", control.ErrBadRequest, topic)
	case t.Validate != nil:
		return fmt.Errorf("%w: topic %s has an owner validator", control.ErrBadRequest, topic)
	}
	return nil
}

func (p *Pool) controlPublish(ctx context.Context, req PublishRequest) (PublishReply, error) {
	if err := p.controlTopic(req.Topic); err != nil {
		return PublishReply{}, err
	}
	item, err := ParseItem(req.Item)
	if err != nil {
		return PublishReply{}, err
	}
	ttl := DefaultControlTTL
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil {
			return PublishReply{}, fmt.Errorf("%w: ttl: %w", control.ErrBadRequest, err)
		}
	}
	id, err := p.Publish(ctx, req.Topic, item, []byte(req.Body), ttl)
	if err != nil {
		return PublishReply{}, fmt.Errorf("%w: %w", control.ErrBadRequest, err)
	}
	return PublishReply{ID: id.String(), Item: hex.EncodeToString(item[:])}, nil
}

func (p *Pool) controlRemove(ctx context.Context, req RemoveRequest) (PublishReply, error) {
	if err := p.controlTopic(req.Topic); err != nil {
		return PublishReply{}, err
	}
	item, err := ParseItem(req.Item)
	if err != nil {
		return PublishReply{}, err
	}
	p.mu.Lock()
	cur := p.items[itemKey{req.Topic, p.Identity(), item}]
	held := cur != nil && !cur.removal
	p.mu.Unlock()
	if !held {
		return PublishReply{}, fmt.Errorf("%w: no live item %x of ours on %s", control.ErrNotFound, item, req.Topic)
	}
	id, err := p.Remove(ctx, req.Topic, item)
	if err != nil {
		return PublishReply{}, fmt.Errorf("%w: %w", control.ErrBadRequest, err)
	}
	return PublishReply{ID: id.String(), Item: hex.EncodeToString(item[:])}, nil
}
