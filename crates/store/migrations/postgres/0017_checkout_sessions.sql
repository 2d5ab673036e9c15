-- Checkout Sessions (`cs_…`, issue 17): a hosted payment page's order.
-- The body holds the session (line items, redirect URLs, totals); the
-- columns serve the list filters and the expiry worker, which scans open
-- sessions whose `expires_at` has passed.

CREATE TABLE checkout_sessions (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    livemode       BOOLEAN NOT NULL,
    created        BIGINT NOT NULL,
    version        BIGINT NOT NULL,
    status         TEXT,
    expires_at     BIGINT,
    payment_intent TEXT,
    customer       TEXT,
    body           TEXT NOT NULL
);
CREATE INDEX checkout_sessions_by_scope ON checkout_sessions (merchant_id, livemode, seq);
CREATE INDEX checkout_sessions_due ON checkout_sessions (status, expires_at);
CREATE INDEX checkout_sessions_by_payment_intent ON checkout_sessions (payment_intent);

-- The gateway's client-side-encryption keys (RSA-2048, for JWE
-- RSA-OAEP-256): one per key-encrypting key of the vault, so the published
-- key rotates with the vault's keys. The private key is stored only sealed
-- by the vault under `kek_id` (hex columns, never in clear).
CREATE TABLE checkout_encryption_keys (
    kid         TEXT PRIMARY KEY,
    kek_id      TEXT NOT NULL UNIQUE,
    created     BIGINT NOT NULL,
    wrapped_dek TEXT NOT NULL,
    ciphertext  TEXT NOT NULL
);
