-- A document now begins with the client's address and agent, a payload
-- field past the document's words of text still gets its mark and value
-- word, and a number is also written as JSON shows it (`10.0`): see
-- src/storage/search.rs `document`. Every record stored before is indexed
-- again in the background, as `trail search reindex` does.
INSERT INTO search_backfill (id, after, through)
SELECT 1, '00000000-0000-0000-0000-000000000000', id FROM events ORDER BY id DESC LIMIT 1
ON CONFLICT (id) DO UPDATE SET after = excluded.after, through = excluded.through;
