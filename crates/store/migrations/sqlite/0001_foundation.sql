-- Foundation: merchants, API keys, idempotency, customers.
CREATE TABLE merchants (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    kind           TEXT NOT NULL CHECK (kind IN ('secret', 'publishable', 'restricted')),
    mode           TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    key_hash       TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    permissions    TEXT,
    created        INTEGER NOT NULL,
    revoked_at     INTEGER
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, created);

CREATE TABLE idempotency_keys (
    merchant_id         TEXT NOT NULL REFERENCES merchants (id),
    idempotency_key     TEXT NOT NULL,
    request_fingerprint TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    status_code         INTEGER,
    response_body       TEXT,
    created             INTEGER NOT NULL,
    locked_at           INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, idempotency_key)
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created);

CREATE TABLE customers (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    email       TEXT,
    name        TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX customers_by_scope ON customers (merchant_id, livemode, deleted, seq);
CREATE INDEX customers_by_email ON customers (merchant_id, email);
