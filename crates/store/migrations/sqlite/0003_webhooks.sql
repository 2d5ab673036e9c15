-- Webhooks: endpoints (documents), deliveries (the transactional outbox:
-- one row per event and matching endpoint, written in the event's own
-- transaction) and the log of every delivery attempt.

CREATE TABLE webhook_endpoints (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    status      TEXT,
    -- The enabled event types between commas: ',charge.succeeded,' or ',*,'.
    enabled_events TEXT,
    deleted     INTEGER NOT NULL DEFAULT 0,
    -- When the current run of failed attempts began; NULL after a success.
    failing_since_ms INTEGER,
    body        TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_by_scope ON webhook_endpoints (merchant_id, livemode, deleted, seq);

CREATE TABLE webhook_deliveries (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id        TEXT NOT NULL REFERENCES merchants (id),
    livemode           INTEGER NOT NULL,
    event_id           TEXT NOT NULL,
    endpoint_id        TEXT NOT NULL,
    event_type         TEXT NOT NULL,
    created_ms         INTEGER NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER,
    claimed_by         TEXT,
    lease_until_ms     INTEGER,
    last_status_code   INTEGER,
    last_error         TEXT,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);

CREATE TABLE webhook_attempts (
    event_id         TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    started_at_ms    INTEGER NOT NULL,
    latency_ms       INTEGER NOT NULL,
    status_code      INTEGER,
    error            TEXT,
    next_retry_at_ms INTEGER,
    PRIMARY KEY (event_id, endpoint_id, attempt)
);
