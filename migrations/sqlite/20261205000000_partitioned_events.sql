-- PostgreSQL only (its `events` becomes partitioned by kind and id). SQLite's
-- tables are unchanged; the file keeps the two migration histories paired.
SELECT 1;
