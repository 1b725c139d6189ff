package coinjoin

import (
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// Limits and intervals of the CoinJoin topic, each with its derivation.
const (
	// TopicAnnounce is the pool topic of CoinJoin announcements: bodies
	// protocol.CoinJoinAnnounce, each signed by its own fresh round key.
	TopicAnnounce = "coinjoin/v1"

	// AnnounceInterval: seed 002's wallets say "I am online" with a fresh
	// key every five minutes.
	AnnounceInterval = 5 * time.Minute
	// AnnounceTTL: two intervals, so an announcement outlives one missed
	// refresh and a wallet that went away is off the board within 10 min.
	AnnounceTTL = 2 * AnnounceInterval

	// AnnounceMaxBody: the topic's body cap, the largest announcement
	// (188 bytes).
	AnnounceMaxBody = protocol.MaxCoinJoinAnnounce
	// AnnounceMaxHeld: ~1,000 wallets waiting for a round at once, each
	// with 2 live announcements (the TTL is two intervals). With the
	// mailbox's 2,000 (node/chat) it leaves the offers 6,000 of the
	// pool's 10,000 envelopes (market-reference §6: ≤ 5,000 offers).
	AnnounceMaxHeld = 2000
	// AnnounceMaxHeldBytes: 2,000 envelopes of at most ~342 bytes (154 of
	// envelope, 188 of body) are 684 KB; 1 MiB leaves room for the
	// tombstones of withdrawn announcements (~154 bytes each) and is a
	// sixteenth of the pool's 16 MiB.
	AnnounceMaxHeldBytes = 1 << 20
	// announceTopicRate / announceTopicBurst: new announcements a relay
	// takes per second from all peers together: 1,000 wallets each
	// announcing every 5 min are 3.3/s; 10/s is 3× that, and a burst of
	// 100 absorbs 30 s of refreshes arriving at once (a join sync is not
	// charged to it).
	announceTopicRate  = 10
	announceTopicBurst = 100

	// StampBits / RegtestStampBits: the leading zero bits of an
	// announcement's hashcash stamp; the same cost and reasoning as the
	// chat's mailbox stamp (node/chat/params.go: ~80 ms on an x86 core,
	// of the order of a second on a Raspberry Pi 4), paid once per
	// AnnounceInterval by an honest wallet. Regtest uses 10 bits so tests
	// can flood.
	StampBits        = 20
	RegtestStampBits = 10

	// MaxFeeRate: the highest fee rate an announcement may ask for, sat/vB
	// (tx.go's bound on a round's terms).
	MaxFeeRate = 1000
)

// stampBits is the proof-of-work difficulty on network n.
func stampBits(n protocol.Network) int {
	if n == protocol.Regtest {
		return RegtestStampBits
	}
	return StampBits
}
