-- Patients, doctors, availability, appointments and the notification outbox.

CREATE TABLE patients (
    id                      TEXT PRIMARY KEY,
    user_id                 TEXT UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    name                    TEXT NOT NULL,
    date_of_birth           TEXT NOT NULL,
    sex                     TEXT NOT NULL DEFAULT '',
    phone                   TEXT NOT NULL DEFAULT '',
    email                   TEXT NOT NULL DEFAULT '',
    address                 TEXT NOT NULL DEFAULT '{}',
    emergency_contacts      TEXT NOT NULL DEFAULT '[]',
    insurance_provider      TEXT NOT NULL DEFAULT '',
    insurance_member_sealed TEXT NOT NULL DEFAULT '',
    national_id_sealed      TEXT NOT NULL DEFAULT '',
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
) STRICT;
CREATE INDEX patients_name ON patients (name);

CREATE TABLE clinical_entries (
    id          TEXT PRIMARY KEY,
    patient_id  TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('condition', 'allergy', 'medication')),
    description TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    onset_date  TEXT NOT NULL DEFAULT '',
    end_date    TEXT NOT NULL DEFAULT '',
    notes       TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX clinical_entries_patient ON clinical_entries (patient_id, kind);

CREATE TABLE patient_changes (
    id         TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    action     TEXT NOT NULL,
    fields     TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    at         TEXT NOT NULL
) STRICT;
CREATE INDEX patient_changes_patient ON patient_changes (patient_id, at);

CREATE TABLE doctors (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL UNIQUE REFERENCES users (id),
    specialization   TEXT NOT NULL,
    qualifications   TEXT NOT NULL DEFAULT '[]',
    license_number   TEXT NOT NULL DEFAULT '',
    years_experience INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
CREATE INDEX doctors_specialization ON doctors (specialization);

CREATE TABLE availability (
    doctor_id  TEXT PRIMARY KEY REFERENCES doctors (id) ON DELETE CASCADE,
    spec       TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE appointments (
    id              TEXT PRIMARY KEY,
    doctor_id       TEXT NOT NULL REFERENCES doctors (id),
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    start_at        TEXT NOT NULL,
    end_at          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('proposed', 'pending', 'booked', 'arrived', 'fulfilled',
                        'cancelled', 'noshow', 'entered-in-error', 'checked-in', 'waitlist')),
    reason          TEXT NOT NULL DEFAULT '',
    cancel_reason   TEXT NOT NULL DEFAULT '',
    created_by      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK (end_at > start_at)
) STRICT;
CREATE INDEX appointments_doctor_time ON appointments (doctor_id, start_at);
CREATE INDEX appointments_patient_time ON appointments (patient_id, start_at);
CREATE INDEX appointments_start ON appointments (start_at);
CREATE UNIQUE INDEX appointments_idempotency ON appointments (created_by, idempotency_key) WHERE idempotency_key <> '';

-- No two blocking appointments of one doctor overlap. Writes go through one
-- connection in BEGIN IMMEDIATE transactions, so the check and the write are
-- atomic.
CREATE TRIGGER appointments_no_overlap_insert BEFORE INSERT ON appointments
WHEN NEW.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
BEGIN
    SELECT RAISE(ABORT, 'appointment_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.doctor_id = NEW.doctor_id AND a.id <> NEW.id
          AND a.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
          AND a.start_at < NEW.end_at AND NEW.start_at < a.end_at);
END;
CREATE TRIGGER appointments_no_overlap_update BEFORE UPDATE OF doctor_id, start_at, end_at, status ON appointments
WHEN NEW.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
BEGIN
    SELECT RAISE(ABORT, 'appointment_overlap') WHERE EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.doctor_id = NEW.doctor_id AND a.id <> NEW.id
          AND a.status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
          AND a.start_at < NEW.end_at AND NEW.start_at < a.end_at);
END;

CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    appointment_id  TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    dedupe_key      TEXT UNIQUE,
    created_at      TEXT NOT NULL,
    read_at         TEXT NOT NULL DEFAULT '',
    email_status    TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL DEFAULT '',
    sent_at         TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX notifications_due ON notifications (email_status, next_attempt_at);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE INDEX notifications_appointment ON notifications (appointment_id, kind) WHERE appointment_id <> '';
