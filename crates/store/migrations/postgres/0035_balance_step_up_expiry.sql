-- Step-up of balance payments (issue 15 item 4): an intent waiting for its
-- holder's step-up records when the wait ends, so the expiry worker finds
-- the intents due without reading every waiting intent. NULL for every
-- other intent: the partial index holds only the waiting balance payments.

ALTER TABLE payment_intents ADD COLUMN step_up_expires_at BIGINT;
CREATE INDEX payment_intents_step_up_due ON payment_intents (step_up_expires_at)
    WHERE step_up_expires_at IS NOT NULL;
