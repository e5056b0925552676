-- The search index (src/storage/search.rs): one document of words per
-- record in an FTS5 table, its rowid the record's `seq`, written in the
-- record's transaction. Contentless (the words are not stored twice) with
-- deletes, so a purged record's words go with it (the triggers below).
--
-- A record keeps its `seq` when it moves from `events_recent` into `events`,
-- so its document needs no move: `events_recent` now numbers with
-- AUTOINCREMENT, past every `seq` of `events`, and the move copies `seq`.
CREATE TABLE events_recent_numbered (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             BLOB NOT NULL UNIQUE,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces (id),
    event_id       TEXT,
    brand          TEXT,
    kind           TEXT NOT NULL,
    key            TEXT NOT NULL,
    message        TEXT,
    context        TEXT,
    entity_type    TEXT,
    entity_id      TEXT,
    actor_type     TEXT NOT NULL,
    actor_id       TEXT,
    actor_email    TEXT,
    actor_name     TEXT,
    actor_label    TEXT,
    ip             TEXT,
    user_agent     TEXT,
    visibility     TEXT NOT NULL,
    severity       INTEGER NOT NULL,
    status         TEXT,
    duration_ms    INTEGER,
    provider       TEXT,
    error_message  TEXT,
    error_stack    TEXT,
    correlation_id TEXT,
    payload        TEXT,
    diff           TEXT,
    occurred_at    INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    commit_tx      INTEGER,
    UNIQUE (workspace_id, event_id)
);
-- Staged records move first, so none keeps a number `events` already has.
INSERT INTO events (id, workspace_id, event_id, brand, kind, key, message, context, entity_type, entity_id, actor_type, actor_id, actor_email, actor_name, actor_label, ip, user_agent, visibility, severity, status, duration_ms, provider, error_message, error_stack, correlation_id, payload, diff, occurred_at, received_at, commit_tx)
SELECT id, workspace_id, event_id, brand, kind, key, message, context, entity_type, entity_id, actor_type, actor_id, actor_email, actor_name, actor_label, ip, user_agent, visibility, severity, status, duration_ms, provider, error_message, error_stack, correlation_id, payload, diff, occurred_at, received_at, commit_tx
FROM events_recent ORDER BY seq;
DROP TABLE events_recent;
ALTER TABLE events_recent_numbered RENAME TO events_recent;
CREATE INDEX events_recent_feed ON events_recent (workspace_id, occurred_at, id);
CREATE INDEX events_recent_time ON events_recent (occurred_at, id);
CREATE INDEX events_recent_errors ON events_recent (workspace_id, occurred_at, id) WHERE severity >= 1;
CREATE INDEX events_recent_key ON events_recent (workspace_id, key, occurred_at);
CREATE INDEX events_recent_correlation ON events_recent (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_recent_entity ON events_recent (entity_type, entity_id, occurred_at, id);
CREATE INDEX events_recent_actor ON events_recent (actor_id, occurred_at, id) WHERE actor_id IS NOT NULL;
CREATE INDEX events_recent_workspace_actor ON events_recent (workspace_id, actor_id, occurred_at, id) WHERE actor_id IS NOT NULL;
CREATE INDEX events_recent_commit_order ON events_recent (commit_tx, id) WHERE commit_tx IS NOT NULL;
INSERT INTO sqlite_sequence (name, seq) VALUES ('events_recent', (SELECT COALESCE(MAX(seq), 0) FROM events));

CREATE VIRTUAL TABLE events_search USING fts5 (
    doc,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);

-- A purged record leaves no words behind. Leaving `events_recent` for
-- `events` (same `seq`) is not leaving.
CREATE TRIGGER events_unsearchable AFTER DELETE ON events BEGIN
    DELETE FROM events_search WHERE rowid = old.seq;
END;
CREATE TRIGGER events_recent_unsearchable AFTER DELETE ON events_recent
WHEN NOT EXISTS (SELECT 1 FROM events WHERE seq = old.seq) BEGIN
    DELETE FROM events_search WHERE rowid = old.seq;
END;

-- Records stored before the index (or loaded behind the server's back,
-- `trail search reindex`) are indexed in the background, newest first:
-- every record with `seq` below `below` still needs its document.
CREATE TABLE search_backfill (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    below INTEGER NOT NULL
);
INSERT INTO search_backfill (id, below) SELECT 1, MAX(seq) + 1 FROM events HAVING COUNT(*) > 0;
