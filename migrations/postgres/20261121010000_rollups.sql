-- Hourly roll-ups, written in the same transaction as the records, so stats
-- cost O(buckets) instead of O(records). Hours are occurred_at / 3600 s.
-- Empty string stands for "none" in brand, status and provider (key columns).
-- d00..d11 count durations in fixed buckets (upper bounds 10, 25, 50, 100,
-- 250, 500, 1000, 2500, 5000, 10000, 30000 ms, and above): a mergeable
-- histogram for percentiles.

CREATE TABLE rollup_hourly (
    workspace_id   BIGINT NOT NULL,
    hour           BIGINT NOT NULL,
    brand          TEXT COLLATE "C" NOT NULL,
    kind           TEXT COLLATE "C" NOT NULL,
    key            TEXT COLLATE "C" NOT NULL,
    severity       SMALLINT NOT NULL,
    visibility     TEXT COLLATE "C" NOT NULL,
    status         TEXT COLLATE "C" NOT NULL,
    provider       TEXT COLLATE "C" NOT NULL,
    records        BIGINT NOT NULL,
    duration_count BIGINT NOT NULL,
    duration_sum   BIGINT NOT NULL,
    duration_max   BIGINT NOT NULL,
    d00 BIGINT NOT NULL, d01 BIGINT NOT NULL, d02 BIGINT NOT NULL, d03 BIGINT NOT NULL,
    d04 BIGINT NOT NULL, d05 BIGINT NOT NULL, d06 BIGINT NOT NULL, d07 BIGINT NOT NULL,
    d08 BIGINT NOT NULL, d09 BIGINT NOT NULL, d10 BIGINT NOT NULL, d11 BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, hour, brand, kind, key, severity, visibility, status, provider)
);
CREATE INDEX rollup_hourly_hour ON rollup_hourly (hour);

CREATE TABLE rollup_actor_hourly (
    workspace_id BIGINT NOT NULL,
    hour         BIGINT NOT NULL,
    brand        TEXT COLLATE "C" NOT NULL,
    visibility   TEXT COLLATE "C" NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    records      BIGINT NOT NULL,
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
