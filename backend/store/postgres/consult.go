package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

var _ domain.ConsultStore = (*DB)(nil)

const consultColumns = `c.id, c.patient_id, c.doctor_id, COALESCE(d.user_id, ''), COALESCE(c.appointment_id, ''),
	c.consent_at, c.consent_by, c.consent_how, c.created_at, c.updated_at,
	c.note_reason, c.note_history, c.note_findings, c.note_plan, c.note_status, c.note_version, c.drafted_by, c.signed_at, c.signed_by,
	COALESCE(p.name, ''), COALESCE(u.name, '')`

const consultFrom = ` FROM consultations c
	LEFT JOIN patients p ON p.id = c.patient_id
	LEFT JOIN doctors d ON d.id = c.doctor_id
	LEFT JOIN users u ON u.id = d.user_id`

func scanConsultation(row pgx.Row) (*domain.Consultation, error) {
	var c domain.Consultation
	var consent, signed *time.Time
	if err := row.Scan(&c.ID, &c.PatientID, &c.DoctorID, &c.DoctorUserID, &c.AppointmentID,
		&consent, &c.ConsentBy, &c.ConsentHow, &c.CreatedAt, &c.UpdatedAt,
		&c.Note.Reason, &c.Note.History, &c.Note.Findings, &c.Note.Plan, &c.NoteStatus, &c.NoteVersion, &c.DraftedBy, &signed, &c.SignedBy,
		&c.PatientName, &c.DoctorName); err != nil {
		return nil, err
	}
	c.ConsentAt, c.SignedAt, c.CreatedAt, c.UpdatedAt = fromNull(consent), fromNull(signed), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// recordingColumns read a recording with its consultation's patient.
const recordingColumns = `r.id, r.consultation_id, c.patient_id, r.source, r.filename, r.sample_rate, r.samples, r.chunks, r.ended,
	r.transcribed_samples, r.engine, r.transcribe_error, r.created_at, r.updated_at, r.purged_at`

const recordingFrom = ` FROM recordings r JOIN consultations c ON c.id = r.consultation_id`

func scanRecording(row pgx.Row) (*domain.Recording, error) {
	var r domain.Recording
	var purged *time.Time
	if err := row.Scan(&r.ID, &r.ConsultationID, &r.PatientID, &r.Source, &r.Filename, &r.SampleRate, &r.Samples, &r.Chunks, &r.Ended,
		&r.TranscribedSamples, &r.Engine, &r.TranscribeError, &r.CreatedAt, &r.UpdatedAt, &purged); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt, r.PurgedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC(), fromNull(purged)
	return &r, nil
}

func noConsultation() error { return domain.Errorf(domain.ENOTFOUND, "No consultation with that id.") }
func noRecording() error    { return domain.Errorf(domain.ENOTFOUND, "No recording with that id.") }

func (db *DB) CreateConsultation(ctx context.Context, c *domain.Consultation) error {
	if c.ID == "" {
		c.ID = newID()
	}
	if c.NoteStatus == "" {
		c.NoteStatus = domain.NoteNone
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	if err := domain.CheckNewConsultation(c); err != nil {
		return err
	}
	return db.tx(ctx, "create consultation", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT name FROM patients WHERE id = $1`, c.PatientID).Scan(&c.PatientName); errors.Is(err, pgx.ErrNoRows) {
			return domain.Errorf(domain.ENOTFOUND, "No patient with that id.")
		} else if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT d.user_id, u.name FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = $1`,
			c.DoctorID).Scan(&c.DoctorUserID, &c.DoctorName); errors.Is(err, pgx.ErrNoRows) {
			return domain.Errorf(domain.ENOTFOUND, "No doctor with that id.")
		} else if err != nil {
			return err
		}
		var appointment *string
		if c.AppointmentID != "" {
			var patientID string
			if err := tx.QueryRow(ctx, `SELECT patient_id FROM appointments WHERE id = $1`, c.AppointmentID).Scan(&patientID); errors.Is(err, pgx.ErrNoRows) {
				return domain.Errorf(domain.ENOTFOUND, "No appointment with that id.")
			} else if err != nil {
				return err
			}
			if patientID != c.PatientID {
				return domain.Invalid("appointment_id", "That appointment is another patient's.")
			}
			appointment = &c.AppointmentID
		}
		_, err := tx.Exec(ctx, `INSERT INTO consultations (id, patient_id, doctor_id, appointment_id, consent_at, consent_by, consent_how,
			created_at, updated_at, note_reason, note_history, note_findings, note_plan, note_status, note_version, drafted_by, signed_at, signed_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			c.ID, c.PatientID, c.DoctorID, appointment, nullTime(c.ConsentAt), c.ConsentBy, c.ConsentHow,
			c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.Note.Reason, c.Note.History, c.Note.Findings, c.Note.Plan,
			c.NoteStatus, c.NoteVersion, c.DraftedBy, nullTime(c.SignedAt), c.SignedBy)
		if pgCode(err) == "23505" { // the appointment's unique index, or the id
			if c.AppointmentID != "" {
				return domain.Errorf(domain.ECONFLICT, "This appointment already has a consultation.")
			}
			return domain.Errorf(domain.ECONFLICT, "A consultation with that id already exists.")
		}
		return err
	})
}

func (db *DB) Consultation(ctx context.Context, id string) (*domain.Consultation, error) {
	c, err := scanConsultation(db.pool.QueryRow(ctx, `SELECT `+consultColumns+consultFrom+` WHERE c.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, noConsultation()
	}
	return c, mapErr(err, "read consultation")
}

func (db *DB) ListConsultations(ctx context.Context, f domain.ConsultFilter) ([]*domain.Consultation, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.PatientID != "" {
		add("c.patient_id = $%d", f.PatientID)
	}
	if f.DoctorID != "" {
		add("c.doctor_id = $%d", f.DoctorID)
	}
	if f.AppointmentID != "" {
		add("c.appointment_id = $%d", f.AppointmentID)
	}
	if f.SignedOnly {
		where = append(where, "c.note_status = 'signed'")
	}
	q := `SELECT ` + consultColumns + consultFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limitOr(f.Limit, 100))
	q += fmt.Sprintf(" ORDER BY c.created_at DESC, c.id DESC LIMIT $%d", len(args))
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list consultations")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.Consultation, error) { return scanConsultation(r) })
	if out == nil {
		out = []*domain.Consultation{}
	}
	return out, mapErr(err, "list consultations")
}

func limitOr(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}

func (db *DB) SetConsent(ctx context.Context, id, how, by string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE consultations SET consent_at = $1, consent_by = $2, consent_how = $3, updated_at = $1 WHERE id = $4`,
		at.UTC(), by, how, id)
	if err != nil {
		return mapErr(err, "note consent")
	}
	if tag.RowsAffected() == 0 {
		return noConsultation()
	}
	return nil
}

func (db *DB) SaveNote(ctx context.Context, id string, version int64, note domain.VisitNote, status, draftedBy, signedBy string, at time.Time) (*domain.Consultation, error) {
	if err := domain.CheckNoteSave(status, signedBy); err != nil {
		return nil, err
	}
	var signedAt *time.Time
	if status == domain.NoteSigned {
		signedAt = nullTime(at)
	} else {
		signedBy = ""
	}
	err := db.tx(ctx, "save note", func(tx pgx.Tx) error {
		var current string
		var stored int64
		if err := tx.QueryRow(ctx, `SELECT note_status, note_version FROM consultations WHERE id = $1 FOR UPDATE`, id).Scan(&current, &stored); errors.Is(err, pgx.ErrNoRows) {
			return noConsultation()
		} else if err != nil {
			return err
		}
		if err := domain.NoteSaveConflict(current, stored, version); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE consultations SET note_reason = $1, note_history = $2, note_findings = $3, note_plan = $4,
			note_status = $5, note_version = note_version + 1, drafted_by = $6, signed_at = $7, signed_by = $8, updated_at = $9 WHERE id = $10`,
			note.Reason, note.History, note.Findings, note.Plan, status, draftedBy, signedAt, signedBy, at.UTC(), id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.Consultation(ctx, id)
}

func (db *DB) CreateRecording(ctx context.Context, r *domain.Recording) error {
	if r.ID == "" {
		r.ID = newID()
	}
	if err := domain.CheckNewRecording(r); err != nil {
		return err
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	r.Samples, r.Chunks, r.TranscribedSamples, r.TranscribeError, r.PurgedAt = 0, 0, 0, "", time.Time{}
	return db.tx(ctx, "create recording", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT patient_id FROM consultations WHERE id = $1`, r.ConsultationID).Scan(&r.PatientID); errors.Is(err, pgx.ErrNoRows) {
			return noConsultation()
		} else if err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO recordings (id, consultation_id, source, filename, sample_rate, ended, engine, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.ID, r.ConsultationID, r.Source, r.Filename, r.SampleRate, r.Ended, r.Engine, r.CreatedAt.UTC(), r.UpdatedAt.UTC())
		return err
	})
}

func (db *DB) Recording(ctx context.Context, id string) (*domain.Recording, error) {
	r, err := scanRecording(db.pool.QueryRow(ctx, `SELECT `+recordingColumns+recordingFrom+` WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, noRecording()
	}
	return r, mapErr(err, "read recording")
}

func (db *DB) Recordings(ctx context.Context, consultationID string) ([]*domain.Recording, error) {
	return db.listRecordings(ctx, "list recordings", ` WHERE r.consultation_id = $1 ORDER BY r.created_at, r.id`, consultationID)
}

func (db *DB) listRecordings(ctx context.Context, what, where string, args ...any) ([]*domain.Recording, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+recordingColumns+recordingFrom+where, args...)
	if err != nil {
		return nil, mapErr(err, what)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.Recording, error) { return scanRecording(r) })
	if out == nil {
		out = []*domain.Recording{}
	}
	return out, mapErr(err, what)
}

