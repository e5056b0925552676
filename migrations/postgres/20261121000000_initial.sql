-- Trail schema (PostgreSQL). Times are integer microseconds since the Unix
-- epoch, as on SQLite, so both backends share one query path.

CREATE TABLE workspaces (
    id             BIGSERIAL PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    retention_days INTEGER,
    created_at     BIGINT NOT NULL
);

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT,
    role          TEXT NOT NULL CHECK (role IN ('founder', 'admin', 'provider', 'client')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE memberships (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    brand        TEXT,
    PRIMARY KEY (user_id, workspace_id)
);

CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    -- NULL: the key spans workspaces and each record names its own.
    workspace_id BIGINT REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- One table for every record: audits, events and actions share one timeline.
-- Text that is filtered by prefix uses the "C" collation so ranges are bytewise.
CREATE TABLE events (
    id             UUID PRIMARY KEY,
    workspace_id   BIGINT NOT NULL REFERENCES workspaces (id),
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
    UNIQUE (workspace_id, event_id)
);

CREATE INDEX events_feed ON events (workspace_id, occurred_at, id);
CREATE INDEX events_time ON events (occurred_at, id);
CREATE INDEX events_errors ON events (workspace_id, occurred_at, id) WHERE severity >= 1;
CREATE INDEX events_entity ON events (workspace_id, entity_type, entity_id, occurred_at, id);
CREATE INDEX events_key ON events (workspace_id, key, occurred_at);
CREATE INDEX events_actor ON events (workspace_id, actor_id, occurred_at) WHERE actor_id IS NOT NULL;
CREATE INDEX events_correlation ON events (correlation_id) WHERE correlation_id IS NOT NULL;
