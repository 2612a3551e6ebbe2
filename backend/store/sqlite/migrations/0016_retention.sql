-- Retention: legal holds on patients, the anchor a shortened audit log
-- starts from, and audit events whose patient can be pseudonymised without
-- breaking the chain (hash format 2: the hash covers a salted commitment to
-- the patient, see domain.AuditChainV2). Events written before keep format 1.

ALTER TABLE audit_events ADD COLUMN chain_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN patient_salt TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN patient_commit TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;

ALTER TABLE sync_node_audit ADD COLUMN chain_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sync_node_audit ADD COLUMN patient_salt TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_node_audit ADD COLUMN patient_commit TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_node_audit ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;

-- The last event removed from the start of the log by retention: the first
-- event kept links to its hash. It only moves forward.
CREATE TABLE audit_anchor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    seq      INTEGER NOT NULL,
    hash     TEXT NOT NULL,
    moved_at TEXT NOT NULL
) STRICT;
INSERT INTO audit_anchor (id, seq, hash, moved_at) VALUES (1, 0, '', '');
CREATE TRIGGER audit_anchor_forward BEFORE UPDATE ON audit_anchor
WHEN NEW.seq <= OLD.seq
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor may only move forward');
END;
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor cannot be deleted');
END;

-- The one change an audit row admits: a format-2 event's patient replaced
-- by a pseudonym ("pn-…"), the salt dropped, the row marked redacted, the
-- resource identifier following the patient's where it was the patient's.
DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (OLD.chain_version = 2 AND OLD.redacted = 0 AND OLD.patient_id <> ''
    AND NEW.redacted = 1 AND NEW.patient_salt = '' AND NEW.patient_id LIKE 'pn-%'
    AND NEW.resource_id = CASE WHEN OLD.resource_id = OLD.patient_id THEN NEW.patient_id ELSE OLD.resource_id END
    AND (OLD.resource_id = OLD.patient_id OR OLD.resource_id <> NEW.patient_id)
    AND NEW.seq = OLD.seq AND NEW.id = OLD.id AND NEW.time = OLD.time
    AND NEW.actor_id = OLD.actor_id AND NEW.actor_role = OLD.actor_role AND NEW.action = OLD.action
    AND NEW.resource_type = OLD.resource_type AND NEW.outcome = OLD.outcome AND NEW.source_ip = OLD.source_ip
    AND NEW.user_agent = OLD.user_agent AND NEW.request_id = OLD.request_id AND NEW.detail = OLD.detail
    AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash
    AND NEW.chain_version = OLD.chain_version AND NEW.patient_commit = OLD.patient_commit)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- Only events at or before the anchor and older than six years (HIPAA
-- §164.316(b)(2)(i)) may be deleted, whatever the settings say.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > (SELECT seq FROM audit_anchor WHERE id = 1)
    OR OLD.time >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-6 years')
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

DROP TRIGGER sync_node_audit_no_update;
CREATE TRIGGER sync_node_audit_no_update BEFORE UPDATE ON sync_node_audit
WHEN NOT (OLD.chain_version = 2 AND OLD.redacted = 0 AND OLD.patient_id <> ''
    AND NEW.redacted = 1 AND NEW.patient_salt = '' AND NEW.patient_id LIKE 'pn-%'
    AND NEW.resource_id = CASE WHEN OLD.resource_id = OLD.patient_id THEN NEW.patient_id ELSE OLD.resource_id END
    AND (OLD.resource_id = OLD.patient_id OR OLD.resource_id <> NEW.patient_id)
    AND NEW.node_id = OLD.node_id AND NEW.seq = OLD.seq AND NEW.id = OLD.id AND NEW.time = OLD.time
    AND NEW.actor_id = OLD.actor_id AND NEW.actor_role = OLD.actor_role AND NEW.action = OLD.action
    AND NEW.resource_type = OLD.resource_type AND NEW.outcome = OLD.outcome AND NEW.source_ip = OLD.source_ip
    AND NEW.user_agent = OLD.user_agent AND NEW.request_id = OLD.request_id AND NEW.detail = OLD.detail
    AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash
    AND NEW.chain_version = OLD.chain_version AND NEW.patient_commit = OLD.patient_commit)
BEGIN
    SELECT RAISE(ABORT, 'sync_node_audit is append-only');
END;
CREATE INDEX sync_node_audit_patient ON sync_node_audit (patient_id) WHERE patient_id <> '' AND redacted = 0;

-- A legal hold stops every purge of the patient's data until it is lifted.
CREATE TABLE legal_holds (
    patient_id TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    placed_by  TEXT NOT NULL,
    placed_at  TEXT NOT NULL
) STRICT;
