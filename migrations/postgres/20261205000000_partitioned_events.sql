-- `events` becomes partitioned, so that retention drops a whole expired
-- partition instead of deleting its rows (docs/operations.md › Retention):
-- first by kind (audits are kept forever by default, events and actions 90
-- days, so they expire apart), then by ranges of `id`. An id is a UUIDv7
-- minted as the record is received, so a range of ids is a range of receive
-- times (give or take the moment between minting and reading the clock),
-- and a lookup by id finds its partition.
--
-- Spans: 28 days for events and actions, 364 for audits (kept longest).
-- Few partitions: a query that cannot prune (the feed orders by
-- occurred_at) plans and locks every partition and its indexes, and the
-- locks of all sessions share one table (max_locks_per_transaction).
CREATE FUNCTION trail_partition_span_ms(kind TEXT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind WHEN 'audit' THEN 364 ELSE 28 END * 86400000::BIGINT
$$;

-- The lowest UUIDv7 of a millisecond (compared bytewise, as PostgreSQL does).
CREATE FUNCTION trail_uuid_at(ms BIGINT) RETURNS UUID
LANGUAGE sql IMMUTABLE AS $$
    SELECT (lpad(to_hex(ms), 12, '0') || '00000000000000000000')::uuid
$$;

-- The millisecond a UUIDv7 was minted in.
CREATE FUNCTION trail_uuid_ms(id UUID) RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('x' || lpad(substr(replace(id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::BIGINT
$$;

-- Every partition of a kind's records: ids minted in [starts, ends) ms.
CREATE TABLE event_partitions (
    kind   TEXT NOT NULL CHECK (kind IN ('audit', 'event', 'action')),
    starts BIGINT NOT NULL,
    ends   BIGINT NOT NULL,
    name   TEXT NOT NULL UNIQUE,
    PRIMARY KEY (kind, starts)
);

-- The partition of `kind` that holds ids minted at `at_ms`, made if missing:
-- a table attached to the kind's parent (ATTACH takes a lock that lets reads
-- and writes of the other partitions go on; CREATE … PARTITION OF would
-- stop them). Several servers take turns (a transaction lock).
CREATE FUNCTION trail_ensure_partition(p_kind TEXT, at_ms BIGINT) RETURNS event_partitions
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
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   'events_' || p_kind, part.name, trail_uuid_at(part.starts), trail_uuid_at(part.ends));
    INSERT INTO event_partitions (kind, starts, ends, name) VALUES (part.kind, part.starts, part.ends, part.name);
    RETURN part;
END
$$;

-- `event_id` is unique per workspace across every partition: a unique index
-- of a partitioned table must hold the partition key, so the producers' ids
-- live in a table of their own, claimed in the record's own statement.
CREATE TABLE event_ids (
    workspace_id BIGINT NOT NULL,
    event_id     TEXT NOT NULL,
    record_id    UUID NOT NULL,
    PRIMARY KEY (workspace_id, event_id)
);

CREATE TABLE events_partitioned (
    id             UUID NOT NULL,
    workspace_id   BIGINT NOT NULL,
    event_id       TEXT,
    brand          TEXT,
    kind           TEXT NOT NULL,
    key            TEXT COLLATE "C" NOT NULL,
    message        TEXT,
    context        TEXT,
    entity_type    TEXT COLLATE "C",
    entity_id      TEXT COLLATE "C",
    actor_type     TEXT NOT NULL,
    actor_id       TEXT COLLATE "C",
    actor_email    TEXT,
    actor_name     TEXT,
    actor_label    TEXT,
    ip             TEXT,
    user_agent     TEXT,
    visibility     TEXT NOT NULL,
    severity       SMALLINT NOT NULL,
    status         TEXT,
    duration_ms    BIGINT,
    provider       TEXT,
    error_message  TEXT,
    error_stack    TEXT,
    correlation_id TEXT COLLATE "C",
    payload        JSONB,
    diff           JSONB,
    occurred_at    BIGINT NOT NULL,
    received_at    BIGINT NOT NULL,
    PRIMARY KEY (id, kind)
) PARTITION BY LIST (kind);
CREATE TABLE events_audit PARTITION OF events_partitioned FOR VALUES IN ('audit') PARTITION BY RANGE (id);
CREATE TABLE events_event PARTITION OF events_partitioned FOR VALUES IN ('event') PARTITION BY RANGE (id);
CREATE TABLE events_action PARTITION OF events_partitioned FOR VALUES IN ('action') PARTITION BY RANGE (id);

-- The records stored so far, in partitions made for them.
SELECT trail_ensure_partition(kind, ms)
FROM (SELECT DISTINCT kind, trail_uuid_ms(id) / 86400000 * 86400000 AS ms FROM events) AS spans;
INSERT INTO events_partitioned SELECT * FROM events;
INSERT INTO event_ids SELECT workspace_id, event_id, id FROM events WHERE event_id IS NOT NULL;
DROP TABLE events;
ALTER TABLE events_partitioned RENAME TO events;
ALTER INDEX events_partitioned_pkey RENAME TO events_pkey;
-- After the copy: one check per partition instead of one queued per row.
ALTER TABLE events ADD CONSTRAINT events_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id);

-- The indexes of before, on every partition.
CREATE INDEX events_feed ON events (workspace_id, occurred_at, id);
CREATE INDEX events_time ON events (occurred_at, id);
CREATE INDEX events_errors ON events (workspace_id, occurred_at, id) WHERE severity >= 1;
CREATE INDEX events_entity ON events (entity_type, entity_id, occurred_at, id);
CREATE INDEX events_key ON events (workspace_id, key, occurred_at);
CREATE INDEX events_actor ON events (actor_id, occurred_at, id) WHERE actor_id IS NOT NULL;
CREATE INDEX events_workspace_actor ON events (workspace_id, actor_id, occurred_at, id) WHERE actor_id IS NOT NULL;
CREATE INDEX events_correlation ON events (correlation_id) WHERE correlation_id IS NOT NULL;

-- The current ones, so the first records need not wait for one.
SELECT trail_ensure_partition(kind, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT)
FROM (VALUES ('audit'), ('event'), ('action')) AS k (kind);
ANALYZE events;
