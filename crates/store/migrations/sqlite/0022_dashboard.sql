-- The merchant dashboard (issue 17): its users, their sessions and the
-- record of every action they take.
-- dashboard_users: one per person and merchant; `email_key` (the lowercase
-- address) is unique across merchants, so sign-in needs only the address.
-- `activation_hash` is the keyed digest of the one-time activation token
-- (NULL once used). dashboard_sessions keep only keyed digests of the
-- cookie's token. dashboard_events is append-only: triggers refuse changes.

CREATE TABLE dashboard_users (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    email_key   TEXT NOT NULL,
    activation_hash TEXT,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX dashboard_users_by_scope ON dashboard_users (merchant_id, livemode, seq);
CREATE UNIQUE INDEX dashboard_users_by_email ON dashboard_users (email_key);
CREATE UNIQUE INDEX dashboard_users_by_activation ON dashboard_users (activation_hash);

CREATE TABLE dashboard_sessions (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    dashboard_user TEXT NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL
);
CREATE INDEX dashboard_sessions_by_scope ON dashboard_sessions (merchant_id, livemode, seq);
CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (dashboard_user, revoked, seq);

CREATE TABLE dashboard_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    dashboard_user TEXT,
    action      TEXT NOT NULL,
    object      TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX dashboard_events_by_scope ON dashboard_events (merchant_id, livemode, seq);
CREATE INDEX dashboard_events_by_user ON dashboard_events (merchant_id, livemode, dashboard_user, seq);
CREATE INDEX dashboard_events_by_object ON dashboard_events (merchant_id, livemode, object, seq);
CREATE TRIGGER dashboard_events_no_update BEFORE UPDATE ON dashboard_events
BEGIN SELECT RAISE(ABORT, 'dashboard_events is append-only'); END;
CREATE TRIGGER dashboard_events_no_delete BEFORE DELETE ON dashboard_events
BEGIN SELECT RAISE(ABORT, 'dashboard_events is append-only'); END;
