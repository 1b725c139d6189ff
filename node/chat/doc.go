// Package chat is end-to-end encrypted chat between two onionswap nodes
// (seed 002; issue 13): traders talk about a trade from an offer of the
// book or during a swap, directly when both are online, through the
// message pool's mailbox when one is not.
//
// # Identities and keys
//
// Every node has a long-lived chat identity (a secp256k1 key in chat.db,
// BIP340 signatures), separate from its pool identity: a taker's pool
// identity is new at every start, while a conversation must outlive
// restarts. A node makes an X25519 prekey every day (PrekeyRotate),
// signed by its identity, and deletes its private half after PrekeyLife
// (8 days: a message sealed to it on its last day can still wait
// MailTTL in the mailbox). Every message carries its sender's current
// prekey and onion address (protocol.ChatPrekey), so the other side can
// answer while the sender is offline. A node that answers a direct
// stream makes a one-time key for that stream and forgets it when the
// stream ends.
//
// # Sealing
//
// A message (protocol.ChatPlain: from, to, conversation context,
// sequence, time, text or receipt, reply prekey) is signed by the
// sender's identity and sealed (protocol.ChatSealed) to one X25519 key of
// the recipient under a fresh ephemeral key (internal/sealbox): HKDF-SHA256
// of the X25519 secret, salted with both public keys, gives an
// XChaCha20-Poly1305 key and nonce; the associated data is the version.
// So:
//   - a relay, and anyone reading a relay's pool.db, sees random bytes
//     and two public keys that appear nowhere else;
//   - a stolen identity key opens nothing (it only signs); a stolen
//     chat.db opens the mailbox messages of the last 8 days at most, and
//     no direct message (forward secrecy);
//   - a forged message fails the signature, a tampered one the AEAD tag;
//   - a message names its recipient identity and its conversation (the
//     two identities and the context: none, an offer, a swap) under the
//     signature, so it cannot be moved to another recipient or
//     conversation;
//   - sequence numbers per sender and conversation make a replay a
//     duplicate, which is never delivered twice, and a reordering
//     visible: a later message is held until the earlier one arrives.
//
// # Delivery
//
// A message is persisted (state sent) before anything leaves the node.
// The outbox then dials the peer's last known onion address
// (ChatKeyRequest → ChatKey, then ChatDeliver → ChatAck): an ack means
// the peer's node persisted it (delivered). When the peer does not
// answer, the message is sealed to the peer's prekey and published on
// the mailbox topic (stored): an envelope addressed to the hash of the
// peer's identity, signed by a one-time key that sender and recipient
// both derive from the sealed message's shared key, valid up to 7 days.
// Pool peers hold it while the sender goes offline; the recipient, when
// it returns, gets it with its pool's join sync, persists it and removes
// the envelope with a tombstone signed by the same one-time key, which
// frees the relays' quota. Receipts ("delivered up to n, read up to m")
// go back the same way, directly or by mailbox, and merge by maximum.
// Direct delivery is retried with back-off (RetryMin to RetryMax).
//
// # Limits
//
//   - per sender identity: PeerRate (10 a minute, burst 10); beyond it a
//     direct sender is told to wait and mailbox mail waits in the pool;
//     a stream that keeps sending refused messages is cut off;
//   - per message: MaxChatText bytes of text (a sealed message ≤ 2.6 KB);
//   - per recipient, on every relay: MailPerRecipient envelopes and
//     MailPerRecipientBytes; the whole mailbox topic: MailMaxHeld and
//     MailMaxHeldBytes, so it never crowds the offer book out; first come,
//     first held: a flood can delay new mail but never erase held mail;
//   - per sender, on relays, which cannot know the sender: a hashcash
//     stamp (StampBits of SHA-256 work bound to the envelope's origin,
//     recipient and ciphertext), checked by every relay before it relays;
//     on the sender's own node: MaxPendingOut undelivered messages per
//     peer;
//   - blacklisted identities (market's blacklist, kind origin) are
//     silenced: their messages are dropped unread.
//
// # What each party learns
//
// A relay learns that someone wrote to the holder of a recipient hash,
// when, and the ciphertext's size. The hash is of the recipient's chat
// identity, which only its correspondents know, but a correspondent can
// recognise the recipient's mail. The direct path shows the peer's onion
// service a stream from a Tor client, nothing more. The sender's
// identity is only inside the ciphertext. Signatures make a message
// provable to a third party by its recipient (no deniability).
package chat
