-- Patients, doctors, availability, appointments and the notification outbox.

-- In public, so that dropping another schema never takes it along.
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;

CREATE TABLE patients (
    id                      text PRIMARY KEY,
    user_id                 text UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    name                    text NOT NULL,
    date_of_birth           text NOT NULL,
    sex                     text NOT NULL DEFAULT '',
    phone                   text NOT NULL DEFAULT '',
    email                   text NOT NULL DEFAULT '',
    address                 jsonb NOT NULL DEFAULT '{}',
    emergency_contacts      jsonb NOT NULL DEFAULT '[]',
    insurance_provider      text NOT NULL DEFAULT '',
    insurance_member_sealed text NOT NULL DEFAULT '',
    national_id_sealed      text NOT NULL DEFAULT '',
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);
CREATE INDEX patients_name ON patients (name);

CREATE TABLE clinical_entries (
    id          text PRIMARY KEY,
    patient_id  text NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('condition', 'allergy', 'medication')),
    description text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    status      text NOT NULL,
    onset_date  text NOT NULL DEFAULT '',
    end_date    text NOT NULL DEFAULT '',
    notes       text NOT NULL DEFAULT '',
    recorded_by text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX clinical_entries_patient ON clinical_entries (patient_id, kind);

CREATE TABLE patient_changes (
    id         text PRIMARY KEY,
    patient_id text NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    entity     text NOT NULL,
    entity_id  text NOT NULL,
    action     text NOT NULL,
    fields     jsonb NOT NULL,
    actor_id   text NOT NULL,
    actor_role text NOT NULL,
    at         timestamptz NOT NULL
);
CREATE INDEX patient_changes_patient ON patient_changes (patient_id, at);

CREATE TABLE doctors (
    id               text PRIMARY KEY,
    user_id          text NOT NULL UNIQUE REFERENCES users (id),
    specialization   text NOT NULL,
    qualifications   jsonb NOT NULL DEFAULT '[]',
    license_number   text NOT NULL DEFAULT '',
    years_experience integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX doctors_specialization ON doctors (specialization);

CREATE TABLE availability (
    doctor_id  text PRIMARY KEY REFERENCES doctors (id) ON DELETE CASCADE,
    spec       jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE appointments (
    id              text PRIMARY KEY,
    doctor_id       text NOT NULL REFERENCES doctors (id),
    patient_id      text NOT NULL REFERENCES patients (id),
    start_at        timestamptz NOT NULL,
    end_at          timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('proposed', 'pending', 'booked', 'arrived', 'fulfilled',
                        'cancelled', 'noshow', 'entered-in-error', 'checked-in', 'waitlist')),
    reason          text NOT NULL DEFAULT '',
    cancel_reason   text NOT NULL DEFAULT '',
    created_by      text NOT NULL,
    idempotency_key text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (end_at > start_at),
    -- No two blocking appointments of one doctor overlap.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        doctor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled'))
);
CREATE INDEX appointments_doctor_time ON appointments (doctor_id, start_at);
CREATE INDEX appointments_patient_time ON appointments (patient_id, start_at);
CREATE INDEX appointments_start ON appointments (start_at);
CREATE UNIQUE INDEX appointments_idempotency ON appointments (created_by, idempotency_key) WHERE idempotency_key <> '';

CREATE TABLE notifications (
    id              text PRIMARY KEY,
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    appointment_id  text NOT NULL DEFAULT '',
    subject         text NOT NULL,
    body            text NOT NULL,
    dedupe_key      text UNIQUE,
    created_at      timestamptz NOT NULL,
    read_at         timestamptz,
    email_status    text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    sent_at         timestamptz,
    last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX notifications_due ON notifications (email_status, next_attempt_at);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE INDEX notifications_appointment ON notifications (appointment_id, kind) WHERE appointment_id <> '';
