-- The live stream's order (docs/architecture.md, "Live stream"): each record
-- carries the number of the write transaction that stored it, one more than
-- the largest before it. SQLite writes one transaction at a time, so numbers
-- grow in commit order and (commit_tx, id) is a cursor with no gaps. The
-- move from `events_recent` keeps it. Records written before this migration
-- have none and are never streamed.
ALTER TABLE events ADD COLUMN commit_tx INTEGER;
ALTER TABLE events_recent ADD COLUMN commit_tx INTEGER;
CREATE INDEX events_commit_order ON events (commit_tx, id) WHERE commit_tx IS NOT NULL;
CREATE INDEX events_recent_commit_order ON events_recent (commit_tx, id) WHERE commit_tx IS NOT NULL;
