-- 0001_init: the wallet's first schema. Later issues add tables (swaps, ...)
-- through new numbered files; never edit a released migration.
-- Hashes and txids are stored as 32-byte BLOBs in internal byte order
-- (chainhash.Hash[:]); amounts in satoshis; times in unix seconds.

-- One row: what the wallet is and its seed.
CREATE TABLE meta (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    network         TEXT    NOT NULL,                     -- chaincfg.Params.Name
    birthday_height INTEGER NOT NULL,                     -- first block that can hold our coins
    seed            BLOB    NOT NULL,                     -- 64-byte BIP39 seed, or a keys.EncryptSecret blob
    seed_encrypted  INTEGER NOT NULL CHECK (seed_encrypted IN (0, 1)),
    created_at      INTEGER NOT NULL
) STRICT;

-- Next unused index of the non-address key chains ('bond', 'swap').
CREATE TABLE key_counters (
    name TEXT    PRIMARY KEY,
    next INTEGER NOT NULL CHECK (next >= 0)
) STRICT;

-- Every derived P2WPKH address we watch: handed out or inside the gap window.
CREATE TABLE addresses (
    branch    INTEGER NOT NULL,                 -- keys.Branch
    idx       INTEGER NOT NULL CHECK (idx >= 0),
    pk_script BLOB    NOT NULL UNIQUE,
    issued    INTEGER NOT NULL DEFAULT 0,       -- handed out by NewAddress / used as change
    used      INTEGER NOT NULL DEFAULT 0,       -- seen paid on chain or in the mempool
    PRIMARY KEY (branch, idx)
) STRICT;

-- Watched P2WSH outputs that are not addresses: bonds, 2-of-2 swap coins,
-- contracts. The category given here is the category of coins paying it.
CREATE TABLE scripts (
    pk_script      BLOB PRIMARY KEY,
    witness_script BLOB NOT NULL,
    category       TEXT NOT NULL,
    label          TEXT NOT NULL DEFAULT ''
) STRICT;

-- Transactions the wallet built (and ones that pay or spend it).
-- held: signed and stored, not to be broadcast until asked (swap funding);
-- publish: must be in the mempool; rebroadcast at every start until confirmed;
-- confirmed: in a block (back to publish on a reorg); abandoned: dropped, inputs freed.
CREATE TABLE transactions (
    txid       BLOB    PRIMARY KEY,
    raw        BLOB    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('held', 'publish', 'confirmed', 'abandoned')),
    height     INTEGER NOT NULL DEFAULT 0,
    block_hash BLOB,
    fee        INTEGER,
    label      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
) STRICT;

-- Our outputs. height 0 = mempool. spent_by is set when one of our stored
-- transactions spends the coin (before it is broadcast) or when the chain
-- shows a spend; spent_height is NULL until the spend is seen (0 = mempool).
-- reserved_by/reserved_until hold a coin for one builder (see select.go).
CREATE TABLE coins (
    txid           BLOB    NOT NULL,
    vout           INTEGER NOT NULL CHECK (vout >= 0),
    value          INTEGER NOT NULL CHECK (value >= 0),
    pk_script      BLOB    NOT NULL,
    category       TEXT    NOT NULL,
    height         INTEGER NOT NULL DEFAULT 0,
    block_hash     BLOB,
    coinbase       INTEGER NOT NULL DEFAULT 0,
    spent_by       BLOB,
    spent_height   INTEGER,
    reserved_by    TEXT,
    reserved_until INTEGER,
    PRIMARY KEY (txid, vout)
) STRICT;
CREATE INDEX coins_unspent ON coins (category, value) WHERE spent_by IS NULL;
CREATE INDEX coins_spent_by ON coins (spent_by) WHERE spent_by IS NOT NULL;

-- Our fidelity bonds.
CREATE TABLE bonds (
    txid           BLOB    NOT NULL,
    vout           INTEGER NOT NULL,
    key_index      INTEGER NOT NULL,
    lock_height    INTEGER NOT NULL,
    amount         INTEGER NOT NULL,
    witness_script BLOB    NOT NULL,
    conf_height    INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'confirmed', 'redeemed')),
    redeem_txid    BLOB,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (txid, vout)
) STRICT;

-- The chain.Watcher's state (height, recent blocks with their events, watch
-- set) as one JSON document, replaced atomically; height is copied out so
-- balances can count confirmations without parsing it.
CREATE TABLE watch_state (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    height INTEGER NOT NULL,
    state  BLOB    NOT NULL
) STRICT;
