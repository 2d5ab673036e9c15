-- PaymentMethods have a type (issue 14): `card`, `alipay`, `wechat_pay`.
-- Every row stored before is a card's. Lists filter on it
-- (`GET /v1/customers/{id}/payment_methods?type=alipay`), beside the
-- customer whose index narrows them.
ALTER TABLE payment_methods ADD COLUMN method_type TEXT NOT NULL DEFAULT 'card';
