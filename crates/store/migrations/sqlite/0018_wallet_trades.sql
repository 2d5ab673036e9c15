-- Wallet payments (issue 14): an intent waiting for Alipay or WeChat Pay
-- records when its trade expires, so the wallet worker finds the trades
-- due without reading every waiting intent (card intents left in
-- requires_action never carry it). NULL for every other intent: the
-- partial index holds only the waiting wallet payments.

ALTER TABLE payment_intents ADD COLUMN wallet_expires_at INTEGER;
CREATE INDEX payment_intents_wallet_due ON payment_intents (wallet_expires_at)
    WHERE wallet_expires_at IS NOT NULL;
