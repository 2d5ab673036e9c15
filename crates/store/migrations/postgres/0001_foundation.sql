-- Foundation: merchants, API keys, idempotency, customers.
CREATE TABLE merchants (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    kind           TEXT NOT NULL CHECK (kind IN ('secret', 'publishable', 'restricted')),
    mode           TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    key_hash       TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    permissions    TEXT,
    created        BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, created);

CREATE TABLE idempotency_keys (
    merchant_id         TEXT NOT NULL REFERENCES merchants (id),
    idempotency_key     TEXT NOT NULL,
    request_fingerprint TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    status_code         BIGINT,
    response_body       TEXT,
    created             BIGINT NOT NULL,
    locked_at           BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, idempotency_key)
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created);

CREATE TABLE customers (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    email       TEXT,
    name        TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX customers_by_scope ON customers (merchant_id, livemode, deleted, seq);
CREATE INDEX customers_by_email ON customers (merchant_id, email);
