-- Routing (issue 16): a merchant's routing rules (`rr_…`), read oldest
-- first (`seq`) when a payment is routed; deleted ones are kept, marked.

CREATE TABLE routing_rules (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    body        TEXT NOT NULL
);
CREATE INDEX routing_rules_by_scope ON routing_rules (merchant_id, livemode, seq);
