-- The index's marker words (a payload field's mark and value word, the
-- client's address, the user agent's words) now start with U+E000, a
-- private-use character no record's words or search can hold, where they
-- started with `0`, which text could spell (a message holding `0uacurl`
-- was found by `ua:curl`); and words are cut and folded as both indexes
-- hold them (`ς` is `σ`, `ⓐ` is no letter): see src/storage/search.rs and
-- app/src/search.rs `words`. Every record stored before is indexed again
-- in the background, newest first, as `trail search reindex` does.
INSERT INTO search_backfill (id, after, through)
SELECT 1, '00000000-0000-0000-0000-000000000000', id FROM events ORDER BY id DESC LIMIT 1
ON CONFLICT (id) DO UPDATE SET after = excluded.after, through = excluded.through;
