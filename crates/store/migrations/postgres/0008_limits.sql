-- Limits the database enforces itself, so that no interleaving of requests
-- or instances can exceed them.

-- At most 16 live webhook endpoints per merchant and mode (Stripe's figure;
-- `portcullis_domain::webhooks::ENDPOINTS_MAX`). Inserts into one scope
-- take a transaction-scoped advisory lock first, so two instances cannot
-- both count 15 and both insert; under READ COMMITTED the count after the
-- lock sees every endpoint committed before it.
CREATE FUNCTION webhook_endpoints_max() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(
        hashtextextended('webhook_endpoints:' || NEW.merchant_id || ':' || NEW.livemode::text, 0));
    IF (SELECT COUNT(*) FROM webhook_endpoints
        WHERE merchant_id = NEW.merchant_id AND livemode = NEW.livemode AND NOT deleted) >= 16 THEN
        RAISE EXCEPTION 'webhook_endpoints_max' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER webhook_endpoints_max BEFORE INSERT ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION webhook_endpoints_max();

-- Running `serve` instances and when each last said so: the rate limiter
-- divides its budgets by the number seen recently.
CREATE TABLE gateway_instances (
    id      TEXT PRIMARY KEY,
    seen_ms BIGINT NOT NULL
);
