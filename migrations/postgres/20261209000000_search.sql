-- The search index (src/storage/search.rs): each record's words as a
-- `tsvector`, written with the record (the server computes the document, so
-- both databases index the same words), under a GIN index on every
-- partition. A purged record's words go with its row or its partition.
ALTER TABLE events ADD COLUMN search tsvector;
CREATE INDEX events_search ON events USING gin (search);

-- Records stored before the index (or loaded behind the server's back,
-- `trail search reindex`) are indexed in the background, by id: every
-- record with an id after `after` may still need its document.
CREATE TABLE search_backfill (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    after UUID NOT NULL
);
INSERT INTO search_backfill (id, after) SELECT 1, '00000000-0000-0000-0000-000000000000' WHERE EXISTS (SELECT 1 FROM events);
