-- PostgreSQL only: the ledger's statements as two function calls there
-- (its writer pays a protocol round per statement). SQLite's writer runs
-- its statements in process and keeps them; nothing changes here.
SELECT 1;
