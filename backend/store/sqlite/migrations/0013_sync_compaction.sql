-- The change log's upkeep (CompactChanges). A row that a later row of the
-- same entity supersedes is removed, and so is the last row of a tombstone
-- (a cancelled or voided appointment, a resolved conflict, a released
-- lease) changed long enough ago. A reader whose cursor is older than a
-- tombstone row removed would never learn of it, so the greatest seq of
-- the tombstone rows ever removed is kept as the horizon: Changes after a
-- cursor older than it answers ErrResync (pull everything again from the
-- start; the cursors of a pull that began after the horizon was set carry
-- a floor, see changes.go). No row: nothing was removed yet. It only ever
-- moves forward.
CREATE TABLE sync_changes_horizon (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
) STRICT;

-- An entity's rows in order, to find the ones a later row supersedes.
CREATE INDEX sync_changes_entity ON sync_changes (entity, entity_id, seq);

-- Backfill: every entity the feed carries gets a row when it has none, so
-- that an installation with data from before migration 0010 is pulled
-- whole by a node that starts from the beginning. The rows are written in
-- the order a node can apply them in (doctors, their hours, patients,
-- leases, appointments, conflicts), each kind by the time of its last
-- change, which is their changed_at.
INSERT INTO sync_changes (entity, entity_id, changed_at)
SELECT 'doctor', d.id, d.updated_at FROM doctors d
WHERE NOT EXISTS (SELECT 1 FROM sync_changes c WHERE c.entity = 'doctor' AND c.entity_id = d.id)
ORDER BY d.updated_at, d.id;

INSERT INTO sync_changes (entity, entity_id, changed_at)
SELECT 'availability', a.doctor_id, a.updated_at FROM availability a
WHERE NOT EXISTS (SELECT 1 FROM sync_changes c WHERE c.entity = 'availability' AND c.entity_id = a.doctor_id)
ORDER BY a.updated_at, a.doctor_id;

INSERT INTO sync_changes (entity, entity_id, changed_at)
SELECT 'patient', p.id, p.updated_at FROM patients p
WHERE NOT EXISTS (SELECT 1 FROM sync_changes c WHERE c.entity = 'patient' AND c.entity_id = p.id)
ORDER BY p.updated_at, p.id;

INSERT INTO sync_changes (entity, entity_id, changed_at)
SELECT 'lease', l.id, CASE WHEN l.released_at <> '' THEN l.released_at ELSE l.created_at END AS at FROM sync_leases l
WHERE NOT EXISTS (SELECT 1 FROM sync_changes c WHERE c.entity = 'lease' AND c.entity_id = l.id)
ORDER BY at, l.id;

INSERT INTO sync_changes (entity, entity_id, changed_at)
SELECT 'appointment', a.id, a.updated_at FROM appointments a
WHERE NOT EXISTS (SELECT 1 FROM sync_changes c WHERE c.entity = 'appointment' AND c.entity_id = a.id)
ORDER BY a.updated_at, a.id;

INSERT INTO sync_changes (entity, entity_id, changed_at)
SELECT 'conflict', k.id, CASE WHEN k.resolved_at <> '' THEN k.resolved_at ELSE k.created_at END AS at FROM sync_conflicts k
WHERE NOT EXISTS (SELECT 1 FROM sync_changes c WHERE c.entity = 'conflict' AND c.entity_id = k.id)
ORDER BY at, k.id;
