-- Alert rules (src/alerts): a search over the records, and a condition on
-- what it finds (each match, a count, an error rate, a duration per
-- provider, an absence) over a sliding window. One evaluator at a time reads
-- each rule's new matches after its cursor in commit order (like a log
-- stream), folds them into the rule's own roll-up (alert_buckets), and
-- decides from the roll-up and the rule's state whether it fires or resolves.
CREATE TABLE alert_rules (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT NOT NULL,
    -- NULL: every workspace.
    workspace_id     BIGINT REFERENCES workspaces (id) ON DELETE CASCADE,
    -- The search syntax; empty: every record.
    query            TEXT NOT NULL,
    condition        TEXT NOT NULL
        CHECK (condition IN ('match', 'count', 'error_rate', 'avg_duration', 'p95_duration', 'absent')),
    -- count: records; error_rate: percent; durations: milliseconds.
    threshold        DOUBLE PRECISION,
    -- error_rate: the fewest records in the window it is judged on.
    min_records      BIGINT NOT NULL DEFAULT 0,
    window_seconds   BIGINT NOT NULL,
    cooldown_seconds BIGINT NOT NULL,
    cursor_tx        BIGINT NOT NULL,
    cursor_id        UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    created_at       BIGINT NOT NULL
);

-- The endpoints a rule's alerts go to; none: every enabled endpoint that takes alerts.
-- An endpoint that rules name cannot be removed (no cascade): the rule would
-- silently send to every endpoint instead.
CREATE TABLE alert_rule_endpoints (
    rule_id     BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id),
    PRIMARY KEY (rule_id, endpoint_id)
);

-- Whether a rule fires, per group (a provider for durations; '' otherwise).
CREATE TABLE alert_states (
    rule_id       BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    grp           TEXT NOT NULL,
    firing        BOOLEAN NOT NULL DEFAULT FALSE,
    -- When it last fired or resolved.
    changed_at    BIGINT,
    last_match_at BIGINT,
    -- Matching records since it last changed.
    matches       BIGINT NOT NULL DEFAULT 0,
    last_record   UUID,
    PRIMARY KEY (rule_id, grp)
);

-- Each rule's roll-up: matching records per group and time slot (a sixtieth
-- of the rule's window, a second at least, by occurred_at), with errors and
-- a duration histogram (d00..d11, the bounds of rollup_hourly).
CREATE TABLE alert_buckets (
    rule_id        BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    grp            TEXT NOT NULL,
    slot           BIGINT NOT NULL,
    records        BIGINT NOT NULL,
    errors         BIGINT NOT NULL,
    duration_count BIGINT NOT NULL,
    duration_sum   BIGINT NOT NULL,
    duration_max   BIGINT NOT NULL,
    d00 BIGINT NOT NULL, d01 BIGINT NOT NULL, d02 BIGINT NOT NULL, d03 BIGINT NOT NULL,
    d04 BIGINT NOT NULL, d05 BIGINT NOT NULL, d06 BIGINT NOT NULL, d07 BIGINT NOT NULL,
    d08 BIGINT NOT NULL, d09 BIGINT NOT NULL, d10 BIGINT NOT NULL, d11 BIGINT NOT NULL,
    PRIMARY KEY (rule_id, grp, slot)
);
