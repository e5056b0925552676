-- How long records are kept, per kind: the platform's default and each
-- workspace's overrides. `days` NULL means forever. Defaults: audit records
-- forever, events and actions 90 days. Age is measured on `received_at`.
CREATE TABLE retention_defaults (
    kind TEXT PRIMARY KEY CHECK (kind IN ('audit', 'event', 'action')),
    days BIGINT CHECK (days IS NULL OR days > 0)
);
INSERT INTO retention_defaults (kind, days) VALUES ('audit', NULL), ('event', 90), ('action', 90);

CREATE TABLE retention_overrides (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('audit', 'event', 'action')),
    days         BIGINT CHECK (days IS NULL OR days > 0),
    PRIMARY KEY (workspace_id, kind)
);
