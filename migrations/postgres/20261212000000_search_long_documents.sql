-- From 256 words into a document, a payload field's one-word value gets
-- its value word too (src/storage/search.rs `POSITIONS_PER_WORD`):
-- PostgreSQL keeps a word's first 256 positions, so the phrase of the
-- field's mark and its value could be lost there. Every record stored
-- before is indexed again in the background, as `trail search reindex`
-- does; documents shorter than that come out the same.
INSERT INTO search_backfill (id, after, through)
SELECT 1, '00000000-0000-0000-0000-000000000000', id FROM events ORDER BY id DESC LIMIT 1
ON CONFLICT (id) DO UPDATE SET after = excluded.after, through = excluded.through;
