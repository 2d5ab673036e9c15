-- Payments: payment methods, intents, charges, refunds, disputes, events,
-- authorization attempts (for crash recovery) and the card vault.

CREATE TABLE payment_methods (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    customer    TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX payment_methods_by_scope ON payment_methods (merchant_id, livemode, seq);
CREATE INDEX payment_methods_by_customer ON payment_methods (merchant_id, customer, seq);

CREATE TABLE payment_intents (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    customer    TEXT,
    status      TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX payment_intents_by_scope ON payment_intents (merchant_id, livemode, seq);
CREATE INDEX payment_intents_by_customer ON payment_intents (merchant_id, customer, seq);
CREATE INDEX payment_intents_by_status ON payment_intents (merchant_id, status, seq);

CREATE TABLE charges (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    payment_intent TEXT,
    customer    TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX charges_by_scope ON charges (merchant_id, livemode, seq);
CREATE INDEX charges_by_payment_intent ON charges (merchant_id, payment_intent, seq);
CREATE INDEX charges_by_customer ON charges (merchant_id, customer, seq);

CREATE TABLE refunds (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    payment_intent TEXT,
    charge      TEXT,
    status      TEXT,
    settled     BOOLEAN NOT NULL DEFAULT FALSE,
    body        TEXT NOT NULL
);
CREATE INDEX refunds_by_unsettled ON refunds (settled, seq);
CREATE INDEX refunds_by_scope ON refunds (merchant_id, livemode, seq);
CREATE INDEX refunds_by_payment_intent ON refunds (merchant_id, payment_intent, seq);
CREATE INDEX refunds_by_charge ON refunds (merchant_id, charge, seq);
CREATE INDEX refunds_by_status ON refunds (merchant_id, status, seq);

CREATE TABLE disputes (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    charge      TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX disputes_by_scope ON disputes (merchant_id, livemode, seq);
CREATE INDEX disputes_by_charge ON disputes (merchant_id, charge, seq);

CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    event_type  TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX events_by_scope ON events (merchant_id, livemode, seq);
CREATE INDEX events_by_event_type ON events (merchant_id, event_type, seq);

CREATE TABLE payment_attempts (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    payment_intent TEXT,
    state       TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX payment_attempts_by_scope ON payment_attempts (merchant_id, livemode, seq);
CREATE INDEX payment_attempts_by_payment_intent ON payment_attempts (payment_intent, seq);
CREATE INDEX payment_attempts_by_state ON payment_attempts (state, seq);

CREATE TABLE vault_cards (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    kek_id      TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX vault_cards_by_scope ON vault_cards (merchant_id, livemode, seq);
CREATE INDEX vault_cards_by_kek_id ON vault_cards (kek_id, seq);
