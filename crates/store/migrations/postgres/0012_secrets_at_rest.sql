-- Check values of server secrets that live outside the database (issue 12
-- item 14). The first process to use the database records, per secret, an
-- HMAC of a fixed label under it (never the secret itself); every later
-- process compares its own, so a gateway started with another key-hash
-- secret is refused at start-up instead of answering 401 to every key.
CREATE TABLE secret_checks (
    name        TEXT PRIMARY KEY,
    check_value TEXT NOT NULL,
    created     BIGINT NOT NULL
);

-- Webhook signing secrets are sealed by the vault (issue 12 item 12), as
-- connector accounts' credentials are: `kek_id` names the key-encrypting
-- key that wraps them, so key rotation finds them. NULL marks a row still
-- in the clear, which `serve` seals at start-up. (An ALTER: the secrets
-- stay in the endpoint's own row.)
ALTER TABLE webhook_endpoints ADD COLUMN kek_id TEXT;
CREATE INDEX webhook_endpoints_by_kek ON webhook_endpoints (kek_id, seq);
