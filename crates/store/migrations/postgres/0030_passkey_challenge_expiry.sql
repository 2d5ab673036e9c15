-- Expired passkey ceremonies are deleted by the sweeper
-- (`accounts::passkeys::sweeper`), which finds them by their start time.

CREATE INDEX account_passkey_challenges_by_created ON account_passkey_challenges (created);
