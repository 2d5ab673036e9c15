-- Connector accounts (`ca_…`): a merchant's credentials at an institution
-- (Alipay, WeChat Pay; later acquirers and processors). The body holds the
-- account and its secret credentials sealed by the vault (never in clear);
-- `kek_id` names the key-encrypting key that wraps them (NULL once the
-- account is deleted and its credentials erased), so key rotation finds
-- them as it finds cards.

CREATE TABLE connector_accounts (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    livemode       INTEGER NOT NULL,
    created        INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    connector_type TEXT,
    kek_id         TEXT,
    deleted        INTEGER NOT NULL DEFAULT 0,
    body           TEXT NOT NULL
);
CREATE INDEX connector_accounts_by_scope ON connector_accounts (merchant_id, livemode, seq);
CREATE INDEX connector_accounts_by_kek ON connector_accounts (kek_id, seq);
