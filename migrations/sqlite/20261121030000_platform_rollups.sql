-- Platform-wide roll-ups: the same counts without workspace, brand and
-- visibility, for readers who see everything (founders, admins, spanning keys).
-- Their stats then read a few rows per hour however many workspaces there are.

CREATE TABLE rollup_platform_hourly (
    hour           INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    key            TEXT NOT NULL,
    severity       INTEGER NOT NULL,
    status         TEXT NOT NULL,
    provider       TEXT NOT NULL,
    records        INTEGER NOT NULL,
    duration_count INTEGER NOT NULL,
    duration_sum   INTEGER NOT NULL,
    duration_max   INTEGER NOT NULL,
    d00 INTEGER NOT NULL, d01 INTEGER NOT NULL, d02 INTEGER NOT NULL, d03 INTEGER NOT NULL, d04 INTEGER NOT NULL, d05 INTEGER NOT NULL, d06 INTEGER NOT NULL, d07 INTEGER NOT NULL, d08 INTEGER NOT NULL, d09 INTEGER NOT NULL, d10 INTEGER NOT NULL, d11 INTEGER NOT NULL,
    PRIMARY KEY (hour, kind, key, severity, status, provider)
);

CREATE TABLE rollup_actor_platform_hourly (
    hour    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    records INTEGER NOT NULL,
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
