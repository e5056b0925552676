-- Webhook endpoints and their outbox (src/webhooks). A message is written in
-- the transaction that stores its record, so a crash between the commit and
-- the send loses nothing; senders claim due messages (one sender per message,
-- whichever server) and record every attempt's outcome on the message.
CREATE TABLE webhook_endpoints (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL: records of every workspace.
    workspace_id          INTEGER REFERENCES workspaces (id) ON DELETE CASCADE,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    format                TEXT NOT NULL CHECK (format IN ('trail', 'slack')),
    -- The records it receives, in the search syntax; NULL: none (alerts only).
    records               TEXT,
    -- Whether alert rules without endpoints of their own go to it.
    alerts                INTEGER NOT NULL DEFAULT 1,
    secret                TEXT NOT NULL,
    -- After a rotation the old secret signs too, until then.
    previous_secret       TEXT,
    previous_secret_until INTEGER,
    enabled               INTEGER NOT NULL DEFAULT 1,
    disabled_reason       TEXT,
    -- Since when every attempt failed (5 days of it disable the endpoint).
    failing_since         INTEGER,
    created_at            INTEGER NOT NULL
);

CREATE TABLE webhook_messages (
    -- `webhook-id`: the same on every attempt.
    id              TEXT PRIMARY KEY,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- A record's message is built from the record when sent; others carry their body.
    record_id       BLOB,
    body            TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('record', 'alert', 'test')),
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- A sender holds the message until then (a sender that died lets go).
    claimed_until   INTEGER,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    last_duration_ms INTEGER,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at);
