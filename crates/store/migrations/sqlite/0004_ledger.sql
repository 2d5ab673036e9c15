-- The ledger: double-entry, append-only, hash-chained. Transactions and
-- their postings are never updated or deleted (triggers refuse it); the
-- chain head is a single row every append moves forward by one, which the
-- triggers below check: each new transaction follows the head, postings
-- belong only to the transaction being appended, and the head moves only
-- onto a transaction of two or more postings summing to zero per currency.
-- ledger_balances is a projection of the postings, checked by
-- `portcullis ledger verify`.

CREATE TABLE ledger_transactions (
    sequence        INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    content         TEXT NOT NULL,
    hash            TEXT NOT NULL,
    previous_hash   TEXT NOT NULL,
    created         INTEGER NOT NULL
);

CREATE TABLE ledger_postings (
    transaction_sequence INTEGER NOT NULL REFERENCES ledger_transactions (sequence),
    position        INTEGER NOT NULL,
    account         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor <> 0),
    PRIMARY KEY (transaction_sequence, position)
);
CREATE INDEX ledger_postings_by_account ON ledger_postings (account, currency);

CREATE TABLE ledger_balances (
    account         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    balance_minor   INTEGER NOT NULL,
    PRIMARY KEY (account, currency)
);

CREATE TABLE ledger_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    sequence        INTEGER NOT NULL,
    hash            TEXT NOT NULL
);
INSERT INTO ledger_head (id, sequence, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'ledger_transactions is append-only'); END;
CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'ledger_transactions is append-only'); END;
CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings is append-only'); END;
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings is append-only'); END;
CREATE TRIGGER ledger_head_no_delete BEFORE DELETE ON ledger_head
BEGIN SELECT RAISE(ABORT, 'ledger_head is permanent'); END;

CREATE TRIGGER ledger_transactions_follow_head BEFORE INSERT ON ledger_transactions
WHEN NEW.sequence <> (SELECT sequence + 1 FROM ledger_head WHERE id = 1)
  OR NEW.previous_hash <> (SELECT hash FROM ledger_head WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'a ledger transaction must follow the chain head'); END;

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

-- Read models of the ledger in Stripe's shape: balance transactions
-- (txn_…) and payouts (po_…), documents like every other resource.
CREATE TABLE balance_transactions (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    source      TEXT,
    txn_type    TEXT,
    currency    TEXT,
    status      TEXT,
    available_on INTEGER,
    body        TEXT NOT NULL
);
CREATE INDEX balance_transactions_by_scope ON balance_transactions (merchant_id, livemode, seq);
CREATE INDEX balance_transactions_by_source ON balance_transactions (merchant_id, source, seq);
CREATE INDEX balance_transactions_by_due ON balance_transactions (status, available_on, seq);

CREATE TABLE payouts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    currency    TEXT,
    status      TEXT,
    arrival_date INTEGER,
    body        TEXT NOT NULL
);
CREATE INDEX payouts_by_scope ON payouts (merchant_id, livemode, seq);
CREATE INDEX payouts_by_due ON payouts (status, arrival_date, seq);
