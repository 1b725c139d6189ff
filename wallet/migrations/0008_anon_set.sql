-- 0008_anon_set: each coin's anonymity set (Traceability): how many
-- outputs of the transaction that created it have exactly its value (1 for
-- an ordinary payment or change, n for one of n equal CoinJoin outputs),
-- computed from that transaction when the coin is recorded. 0 = unknown:
-- coins recorded before this version. The wallet keeps only the
-- transactions it built, not the ones that paid it, so it cannot compute
-- the count for those here; a rescan that sees the transaction fills it in.
ALTER TABLE coins ADD COLUMN anon_set INTEGER NOT NULL DEFAULT 0 CHECK (anon_set >= 0);
