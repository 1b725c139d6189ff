package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/onionswap/onionswap/node/chat"
	"github.com/onionswap/onionswap/node/coinjoin"
	"github.com/onionswap/onionswap/node/market"
	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/wallet/script"
)

// TestPoolOutbound: --pool-outbound takes 0 (the default) up to the
// pool's peer cap.
func TestPoolOutbound(t *testing.T) {
	for _, tc := range []struct {
		n  int
		ok bool
	}{{0, true}, {2, true}, {pool.DefaultMaxPeers, true}, {-1, false}, {pool.DefaultMaxPeers + 1, false}} {
		c := validConfig(t, RoleTaker)
		c.Pool.Outbound = tc.n
		err := c.Validate()
		if tc.ok != (err == nil) || err != nil && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--pool-outbound")) {
			t.Errorf("--pool-outbound %d: %v", tc.n, err)
		}
	}
}

// TestPoolTopics: offers, the chat's mailbox and the CoinJoin's
// announcements everywhere, the test
// topic on regtest only.
func TestPoolTopics(t *testing.T) {
	for _, tc := range []struct {
		network string
		want    []string
	}{
		{"regtest", []string{pool.TopicOffer, chat.TopicMail, coinjoin.TopicAnnounce, pool.TopicTest}},
		{"signet", []string{pool.TopicOffer, chat.TopicMail, coinjoin.TopicAnnounce}},
		{"mainnet", []string{pool.TopicOffer, chat.TopicMail, coinjoin.TopicAnnounce}},
	} {
		var got []string
		for _, tp := range poolTopics(tc.network, market.NewValidator(nil, script.DefaultBondParams(), nil)) {
			got = append(got, tp.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: topics %v, want %v", tc.network, got, tc.want)
		}
	}
}
