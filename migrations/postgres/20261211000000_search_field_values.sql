-- Documents now hold a word for each payload field's value that is not one
-- word as the index writes it (a hash of path and value,
-- src/storage/search.rs), so `payload.x:bob@example.com` is one word; and
-- stop at 16,383 words. Every record stored before is indexed again in the
-- background (the statement `trail search reindex` runs,
-- src/storage/{sqlite,postgres}.rs `reindex`); until then a field equality
-- may miss older records.
INSERT INTO search_backfill (id, after, through)
SELECT 1, '00000000-0000-0000-0000-000000000000', id FROM events ORDER BY id DESC LIMIT 1
ON CONFLICT (id) DO UPDATE SET after = excluded.after, through = excluded.through;
