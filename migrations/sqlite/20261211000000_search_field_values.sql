-- Documents now hold a word for each payload field's value (a hash of path
-- and value, src/storage/search.rs), so `payload.x:value` is one word. Every
-- record stored before is indexed again in the background, as `trail search
-- reindex` asks; until then a field equality may miss older records.
INSERT OR REPLACE INTO search_backfill (id, below)
SELECT 1, MAX(seq) + 1
FROM (SELECT MAX(seq) AS seq FROM events UNION ALL SELECT MAX(seq) FROM events_recent)
HAVING MAX(seq) > 0;
