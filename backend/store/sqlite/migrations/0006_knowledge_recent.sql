-- PostgreSQL adds a block-range index on passage ids here; FTS5 already
-- walks a word's passages newest first, so SQLite needs nothing.
SELECT 1;
