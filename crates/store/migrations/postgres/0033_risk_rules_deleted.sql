-- A merchant's risk rule may be deleted from the dashboard or the API
-- (issue 17): the row stays, marked, and the rules read for a payment
-- filter it out in the query, so deleted rules never take the places of
-- live ones under the rules' limit.
ALTER TABLE risk_rules ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE;
