-- Roll-up tables become WITHOUT ROWID: a row lives in its primary key's
-- B-tree. Stats read a window of hours straight from that tree, and each
-- upsert touches one tree instead of the key index plus the table (profiles:
-- README › Performance). Same columns, same keys, same rows.

CREATE TABLE rollup_hourly_new (
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
) WITHOUT ROWID;
INSERT INTO rollup_hourly_new SELECT * FROM rollup_hourly;
DROP TABLE rollup_hourly;
ALTER TABLE rollup_hourly_new RENAME TO rollup_hourly;

CREATE TABLE rollup_actor_hourly_new (
    workspace_id INTEGER NOT NULL,
    hour         INTEGER NOT NULL,
    brand        TEXT NOT NULL,
    visibility   TEXT NOT NULL,
    actor        TEXT NOT NULL,
    records      INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, hour, brand, visibility, actor)
) WITHOUT ROWID;
INSERT INTO rollup_actor_hourly_new SELECT * FROM rollup_actor_hourly;
DROP TABLE rollup_actor_hourly;
ALTER TABLE rollup_actor_hourly_new RENAME TO rollup_actor_hourly;

CREATE TABLE rollup_platform_hourly_new (
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
) WITHOUT ROWID;
INSERT INTO rollup_platform_hourly_new SELECT * FROM rollup_platform_hourly;
DROP TABLE rollup_platform_hourly;
ALTER TABLE rollup_platform_hourly_new RENAME TO rollup_platform_hourly;

CREATE TABLE rollup_actor_platform_hourly_new (
    hour    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (hour, actor)
) WITHOUT ROWID;
INSERT INTO rollup_actor_platform_hourly_new SELECT * FROM rollup_actor_platform_hourly;
DROP TABLE rollup_actor_platform_hourly;
ALTER TABLE rollup_actor_platform_hourly_new RENAME TO rollup_actor_platform_hourly;

CREATE INDEX rollup_hourly_hour ON rollup_hourly (hour);
CREATE INDEX rollup_actor_hourly_hour ON rollup_actor_hourly (hour);
