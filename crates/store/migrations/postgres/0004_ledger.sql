-- The ledger: double-entry, append-only, hash-chained. Transactions and
-- their postings are never updated, deleted or truncated (triggers refuse
-- it); the chain head is a single row every append locks (serializing
-- appends, so the chain order is the commit order) and moves forward by
-- one, which the triggers below check: each new transaction follows the
-- head, postings belong only to the transaction being appended, and the
-- head moves only onto a transaction of two or more postings summing to
-- zero per currency. ledger_balances is a projection of the postings,
-- checked by `portcullis ledger verify`.

CREATE TABLE ledger_transactions (
    sequence        BIGINT PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    content         TEXT NOT NULL,
    hash            TEXT NOT NULL,
    previous_hash   TEXT NOT NULL,
    created         BIGINT NOT NULL
);

CREATE TABLE ledger_postings (
    transaction_sequence BIGINT NOT NULL REFERENCES ledger_transactions (sequence),
    position        BIGINT NOT NULL,
    account         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor <> 0),
    PRIMARY KEY (transaction_sequence, position)
);
CREATE INDEX ledger_postings_by_account ON ledger_postings (account, currency);

CREATE TABLE ledger_balances (
    account         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    balance_minor   BIGINT NOT NULL,
    PRIMARY KEY (account, currency)
);

CREATE TABLE ledger_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    sequence        BIGINT NOT NULL,
    hash            TEXT NOT NULL
);
INSERT INTO ledger_head (id, sequence, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;

CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_head_no_delete BEFORE DELETE ON ledger_head
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_head_no_truncate BEFORE TRUNCATE ON ledger_head
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE FUNCTION ledger_transaction_follows_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head ledger_head%ROWTYPE;
BEGIN
    SELECT * INTO head FROM ledger_head WHERE id = 1;
    IF NEW.sequence <> head.sequence + 1 OR NEW.previous_hash <> head.hash THEN
        RAISE EXCEPTION 'a ledger transaction must follow the chain head';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_transactions_follow_head BEFORE INSERT ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_follows_head();

CREATE FUNCTION ledger_posting_of_new_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.transaction_sequence <> (SELECT sequence + 1 FROM ledger_head WHERE id = 1) THEN
        RAISE EXCEPTION 'postings may only be added to the transaction being appended';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_postings_of_new_transaction BEFORE INSERT ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_of_new_transaction();

CREATE FUNCTION ledger_head_moves_onto_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> 1
       OR NEW.sequence <> OLD.sequence + 1
       OR NEW.hash IS DISTINCT FROM (SELECT hash FROM ledger_transactions WHERE sequence = NEW.sequence)
       OR (SELECT COUNT(*) FROM ledger_postings WHERE transaction_sequence = NEW.sequence) < 2
       OR EXISTS (
           SELECT 1 FROM ledger_postings WHERE transaction_sequence = NEW.sequence
           GROUP BY currency HAVING SUM(amount_minor) <> 0
       )
    THEN
        RAISE EXCEPTION 'the chain head may only move onto a balanced transaction';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_head_moves_onto_balanced BEFORE UPDATE ON ledger_head
    FOR EACH ROW EXECUTE FUNCTION ledger_head_moves_onto_balanced();

-- Read models of the ledger in Stripe's shape: balance transactions
-- (txn_…) and payouts (po_…), documents like every other resource.
CREATE TABLE balance_transactions (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    source      TEXT,
    txn_type    TEXT,
    currency    TEXT,
    status      TEXT,
    available_on BIGINT,
    body        TEXT NOT NULL
);
CREATE INDEX balance_transactions_by_scope ON balance_transactions (merchant_id, livemode, seq);
CREATE INDEX balance_transactions_by_source ON balance_transactions (merchant_id, source, seq);
CREATE INDEX balance_transactions_by_due ON balance_transactions (status, available_on, seq);

CREATE TABLE payouts (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    currency    TEXT,
    status      TEXT,
    arrival_date BIGINT,
    body        TEXT NOT NULL
);
CREATE INDEX payouts_by_scope ON payouts (merchant_id, livemode, seq);
CREATE INDEX payouts_by_due ON payouts (status, arrival_date, seq);
