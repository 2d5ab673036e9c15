-- The writer's ledger statements as two function calls (issue 18): on
-- this server each statement is a protocol round the server runs and
-- answers on its own, and a batch's ledger cost 3 reads and 3 writes per
-- entry plus its balances. The functions run the very same statements, in
-- the same order, inside the caller's transaction, so every trigger of
-- 0004 fires and checks as before (each transaction follows the head, its
-- postings belong to it, the head moves only onto a balanced transaction)
-- and the rows written are the same. Linking (hashes, keys, floors) stays
-- in the gateway (`ledger::Chain`), between the two calls.

-- Locks the chain head, then reads the stored content of `keys` and the
-- balances of `accounts`. A PL/pgSQL function, not one statement: under
-- READ COMMITTED each of its statements takes a snapshot of its own when
-- it starts, so the reads see every append committed before the lock was
-- granted; the parts of one statement would share the snapshot taken
-- before the lock waited. Rows: (0, NULL, hash, sequence) for the head,
-- (1, key, content, NULL) per stored key, (2, account, currency,
-- balance_minor) per balance.
CREATE FUNCTION ledger_lock_head_and_read(keys TEXT[], accounts TEXT[])
RETURNS TABLE (part INTEGER, name TEXT, value TEXT, amount_minor BIGINT)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
        SELECT 0, NULL::TEXT, h.hash, h.sequence FROM ledger_head h WHERE h.id = 1 FOR UPDATE;
    RETURN QUERY
        SELECT 1, t.idempotency_key, t.content, NULL::BIGINT
        FROM ledger_transactions t WHERE t.idempotency_key = ANY (keys);
    RETURN QUERY
        SELECT 2, b.account, b.currency, b.balance_minor
        FROM ledger_balances b WHERE b.account = ANY (accounts);
END
$$;

-- Stores a batch linked in the gateway: per entry, in chain order, its
-- row, its postings (the next `entry_posting_counts[i]` of the posting
-- arrays, positions from 0) and the head moved onto it; then each
-- balance set to its final value. Any failure (a trigger's refusal, a
-- duplicate) aborts the caller's transaction, as the statements did.
CREATE FUNCTION ledger_store_batch(
    entry_sequences BIGINT[], entry_ids TEXT[], entry_keys TEXT[], entry_contents TEXT[],
    entry_hashes TEXT[], entry_previous_hashes TEXT[], entry_created BIGINT[],
    entry_posting_counts BIGINT[],
    posting_accounts TEXT[], posting_currencies TEXT[], posting_amounts BIGINT[],
    balance_accounts TEXT[], balance_currencies TEXT[], balance_amounts BIGINT[]
) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    first_posting INTEGER := 1;
    last_posting INTEGER;
BEGIN
    FOR i IN 1 .. coalesce(array_length(entry_sequences, 1), 0) LOOP
        INSERT INTO ledger_transactions
            (sequence, id, idempotency_key, content, hash, previous_hash, created)
        VALUES (entry_sequences[i], entry_ids[i], entry_keys[i], entry_contents[i],
                entry_hashes[i], entry_previous_hashes[i], entry_created[i]);
        last_posting := first_posting + entry_posting_counts[i]::INTEGER - 1;
        INSERT INTO ledger_postings
            (transaction_sequence, position, account, currency, amount_minor)
        SELECT entry_sequences[i], p.ordinality - 1, p.account, p.currency, p.amount_minor
        FROM unnest(posting_accounts[first_posting:last_posting],
                    posting_currencies[first_posting:last_posting],
                    posting_amounts[first_posting:last_posting])
             WITH ORDINALITY AS p (account, currency, amount_minor, ordinality);
        first_posting := last_posting + 1;
        UPDATE ledger_head SET sequence = entry_sequences[i], hash = entry_hashes[i] WHERE id = 1;
    END LOOP;
    INSERT INTO ledger_balances (account, currency, balance_minor)
    SELECT * FROM unnest(balance_accounts, balance_currencies, balance_amounts)
    ON CONFLICT (account, currency) DO UPDATE SET balance_minor = excluded.balance_minor;
END
$$;
