-- Slot leases: a block of a doctor's time that the upstream lends to one
-- node (node_id; '' is this installation itself). While a lease is active
-- (released_at IS NULL), only appointments whose origin_node is its holder
-- may come to hold time inside it, and two active leases of a doctor never
-- overlap. An expired lease holds until it is released (ExpireSyncLeases
-- sets released_at). A NULL time is unset.
--
-- Both rules hold under concurrency: the triggers of both tables take the
-- transaction-scoped advisory lock of the doctor (the key lockDoctor takes
-- in Go, so a booking that already holds it goes on) before they look,
-- and then look with a query of their own, which in READ COMMITTED sees
-- every row committed before the lock was granted. A lease granted while a
-- booking of the doctor is under way waits for it to end, and the other
-- way round, so a booking never lands unseen inside a lease granted
-- meanwhile: it is either committed before the grant (and seen by anyone
-- who reads the block after the grant) or refused.

-- The node whose op last set the appointment's time or made it hold time;
-- '' for this installation's own people.
ALTER TABLE appointments ADD COLUMN origin_node text NOT NULL DEFAULT '';

CREATE TABLE sync_leases (
    id          text PRIMARY KEY,
    node_id     text NOT NULL,
    doctor_id   text NOT NULL REFERENCES doctors (id),
    start_at    timestamptz NOT NULL,
    end_at      timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    released_at timestamptz,
    CHECK (end_at > start_at),
    -- Two active leases of a doctor never overlap (the trigger below says
    -- so first, under the doctor's lock). Its index is also the one for
    -- "the active leases of a doctor overlapping a range".
    CONSTRAINT sync_leases_lease_overlap EXCLUDE USING gist (
        doctor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (released_at IS NULL)
);
-- The active leases due to expire.
CREATE INDEX sync_leases_expiry ON sync_leases (expires_at) WHERE released_at IS NULL;
CREATE INDEX sync_leases_start ON sync_leases (start_at, id);

CREATE FUNCTION sync_leases_check() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NEW.released_at IS NOT NULL THEN
        RETURN NEW; -- released: holds nothing
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.released_at IS NULL AND OLD.doctor_id = NEW.doctor_id AND OLD.start_at = NEW.start_at
            AND OLD.end_at = NEW.end_at AND OLD.node_id = NEW.node_id THEN
        RETURN NEW; -- holds what it held, for whom it held it
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('appointments/' || NEW.doctor_id, 0));
    IF EXISTS (SELECT 1 FROM sync_leases l
               WHERE l.doctor_id = NEW.doctor_id AND l.released_at IS NULL AND l.id <> NEW.id
                 AND tstzrange(l.start_at, l.end_at, '[)') && tstzrange(NEW.start_at, NEW.end_at, '[)')) THEN
        RAISE EXCEPTION 'lease_overlap' USING ERRCODE = 'P0001',
            DETAIL = 'Another active lease of doctor ' || NEW.doctor_id || ' overlaps this one.';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER sync_leases_check BEFORE INSERT OR UPDATE ON sync_leases
    FOR EACH ROW EXECUTE FUNCTION sync_leases_check();

-- An appointment that comes to hold time (inserted holding it, moved, given
-- to another doctor, or turned from a status that holds none to one that
-- does) may not overlap an active lease of another holder. A change that
-- leaves its time held as it was (booked -> arrived, a new reason) is not
-- checked: appointments that held their time before a lease was granted
-- keep it. The insert of an upsert over a row that already held this very
-- time is the same case (its update is checked as an update).
CREATE FUNCTION appointments_check_lease() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NEW.status NOT IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.doctor_id = NEW.doctor_id AND OLD.start_at = NEW.start_at AND OLD.end_at = NEW.end_at
                AND OLD.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled') THEN
            RETURN NEW;
        END IF;
    ELSIF EXISTS (SELECT 1 FROM appointments o
                  WHERE o.id = NEW.id AND o.doctor_id = NEW.doctor_id AND o.start_at = NEW.start_at AND o.end_at = NEW.end_at
                    AND o.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')) THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('appointments/' || NEW.doctor_id, 0));
    IF EXISTS (SELECT 1 FROM sync_leases l
               WHERE l.doctor_id = NEW.doctor_id AND l.released_at IS NULL AND l.node_id <> NEW.origin_node
                 AND tstzrange(l.start_at, l.end_at, '[)') && tstzrange(NEW.start_at, NEW.end_at, '[)')) THEN
        RAISE EXCEPTION 'appointment_leased' USING ERRCODE = 'P0001',
            DETAIL = 'The time of doctor ' || NEW.doctor_id || ' is inside an active lease of another holder.';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER appointments_check_lease BEFORE INSERT OR UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION appointments_check_lease();
