package pool

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
	"github.com/onionswap/onionswap/node/control"
	"github.com/onionswap/onionswap/protocol"
)

// controlClient serves p's control endpoints in-process.
func controlClient(p *Pool) *control.Client {
	r := control.NewRouter(nil)
	p.RegisterControl(r)
	return control.NewLocalClient(r)
}

// TestControlPublishRemove: POST /v1/pool/publish and /v1/pool/remove
// publish only on the test topic, and what they publish reaches a peer.
func TestControlPublishRemove(t *testing.T) {
	testutil.LeakCheck(t)
	clk := &clock{}
	topics := []Topic{{Name: TopicOffer}, {Name: TopicTest}}
	nodes := cluster(t, clk, 2, func(i int) []int {
		if i == 0 {
			return []int{1}
		}
		return nil
	}, func(_ int, c *Config) { c.Topics = topics })
	eventually(t, 10*time.Second, "connected", connected(nodes[:1], 1))
	c := controlClient(nodes[0].pool)
	ctx := context.Background()
	publish := func(req PublishRequest) (PublishReply, error) {
		return control.Call[PublishReply](ctx, c, http.MethodPost, "/v1/pool/publish", req)
	}
	remove := func(req RemoveRequest) (PublishReply, error) {
		return control.Call[PublishReply](ctx, c, http.MethodPost, "/v1/pool/remove", req)
	}

	for _, tc := range []struct {
		name string
		req  PublishRequest
		want error
		msg  string
	}{
		{"offer topic", PublishRequest{Topic: TopicOffer, Item: "a", Body: "x"}, control.ErrBadRequest, "only on the test topic"},
		{"unknown topic", PublishRequest{Topic: "chat/v1", Item: "a", Body: "x"}, control.ErrBadRequest, "only on the test topic"},
		{"no item", PublishRequest{Topic: TopicTest, Body: "x"}, control.ErrBadRequest, "empty item"},
		{"bad ttl", PublishRequest{Topic: TopicTest, Item: "a", Body: "x", TTL: "soon"}, control.ErrBadRequest, "ttl"},
		{"ttl beyond the topic's", PublishRequest{Topic: TopicTest, Item: "a", Body: "x", TTL: "2h"}, control.ErrBadRequest, "ttl"},
		{"oversized", PublishRequest{Topic: TopicTest, Item: "a", Body: strings.Repeat("x", DefaultOfferMaxBody+1)}, control.ErrBadRequest, "oversized"},
		{"hex item", PublishRequest{Topic: TopicTest, Item: "000102030405060708090a0b0c0d0e0f", Body: "hello"}, nil, ""},
		{"named item, default ttl", PublishRequest{Topic: TopicTest, Item: "greeting", Body: "hello"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := publish(tc.req)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v, want %v with %q", err, tc.want, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.req.Item == "000102030405060708090a0b0c0d0e0f" && rep.Item != tc.req.Item {
				t.Fatalf("item %s, want %s", rep.Item, tc.req.Item)
			}
			eventually(t, 10*time.Second, "the peer has it", func() bool {
				for _, m := range nodes[1].pool.Messages(TopicTest) {
					if m.ID == rep.ID {
						return true
					}
				}
				return false
			})
		})
	}

	for _, tc := range []struct {
		name string
		req  RemoveRequest
		want error
	}{
		{"offer topic", RemoveRequest{Topic: TopicOffer, Item: "greeting"}, control.ErrBadRequest},
		{"not ours", RemoveRequest{Topic: TopicTest, Item: "never published"}, control.ErrNotFound},
		{"ours", RemoveRequest{Topic: TopicTest, Item: "greeting"}, nil},
		{"again", RemoveRequest{Topic: TopicTest, Item: "greeting"}, control.ErrNotFound},
	} {
		t.Run("remove "+tc.name, func(t *testing.T) {
			rep, err := remove(tc.req)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the removal replaces the item at the peer", func() bool {
				for _, m := range nodes[1].pool.Messages(TopicTest) {
					if m.Item == rep.Item {
						return m.ID == rep.ID && m.Removal
					}
				}
				return false
			})
		})
	}
}

// TestControlNoTestTopic: a node without the test topic (not regtest)
// refuses control publishes with a reason.
func TestControlNoTestTopic(t *testing.T) {
	testutil.LeakCheck(t)
	p, err := New(Config{Network: protocol.Mainnet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	_, err = control.Call[PublishReply](context.Background(), controlClient(p), http.MethodPost, "/v1/pool/publish",
		PublishRequest{Topic: TopicTest, Item: "a", Body: "x"})
	if !errors.Is(err, control.ErrBadRequest) || !strings.Contains(err.Error(), "regtest only") {
		t.Fatalf("err = %v", err)
	}
}
