-- Rate-limit buckets shared by server processes (see the PostgreSQL
-- migration of the same number). An SQLite database has one server process,
-- which keeps its buckets in memory; the table keeps both engines' schemas
-- at the same version.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat_us INTEGER NOT NULL
) STRICT;

-- Full scans of a knowledge source asked for (see the PostgreSQL migration).
ALTER TABLE knowledge_sources ADD COLUMN scan_requests INTEGER NOT NULL DEFAULT 0;
