-- Sync between a node (workstation or clinic server) and its upstream. Every
-- installation has both sides: the upstream tables (enrolments, nodes, op
-- results, the nodes' audit logs) and the node tables (outbox, versions,
-- values). Conflicts are kept on both. Times are TEXT as elsewhere; '' is
-- unset. Lists of doctor ids are JSON arrays.

-- Upstream: one-time enrolment codes, stored by hash.
CREATE TABLE sync_enrollments (
    id         TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL DEFAULT '',
    doctor_ids TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT NOT NULL DEFAULT '',
    node_id    TEXT NOT NULL DEFAULT ''
) STRICT;

-- Upstream: enrolled nodes, and how much of each one's audit log is held.
CREATE TABLE sync_nodes (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    public_key       TEXT NOT NULL,
    credential_hash  TEXT NOT NULL UNIQUE,
    doctor_ids       TEXT NOT NULL DEFAULT '[]',
    enrolled_by      TEXT NOT NULL,
    enrolled_at      TEXT NOT NULL,
    revoked_by       TEXT NOT NULL DEFAULT '',
    revoked_at       TEXT NOT NULL DEFAULT '',
    last_seen_at     TEXT NOT NULL DEFAULT '',
    audit_size       INTEGER NOT NULL DEFAULT 0,
    audit_head_hash  TEXT NOT NULL DEFAULT '',
    audit_checkpoint BLOB NOT NULL DEFAULT x''
) STRICT;

-- Upstream: the answer to every op applied, so that a redelivered op gets
-- the same answer and changes nothing. result is the SyncOpResult as JSON.
CREATE TABLE sync_ops (
    op_id     TEXT PRIMARY KEY,
    node_id   TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    result    TEXT NOT NULL,
    at        TEXT NOT NULL
) STRICT;
CREATE INDEX sync_ops_node ON sync_ops (node_id, at);

-- Upstream: the nodes' audit events, as they were chained at the node (every
-- field the chain hash covers), and the hashes of each node's Merkle tree.
CREATE TABLE sync_node_audit (
    node_id       TEXT NOT NULL REFERENCES sync_nodes (id),
    seq           INTEGER NOT NULL,
    id            TEXT NOT NULL,
    time          TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_role    TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    patient_id    TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    source_ip     TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    detail        TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    PRIMARY KEY (node_id, seq)
) STRICT;

CREATE TABLE sync_node_tree (
    node_id TEXT NOT NULL REFERENCES sync_nodes (id),
    idx     INTEGER NOT NULL,
    hash    BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (node_id, idx)
) STRICT;

-- What the upstream holds of a node's log is append-only, like its own.
CREATE TRIGGER sync_node_audit_no_update BEFORE UPDATE ON sync_node_audit
BEGIN
    SELECT RAISE(ABORT, 'sync_node_audit is append-only');
END;
CREATE TRIGGER sync_node_audit_no_delete BEFORE DELETE ON sync_node_audit
BEGIN
    SELECT RAISE(ABORT, 'sync_node_audit is append-only');
END;
CREATE TRIGGER sync_node_tree_no_update BEFORE UPDATE ON sync_node_tree
BEGIN
    SELECT RAISE(ABORT, 'sync_node_tree is append-only');
END;
CREATE TRIGGER sync_node_tree_no_delete BEFORE DELETE ON sync_node_tree
BEGIN
    SELECT RAISE(ABORT, 'sync_node_tree is append-only');
END;

-- Both sides: ops that lost, for a front desk to rebook.
CREATE TABLE sync_conflicts (
    id             TEXT PRIMARY KEY,
    node_id        TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    doctor_id      TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    start_at       TEXT NOT NULL,
    end_at         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    reason         TEXT NOT NULL,
    winner_id      TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    resolved_by    TEXT NOT NULL DEFAULT '',
    resolved_at    TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sync_conflicts_created ON sync_conflicts (created_at);
CREATE INDEX sync_conflicts_open ON sync_conflicts (created_at) WHERE resolved_at = '';

-- Node: the outbox of ops, written in the transaction of the change. An op
-- is unanswered while answered_at is ''. payload is the SyncOp as JSON.
CREATE TABLE sync_outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id        TEXT NOT NULL UNIQUE,
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    base_version TEXT NOT NULL,
    payload      TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_role   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    answered_at  TEXT NOT NULL DEFAULT '',
    outcome      TEXT NOT NULL DEFAULT '',
    reason       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sync_outbox_queued ON sync_outbox (seq) WHERE answered_at = '';
CREATE INDEX sync_outbox_entity ON sync_outbox (entity, entity_id, seq) WHERE answered_at = '';

-- Node: the upstream version last seen of an entity, and its last queued op.
CREATE TABLE sync_versions (
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    version    TEXT NOT NULL DEFAULT '',
    last_op_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (entity, entity_id)
) STRICT;

-- Node: small state (cursor, node id, credential, checkpoints sent).
CREATE TABLE sync_values (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
