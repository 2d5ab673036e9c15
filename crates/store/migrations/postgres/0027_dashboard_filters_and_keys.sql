-- Dashboard users' TOTP secrets are sealed by the vault, as webhook signing
-- secrets are (issue 17): `kek_id` names the key-encrypting key that wraps
-- a user's secret (NULL while the user has none), so `vault rotate-key`
-- re-wraps them and `vault retire-key` counts them. Rows written before this
-- column learn it from the sealed record in their body.
ALTER TABLE dashboard_users ADD COLUMN kek_id TEXT;
UPDATE dashboard_users SET kek_id = body::jsonb -> 'totp' ->> 'kek_id'
    WHERE jsonb_typeof(body::jsonb -> 'totp') = 'object';
CREATE INDEX dashboard_users_by_kek ON dashboard_users (kek_id, seq);

-- The dashboard's payment filters (amount bounds, method, text) run in the
-- query rather than over the newest page: `amount` in minor units,
-- `method_types` as `,card,alipay,` (one type matches between commas), and
-- `search_text`, the lowercased description and receipt email. Rows
-- written before these columns learn them from their body.
ALTER TABLE payment_intents ADD COLUMN amount BIGINT;
ALTER TABLE payment_intents ADD COLUMN method_types TEXT;
ALTER TABLE payment_intents ADD COLUMN search_text TEXT;
UPDATE payment_intents SET
    amount = (body::jsonb ->> 'amount')::BIGINT,
    method_types = ',' || COALESCE((SELECT string_agg(value, ',')
        FROM jsonb_array_elements_text(body::jsonb -> 'payment_method_types') AS t(value)), '') || ',',
    search_text = lower(trim(COALESCE(body::jsonb ->> 'description', '') || ' '
        || COALESCE(body::jsonb ->> 'receipt_email', '')));
