-- Index entries no statement reads, no longer written (issue 18). Each
-- is a B-tree page a payment's commit writes for nothing.
--
-- 1. ledger_postings_by_account goes. Postings are read only by their
--    transaction (`sql::ledger::postings_between`, the chain head's
--    trigger: the primary key) and counted (`ledger verify`); balances
--    are `ledger_balances`, kept by the append itself. No statement
--    names a posting's account, so the three entries a payment wrote
--    were never read.
-- 2. The customer indexes of payment_intents, payment_methods and
--    charges hold only rows that have a customer. Their readers filter
--    `customer = ?` (a customer's list), which no NULL row can satisfy,
--    and both backends use a partial index for it (`query_plans` checks
--    each). A payment without a customer — most payments — wrote three
--    entries under NULL that nothing read. A search for `customer:null`
--    walks the scope's index, as it already did.
DROP INDEX ledger_postings_by_account;

DROP INDEX payment_intents_by_customer;
CREATE INDEX payment_intents_by_customer ON payment_intents (merchant_id, customer, seq)
    WHERE customer IS NOT NULL;
DROP INDEX payment_methods_by_customer;
CREATE INDEX payment_methods_by_customer ON payment_methods (merchant_id, customer, seq)
    WHERE customer IS NOT NULL;
DROP INDEX charges_by_customer;
CREATE INDEX charges_by_customer ON charges (merchant_id, customer, seq)
    WHERE customer IS NOT NULL;

-- 3. risk_evaluations_by_payment_intent comes back. 0011 dropped it as
--    unread, but the dashboard's payment page lists an intent's
--    evaluations by `payment_intent`; without the index that list walks
--    every evaluation of the merchant's mode (a growth defect, found
--    when checking what 0038 could drop). One entry per evaluation.
CREATE INDEX risk_evaluations_by_payment_intent ON risk_evaluations (merchant_id, payment_intent, seq);
