-- Consultations: the visit as the doctor records it (consent, the note and
-- its signature), its recordings stored as numbered chunks in the blob store,
-- the transcript, and the queue of blobs no longer needed.
--
-- A patient's consultations are removed with the patient by retention
-- (PurgePatient), which first queues their audio's blobs as garbage; the
-- patient key has no cascade, so no other deletion can leave blobs behind.

CREATE TABLE consultations (
    id             text PRIMARY KEY,
    patient_id     text NOT NULL REFERENCES patients (id),
    doctor_id      text NOT NULL REFERENCES doctors (id),
    appointment_id text REFERENCES appointments (id) ON DELETE SET NULL,
    consent_at     timestamptz,
    consent_by     text NOT NULL DEFAULT '',
    consent_how    text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    note_reason    text NOT NULL DEFAULT '',
    note_history   text NOT NULL DEFAULT '',
    note_findings  text NOT NULL DEFAULT '',
    note_plan      text NOT NULL DEFAULT '',
    note_status    text NOT NULL DEFAULT 'none' CHECK (note_status IN ('none', 'draft', 'signed')),
    note_version   bigint NOT NULL DEFAULT 0,
    drafted_by     text NOT NULL DEFAULT '',
    signed_at      timestamptz,
    signed_by      text NOT NULL DEFAULT '',
    CHECK ((note_status = 'signed') = (signed_at IS NOT NULL))
);
CREATE INDEX consultations_patient ON consultations (patient_id, created_at);
CREATE INDEX consultations_doctor ON consultations (doctor_id, created_at);
-- One consultation per appointment.
CREATE UNIQUE INDEX consultations_appointment ON consultations (appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX consultations_signed ON consultations (signed_at) WHERE note_status = 'signed';

-- A signed note is final: neither it nor its signature changes.
CREATE FUNCTION consultations_signed_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.note_status = 'signed' AND (NEW.note_status, NEW.note_reason, NEW.note_history, NEW.note_findings, NEW.note_plan,
            NEW.note_version, NEW.drafted_by, NEW.signed_at, NEW.signed_by)
        IS DISTINCT FROM (OLD.note_status, OLD.note_reason, OLD.note_history, OLD.note_findings, OLD.note_plan,
            OLD.note_version, OLD.drafted_by, OLD.signed_at, OLD.signed_by) THEN
        RAISE EXCEPTION 'consultation_note_signed' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER consultations_signed_final BEFORE UPDATE ON consultations
    FOR EACH ROW EXECUTE FUNCTION consultations_signed_final();

CREATE TABLE recordings (
    id                  text PRIMARY KEY,
    consultation_id     text NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    source              text NOT NULL CHECK (source IN ('stream', 'upload')),
    filename            text NOT NULL DEFAULT '',
    sample_rate         integer NOT NULL CHECK (sample_rate > 0),
    samples             bigint NOT NULL DEFAULT 0 CHECK (samples >= 0),
    chunks              bigint NOT NULL DEFAULT 0 CHECK (chunks >= 0),
    ended               boolean NOT NULL DEFAULT false,
    transcribed_samples bigint NOT NULL DEFAULT 0 CHECK (transcribed_samples >= 0 AND transcribed_samples <= samples),
    engine              text NOT NULL DEFAULT '',
    transcribe_error    text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    purged_at           timestamptz
);
CREATE INDEX recordings_consultation ON recordings (consultation_id, created_at);
CREATE INDEX recordings_pending ON recordings (created_at, id) WHERE purged_at IS NULL AND transcribed_samples < samples;

CREATE TABLE audio_chunks (
    recording_id text NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    seq          bigint NOT NULL CHECK (seq >= 0),
    blob_key     text NOT NULL,
    start_sample bigint NOT NULL CHECK (start_sample >= 0),
    samples      bigint NOT NULL CHECK (samples > 0),
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (recording_id, seq)
);
CREATE INDEX audio_chunks_blob ON audio_chunks (blob_key);

CREATE TABLE transcript_segments (
    id              text PRIMARY KEY,
    recording_id    text NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    consultation_id text NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    start_ms        bigint NOT NULL CHECK (start_ms >= 0),
    end_ms          bigint NOT NULL CHECK (end_ms >= start_ms),
    speaker         text NOT NULL DEFAULT '',
    text            text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX transcript_segments_recording ON transcript_segments (recording_id, start_ms);
CREATE INDEX transcript_segments_consultation ON transcript_segments (consultation_id);

-- Blobs whose chunks are gone, waiting to be deleted from the blob store.
CREATE TABLE blob_garbage (
    key       text PRIMARY KEY,
    queued_at timestamptz NOT NULL
);
CREATE INDEX blob_garbage_queued ON blob_garbage (queued_at, key);
