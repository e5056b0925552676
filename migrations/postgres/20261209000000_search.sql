-- The search index (src/storage/search.rs): each record's words as a
-- `tsvector`, written with the record (the server computes the document, so
-- both databases index the same words), under a GIN index on every
-- partition. A purged record's words go with its row or its partition.
ALTER TABLE events ADD COLUMN search tsvector;
CREATE INDEX events_search ON events USING gin (search);

-- Records stored before the index (or loaded behind the server's back,
-- `trail search reindex`) are indexed in the background, by id: the records
-- with an id after `after`, up to `through` (the newest when it was asked;
-- later ones were indexed as they came).
CREATE TABLE search_backfill (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    after   UUID NOT NULL,
    through UUID NOT NULL
);
INSERT INTO search_backfill (id, after, through)
SELECT 1, '00000000-0000-0000-0000-000000000000', id FROM events ORDER BY id DESC LIMIT 1;

-- The planner chooses between the search index (a rare word) and the time
-- order (a common one) by each word's frequency: with the default sample a
-- word in one record was taken for one in 0.5 % of them, and a search for it
-- walked every record by time (1 s at 1 M records; docs/performance.md).
ALTER TABLE events ALTER COLUMN search SET STATISTICS 1000;

-- New partitions get the same.
CREATE OR REPLACE FUNCTION trail_ensure_partition(p_kind TEXT, at_ms BIGINT) RETURNS event_partitions
LANGUAGE plpgsql AS $$
DECLARE
    span       BIGINT := trail_partition_span_ms(p_kind);
    span_start BIGINT := at_ms - (((at_ms % span) + span) % span);
    part       event_partitions;
BEGIN
    SELECT * INTO part FROM event_partitions WHERE kind = p_kind AND starts = span_start;
    IF FOUND THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(8390876161156055044); -- 0x7472_6169_6c00_0004: "trail" and 4
    SELECT * INTO part FROM event_partitions WHERE kind = p_kind AND starts = span_start;
    IF FOUND THEN
        RETURN part;
    END IF;
    part := ROW(p_kind, span_start, span_start + span,
                format('events_%s_%s', p_kind,
                       to_char(to_timestamp(span_start / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD')))::event_partitions;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part.name, 'events_' || p_kind);
    EXECUTE format('ALTER TABLE %I ALTER COLUMN search SET STATISTICS 1000', part.name);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   'events_' || p_kind, part.name, trail_uuid_at(part.starts), trail_uuid_at(part.ends));
    INSERT INTO event_partitions (kind, starts, ends, name) VALUES (part.kind, part.starts, part.ends, part.name);
    RETURN part;
END
$$;
