-- Documents now hold a word for each payload field's value of more than one
-- word (a hash of path and value, src/storage/search.rs), so
-- `payload.x:bob@example.com` is one word. Every record stored before is
-- indexed again in the background, as `trail search reindex` asks; until
-- then a field equality may miss older records.
INSERT OR REPLACE INTO search_backfill (id, below)
SELECT 1, MAX(seq) + 1
FROM (SELECT MAX(seq) AS seq FROM events UNION ALL SELECT MAX(seq) FROM events_recent)
HAVING MAX(seq) > 0;

-- FTS5 merges 16 segments of a level into one, not 4: each word's entries
-- are rewritten half as often as the index grows (a third less time
-- indexing a batch, docs/performance.md), for more segments to look in.
INSERT INTO events_search (events_search, rank) VALUES ('automerge', 16);
