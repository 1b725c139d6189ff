-- 0003_purpose_addresses: the one receive address handed out for a
-- standing purpose (funding the maker's bond), reused until it is paid so
-- that waiting for a payment never walks the gap limit.
CREATE TABLE purpose_addresses (
    purpose TEXT    PRIMARY KEY,
    branch  INTEGER NOT NULL,
    idx     INTEGER NOT NULL CHECK (idx >= 0)
) STRICT;
