-- SQLite only (its roll-up tables become WITHOUT ROWID). PostgreSQL's are
-- unchanged; the file keeps the two migration histories paired.
SELECT 1;
