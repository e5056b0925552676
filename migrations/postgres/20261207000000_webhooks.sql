-- Webhook endpoints and their outbox (src/webhooks). A message is written in
-- the transaction that stores its record, so a crash between the commit and
-- the send loses nothing; senders claim due messages (one sender per message,
-- whichever server) and record every attempt's outcome on the message.
CREATE TABLE webhook_endpoints (
    id                    BIGSERIAL PRIMARY KEY,
    -- NULL: records of every workspace.
    workspace_id          BIGINT REFERENCES workspaces (id) ON DELETE CASCADE,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    format                TEXT NOT NULL CHECK (format IN ('trail', 'slack')),
    -- The records it receives, in the search syntax; NULL: none (alerts only).
    records               TEXT,
    -- Whether alert rules without endpoints of their own go to it.
    alerts                BOOLEAN NOT NULL DEFAULT TRUE,
    secret                TEXT NOT NULL,
    -- After a rotation the old secret signs too, until then.
    previous_secret       TEXT,
    previous_secret_until BIGINT,
    enabled               BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason       TEXT,
    -- Since when every attempt failed (5 days of it disable the endpoint).
    failing_since         BIGINT,
    created_at            BIGINT NOT NULL
);

CREATE TABLE webhook_messages (
    -- `webhook-id`: the same on every attempt.
    id              TEXT PRIMARY KEY,
    endpoint_id     BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- A record's message is built from the record when sent; others carry their body.
    record_id       UUID,
    body            TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('record', 'alert', 'test')),
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- A sender holds the message until then (a sender that died lets go).
    claimed_until   BIGINT,
    last_attempt_at BIGINT,
    last_status     INTEGER,
    last_error      TEXT,
    last_duration_ms INTEGER,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at);
