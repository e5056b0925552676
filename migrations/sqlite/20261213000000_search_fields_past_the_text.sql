-- A document now begins with the client's address and agent, a payload
-- field past the document's words of text still gets its mark and value
-- word, and a number is also written as JSON shows it (`10.0`): see
-- src/storage/search.rs `document`. Every record stored before is indexed
-- again in the background, as `trail search reindex` does.
INSERT OR REPLACE INTO search_backfill (id, below)
SELECT 1, MAX(seq) + 1
FROM (SELECT MAX(seq) AS seq FROM events UNION ALL SELECT MAX(seq) FROM events_recent)
HAVING MAX(seq) > 0;
