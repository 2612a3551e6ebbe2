-- Appointments last at most 8 hours. With that bound, finding the ones that
-- overlap a time range reads only the index from 8 hours before it, not the
-- doctor's whole history.

CREATE TRIGGER appointments_max_length_insert BEFORE INSERT ON appointments
WHEN julianday(NEW.end_at) - julianday(NEW.start_at) > 8.0 / 24 + 1.0 / 86400
BEGIN
    SELECT RAISE(ABORT, 'appointment_too_long');
END;
CREATE TRIGGER appointments_max_length_update BEFORE UPDATE OF start_at, end_at ON appointments
WHEN julianday(NEW.end_at) - julianday(NEW.start_at) > 8.0 / 24 + 1.0 / 86400
BEGIN
    SELECT RAISE(ABORT, 'appointment_too_long');
END;

DROP TRIGGER appointments_no_overlap_insert;
DROP TRIGGER appointments_no_overlap_update;
CREATE TRIGGER appointments_no_overlap_insert BEFORE INSERT ON appointments
WHEN NEW.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
BEGIN
    SELECT RAISE(ABORT, 'appointment_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.doctor_id = NEW.doctor_id AND a.id <> NEW.id
          AND a.start_at >= strftime('%Y-%m-%dT%H:%M:%fZ', NEW.start_at, '-9 hours')
          AND a.start_at < NEW.end_at AND NEW.start_at < a.end_at
          AND a.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled'));
END;
CREATE TRIGGER appointments_no_overlap_update BEFORE UPDATE OF doctor_id, start_at, end_at, status ON appointments
WHEN NEW.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
BEGIN
    SELECT RAISE(ABORT, 'appointment_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.doctor_id = NEW.doctor_id AND a.id <> NEW.id
          AND a.start_at >= strftime('%Y-%m-%dT%H:%M:%fZ', NEW.start_at, '-9 hours')
          AND a.start_at < NEW.end_at AND NEW.start_at < a.end_at
          AND a.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled'));
END;
