package chat

import (
	"time"

	"github.com/onionswap/onionswap/protocol"
)

// Every limit and interval of the chat, with its derivation. Config
// fields default to these; tests shorten the times.
const (
	// TopicMail is the mailbox's pool topic: sealed messages addressed to
	// a recipient hash, signed by one-time origin keys.
	TopicMail = "chat/mail/v1"

	// MailTTL: how long the pool holds a mailbox message. Bisq's mailbox
	// keeps messages for an offline trader 15 days at most; issue 13 asks
	// for 7, which covers a node switched off over a long weekend twice.
	MailTTL = 7 * 24 * time.Hour

	// PrekeyRotate / PrekeyLife: a node makes a new prekey every day and
	// gives it away in every message it sends; a key lives PrekeyLife,
	// long enough for a message sealed to it on its last day to wait
	// MailTTL in the mailbox, and then its private half is deleted, so a
	// stolen chat.db opens no message older than about 8 days.
	PrekeyRotate = 24 * time.Hour
	PrekeyLife   = MailTTL + PrekeyRotate

	// MailPerRecipient / MailPerRecipientBytes: what a relay holds for
	// one recipient. Bisq's mailbox stores ~2 KB messages; 50 sealed
	// messages of ≤ 2.6 KB are a busy week of trade chat and ≤ 128 KiB
	// per recipient, so 2,000 recipients fill the topic cap below.
	MailPerRecipient      = 50
	MailPerRecipientBytes = 128 << 10
	// MailMaxHeld / MailMaxHeldBytes: the whole mailbox topic on one
	// relay: a fifth of the pool's 10,000 envelopes and a quarter of its
	// 16 MiB, so a mailbox flood never evicts the marketplace's offers
	// (they keep the other 8,000 slots: market-reference §6 puts a Pi's
	// book at ≤ 5,000 offers).
	MailMaxHeld      = 2000
	MailMaxHeldBytes = 4 << 20
	// mailTopicRate / mailTopicBurst: new mailbox envelopes a relay takes
	// per second from all peers together: 2,000 recipients each sent ten
	// messages a day are 0.25/s; 2/s with a burst of 100 leaves 8× that.
	mailTopicRate  = 2
	mailTopicBurst = 100

	// StampBits / RegtestStampBits: the leading zero bits of a mailbox
	// message's proof of work (hashcash, as Bitmessage does). A relay
	// cannot know the sender (one-time origin keys hide it), so the work
	// is the sender's cost per message. 2^20 tries of one SHA-256
	// compression each (BenchmarkStamp): ~80 ms on an x86 core with SHA
	// instructions, of the order of a second on a Raspberry Pi 4, which
	// has none (an estimate from its hashing speed, not measured here).
	// Nothing for a trader's few messages; a flooder gets ~13 stamps a
	// second per fast core, which a recipient's quota (MailPerRecipient)
	// and the topic's rate bound further. Regtest uses 10 bits so tests
	// can flood.
	StampBits        = 20
	RegtestStampBits = 10

	// PeerRate / PeerBurst: text messages accepted from one sender
	// identity (issue 13: about 10 a minute), burst 10. Beyond it a direct
	// sender is told to retry later and a mailbox message waits in the
	// pool until the bucket refills.
	PeerRate  = 10.0 / 60
	PeerBurst = 10
	// connAbuse: deliveries a connection may send after being told it is
	// over its rate before it is cut off.
	connAbuse = 5

	// MaxPendingOut: our own undelivered messages to one peer. The sender's
	// side of the per-sender quota: the mailbox holds MailPerRecipient per
	// recipient, and we never queue more than that of our own.
	MaxPendingOut = MailPerRecipient
	// maxPendingIn: a peer's messages held out of order (waiting for an
	// earlier one) per conversation; beyond, the later ones are refused
	// and come again (the sender retries what is not delivered).
	maxPendingIn = 100
	// maxStrangerUnread: unread (or held) messages from peers we never
	// wrote to, all of them together. Each stranger is held to PeerRate,
	// but identities are free: 1,000 messages of ≤ 2 KB bound what a flood
	// of fresh identities leaves in chat.db to ~2 MB; beyond, strangers'
	// messages wait (a direct sender is told to retry, mailbox mail stays
	// in the pool) until the user reads.
	maxStrangerUnread = 1000

	// RetryMin / RetryMax: back-off of direct delivery to an unreachable
	// peer. A Tor dial to an onion that is down fails in seconds to a
	// minute; 15 s first keeps a returning peer's wait short, and 10 min
	// at most costs an offline peer's neighbourhood one dial per 10 min.
	RetryMin = 15 * time.Second
	RetryMax = 10 * time.Minute
	// DialTimeout: a chat dial that takes longer goes to the mailbox
	// instead. An onion service that is up answers a cold connection in
	// seconds (lnd allows 120 s for the worst circuit, where a payment has
	// no other way); an offline one can keep tor trying its stale
	// descriptor's introduction points for a minute, and meanwhile the
	// peer's other messages and receipts wait. A false timeout costs a
	// mailbox copy, and the direct retry delivers it anyway.
	DialTimeout = 30 * time.Second
	// sendWait: how long Send waits for its delivery attempt before it
	// answers "sent" and lets it go on: a warm Tor stream delivers in well
	// under a second, a new one in a few, a dial to an offline onion can
	// take DialTimeout.
	sendWait = 15 * time.Second
	// sessionIdle: a direct stream kept open for more messages.
	sessionIdle = 2 * time.Minute
	// scanInterval: the mailbox topic is re-read this often, for mail a
	// subscriber missed (a join sync can deliver more than its queue) and
	// mail that waited for a sender's bucket to refill.
	scanInterval = 30 * time.Second
	// outboxInterval: due messages and receipts are looked at this often
	// (sooner when there is a new one).
	outboxInterval = 5 * time.Second
	// mailRepublish: a mailbox copy is published again this long before
	// its pool expiry if it is still not delivered.
	mailRepublish = 12 * time.Hour

	// MaxInboxPeers bounds the conversations listed by the control API.
	MaxInboxPeers = 1000
	// maxInbound: direct chat streams at once (each peer uses one).
	maxInbound = 16
)

// MailMaxBody: the mailbox topic's body cap, a full sealed message.
const MailMaxBody = protocol.MaxChatSealed

// stampBits is the proof-of-work difficulty on network n.
func stampBits(n protocol.Network) int {
	if n == protocol.Regtest {
		return RegtestStampBits
	}
	return StampBits
}
