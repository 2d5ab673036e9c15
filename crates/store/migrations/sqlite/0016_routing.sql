-- Routing (issue 16): a merchant's routing rules (`rr_…`), read oldest
-- first (`seq`) when a payment is routed; deleted ones are kept, marked.

CREATE TABLE routing_rules (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL
);
CREATE INDEX routing_rules_by_scope ON routing_rules (merchant_id, livemode, seq);
