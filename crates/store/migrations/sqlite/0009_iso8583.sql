-- ISO 8583: terminals (POS / IoT) and what they sent, and the connector's
-- pending reversals.
--
-- `terminals`: one row per registered terminal; `id` is its 8-character
-- terminal id (DE 41), unique across merchants. The body holds the
-- terminal and its MAC key sealed by the vault (never in clear); `kek_id`
-- names the key-encrypting key that wraps it, so key rotation finds it as
-- it finds cards.
--
-- `terminal_transactions`: one row per 0100/0200 a terminal sent and the
-- gateway answered, keyed by a digest of (terminal, STAN, DE 7), so a
-- repeated message answers the first answer again on any instance, after
-- any restart; `original_key` finds it again by terminal, STAN and date
-- for a 0400 without DE 90.

CREATE TABLE terminals (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    merchant_id      TEXT NOT NULL REFERENCES merchants (id),
    livemode         INTEGER NOT NULL,
    created          INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    card_acceptor_id TEXT NOT NULL,
    kek_id           TEXT,
    revoked          INTEGER NOT NULL DEFAULT 0,
    body             TEXT NOT NULL
);
CREATE INDEX terminals_by_scope ON terminals (merchant_id, livemode, seq);
CREATE INDEX terminals_by_kek ON terminals (kek_id, seq);

CREATE TABLE terminal_transactions (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    livemode       INTEGER NOT NULL,
    created        INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    terminal_id    TEXT NOT NULL,
    original_key   TEXT NOT NULL,
    payment_intent TEXT,
    body           TEXT NOT NULL
);
CREATE INDEX terminal_transactions_by_scope ON terminal_transactions (merchant_id, livemode, seq);
CREATE INDEX terminal_transactions_by_original ON terminal_transactions (original_key, seq);

-- Pending reversals of the ISO 8583 connector, so that any instance
-- resumes them: an original is recorded (`sent`) before it is sent and
-- stays until it is declined or reversed; `reversing` once its answer
-- never came and a 0400 is being retried. Recovery of an authorization
-- whose outcome was never committed reverses a `sent` one too.
CREATE TABLE iso8583_reversals (
    attempt_id TEXT PRIMARY KEY,
    connector  TEXT NOT NULL,
    reference  TEXT NOT NULL,
    state      TEXT NOT NULL,
    created    INTEGER NOT NULL
);
CREATE INDEX iso8583_reversals_by_state ON iso8583_reversals (connector, state, created);
