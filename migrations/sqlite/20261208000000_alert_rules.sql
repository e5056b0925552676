-- Alert rules (src/alerts): a search over the records, and a condition on
-- what it finds (each match, a count, an error rate, a duration per
-- provider, an absence) over a sliding window. One evaluator at a time reads
-- each rule's new matches after its cursor in commit order (like a log
-- stream), folds them into the rule's own roll-up (alert_buckets), and
-- decides from the roll-up and the rule's state whether it fires or resolves.
CREATE TABLE alert_rules (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL,
    -- NULL: every workspace.
    workspace_id     INTEGER REFERENCES workspaces (id) ON DELETE CASCADE,
    -- The search syntax; empty: every record.
    query            TEXT NOT NULL,
    condition        TEXT NOT NULL
        CHECK (condition IN ('match', 'count', 'error_rate', 'avg_duration', 'p95_duration', 'absent')),
    -- count: records; error_rate: percent; durations: milliseconds.
    threshold        REAL,
    -- error_rate: the fewest records in the window it is judged on.
    min_records      INTEGER NOT NULL DEFAULT 0,
    window_seconds   INTEGER NOT NULL,
    cooldown_seconds INTEGER NOT NULL,
    cursor_tx        INTEGER NOT NULL,
    -- The nil UUID, as SQLite stores UUIDs (16 bytes).
    cursor_id        BLOB NOT NULL DEFAULT X'00000000000000000000000000000000',
    created_at       INTEGER NOT NULL
);

-- The endpoints a rule's alerts go to; none: every enabled endpoint that takes alerts.
-- An endpoint that rules name cannot be removed (no cascade): the rule would
-- silently send to every endpoint instead.
CREATE TABLE alert_rule_endpoints (
    rule_id     INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints (id),
    PRIMARY KEY (rule_id, endpoint_id)
);

-- Whether a rule fires, per group (a provider for durations; '' otherwise).
CREATE TABLE alert_states (
    rule_id       INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    grp           TEXT NOT NULL,
    firing        INTEGER NOT NULL DEFAULT 0,
    -- When it last fired or resolved.
    changed_at    INTEGER,
    last_match_at INTEGER,
    -- Matching records since it last changed.
    matches       INTEGER NOT NULL DEFAULT 0,
    last_record   BLOB,
    PRIMARY KEY (rule_id, grp)
);

-- Each rule's roll-up: matching records per group and time slot (a sixtieth
-- of the rule's window, a second at least, by occurred_at), with errors and
-- a duration histogram (d00..d11, the bounds of rollup_hourly).
CREATE TABLE alert_buckets (
    rule_id        INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    grp            TEXT NOT NULL,
    slot           INTEGER NOT NULL,
    records        INTEGER NOT NULL,
    errors         INTEGER NOT NULL,
    duration_count INTEGER NOT NULL,
    duration_sum   INTEGER NOT NULL,
    duration_max   INTEGER NOT NULL,
    d00 INTEGER NOT NULL, d01 INTEGER NOT NULL, d02 INTEGER NOT NULL, d03 INTEGER NOT NULL,
    d04 INTEGER NOT NULL, d05 INTEGER NOT NULL, d06 INTEGER NOT NULL, d07 INTEGER NOT NULL,
    d08 INTEGER NOT NULL, d09 INTEGER NOT NULL, d10 INTEGER NOT NULL, d11 INTEGER NOT NULL,
    PRIMARY KEY (rule_id, grp, slot)
);
