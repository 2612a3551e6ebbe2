-- Consultations: the visit as the doctor records it (consent, the note and
-- its signature), its recordings stored as numbered chunks in the blob store,
-- the transcript, and the queue of blobs no longer needed.
--
-- A patient's consultations are removed with the patient by retention
-- (PurgePatient), which first queues their audio's blobs as garbage; the
-- patient key has no cascade, so no other deletion can leave blobs behind.

CREATE TABLE consultations (
    id             TEXT PRIMARY KEY,
    patient_id     TEXT NOT NULL REFERENCES patients (id),
    doctor_id      TEXT NOT NULL REFERENCES doctors (id),
    appointment_id TEXT REFERENCES appointments (id) ON DELETE SET NULL,
    consent_at     TEXT NOT NULL DEFAULT '',
    consent_by     TEXT NOT NULL DEFAULT '',
    consent_how    TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    note_reason    TEXT NOT NULL DEFAULT '',
    note_history   TEXT NOT NULL DEFAULT '',
    note_findings  TEXT NOT NULL DEFAULT '',
    note_plan      TEXT NOT NULL DEFAULT '',
    note_status    TEXT NOT NULL DEFAULT 'none' CHECK (note_status IN ('none', 'draft', 'signed')),
    note_version   INTEGER NOT NULL DEFAULT 0,
    drafted_by     TEXT NOT NULL DEFAULT '',
    signed_at      TEXT NOT NULL DEFAULT '',
    signed_by      TEXT NOT NULL DEFAULT '',
    CHECK ((note_status = 'signed') = (signed_at <> ''))
) STRICT;
CREATE INDEX consultations_patient ON consultations (patient_id, created_at);
CREATE INDEX consultations_doctor ON consultations (doctor_id, created_at);
-- One consultation per appointment.
CREATE UNIQUE INDEX consultations_appointment ON consultations (appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX consultations_signed ON consultations (signed_at) WHERE note_status = 'signed';

-- A signed note is final: neither it nor its signature changes.
CREATE TRIGGER consultations_signed_final BEFORE UPDATE ON consultations
WHEN OLD.note_status = 'signed' AND NOT (NEW.note_status = 'signed'
    AND NEW.note_reason = OLD.note_reason AND NEW.note_history = OLD.note_history
    AND NEW.note_findings = OLD.note_findings AND NEW.note_plan = OLD.note_plan
    AND NEW.note_version = OLD.note_version AND NEW.drafted_by = OLD.drafted_by
    AND NEW.signed_at = OLD.signed_at AND NEW.signed_by = OLD.signed_by)
BEGIN
    SELECT RAISE(ABORT, 'consultation_note_signed');
END;

CREATE TABLE recordings (
    id                  TEXT PRIMARY KEY,
    consultation_id     TEXT NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    source              TEXT NOT NULL CHECK (source IN ('stream', 'upload')),
    filename            TEXT NOT NULL DEFAULT '',
    sample_rate         INTEGER NOT NULL CHECK (sample_rate > 0),
    samples             INTEGER NOT NULL DEFAULT 0 CHECK (samples >= 0),
    chunks              INTEGER NOT NULL DEFAULT 0 CHECK (chunks >= 0),
    ended               INTEGER NOT NULL DEFAULT 0,
    transcribed_samples INTEGER NOT NULL DEFAULT 0 CHECK (transcribed_samples >= 0 AND transcribed_samples <= samples),
    engine              TEXT NOT NULL DEFAULT '',
    transcribe_error    TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    purged_at           TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX recordings_consultation ON recordings (consultation_id, created_at);
CREATE INDEX recordings_pending ON recordings (created_at, id) WHERE purged_at = '' AND transcribed_samples < samples;

CREATE TABLE audio_chunks (
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL CHECK (seq >= 0),
    blob_key     TEXT NOT NULL,
    start_sample INTEGER NOT NULL CHECK (start_sample >= 0),
    samples      INTEGER NOT NULL CHECK (samples > 0),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (recording_id, seq)
) STRICT;
CREATE INDEX audio_chunks_blob ON audio_chunks (blob_key);

CREATE TABLE transcript_segments (
    id              TEXT PRIMARY KEY,
    recording_id    TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    consultation_id TEXT NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    start_ms        INTEGER NOT NULL CHECK (start_ms >= 0),
    end_ms          INTEGER NOT NULL CHECK (end_ms >= start_ms),
    speaker         TEXT NOT NULL DEFAULT '',
    text            TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX transcript_segments_recording ON transcript_segments (recording_id, start_ms);
CREATE INDEX transcript_segments_consultation ON transcript_segments (consultation_id);

-- Blobs whose chunks are gone, waiting to be deleted from the blob store.
CREATE TABLE blob_garbage (
    key       TEXT PRIMARY KEY,
    queued_at TEXT NOT NULL
) STRICT;
CREATE INDEX blob_garbage_queued ON blob_garbage (queued_at, key);
