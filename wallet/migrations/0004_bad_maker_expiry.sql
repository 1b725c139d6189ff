-- 0004_bad_maker_expiry: a maker the taker could not reach is avoided for
-- a while, not for good (a restarted maker's onion is unreachable for about
-- 90 s); one that cheated stays avoided. until: unix seconds, 0 = for good.
ALTER TABLE bad_makers ADD COLUMN until INTEGER NOT NULL DEFAULT 0;
