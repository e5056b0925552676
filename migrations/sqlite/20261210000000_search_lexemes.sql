-- PostgreSQL re-indexes its records here (its documents were cut by its own
-- parser); SQLite's FTS5 documents were always Trail's words: nothing to do.
SELECT 1;
