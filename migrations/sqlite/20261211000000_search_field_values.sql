-- Documents now hold a word for each payload field's value that is not one
-- word as the index writes it (a hash of path and value,
-- src/storage/search.rs), so `payload.x:bob@example.com` is one word; and
-- stop at 16,383 words. Every record stored before is indexed again in the
-- background (the statement `trail search reindex` runs,
-- src/storage/{sqlite,postgres}.rs `reindex`); until then a field equality
-- may miss older records.
INSERT OR REPLACE INTO search_backfill (id, below)
SELECT 1, MAX(seq) + 1
FROM (SELECT MAX(seq) AS seq FROM events UNION ALL SELECT MAX(seq) FROM events_recent)
HAVING MAX(seq) > 0;
