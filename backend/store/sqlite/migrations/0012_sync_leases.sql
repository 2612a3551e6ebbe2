-- Slot leases: a block of a doctor's time that the upstream lends to one
-- node (node_id; '' is this installation itself). While a lease is active
-- (released_at = ''), only appointments whose origin_node is its holder may
-- come to hold time inside it, and two active leases of a doctor never
-- overlap. An expired lease holds until it is released (ExpireSyncLeases
-- sets released_at). Times are TEXT as elsewhere; '' is unset.

-- The node whose op last set the appointment's time or made it hold time;
-- '' for this installation's own people.
ALTER TABLE appointments ADD COLUMN origin_node TEXT NOT NULL DEFAULT '';

CREATE TABLE sync_leases (
    id          TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    doctor_id   TEXT NOT NULL REFERENCES doctors (id),
    start_at    TEXT NOT NULL,
    end_at      TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    released_at TEXT NOT NULL DEFAULT '',
    CHECK (end_at > start_at)
) STRICT;
-- The active leases of a doctor overlapping a range.
CREATE INDEX sync_leases_active ON sync_leases (doctor_id, start_at) WHERE released_at = '';
-- The active leases due to expire.
CREATE INDEX sync_leases_expiry ON sync_leases (expires_at) WHERE released_at = '';
CREATE INDEX sync_leases_start ON sync_leases (start_at, id);

-- Two active leases of a doctor never overlap.
CREATE TRIGGER sync_leases_no_overlap_insert BEFORE INSERT ON sync_leases
WHEN NEW.released_at = ''
BEGIN
    SELECT RAISE(ABORT, 'lease_overlap') WHERE EXISTS (
        SELECT 1 FROM sync_leases l
        WHERE l.doctor_id = NEW.doctor_id AND l.released_at = '' AND l.id <> NEW.id
          AND l.start_at < NEW.end_at AND NEW.start_at < l.end_at);
END;
CREATE TRIGGER sync_leases_no_overlap_update BEFORE UPDATE OF doctor_id, start_at, end_at, released_at ON sync_leases
WHEN NEW.released_at = ''
BEGIN
    SELECT RAISE(ABORT, 'lease_overlap') WHERE EXISTS (
        SELECT 1 FROM sync_leases l
        WHERE l.doctor_id = NEW.doctor_id AND l.released_at = '' AND l.id <> NEW.id
          AND l.start_at < NEW.end_at AND NEW.start_at < l.end_at);
END;

-- An appointment that comes to hold time (inserted holding it, moved, given
-- to another doctor, or turned from a status that holds none to one that
-- does) may not overlap an active lease of another holder. A change that
-- leaves its time held as it was (booked -> arrived, a new reason) is not
-- checked: appointments that held their time before a lease was granted
-- keep it. The insert of an upsert over a row that already held this very
-- time is the same case (its update is checked by the update trigger).
CREATE TRIGGER appointments_leased_insert BEFORE INSERT ON appointments
WHEN NEW.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
  AND NOT EXISTS (
    SELECT 1 FROM appointments o
    WHERE o.id = NEW.id AND o.doctor_id = NEW.doctor_id AND o.start_at = NEW.start_at AND o.end_at = NEW.end_at
      AND o.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled'))
BEGIN
    SELECT RAISE(ABORT, 'appointment_leased') WHERE EXISTS (
        SELECT 1 FROM sync_leases l
        WHERE l.doctor_id = NEW.doctor_id AND l.released_at = '' AND l.node_id <> NEW.origin_node
          AND l.start_at < NEW.end_at AND NEW.start_at < l.end_at);
END;
CREATE TRIGGER appointments_leased_update BEFORE UPDATE OF doctor_id, start_at, end_at, status ON appointments
WHEN NEW.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
  AND (NEW.doctor_id <> OLD.doctor_id OR NEW.start_at <> OLD.start_at OR NEW.end_at <> OLD.end_at
       OR OLD.status NOT IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled'))
BEGIN
    SELECT RAISE(ABORT, 'appointment_leased') WHERE EXISTS (
        SELECT 1 FROM sync_leases l
        WHERE l.doctor_id = NEW.doctor_id AND l.released_at = '' AND l.node_id <> NEW.origin_node
          AND l.start_at < NEW.end_at AND NEW.start_at < l.end_at);
END;
