-- ledger_postings stored once, clustered on its primary key (issue 18).
--
-- As a rowid table with a composite PRIMARY KEY, every posting was
-- written twice: into the table's B-tree (by rowid) and into the
-- automatic index of (transaction_sequence, position). Postings are read
-- only by that key (a transaction's postings, the chain head's trigger,
-- `ledger verify`) and never by rowid, so a WITHOUT ROWID table keeps one
-- B-tree: a payment's three postings dirty one page where they dirtied
-- two (measured with scripts/wal_pages_by_btree.py: one WAL page fewer
-- per payment committed alone). Same columns, constraints and triggers;
-- the rows are copied as they are.
--
-- The table is rebuilt (SQLite cannot change a table's storage in
-- place). Its own triggers go with it and are made again below as 0004
-- wrote them; the chain head's trigger, which reads ledger_postings, is
-- dropped first and made again after, so that no trigger names a missing
-- table while the new table takes the old one's name.
DROP TRIGGER ledger_head_moves_onto_balanced;

CREATE TABLE ledger_postings_clustered (
    transaction_sequence INTEGER NOT NULL REFERENCES ledger_transactions (sequence),
    position        INTEGER NOT NULL,
    account         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor <> 0),
    PRIMARY KEY (transaction_sequence, position)
) WITHOUT ROWID;
INSERT INTO ledger_postings_clustered (transaction_sequence, position, account, currency, amount_minor)
    SELECT transaction_sequence, position, account, currency, amount_minor FROM ledger_postings;
-- DROP TABLE deletes no row one by one: the no-delete trigger does not fire.
DROP TABLE ledger_postings;
ALTER TABLE ledger_postings_clustered RENAME TO ledger_postings;

CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings is append-only'); END;
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings is append-only'); END;

CREATE TRIGGER ledger_postings_of_new_transaction BEFORE INSERT ON ledger_postings
WHEN NEW.transaction_sequence <> (SELECT sequence + 1 FROM ledger_head WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'postings may only be added to the transaction being appended'); END;

CREATE TRIGGER ledger_head_moves_onto_balanced BEFORE UPDATE ON ledger_head
WHEN NEW.id <> 1
  OR NEW.sequence <> OLD.sequence + 1
  OR NEW.hash IS NOT (SELECT hash FROM ledger_transactions WHERE sequence = NEW.sequence)
  OR (SELECT COUNT(*) FROM ledger_postings WHERE transaction_sequence = NEW.sequence) < 2
  OR EXISTS (
      SELECT 1 FROM ledger_postings WHERE transaction_sequence = NEW.sequence
      GROUP BY currency HAVING SUM(amount_minor) <> 0
  )
BEGIN SELECT RAISE(ABORT, 'the chain head may only move onto a balanced transaction'); END;
