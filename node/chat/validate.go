package chat

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/onionswap/onionswap/node/pool"
	"github.com/onionswap/onionswap/protocol"
)

// MailTopic is the mailbox topic as every pool node relays it, with its
// caps and the relay's check: a recipient-addressed envelope whose body
// is a sealed message carrying the network's proof of work. A relay can
// check nothing else: it holds no key, sees no sender, and stores only
// the ciphertext.
func MailTopic(network protocol.Network) pool.Topic {
	bits := stampBits(network)
	return pool.Topic{
		Name:              TopicMail,
		MaxBody:           MailMaxBody,
		MaxTTL:            MailTTL,
		Rate:              mailTopicRate,
		Burst:             mailTopicBurst,
		MaxHeld:           MailMaxHeld,
		MaxHeldBytes:      MailMaxHeldBytes,
		PerRecipient:      MailPerRecipient,
		PerRecipientBytes: MailPerRecipientBytes,
		Validate: func(_ context.Context, e *protocol.PoolEnvelope) (pool.Verdict, error) {
			return checkMail(e, bits)
		},
		Why: mailWhy,
	}
}

var errNoRecipient = errors.New("chat: mailbox envelope without a recipient")

func checkMail(e *protocol.PoolEnvelope, bits int) (pool.Verdict, error) {
	if e.IsRemoval() {
		return pool.Accept, nil
	}
	if e.Flags&protocol.PoolFlagRecipient == 0 {
		return pool.Reject, errNoRecipient
	}
	s, err := protocol.DecodeChatSealed(e.Body)
	if err != nil {
		return pool.Reject, fmt.Errorf("chat: mailbox body: %w", err)
	}
	if err := checkStamp(e.Origin, e.Recipient, s, bits); err != nil {
		return pool.Reject, err
	}
	return pool.Accept, nil
}

func mailWhy(err error) string {
	switch {
	case errors.Is(err, ErrBadStamp):
		return "bad-stamp"
	case errors.Is(err, errNoRecipient):
		return "no-recipient"
	}
	return "malformed"
}

func decodeHexID(s string, id *protocol.PoolID) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return fmt.Errorf("bad id %q", s)
	}
	copy(id[:], b)
	return nil
}
