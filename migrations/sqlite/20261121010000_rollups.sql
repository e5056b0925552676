-- Hourly roll-ups, written in the same transaction as the records, so stats
-- cost O(buckets) instead of O(records). Hours are occurred_at / 3600 s.
-- Empty string stands for "none" in brand, status and provider (key columns).
-- d00..d11 count durations in fixed buckets (upper bounds 10, 25, 50, 100,
-- 250, 500, 1000, 2500, 5000, 10000, 30000 ms, and above): a mergeable
-- histogram for percentiles.

CREATE TABLE rollup_hourly (
    workspace_id   INTEGER NOT NULL,
    hour           INTEGER NOT NULL,
    brand          TEXT NOT NULL,
    kind           TEXT NOT NULL,
    key            TEXT NOT NULL,
    severity       INTEGER NOT NULL,
    visibility     TEXT NOT NULL,
    status         TEXT NOT NULL,
    provider       TEXT NOT NULL,
    records        INTEGER NOT NULL,
    duration_count INTEGER NOT NULL,
    duration_sum   INTEGER NOT NULL,
    duration_max   INTEGER NOT NULL,
    d00 INTEGER NOT NULL, d01 INTEGER NOT NULL, d02 INTEGER NOT NULL, d03 INTEGER NOT NULL,
    d04 INTEGER NOT NULL, d05 INTEGER NOT NULL, d06 INTEGER NOT NULL, d07 INTEGER NOT NULL,
    d08 INTEGER NOT NULL, d09 INTEGER NOT NULL, d10 INTEGER NOT NULL, d11 INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, hour, brand, kind, key, severity, visibility, status, provider)
);
CREATE INDEX rollup_hourly_hour ON rollup_hourly (hour);

CREATE TABLE rollup_actor_hourly (
    workspace_id INTEGER NOT NULL,
    hour         INTEGER NOT NULL,
    brand        TEXT NOT NULL,
    visibility   TEXT NOT NULL,
    actor        TEXT NOT NULL,
    records      INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, hour, brand, visibility, actor)
);
CREATE INDEX rollup_actor_hourly_hour ON rollup_actor_hourly (hour);

-- Records stored before this migration.
INSERT INTO rollup_hourly
SELECT workspace_id, occurred_at / 3600000000, COALESCE(brand, ''), kind, key, severity, visibility,
       COALESCE(status, ''), COALESCE(provider, ''), COUNT(*), COUNT(duration_ms), COALESCE(SUM(duration_ms), 0),
       COALESCE(MAX(duration_ms), 0),
       SUM(CASE WHEN duration_ms <= 10 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 10 AND duration_ms <= 25 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 25 AND duration_ms <= 50 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 50 AND duration_ms <= 100 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 100 AND duration_ms <= 250 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 250 AND duration_ms <= 500 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 500 AND duration_ms <= 1000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 1000 AND duration_ms <= 2500 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 2500 AND duration_ms <= 5000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 5000 AND duration_ms <= 10000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 10000 AND duration_ms <= 30000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN duration_ms > 30000 THEN 1 ELSE 0 END)
FROM events
GROUP BY workspace_id, occurred_at / 3600000000, COALESCE(brand, ''), kind, key, severity, visibility,
         COALESCE(status, ''), COALESCE(provider, '');

INSERT INTO rollup_actor_hourly
SELECT workspace_id, occurred_at / 3600000000, COALESCE(brand, ''), visibility, actor_id, COUNT(*)
FROM events
WHERE actor_id IS NOT NULL
GROUP BY workspace_id, occurred_at / 3600000000, COALESCE(brand, ''), visibility, actor_id;
