-- The merchant dashboard (issue 17): its users, their sessions and the
-- record of every action they take.
-- dashboard_users: one per person and merchant; `email_key` (the lowercase
-- address) is unique across merchants, so sign-in needs only the address.
-- `activation_hash` is the keyed digest of the one-time activation token
-- (NULL once used). dashboard_sessions keep only keyed digests of the
-- cookie's token. dashboard_events is append-only: triggers refuse changes.

CREATE TABLE dashboard_users (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    email_key   TEXT NOT NULL,
    activation_hash TEXT,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX dashboard_users_by_scope ON dashboard_users (merchant_id, livemode, seq);
CREATE UNIQUE INDEX dashboard_users_by_email ON dashboard_users (email_key);
CREATE UNIQUE INDEX dashboard_users_by_activation ON dashboard_users (activation_hash);

CREATE TABLE dashboard_sessions (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    dashboard_user TEXT NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE,
    body        TEXT NOT NULL
);
CREATE INDEX dashboard_sessions_by_scope ON dashboard_sessions (merchant_id, livemode, seq);
CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (dashboard_user, revoked, seq);

CREATE TABLE dashboard_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    dashboard_user TEXT,
    action      TEXT NOT NULL,
    object      TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX dashboard_events_by_scope ON dashboard_events (merchant_id, livemode, seq);
CREATE INDEX dashboard_events_by_user ON dashboard_events (merchant_id, livemode, dashboard_user, seq);
CREATE INDEX dashboard_events_by_object ON dashboard_events (merchant_id, livemode, object, seq);
CREATE FUNCTION dashboard_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dashboard_events is append-only';
END;
$$;
CREATE TRIGGER dashboard_events_no_change BEFORE UPDATE OR DELETE ON dashboard_events
    FOR EACH ROW EXECUTE FUNCTION dashboard_events_refuse_change();
CREATE TRIGGER dashboard_events_no_truncate BEFORE TRUNCATE ON dashboard_events
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_events_refuse_change();
