-- 0002_swaps: the CoinSwap engine's tables (node/swap owns them).
-- One row per swap and role; the full per-role record (keys references,
-- signatures, transactions) is the JSON document in state, rewritten in the
-- same SQLite transaction as phase, so a phase is never committed without
-- everything it depends on. Hashes and txids: 32-byte BLOBs in internal byte
-- order; amounts in satoshis; times in unix seconds.
CREATE TABLE swaps (
    id         BLOB    PRIMARY KEY,            -- 16-byte swap id (maker: the taker's id for it)
    role       TEXT    NOT NULL CHECK (role IN ('taker', 'maker')),
    phase      TEXT    NOT NULL,
    final      INTEGER NOT NULL DEFAULT 0 CHECK (final IN (0, 1)),
    created    INTEGER NOT NULL,
    updated    INTEGER NOT NULL,
    amount     INTEGER NOT NULL DEFAULT 0,     -- taker: amount sent; maker: incoming total
    tx_count   INTEGER NOT NULL DEFAULT 0,
    hash       BLOB,                           -- HASH160(preimage)
    error      TEXT    NOT NULL DEFAULT '',
    outcome    TEXT    NOT NULL DEFAULT '',
    state      BLOB    NOT NULL,               -- JSON record (swap.MakerSwap / swap.TakerSwap)
    -- Set by the watcher hook (never by a Save): a preimage read from a
    -- hashlock spend on chain, and "a contract of this swap appeared".
    learned_preimage  BLOB,
    recover_requested INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX swaps_live ON swaps (role, final);

-- One row per funding output of a live or past swap: what the watcher and
-- recovery look up by script or outpoint. dir: 'in' = we receive it, 'out' =
-- we send it. status: live, abandoned, settled (cooperatively swept or handed
-- over), claimed (hashlock), refunded (timelock).
CREATE TABLE swap_outputs (
    swap_id         BLOB    NOT NULL REFERENCES swaps (id),
    hop             INTEGER NOT NULL,
    dir             TEXT    NOT NULL CHECK (dir IN ('in', 'out')),
    idx             INTEGER NOT NULL,
    funding_txid    BLOB    NOT NULL,
    funding_vout    INTEGER NOT NULL,
    value           INTEGER NOT NULL,
    multisig_script BLOB    NOT NULL,
    contract_script BLOB    NOT NULL,
    contract_pk     BLOB    NOT NULL,          -- P2WSH(contract_script)
    contract_txid   BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'live',
    PRIMARY KEY (swap_id, hop, dir, idx)
) STRICT;
-- "No funding outpoint bound to two contracts": a live row per outpoint
-- and direction (a maker sees an outpoint once as incoming).
CREATE UNIQUE INDEX swap_outputs_funding ON swap_outputs (funding_txid, funding_vout, dir)
    WHERE status <> 'abandoned';
CREATE INDEX swap_outputs_contract ON swap_outputs (contract_pk);

-- Makers the taker will not use again (failed before funding, misbehaved).
CREATE TABLE bad_makers (
    addr    TEXT    PRIMARY KEY,
    reason  TEXT    NOT NULL,
    at      INTEGER NOT NULL
) STRICT;
