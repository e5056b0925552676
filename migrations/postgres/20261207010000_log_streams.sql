-- Log streams (src/log_streams): every record of a workspace (or all),
-- exported continuously to a directory of gzip NDJSON files or to an HTTP
-- endpoint as signed NDJSON batches. The cursor is a position in commit
-- order (migration commit_order): it moves only after a batch is written
-- whole (or acknowledged), so a restart resumes and a record is never skipped.
CREATE TABLE log_streams (
    id             BIGSERIAL PRIMARY KEY,
    -- NULL: every workspace.
    workspace_id   BIGINT REFERENCES workspaces (id) ON DELETE CASCADE,
    destination    TEXT NOT NULL CHECK (destination IN ('directory', 'http')),
    -- A directory's path, or a URL.
    target         TEXT NOT NULL,
    -- HTTP: the batches' signing secret (`whsec_…`).
    secret         TEXT,
    cursor_tx      BIGINT NOT NULL DEFAULT 0,
    cursor_id      UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    exported       BIGINT NOT NULL DEFAULT 0,
    last_export_at BIGINT,
    last_error     TEXT,
    created_at     BIGINT NOT NULL
);
