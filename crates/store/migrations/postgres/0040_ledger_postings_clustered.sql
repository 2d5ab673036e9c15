-- Nothing to change on PostgreSQL: SQLite's 0040 stores ledger_postings
-- once, clustered on its primary key, where it had kept every posting in
-- a rowid table and again in the key's index. A PostgreSQL table is a
-- heap with its primary key's index, as before; no table has a rowid.
SELECT 1;
