-- Changes of appointments, for the nodes that sync with this server to pull.
-- A row is written in the transaction that makes the change; SQLite has one
-- writer at a time, so rows commit in seq order and seq alone is the cursor.

CREATE TABLE sync_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
