-- Changes of appointments, for the nodes that sync with this server to pull.
-- A row is written in the transaction that makes the change. Readers page by
-- (xid, seq) and see only rows of transactions older than every transaction
-- still running, so a transaction that commits late is never skipped.

CREATE TABLE sync_changes (
    seq        bigserial PRIMARY KEY,
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    entity     text NOT NULL,
    entity_id  text NOT NULL,
    changed_at timestamptz NOT NULL
);
CREATE INDEX sync_changes_order ON sync_changes (xid, seq);
