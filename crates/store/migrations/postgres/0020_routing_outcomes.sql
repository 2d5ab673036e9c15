-- Success-rate routing (issue 16): authorizations and declines per
-- connector account and payment segment (card brand, currency and BIN
-- range), over a sliding window kept as a ring of time slots: a slot whose
-- bucket_start is older than the window is reset by its next write, so
-- rows never grow with time. Shared by every instance on the database.

CREATE TABLE routing_outcomes (
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    livemode          BOOLEAN NOT NULL,
    segment           TEXT NOT NULL,
    connector_account TEXT NOT NULL,
    slot              BIGINT NOT NULL,
    -- Unix seconds at which the slot's current bucket began.
    bucket_start      BIGINT NOT NULL,
    authorized        BIGINT NOT NULL,
    declined          BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, livemode, segment, connector_account, slot)
);
