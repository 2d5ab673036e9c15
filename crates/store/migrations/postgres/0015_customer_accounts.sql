-- Customer accounts (issue 15): a merchant's end users' credentials.
-- customer_accounts: one per customer; `email_key` (the lowercase address)
-- is unique per merchant and mode while the account lives (NULL once it is
-- deactivated, which frees the address). account_sessions and
-- account_tokens keep only keyed digests of the bearer tokens and emailed
-- tokens (`token_hash`). account_events is the credential audit trail:
-- append-only, triggers refuse any change.

CREATE TABLE customer_accounts (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    email_key   TEXT,
    customer    TEXT NOT NULL,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX customer_accounts_by_scope ON customer_accounts (merchant_id, livemode, seq);
CREATE UNIQUE INDEX customer_accounts_by_email ON customer_accounts (merchant_id, livemode, email_key);
CREATE UNIQUE INDEX customer_accounts_by_customer ON customer_accounts (merchant_id, livemode, customer);

CREATE TABLE account_sessions (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    account     TEXT NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE,
    body        TEXT NOT NULL
);
CREATE INDEX account_sessions_by_scope ON account_sessions (merchant_id, livemode, seq);
CREATE INDEX account_sessions_by_account ON account_sessions (account, revoked, seq);

CREATE TABLE account_tokens (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    account     TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX account_tokens_by_scope ON account_tokens (merchant_id, livemode, seq);

CREATE TABLE account_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    customer    TEXT,
    email_digest TEXT,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    ip          TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX account_events_by_scope ON account_events (merchant_id, livemode, seq);
CREATE INDEX account_events_by_customer ON account_events (merchant_id, livemode, customer, seq);
CREATE INDEX account_events_by_email ON account_events (merchant_id, livemode, email_digest, seq);
CREATE INDEX account_events_by_ip ON account_events (merchant_id, livemode, ip, outcome, created);
CREATE FUNCTION account_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'account_events is append-only';
END;
$$;
CREATE TRIGGER account_events_append_only BEFORE UPDATE OR DELETE ON account_events
    FOR EACH ROW EXECUTE FUNCTION account_events_refuse_change();
CREATE TRIGGER account_events_no_truncate BEFORE TRUNCATE ON account_events
    FOR EACH STATEMENT EXECUTE FUNCTION account_events_refuse_change();

-- A customer's stored-value balance transactions (`cbtxn_…`, Stripe's
-- customer_balance_transaction): each one's money is a ledger transaction
-- on the customer's `customer_balance` account, appended in the same write.
CREATE TABLE customer_balance_transactions (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    customer    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX customer_balance_transactions_by_scope ON customer_balance_transactions (merchant_id, livemode, seq);
CREATE INDEX customer_balance_transactions_by_customer ON customer_balance_transactions (merchant_id, livemode, customer, seq);

-- Stored-value limits (`cbl_…`) per merchant (`holder` = '*') or per
-- customer (`holder` = its id), one per currency.
CREATE TABLE customer_balance_limits (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    holder      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX customer_balance_limits_by_scope ON customer_balance_limits (merchant_id, livemode, seq);
CREATE UNIQUE INDEX customer_balance_limits_by_holder ON customer_balance_limits (merchant_id, livemode, holder, currency);
