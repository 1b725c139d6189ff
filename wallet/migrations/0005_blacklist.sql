-- 0005_blacklist: the node's blacklist (issue 12): origin keys, onion
-- addresses, bond outpoints and integrity outputs, each with a reason and
-- an expiry (until: unix seconds, 0 = for good), and where it came from
-- (local: the operator; auto: a maker that failed a swap by its own fault
-- or could not be reached; import:<signer>: a list someone signed). The
-- taker's bad-maker list becomes its onion entries.
CREATE TABLE blacklist (
    kind    TEXT    NOT NULL CHECK (kind IN ('origin', 'onion', 'bond', 'integrity')),
    value   TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    added   INTEGER NOT NULL,
    until   INTEGER NOT NULL DEFAULT 0,
    source  TEXT    NOT NULL DEFAULT 'local',
    PRIMARY KEY (kind, value)
) STRICT;
INSERT INTO blacklist (kind, value, reason, added, until, source)
    SELECT 'onion', addr, reason, at, until, 'auto' FROM bad_makers;
DROP TABLE bad_makers;
