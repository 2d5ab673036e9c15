-- The risk counter tables and the routing outcomes as WITHOUT ROWID
-- tables (issue 18). Each was a rowid table plus the automatic index of
-- its primary key, so every upsert a payment makes (its counters, the
-- card's sighting, the routing outcome) sought the key in the index, then
-- the row by rowid in the table, and wrote both B-trees' pages when it
-- inserted; every read of a subject's window walked the index and looked
-- each row up in the table. Keyed by the primary key itself, a row is
-- one B-tree entry: one seek per upsert and per read, half the pages.
-- Columns, types, constraints, primary keys and rows are unchanged; no
-- statement names a rowid of these tables.
CREATE TABLE risk_counters_rebuilt (
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
) WITHOUT ROWID;
INSERT INTO risk_counters_rebuilt (merchant_id, livemode, subject_kind, subject, metric, bucket_hour, count, amount_usd_cents)
SELECT merchant_id, livemode, subject_kind, subject, metric, bucket_hour, count, amount_usd_cents FROM risk_counters;
DROP TABLE risk_counters;
ALTER TABLE risk_counters_rebuilt RENAME TO risk_counters;

CREATE TABLE risk_card_members_rebuilt (
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    livemode     INTEGER NOT NULL,
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    bucket_hour  INTEGER NOT NULL,
    card         TEXT NOT NULL,
    PRIMARY KEY (merchant_id, livemode, subject_kind, subject, bucket_hour, card)
) WITHOUT ROWID;
INSERT INTO risk_card_members_rebuilt (merchant_id, livemode, subject_kind, subject, bucket_hour, card)
SELECT merchant_id, livemode, subject_kind, subject, bucket_hour, card FROM risk_card_members;
DROP TABLE risk_card_members;
ALTER TABLE risk_card_members_rebuilt RENAME TO risk_card_members;

CREATE TABLE risk_card_sightings_rebuilt (
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    livemode        INTEGER NOT NULL,
    card            TEXT NOT NULL,
    latitude_micro  INTEGER NOT NULL,
    longitude_micro INTEGER NOT NULL,
    seen_at         INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, livemode, card)
) WITHOUT ROWID;
INSERT INTO risk_card_sightings_rebuilt (merchant_id, livemode, card, latitude_micro, longitude_micro, seen_at)
SELECT merchant_id, livemode, card, latitude_micro, longitude_micro, seen_at FROM risk_card_sightings;
DROP TABLE risk_card_sightings;
ALTER TABLE risk_card_sightings_rebuilt RENAME TO risk_card_sightings;

CREATE TABLE routing_outcomes_rebuilt (
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    livemode          INTEGER NOT NULL,
    segment           TEXT NOT NULL,
    connector_account TEXT NOT NULL,
    slot              INTEGER NOT NULL,
    -- Unix seconds at which the slot's current bucket began.
    bucket_start      INTEGER NOT NULL,
    authorized        INTEGER NOT NULL,
    declined          INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, livemode, segment, connector_account, slot)
) WITHOUT ROWID;
INSERT INTO routing_outcomes_rebuilt (merchant_id, livemode, segment, connector_account, slot, bucket_start, authorized, declined)
SELECT merchant_id, livemode, segment, connector_account, slot, bucket_start, authorized, declined FROM routing_outcomes;
DROP TABLE routing_outcomes;
ALTER TABLE routing_outcomes_rebuilt RENAME TO routing_outcomes;
