-- Risk: value lists and their items, per-merchant rules, the signals each
-- payment was evaluated with (replayed by dry runs), the review queue,
-- and the incremental velocity counters (bucketed by hour), the distinct
-- cards seen per IP, customer and email, and each card's last location.
-- Counters are written in the payments' own write sets; nothing here is
-- ever computed by scanning payments.

CREATE TABLE risk_lists (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    alias       TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX risk_lists_by_scope ON risk_lists (merchant_id, livemode, seq);
CREATE UNIQUE INDEX risk_lists_by_alias ON risk_lists (merchant_id, livemode, alias);

CREATE TABLE risk_list_items (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    list        TEXT,
    deleted     INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL
);
CREATE INDEX risk_list_items_by_scope ON risk_list_items (merchant_id, livemode, seq);
CREATE INDEX risk_list_items_by_list ON risk_list_items (merchant_id, list, seq);

CREATE TABLE risk_rules (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX risk_rules_by_scope ON risk_rules (merchant_id, livemode, seq);

CREATE TABLE risk_evaluations (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    payment_intent TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX risk_evaluations_by_scope ON risk_evaluations (merchant_id, livemode, seq);
CREATE INDEX risk_evaluations_by_payment_intent ON risk_evaluations (merchant_id, payment_intent, seq);

CREATE TABLE reviews (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    is_open     INTEGER NOT NULL DEFAULT 0,
    payment_intent TEXT,
    charge      TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX reviews_by_scope ON reviews (merchant_id, livemode, seq);
CREATE INDEX reviews_by_is_open ON reviews (merchant_id, is_open, seq);
CREATE INDEX reviews_by_charge ON reviews (merchant_id, charge, seq);

CREATE TABLE risk_counters (
    merchant_id      TEXT NOT NULL REFERENCES merchants (id),
    livemode         INTEGER NOT NULL,
    subject_kind     TEXT NOT NULL,
    subject          TEXT NOT NULL,
    metric           TEXT NOT NULL,
    -- Unix hour (seconds / 3600); 0 holds a subject's lifetime history.
    bucket_hour      INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    amount_usd_cents INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, livemode, subject_kind, subject, metric, bucket_hour)
);

CREATE TABLE risk_card_members (
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    livemode     INTEGER NOT NULL,
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    bucket_hour  INTEGER NOT NULL,
    card         TEXT NOT NULL,
    PRIMARY KEY (merchant_id, livemode, subject_kind, subject, bucket_hour, card)
);

CREATE TABLE risk_card_sightings (
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    livemode        INTEGER NOT NULL,
    card            TEXT NOT NULL,
    latitude_micro  INTEGER NOT NULL,
    longitude_micro INTEGER NOT NULL,
    seen_at         INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, livemode, card)
);
