-- 0001_init: the directory's first schema. Never edit a released
-- migration; add a numbered file instead.
-- txids are 32-byte BLOBs in internal byte order (chainhash.Hash[:]);
-- amounts in satoshis; times in unix milliseconds.

-- One listed maker per fidelity bond.
CREATE TABLE entries (
    txid          BLOB    NOT NULL CHECK (length(txid) = 32),
    vout          INTEGER NOT NULL CHECK (vout >= 0 AND vout <= 4294967295),
    addr          TEXT    NOT NULL,              -- the maker's onion "host:port"
    bond_pubkey   BLOB    NOT NULL CHECK (length(bond_pubkey) = 33),
    lock_height   INTEGER NOT NULL CHECK (lock_height > 0),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    cert_expiry   INTEGER NOT NULL CHECK (cert_expiry > 0),
    cert_sig      BLOB    NOT NULL,
    bond_value    REAL    NOT NULL,              -- script.BondValue at the last verification
    first_seen    INTEGER NOT NULL,              -- first successful Register of this bond
    last_seen     INTEGER NOT NULL,              -- last successful Register (the TTL runs from here)
    verified_at   INTEGER NOT NULL,              -- last successful on-chain verification
    PRIMARY KEY (txid, vout)
) STRICT;

-- Expiry sweeps and List's freshness filter.
CREATE INDEX entries_last_seen ON entries (last_seen);
-- List order and eviction of the least valuable bond when full.
CREATE INDEX entries_value ON entries (bond_value);
