-- Trail schema (SQLite). Times are integer microseconds since the Unix epoch.

CREATE TABLE workspaces (
    id             INTEGER PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    retention_days INTEGER,
    created_at     INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT,
    role          TEXT NOT NULL CHECK (role IN ('founder', 'admin', 'provider', 'client')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE memberships (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    brand        TEXT,
    PRIMARY KEY (user_id, workspace_id)
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    -- NULL: the key spans workspaces and each record names its own.
    workspace_id INTEGER REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

-- One table for every record: audits, events and actions share one timeline.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,
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
    UNIQUE (workspace_id, event_id)
);

CREATE INDEX events_feed ON events (workspace_id, occurred_at, id);
CREATE INDEX events_time ON events (occurred_at, id);
CREATE INDEX events_errors ON events (workspace_id, occurred_at, id) WHERE severity >= 1;
CREATE INDEX events_entity ON events (workspace_id, entity_type, entity_id, occurred_at, id);
CREATE INDEX events_key ON events (workspace_id, key, occurred_at);
CREATE INDEX events_actor ON events (workspace_id, actor_id, occurred_at) WHERE actor_id IS NOT NULL;
CREATE INDEX events_correlation ON events (correlation_id) WHERE correlation_id IS NOT NULL;
