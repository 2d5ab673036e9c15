-- Write less per payment (issue 18), PostgreSQL side.
--
-- SQLite's migration 0011 removes AUTOINCREMENT. PostgreSQL has none: `seq`
-- is an identity column, whose sequence logs to the WAL once per 32
-- values and is never rolled back, so nothing there changes. A sequence
-- cache (`CACHE n`) would save that little, but each instance would then
-- number its rows from a block of its own, and newest-first list pages,
-- ordered by `seq`, would follow the instances' blocks instead of time.
--
-- The four secondary indexes no query reads are dropped, as SQLite's 0011
-- does not make them again (the reasons are in that file).
DROP INDEX IF EXISTS payment_intents_by_status;
DROP INDEX IF EXISTS payment_attempts_by_scope;
DROP INDEX IF EXISTS vault_cards_by_scope;
DROP INDEX IF EXISTS risk_evaluations_by_payment_intent;

-- Customers found by email answer from an index whatever their number
-- (point 3 of SQLite's 0011): the list filter's index gains the scope and
-- the deleted flag, and a search by email, which compares `lower(email)`,
-- gets an index of its own; `seq` last, so neither sorts.
DROP INDEX IF EXISTS customers_by_email;
CREATE INDEX customers_by_email ON customers (merchant_id, livemode, deleted, email, seq);
CREATE INDEX customers_by_lower_email ON customers (merchant_id, livemode, deleted, lower(email), seq);
