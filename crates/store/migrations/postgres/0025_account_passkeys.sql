-- Passkeys of customer accounts (issue 15). account_passkeys: one WebAuthn
-- credential each (`cpk_…`), found by its credential id (unique: an
-- authenticator's id names one credential) or its account; `deleted` hides
-- a removed one from lists and sign-in. The body keeps the public key and
-- signature counter as webauthn-rs serialises them, never a private key.
-- account_passkey_challenges: one ceremony each (`pkch_…`: registration,
-- sign-in or step-up), its server state and expiry in the body; spent once
-- (the version check of its update).

CREATE TABLE account_passkeys (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    livemode      BOOLEAN NOT NULL,
    created       BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    account       TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    body          TEXT NOT NULL
);
CREATE INDEX account_passkeys_by_scope ON account_passkeys (merchant_id, livemode, seq);
CREATE INDEX account_passkeys_by_account ON account_passkeys (account, deleted, seq);

CREATE TABLE account_passkey_challenges (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    livemode    BOOLEAN NOT NULL,
    created     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    purpose     TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX account_passkey_challenges_by_scope ON account_passkey_challenges (merchant_id, livemode, seq);
