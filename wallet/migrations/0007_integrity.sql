-- 0007_integrity: integrity-fee payments (node/market's alternative to a
-- fidelity bond). Payment i pays miners a fee and creates the integrity
-- output, a P2WPKH output to integrity key i (m/175'/coin'/5'/i',
-- addresses branch 3); payment i+1 spends it. The output itself is a coin
-- of category 'integrity'; its confirmation (height, block_hash) is the
-- coin's, kept by the watcher. raw is the signed transaction with its
-- witnesses, input_values the value of each input's prevout in input order
-- (8-byte little-endian each), both needed by the proof. tx_index, branch
-- (32-byte hashes, leaf to root) and proof_block cache the merkle branch of
-- the block that confirmed it, so a restart does not fetch the block again;
-- a reorg into another block makes proof_block differ and the cache stale.
CREATE TABLE integrity_payments (
    key_index    INTEGER PRIMARY KEY CHECK (key_index >= 0),
    txid         BLOB    NOT NULL,
    vout         INTEGER NOT NULL CHECK (vout >= 0),
    value        INTEGER NOT NULL CHECK (value >= 0),
    fee          INTEGER NOT NULL CHECK (fee >= 0),
    raw          BLOB    NOT NULL,
    input_values BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    proof_block  BLOB,
    tx_index     INTEGER,
    branch       BLOB,
    UNIQUE (txid, vout)
) STRICT;
