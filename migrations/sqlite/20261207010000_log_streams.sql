-- Log streams (src/log_streams): every record of a workspace (or all),
-- exported continuously to a directory of gzip NDJSON files or to an HTTP
-- endpoint as signed NDJSON batches. The cursor is a position in commit
-- order (migration commit_order): it moves only after a batch is written
-- whole (or acknowledged), so a restart resumes and a record is never skipped.
CREATE TABLE log_streams (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL: every workspace.
    workspace_id   INTEGER REFERENCES workspaces (id) ON DELETE CASCADE,
    destination    TEXT NOT NULL CHECK (destination IN ('directory', 'http')),
    -- A directory's path, or a URL.
    target         TEXT NOT NULL,
    -- HTTP: the batches' signing secret (`whsec_…`).
    secret         TEXT,
    cursor_tx      INTEGER NOT NULL DEFAULT 0,
    -- The nil UUID, as SQLite stores UUIDs (16 bytes).
    cursor_id      BLOB NOT NULL DEFAULT X'00000000000000000000000000000000',
    exported       INTEGER NOT NULL DEFAULT 0,
    last_export_at INTEGER,
    last_error     TEXT,
    created_at     INTEGER NOT NULL
);
