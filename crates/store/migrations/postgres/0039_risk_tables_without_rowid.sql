-- Nothing to do on PostgreSQL (issue 18). On SQLite, 0039 rebuilds the
-- risk counter tables and the routing outcomes as WITHOUT ROWID tables,
-- each row one entry of its primary key's B-tree instead of a table row
-- plus an index entry. A PostgreSQL table is a heap beside its primary
-- key's index whatever its definition, so the same tables stay as 0005
-- and 0020 made them; this file keeps both backends' versions in step.
SELECT 1;
