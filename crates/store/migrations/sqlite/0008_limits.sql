-- Limits the database enforces itself, so that no interleaving of requests
-- or instances can exceed them.

-- At most 16 live webhook endpoints per merchant and mode (Stripe's figure;
-- `portcullis_domain::webhooks::ENDPOINTS_MAX`). SQLite has one writer, so
-- the count cannot race the insert.
CREATE TRIGGER webhook_endpoints_max BEFORE INSERT ON webhook_endpoints
WHEN (SELECT COUNT(*) FROM webhook_endpoints
      WHERE merchant_id = NEW.merchant_id AND livemode = NEW.livemode AND deleted = 0) >= 16
BEGIN SELECT RAISE(ABORT, 'webhook_endpoints_max'); END;

-- Running `serve` instances and when each last said so: the rate limiter
-- divides its budgets by the number seen recently.
CREATE TABLE gateway_instances (
    id      TEXT PRIMARY KEY,
    seen_ms INTEGER NOT NULL
);
