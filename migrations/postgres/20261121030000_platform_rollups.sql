-- Platform-wide roll-ups: the same counts without workspace, brand and
-- visibility, for readers who see everything (founders, admins, spanning keys).
-- Their stats then read a few rows per hour however many workspaces there are.

CREATE TABLE rollup_platform_hourly (
    hour           BIGINT NOT NULL,
    kind           TEXT COLLATE "C" NOT NULL,
    key            TEXT COLLATE "C" NOT NULL,
    severity       SMALLINT NOT NULL,
    status         TEXT COLLATE "C" NOT NULL,
    provider       TEXT COLLATE "C" NOT NULL,
    records        BIGINT NOT NULL,
    duration_count BIGINT NOT NULL,
    duration_sum   BIGINT NOT NULL,
    duration_max   BIGINT NOT NULL,
    d00 BIGINT NOT NULL, d01 BIGINT NOT NULL, d02 BIGINT NOT NULL, d03 BIGINT NOT NULL, d04 BIGINT NOT NULL, d05 BIGINT NOT NULL, d06 BIGINT NOT NULL, d07 BIGINT NOT NULL, d08 BIGINT NOT NULL, d09 BIGINT NOT NULL, d10 BIGINT NOT NULL, d11 BIGINT NOT NULL,
    PRIMARY KEY (hour, kind, key, severity, status, provider)
);

CREATE TABLE rollup_actor_platform_hourly (
    hour    BIGINT NOT NULL,
    actor   TEXT COLLATE "C" NOT NULL,
    records BIGINT NOT NULL,
    PRIMARY KEY (hour, actor)
);

INSERT INTO rollup_platform_hourly
SELECT hour, kind, key, severity, status, provider, SUM(records), SUM(duration_count), SUM(duration_sum),
       MAX(duration_max), SUM(d00), SUM(d01), SUM(d02), SUM(d03), SUM(d04), SUM(d05), SUM(d06), SUM(d07), SUM(d08), SUM(d09), SUM(d10), SUM(d11)
FROM rollup_hourly
GROUP BY hour, kind, key, severity, status, provider;

INSERT INTO rollup_actor_platform_hourly
SELECT hour, actor, SUM(records) FROM rollup_actor_hourly GROUP BY hour, actor;

-- Actor lookups within a workspace (the feed's actor filter) lead with the workspace.
CREATE INDEX events_workspace_actor ON events (workspace_id, actor_id, occurred_at, id) WHERE actor_id IS NOT NULL;
