-- Actor counts per 8-hour block, beside the hourly ones. "Top actors" sums
-- every actor of every hour in the window; a 24 h window now reads the hours
-- before its first whole block from the hourly tables and the rest from these,
-- about a third of the rows (profile: README › Performance). `hour` is the
-- block's first hour.

CREATE TABLE rollup_actor_8h (
    workspace_id INTEGER NOT NULL,
    hour         INTEGER NOT NULL,
    brand        TEXT NOT NULL,
    visibility   TEXT NOT NULL,
    actor        TEXT NOT NULL,
    records      INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, hour, brand, visibility, actor)
) WITHOUT ROWID;
CREATE INDEX rollup_actor_8h_hour ON rollup_actor_8h (hour);

CREATE TABLE rollup_actor_platform_8h (
    hour    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (hour, actor)
) WITHOUT ROWID;

INSERT INTO rollup_actor_8h
SELECT workspace_id, hour - ((hour % 8) + 8) % 8, brand, visibility, actor, SUM(records)
FROM rollup_actor_hourly
GROUP BY workspace_id, hour - ((hour % 8) + 8) % 8, brand, visibility, actor;

INSERT INTO rollup_actor_platform_8h
SELECT hour - ((hour % 8) + 8) % 8, actor, SUM(records)
FROM rollup_actor_platform_hourly
GROUP BY hour - ((hour % 8) + 8) % 8, actor;

ANALYZE rollup_actor_8h;
ANALYZE rollup_actor_platform_8h;
