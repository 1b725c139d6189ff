-- chat.db: the node's chat identity, its prekeys, its contacts and its
-- conversations. Messages are kept in clear here (the file is 0600, like
-- the wallet); only what leaves the node is sealed.

CREATE TABLE identity (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL -- secp256k1 private key (32 bytes)
);

-- Our X25519 prekeys. A private half is deleted at expiry (forward
-- secrecy for mailbox messages).
CREATE TABLE prekeys (
    pub     BLOB PRIMARY KEY,
    priv    BLOB NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);

-- What we know of another chat identity: the latest prekey and onion
-- address it gave us (signed by it).
CREATE TABLE contacts (
    identity BLOB PRIMARY KEY,
    addr     TEXT NOT NULL DEFAULT '',
    prekey   BLOB,               -- encoded ChatPrekey
    prekey_expires INTEGER NOT NULL DEFAULT 0,
    updated  INTEGER NOT NULL
);
CREATE INDEX contacts_addr ON contacts (addr);

CREATE TABLE conversations (
    id         BLOB PRIMARY KEY,
    peer       BLOB NOT NULL,
    context    INTEGER NOT NULL,
    context_id BLOB NOT NULL,
    created    INTEGER NOT NULL,
    next_out   INTEGER NOT NULL DEFAULT 1, -- our next sequence
    in_delivered INTEGER NOT NULL DEFAULT 0, -- the peer's messages we have, in order, up to
    in_read      INTEGER NOT NULL DEFAULT 0, -- ... and the user read up to
    told_delivered INTEGER NOT NULL DEFAULT 0, -- what our last receipt said
    told_read      INTEGER NOT NULL DEFAULT 0,
    peer_delivered INTEGER NOT NULL DEFAULT 0, -- what the peer's receipts said of ours
    peer_read      INTEGER NOT NULL DEFAULT 0,
    last_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_peer ON conversations (peer);

-- dir 0: ours (state 0 sent, 1 stored in the mailbox, 2 delivered, 3
-- read); dir 1: the peer's (state 0 held out of order, 1 delivered).
CREATE TABLE messages (
    conv     BLOB NOT NULL,
    dir      INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    text     TEXT NOT NULL,
    sent     INTEGER NOT NULL, -- the sender's clock
    at       INTEGER NOT NULL, -- ours: queued; theirs: received
    state    INTEGER NOT NULL,
    via      TEXT NOT NULL DEFAULT '',
    mail_expires INTEGER NOT NULL DEFAULT 0, -- ours: expiry of the mailbox copy
    PRIMARY KEY (conv, dir, seq)
);
CREATE INDEX messages_pending ON messages (dir, state);
