-- Sync between a node (workstation or clinic server) and its upstream. Every
-- installation has both sides: the upstream tables (enrolments, nodes, op
-- results, the nodes' audit logs) and the node tables (outbox, versions,
-- values). Conflicts are kept on both. A NULL time is unset. Lists of
-- doctor ids are JSON arrays.

-- Upstream: one-time enrolment codes, stored by hash.
CREATE TABLE sync_enrollments (
    id         text PRIMARY KEY,
    code_hash  text NOT NULL UNIQUE,
    name       text NOT NULL DEFAULT '',
    doctor_ids jsonb NOT NULL DEFAULT '[]',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    node_id    text NOT NULL DEFAULT ''
);

-- Upstream: enrolled nodes, and how much of each one's audit log is held.
CREATE TABLE sync_nodes (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    public_key       text NOT NULL,
    credential_hash  text NOT NULL UNIQUE,
    doctor_ids       jsonb NOT NULL DEFAULT '[]',
    enrolled_by      text NOT NULL,
    enrolled_at      timestamptz NOT NULL,
    revoked_by       text NOT NULL DEFAULT '',
    revoked_at       timestamptz,
    last_seen_at     timestamptz,
    audit_size       bigint NOT NULL DEFAULT 0,
    audit_head_hash  text NOT NULL DEFAULT '',
    audit_checkpoint bytea NOT NULL DEFAULT ''::bytea
);

-- Upstream: the answer to every op applied, so that a redelivered op gets
-- the same answer and changes nothing. result is the SyncOpResult.
CREATE TABLE sync_ops (
    op_id     text PRIMARY KEY,
    node_id   text NOT NULL,
    entity_id text NOT NULL,
    outcome   text NOT NULL,
    result    jsonb NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX sync_ops_node ON sync_ops (node_id, at);

-- Upstream: the nodes' audit events, as they were chained at the node (every
-- field the chain hash covers), and the hashes of each node's Merkle tree.
CREATE TABLE sync_node_audit (
    node_id       text NOT NULL REFERENCES sync_nodes (id),
    seq           bigint NOT NULL,
    id            text NOT NULL,
    time          timestamptz NOT NULL,
    actor_id      text NOT NULL,
    actor_role    text NOT NULL,
    action        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    patient_id    text NOT NULL,
    outcome       text NOT NULL,
    source_ip     text NOT NULL,
    user_agent    text NOT NULL,
    request_id    text NOT NULL,
    detail        text NOT NULL,
    prev_hash     text NOT NULL,
    hash          text NOT NULL,
    PRIMARY KEY (node_id, seq)
);

CREATE TABLE sync_node_tree (
    node_id text NOT NULL REFERENCES sync_nodes (id),
    idx     bigint NOT NULL,
    hash    bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (node_id, idx)
);

-- What the upstream holds of a node's log is append-only, like its own.
CREATE FUNCTION sync_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER sync_node_audit_no_update_delete BEFORE UPDATE OR DELETE ON sync_node_audit
    FOR EACH ROW EXECUTE FUNCTION sync_append_only();
CREATE TRIGGER sync_node_audit_no_truncate BEFORE TRUNCATE ON sync_node_audit
    FOR EACH STATEMENT EXECUTE FUNCTION sync_append_only();
CREATE TRIGGER sync_node_tree_no_update_delete BEFORE UPDATE OR DELETE ON sync_node_tree
    FOR EACH ROW EXECUTE FUNCTION sync_append_only();
CREATE TRIGGER sync_node_tree_no_truncate BEFORE TRUNCATE ON sync_node_tree
    FOR EACH STATEMENT EXECUTE FUNCTION sync_append_only();

-- Both sides: ops that lost, for a front desk to rebook.
CREATE TABLE sync_conflicts (
    id             text PRIMARY KEY,
    node_id        text NOT NULL,
    appointment_id text NOT NULL,
    doctor_id      text NOT NULL,
    patient_id     text NOT NULL,
    start_at       timestamptz,
    end_at         timestamptz,
    kind           text NOT NULL,
    outcome        text NOT NULL,
    reason         text NOT NULL,
    winner_id      text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    resolved_by    text NOT NULL DEFAULT '',
    resolved_at    timestamptz
);
CREATE INDEX sync_conflicts_created ON sync_conflicts (created_at);
CREATE INDEX sync_conflicts_open ON sync_conflicts (created_at) WHERE resolved_at IS NULL;

-- Node: the outbox of ops, written in the transaction of the change. An op
-- is unanswered while answered_at is NULL. payload is the SyncOp.
CREATE TABLE sync_outbox (
    seq          bigserial PRIMARY KEY,
    op_id        text NOT NULL UNIQUE,
    entity       text NOT NULL,
    entity_id    text NOT NULL,
    kind         text NOT NULL,
    base_version text NOT NULL,
    payload      jsonb NOT NULL,
    actor_id     text NOT NULL,
    actor_role   text NOT NULL,
    created_at   timestamptz NOT NULL,
    answered_at  timestamptz,
    outcome      text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT ''
);
CREATE INDEX sync_outbox_queued ON sync_outbox (seq) WHERE answered_at IS NULL;
CREATE INDEX sync_outbox_entity ON sync_outbox (entity, entity_id, seq) WHERE answered_at IS NULL;

-- Node: the upstream version last seen of an entity, and its last queued op.
CREATE TABLE sync_versions (
    entity     text NOT NULL,
    entity_id  text NOT NULL,
    version    text NOT NULL DEFAULT '',
    last_op_id text NOT NULL DEFAULT '',
    PRIMARY KEY (entity, entity_id)
);

-- Node: small state (cursor, node id, credential, checkpoints sent).
CREATE TABLE sync_values (
    key   text PRIMARY KEY,
    value text NOT NULL
);
