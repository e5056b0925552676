-- The live stream's order (docs/architecture.md, "Live stream"): each record
-- carries the number of the write transaction that stored it, from a
-- counter bumped inside that transaction. SQLite writes one transaction at a
-- time, so numbers grow in commit order and (commit_tx, id) is a cursor with
-- no gaps. A counter, not the largest number stored: a purge of the newest
-- records must not let numbers be given out again. The move from
-- `events_recent` keeps the column. Records written before this migration
-- have none and are never streamed.
ALTER TABLE events ADD COLUMN commit_tx INTEGER;
ALTER TABLE events_recent ADD COLUMN commit_tx INTEGER;
CREATE INDEX events_commit_order ON events (commit_tx, id) WHERE commit_tx IS NOT NULL;
CREATE INDEX events_recent_commit_order ON events_recent (commit_tx, id) WHERE commit_tx IS NOT NULL;

CREATE TABLE commit_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO commit_counter (id, n) VALUES (1, 0);
