-- Retention: legal holds on patients, the anchor a shortened audit log
-- starts from, and audit events whose patient can be pseudonymised without
-- breaking the chain (hash format 2: the hash covers a salted commitment to
-- the patient, see domain.AuditChainV2). Events written before keep format 1.

ALTER TABLE audit_events ADD COLUMN chain_version integer NOT NULL DEFAULT 1,
    ADD COLUMN patient_salt text NOT NULL DEFAULT '',
    ADD COLUMN patient_commit text NOT NULL DEFAULT '',
    ADD COLUMN redacted boolean NOT NULL DEFAULT false;
ALTER TABLE sync_node_audit ADD COLUMN chain_version integer NOT NULL DEFAULT 1,
    ADD COLUMN patient_salt text NOT NULL DEFAULT '',
    ADD COLUMN patient_commit text NOT NULL DEFAULT '',
    ADD COLUMN redacted boolean NOT NULL DEFAULT false;

-- The last event removed from the start of the log by retention: the first
-- event kept links to its hash. It only moves forward.
CREATE TABLE audit_anchor (
    id       integer PRIMARY KEY CHECK (id = 1),
    seq      bigint NOT NULL,
    hash     text NOT NULL,
    moved_at timestamptz
);
INSERT INTO audit_anchor (id, seq, hash) VALUES (1, 0, '');
CREATE FUNCTION audit_anchor_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.seq <= OLD.seq THEN
        RAISE EXCEPTION 'audit_anchor may only move forward' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_anchor_forward BEFORE UPDATE OR DELETE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_anchor_forward();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The one change an audit row admits: a format-2 event's patient replaced
-- by a pseudonym ("pn-…"), the salt dropped, the row marked redacted, the
-- resource identifier following the patient's where it was the patient's.
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.chain_version = 2 AND NOT OLD.redacted AND OLD.patient_id <> ''
            AND NEW.redacted AND NEW.patient_salt = '' AND NEW.patient_id LIKE 'pn-%'
            AND NEW.resource_id = (CASE WHEN OLD.resource_id = OLD.patient_id THEN NEW.patient_id ELSE OLD.resource_id END)
            AND (OLD.resource_id = OLD.patient_id OR OLD.resource_id <> NEW.patient_id)
            AND (NEW.seq, NEW.id, NEW.time, NEW.actor_id, NEW.actor_role, NEW.action, NEW.resource_type, NEW.outcome,
                 NEW.source_ip, NEW.user_agent, NEW.request_id, NEW.detail, NEW.prev_hash, NEW.hash,
                 NEW.chain_version, NEW.patient_commit)
              = (OLD.seq, OLD.id, OLD.time, OLD.actor_id, OLD.actor_role, OLD.action, OLD.resource_type, OLD.outcome,
                 OLD.source_ip, OLD.user_agent, OLD.request_id, OLD.detail, OLD.prev_hash, OLD.hash,
                 OLD.chain_version, OLD.patient_commit) THEN
            RETURN NEW;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        -- Only events at or before the anchor and older than six years
        -- (HIPAA §164.316(b)(2)(i)), whatever the settings say.
        IF OLD.seq <= (SELECT seq FROM audit_anchor WHERE id = 1) AND OLD.time < now() - interval '6 years' THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER audit_events_no_update_delete ON audit_events;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();

CREATE FUNCTION sync_node_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.chain_version = 2 AND NOT OLD.redacted AND OLD.patient_id <> ''
        AND NEW.redacted AND NEW.patient_salt = '' AND NEW.patient_id LIKE 'pn-%'
        AND NEW.resource_id = (CASE WHEN OLD.resource_id = OLD.patient_id THEN NEW.patient_id ELSE OLD.resource_id END)
        AND (OLD.resource_id = OLD.patient_id OR OLD.resource_id <> NEW.patient_id)
        AND (NEW.node_id, NEW.seq, NEW.id, NEW.time, NEW.actor_id, NEW.actor_role, NEW.action, NEW.resource_type, NEW.outcome,
             NEW.source_ip, NEW.user_agent, NEW.request_id, NEW.detail, NEW.prev_hash, NEW.hash,
             NEW.chain_version, NEW.patient_commit)
          = (OLD.node_id, OLD.seq, OLD.id, OLD.time, OLD.actor_id, OLD.actor_role, OLD.action, OLD.resource_type, OLD.outcome,
             OLD.source_ip, OLD.user_agent, OLD.request_id, OLD.detail, OLD.prev_hash, OLD.hash,
             OLD.chain_version, OLD.patient_commit) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'sync_node_audit is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER sync_node_audit_no_update_delete ON sync_node_audit;
CREATE TRIGGER sync_node_audit_no_update_delete BEFORE UPDATE OR DELETE ON sync_node_audit
    FOR EACH ROW EXECUTE FUNCTION sync_node_audit_guard();
CREATE INDEX sync_node_audit_patient ON sync_node_audit (patient_id) WHERE patient_id <> '' AND NOT redacted;

-- A legal hold stops every purge of the patient's data until it is lifted.
CREATE TABLE legal_holds (
    patient_id text PRIMARY KEY,
    reason     text NOT NULL,
    placed_by  text NOT NULL,
    placed_at  timestamptz NOT NULL
);
