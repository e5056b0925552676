-- From 256 words into a document, a payload field's one-word value gets
-- its value word too (src/storage/search.rs `POSITIONS_PER_WORD`), which
-- PostgreSQL needs and SQLite holds alike (both databases hold the same
-- words). Every record stored before is indexed again in the background,
-- as `trail search reindex` does; documents shorter than that come out the
-- same.
INSERT OR REPLACE INTO search_backfill (id, below)
SELECT 1, MAX(seq) + 1
FROM (SELECT MAX(seq) AS seq FROM events UNION ALL SELECT MAX(seq) FROM events_recent)
HAVING MAX(seq) > 0;
