-- 0001_init: the message pool's first schema. Never edit a released
-- migration; add a numbered file instead. Times are unix seconds.

-- Held envelopes: live messages and removals (tombstones). raw is the
-- envelope as received; everything else is derived from it on load.
CREATE TABLE messages (
    id      BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 32),
    raw     BLOB    NOT NULL,
    own     INTEGER NOT NULL CHECK (own IN (0, 1)),  -- published by this node: never evicted
    expiry  INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_expiry ON messages (expiry);

-- The peer table.
CREATE TABLE peers (
    addr          TEXT    NOT NULL PRIMARY KEY,
    source        INTEGER NOT NULL,  -- 1 configured, 2 peer exchange
    last_seen     INTEGER NOT NULL,
    last_success  INTEGER NOT NULL,  -- 0: never
    failures      INTEGER NOT NULL
) STRICT;

-- Bans with their reason and expiry.
CREATE TABLE bans (
    addr    TEXT    NOT NULL PRIMARY KEY,
    reason  TEXT    NOT NULL,
    until   INTEGER NOT NULL
) STRICT;

-- The node's pool identity key (signs its own messages).
CREATE TABLE identity (
    one  INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    key  BLOB    NOT NULL CHECK (length(key) = 32)
) STRICT;
