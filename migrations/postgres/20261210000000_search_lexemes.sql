-- Documents and searches now reach PostgreSQL as the words Trail cut
-- (src/storage/search.rs), cast to `tsvector` and `tsquery`: its own
-- parser cut some words again (`3e8a1f` as `3e8 a1f`). Every record stored
-- before is indexed again in the background, as `trail search reindex`
-- asks; until then a search may miss such a word in older records.
INSERT INTO search_backfill (id, after, through)
SELECT 1, '00000000-0000-0000-0000-000000000000', id FROM events ORDER BY id DESC LIMIT 1
ON CONFLICT (id) DO UPDATE SET after = excluded.after, through = excluded.through;
