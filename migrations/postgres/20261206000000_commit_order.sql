-- The live stream's order (docs/architecture.md, "Live stream"): each record
-- carries the id of the transaction that wrote it. A reader delivers only
-- records of transactions older than every one of this database still
-- running (`records::stream_horizon`), so a transaction that commits later
-- can never land behind a position already delivered: (commit_tx, id) is a
-- cursor with no gaps, whatever order concurrent writers commit in. Records
-- written before this migration have none and are never streamed.
ALTER TABLE events ADD COLUMN commit_tx BIGINT;
ALTER TABLE events ALTER COLUMN commit_tx SET DEFAULT pg_current_xact_id()::text::bigint;
CREATE INDEX events_commit_order ON events (commit_tx, id) WHERE commit_tx IS NOT NULL;