func (db *DB) AddAudioChunk(ctx context.Context, c *domain.AudioChunk) (bool, error) {
	if err := domain.CheckAudioChunk(c); err != nil {
		return false, err
	}
	var added bool
	err := db.tx(ctx, "add audio chunk", func(tx pgx.Tx) error {
		added = false
		var chunks, samples int64
		var ended bool
		var purged *time.Time
		if err := tx.QueryRow(ctx, `SELECT chunks, samples, ended, purged_at FROM recordings WHERE id = $1 FOR UPDATE`, c.RecordingID).
			Scan(&chunks, &samples, &ended, &purged); errors.Is(err, pgx.ErrNoRows) {
			return noRecording()
		} else if err != nil {
			return err
		}
		if purged == nil && c.Seq < chunks {
			var stored int64
			err := tx.QueryRow(ctx, `SELECT samples FROM audio_chunks WHERE recording_id = $1 AND seq = $2`, c.RecordingID, c.Seq).Scan(&stored)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if err == nil && stored == c.Samples {
				return nil // sent again after a reconnect: already stored
			}
		}
		if err := domain.AudioChunkConflict(c, chunks, samples, ended, purged != nil); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audio_chunks (recording_id, seq, blob_key, start_sample, samples, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, c.RecordingID, c.Seq, c.BlobKey, c.StartSample, c.Samples, c.CreatedAt.UTC()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE recordings SET chunks = chunks + 1, samples = samples + $1, updated_at = $2 WHERE id = $3`,
			c.Samples, c.CreatedAt.UTC(), c.RecordingID); err != nil {
			return err
		}
		added = true
		return nil
	})
	return added, err
}

func (db *DB) AudioChunks(ctx context.Context, recordingID string, from, to int64) ([]*domain.AudioChunk, error) {
	rows, err := db.pool.Query(ctx, `SELECT recording_id, seq, blob_key, start_sample, samples, created_at FROM audio_chunks
		WHERE recording_id = $1 AND start_sample + samples > $2 AND ($3 <= 0 OR start_sample < $3) ORDER BY seq`, recordingID, from, to)
	if err != nil {
		return nil, mapErr(err, "list audio chunks")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.AudioChunk, error) {
		var c domain.AudioChunk
		err := r.Scan(&c.RecordingID, &c.Seq, &c.BlobKey, &c.StartSample, &c.Samples, &c.CreatedAt)
		c.CreatedAt = c.CreatedAt.UTC()
		return &c, err
	})
	if out == nil {
		out = []*domain.AudioChunk{}
	}
	return out, mapErr(err, "list audio chunks")
}

func (db *DB) EndRecording(ctx context.Context, id string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE recordings SET ended = true, updated_at = $1 WHERE id = $2`, at.UTC(), id)
	if err != nil {
		return mapErr(err, "end recording")
	}
	if tag.RowsAffected() == 0 {
		return noRecording()
	}
	return nil
}

func (db *DB) PendingRecordings(ctx context.Context, limit int) ([]*domain.Recording, error) {
	return db.listRecordings(ctx, "pending recordings", ` WHERE r.purged_at IS NULL AND r.transcribed_samples < r.samples
		ORDER BY r.created_at, r.id LIMIT $1`, limitOr(limit, 100))
}

// AddTranscript also clears the recording's transcription error: the
// engine has just succeeded.
func (db *DB) AddTranscript(ctx context.Context, recordingID string, from, upTo int64, segs []*domain.TranscriptSegment, engine string, at time.Time) (bool, error) {
	if err := domain.CheckTranscript(from, upTo, segs); err != nil {
		return false, err
	}
	var done bool
	err := db.tx(ctx, "add transcript", func(tx pgx.Tx) error {
		done = false
		var consultationID string
		var mark, samples int64
		// The row lock makes a second worker wait, then see the mark moved.
		if err := tx.QueryRow(ctx, `SELECT consultation_id, transcribed_samples, samples FROM recordings WHERE id = $1 FOR UPDATE`, recordingID).
			Scan(&consultationID, &mark, &samples); errors.Is(err, pgx.ErrNoRows) {
			return noRecording()
		} else if err != nil {
			return err
		}
		if mark != from {
			return nil
		}
		if upTo > samples {
			return domain.Invalid("transcribed_samples", "The transcript reaches sample %d, past the %d samples recorded.", upTo, samples)
		}
		if _, err := tx.Exec(ctx, `UPDATE recordings SET transcribed_samples = $1, engine = $2, transcribe_error = '', updated_at = $3 WHERE id = $4`,
			upTo, engine, at.UTC(), recordingID); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for _, s := range segs {
			if s.ID == "" {
				s.ID = newID()
			}
			if s.CreatedAt.IsZero() {
				s.CreatedAt = at
			}
			s.RecordingID, s.ConsultationID = recordingID, consultationID
			batch.Queue(`INSERT INTO transcript_segments (id, recording_id, consultation_id, start_ms, end_ms, speaker, text, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, s.ID, s.RecordingID, s.ConsultationID, s.StartMS, s.EndMS, s.Speaker, s.Text, s.CreatedAt.UTC())
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

func (db *DB) SetTranscribeError(ctx context.Context, recordingID, engine, msg string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE recordings SET engine = $1, transcribe_error = $2, updated_at = $3 WHERE id = $4`,
		engine, msg, at.UTC(), recordingID)
	if err != nil {
		return mapErr(err, "record transcription error")
	}
	if tag.RowsAffected() == 0 {
		return noRecording()
	}
	return nil
}

func (db *DB) Transcript(ctx context.Context, consultationID string) ([]*domain.TranscriptSegment, error) {
	rows, err := db.pool.Query(ctx, `SELECT s.id, s.recording_id, s.consultation_id, s.start_ms, s.end_ms, s.speaker, s.text, s.created_at
		FROM transcript_segments s JOIN recordings r ON r.id = s.recording_id
		WHERE s.consultation_id = $1 ORDER BY r.created_at, r.id, s.start_ms, s.end_ms, s.id`, consultationID)
	if err != nil {
		return nil, mapErr(err, "read transcript")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.TranscriptSegment, error) {
		var s domain.TranscriptSegment
		err := r.Scan(&s.ID, &s.RecordingID, &s.ConsultationID, &s.StartMS, &s.EndMS, &s.Speaker, &s.Text, &s.CreatedAt)
		s.CreatedAt = s.CreatedAt.UTC()
		return &s, err
	})
	if out == nil {
		out = []*domain.TranscriptSegment{}
	}
	return out, mapErr(err, "read transcript")
}

func (db *DB) RecordingsSignedBefore(ctx context.Context, t time.Time, limit int) ([]*domain.Recording, error) {
	return db.listRecordings(ctx, "recordings past retention", ` WHERE r.purged_at IS NULL AND c.note_status = 'signed' AND c.signed_at < $1
		AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.patient_id = c.patient_id)
		ORDER BY c.signed_at, r.id LIMIT $2`, t.UTC(), limitOr(limit, 100))
}

// PurgeRecordingAudio leaves a recording whose patient is on legal hold
// alone (0 chunks), as it does one already purged: a hold stops every purge.
func (db *DB) PurgeRecordingAudio(ctx context.Context, id string, at time.Time) (int, error) {
	var n int
	err := db.tx(ctx, "purge recording audio", func(tx pgx.Tx) error {
		n = 0
		var purged *time.Time
		var held bool
		if err := tx.QueryRow(ctx, `SELECT r.purged_at, EXISTS (SELECT 1 FROM legal_holds h WHERE h.patient_id = c.patient_id)`+
			recordingFrom+` WHERE r.id = $1 FOR UPDATE OF r`, id).Scan(&purged, &held); errors.Is(err, pgx.ErrNoRows) {
			return noRecording()
		} else if err != nil {
			return err
		}
		if purged != nil || held {
			return nil
		}
		var err error
		if n, err = deleteChunks(ctx, tx, `recording_id = $2`, at, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE recordings SET purged_at = $1, updated_at = $1 WHERE id = $2`, at.UTC(), id)
		return err
	})
	return n, err
}

// deleteChunks deletes the audio chunks matching where (a condition on
// audio_chunks whose one parameter is $2), queueing their blobs as garbage
// at time at, and returns how many it deleted.
func deleteChunks(ctx context.Context, tx pgx.Tx, where string, at time.Time, arg any) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `WITH gone AS (DELETE FROM audio_chunks WHERE `+where+` RETURNING blob_key),
		queued AS (INSERT INTO blob_garbage (key, queued_at) SELECT DISTINCT blob_key, $1::timestamptz FROM gone ON CONFLICT (key) DO NOTHING)
		SELECT count(*) FROM gone`, at.UTC(), arg).Scan(&n)
	return n, err
}

func (db *DB) BlobGarbage(ctx context.Context, limit int) ([]string, error) {
	var out []string
	err := db.tx(ctx, "list blob garbage", func(tx pgx.Tx) error {
		// A key queued by one recording's purge may still be another's
		// (chunks of the same content share a blob).
		if _, err := tx.Exec(ctx, `DELETE FROM blob_garbage g WHERE EXISTS (SELECT 1 FROM audio_chunks a WHERE a.blob_key = g.key)`); err != nil {
			return err
		}
		var err error
		out, err = collectStrings(ctx, tx, `SELECT key FROM blob_garbage ORDER BY queued_at, key LIMIT $1`, limitOr(limit, 100))
		return err
	})
	if out == nil {
		out = []string{}
	}
	return out, err
}

func (db *DB) DropBlobGarbage(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := db.pool.Exec(ctx, `DELETE FROM blob_garbage WHERE key = ANY($1)`, keys)
	return mapErr(err, "drop blob garbage")
}
