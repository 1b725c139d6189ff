-- One row per round this node took part in (store.go). A round is written
-- before its first message leaves and again before our signature leaves,
-- so a restart knows every transaction that may spend our coin.
CREATE TABLE rounds (
    id           BLOB PRIMARY KEY,   -- CJInvite.RoundID
    started      INTEGER NOT NULL,   -- unix milliseconds (as ended)
    deadline     INTEGER NOT NULL,   -- the invite's; our coin is held until then
    initiator    INTEGER NOT NULL,   -- 1: we sent the invite
    peers        INTEGER NOT NULL,
    denomination INTEGER NOT NULL,
    fee_rate     INTEGER NOT NULL,
    coin_txid    BLOB NOT NULL,
    coin_vout    INTEGER NOT NULL,
    coin_value   INTEGER NOT NULL,
    output       BLOB,               -- our output script
    state        TEXT NOT NULL,      -- see store.go
    tx           BLOB,               -- the round's transaction: unsigned, then complete
    reason       TEXT NOT NULL DEFAULT '',
    ended        INTEGER,
    msgs_sent    INTEGER NOT NULL DEFAULT 0,
    msgs_recv    INTEGER NOT NULL DEFAULT 0,
    bytes_sent   INTEGER NOT NULL DEFAULT 0,
    bytes_recv   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rounds_started ON rounds (started);

-- Inputs of peers that spoilt a round, refused until "until" (Wasabi's
-- prison, round.go banFor).
CREATE TABLE prison (
    txid   BLOB NOT NULL,
    vout   INTEGER NOT NULL,
    until  INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (txid, vout)
);
