-- Dashboard users' TOTP secrets are sealed by the vault, as webhook signing
-- secrets are (issue 17): `kek_id` names the key-encrypting key that wraps
-- a user's secret (NULL while the user has none), so `vault rotate-key`
-- re-wraps them and `vault retire-key` counts them. Rows written before this
-- column learn it from the sealed record in their body.
ALTER TABLE dashboard_users ADD COLUMN kek_id TEXT;
UPDATE dashboard_users SET kek_id = json_extract(body, '$.totp.kek_id')
    WHERE json_type(body, '$.totp') = 'object';
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
    amount = json_extract(body, '$.amount'),
    method_types = ',' || COALESCE((SELECT group_concat(value, ',')
        FROM json_each(body, '$.payment_method_types')), '') || ',',
    search_text = lower(trim(COALESCE(json_extract(body, '$.description'), '') || ' '
        || COALESCE(json_extract(body, '$.receipt_email'), '')));
