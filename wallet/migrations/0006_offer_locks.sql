-- 0006_offer_locks: coins that back the maker's published offer (issue
-- 12): a send or a new bond may not use them, only the swaps the offer
-- promises; withdrawing the offer releases them.
ALTER TABLE coins ADD COLUMN offer_lock INTEGER NOT NULL DEFAULT 0;
