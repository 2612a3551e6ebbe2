package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
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

func scanConsultation(row scanner) (*domain.Consultation, error) {
	var c domain.Consultation
	var consent, created, updated, signed string
	if err := row.Scan(&c.ID, &c.PatientID, &c.DoctorID, &c.DoctorUserID, &c.AppointmentID,
		&consent, &c.ConsentBy, &c.ConsentHow, &created, &updated,
		&c.Note.Reason, &c.Note.History, &c.Note.Findings, &c.Note.Plan, &c.NoteStatus, &c.NoteVersion, &c.DraftedBy, &signed, &c.SignedBy,
		&c.PatientName, &c.DoctorName); err != nil {
		return nil, err
	}
	return &c, times(&c.ConsentAt, consent, &c.CreatedAt, created, &c.UpdatedAt, updated, &c.SignedAt, signed)
}

// recordingColumns read a recording with its consultation's patient.
const recordingColumns = `r.id, r.consultation_id, c.patient_id, r.source, r.filename, r.sample_rate, r.samples, r.chunks, r.ended,
	r.transcribed_samples, r.engine, r.transcribe_error, r.created_at, r.updated_at, r.purged_at`

const recordingFrom = ` FROM recordings r JOIN consultations c ON c.id = r.consultation_id`

func scanRecording(row scanner) (*domain.Recording, error) {
	var r domain.Recording
	var created, updated, purged string
	if err := row.Scan(&r.ID, &r.ConsultationID, &r.PatientID, &r.Source, &r.Filename, &r.SampleRate, &r.Samples, &r.Chunks, &r.Ended,
		&r.TranscribedSamples, &r.Engine, &r.TranscribeError, &created, &updated, &purged); err != nil {
		return nil, err
	}
	return &r, times(&r.CreatedAt, created, &r.UpdatedAt, updated, &r.PurgedAt, purged)
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
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT name FROM patients WHERE id = ?`, c.PatientID).Scan(&c.PatientName); err == sql.ErrNoRows {
			return domain.Errorf(domain.ENOTFOUND, "No patient with that id.")
		} else if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT d.user_id, u.name FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = ?`,
			c.DoctorID).Scan(&c.DoctorUserID, &c.DoctorName); err == sql.ErrNoRows {
			return domain.Errorf(domain.ENOTFOUND, "No doctor with that id.")
		} else if err != nil {
			return err
		}
		if c.AppointmentID != "" {
			var patientID string
			if err := tx.QueryRowContext(ctx, `SELECT patient_id FROM appointments WHERE id = ?`, c.AppointmentID).Scan(&patientID); err == sql.ErrNoRows {
				return domain.Errorf(domain.ENOTFOUND, "No appointment with that id.")
			} else if err != nil {
				return err
			}
			if patientID != c.PatientID {
				return domain.Invalid("appointment_id", "That appointment is another patient's.")
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO consultations (id, patient_id, doctor_id, appointment_id, consent_at, consent_by, consent_how,
			created_at, updated_at, note_reason, note_history, note_findings, note_plan, note_status, note_version, drafted_by, signed_at, signed_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.PatientID, c.DoctorID, nullable(c.AppointmentID), fmtTime(c.ConsentAt), c.ConsentBy, c.ConsentHow,
			fmtTime(c.CreatedAt), fmtTime(c.UpdatedAt), c.Note.Reason, c.Note.History, c.Note.Findings, c.Note.Plan,
			c.NoteStatus, c.NoteVersion, c.DraftedBy, fmtTime(c.SignedAt), c.SignedBy)
		if isCode(err, 2067) { // SQLITE_CONSTRAINT_UNIQUE: the appointment's index, or the id
			if c.AppointmentID != "" {
				return domain.Errorf(domain.ECONFLICT, "This appointment already has a consultation.")
			}
			return domain.Errorf(domain.ECONFLICT, "A consultation with that id already exists.")
		}
		return err
	})
	return mapErr(err, "create consultation")
}

func (db *DB) Consultation(ctx context.Context, id string) (*domain.Consultation, error) {
	c, err := scanConsultation(db.reader.QueryRowContext(ctx, `SELECT `+consultColumns+consultFrom+` WHERE c.id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, noConsultation()
	}
	return c, mapErr(err, "read consultation")
}

func (db *DB) ListConsultations(ctx context.Context, f domain.ConsultFilter) ([]*domain.Consultation, error) {
	var where []string
	var args []any
	if f.PatientID != "" {
		where, args = append(where, "c.patient_id = ?"), append(args, f.PatientID)
	}
	if f.DoctorID != "" {
		where, args = append(where, "c.doctor_id = ?"), append(args, f.DoctorID)
	}
	if f.AppointmentID != "" {
		where, args = append(where, "c.appointment_id = ?"), append(args, f.AppointmentID)
	}
	if f.SignedOnly {
		where = append(where, "c.note_status = 'signed'")
	}
	q := `SELECT ` + consultColumns + consultFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY c.created_at DESC, c.id DESC LIMIT ?"
	rows, err := db.reader.QueryContext(ctx, q, append(args, limitOr(f.Limit, 100))...)
	if err != nil {
		return nil, mapErr(err, "list consultations")
	}
	defer rows.Close()
	out := []*domain.Consultation{}
	for rows.Next() {
		c, err := scanConsultation(rows)
		if err != nil {
			return nil, mapErr(err, "list consultations")
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err(), "list consultations")
}

func (db *DB) SetConsent(ctx context.Context, id, how, by string, at time.Time) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE consultations SET consent_at = ?, consent_by = ?, consent_how = ?, updated_at = ? WHERE id = ?`,
		fmtTime(at), by, how, fmtTime(at), id)
	if err != nil {
		return mapErr(err, "note consent")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noConsultation()
	}
	return nil
}

func (db *DB) SaveNote(ctx context.Context, id string, version int64, note domain.VisitNote, status, draftedBy, signedBy string, at time.Time) (*domain.Consultation, error) {
	if err := domain.CheckNoteSave(status, signedBy); err != nil {
		return nil, err
	}
	signedAt := ""
	if status == domain.NoteSigned {
		signedAt = fmtTime(at)
	} else {
		signedBy = ""
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var current string
		var stored int64
		if err := tx.QueryRowContext(ctx, `SELECT note_status, note_version FROM consultations WHERE id = ?`, id).Scan(&current, &stored); err == sql.ErrNoRows {
			return noConsultation()
		} else if err != nil {
			return err
		}
		if err := domain.NoteSaveConflict(current, stored, version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE consultations SET note_reason = ?, note_history = ?, note_findings = ?, note_plan = ?,
			note_status = ?, note_version = note_version + 1, drafted_by = ?, signed_at = ?, signed_by = ?, updated_at = ? WHERE id = ?`,
			note.Reason, note.History, note.Findings, note.Plan, status, draftedBy, signedAt, signedBy, fmtTime(at), id)
		return err
	})
	if err != nil {
		return nil, mapErr(err, "save note")
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
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT patient_id FROM consultations WHERE id = ?`, r.ConsultationID).Scan(&r.PatientID); err == sql.ErrNoRows {
			return noConsultation()
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO recordings (id, consultation_id, source, filename, sample_rate, ended, engine, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.ConsultationID, r.Source, r.Filename, r.SampleRate, r.Ended, r.Engine, fmtTime(r.CreatedAt), fmtTime(r.UpdatedAt))
		return err
	})
	return mapErr(err, "create recording")
}

func (db *DB) Recording(ctx context.Context, id string) (*domain.Recording, error) {
	r, err := scanRecording(db.reader.QueryRowContext(ctx, `SELECT `+recordingColumns+recordingFrom+` WHERE r.id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, noRecording()
	}
	return r, mapErr(err, "read recording")
}

func (db *DB) Recordings(ctx context.Context, consultationID string) ([]*domain.Recording, error) {
	return db.listRecordings(ctx, "list recordings", ` WHERE r.consultation_id = ? ORDER BY r.created_at, r.id`, consultationID)
}

func (db *DB) listRecordings(ctx context.Context, what, where string, args ...any) ([]*domain.Recording, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+recordingColumns+recordingFrom+where, args...)
	if err != nil {
		return nil, mapErr(err, what)
	}
	defer rows.Close()
	out := []*domain.Recording{}
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, mapErr(err, what)
		}
		out = append(out, r)
	}
	return out, mapErr(rows.Err(), what)
}

func (db *DB) AddAudioChunk(ctx context.Context, c *domain.AudioChunk) (bool, error) {
	if err := domain.CheckAudioChunk(c); err != nil {
		return false, err
	}
	var added bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		added = false
		var chunks, samples int64
		var ended bool
		var purged string
		if err := tx.QueryRowContext(ctx, `SELECT chunks, samples, ended, purged_at FROM recordings WHERE id = ?`, c.RecordingID).
			Scan(&chunks, &samples, &ended, &purged); err == sql.ErrNoRows {
			return noRecording()
		} else if err != nil {
			return err
		}
		if purged == "" && c.Seq < chunks {
			var stored int64
			err := tx.QueryRowContext(ctx, `SELECT samples FROM audio_chunks WHERE recording_id = ? AND seq = ?`, c.RecordingID, c.Seq).Scan(&stored)
			if err != nil && err != sql.ErrNoRows {
				return err
			}
			if err == nil && stored == c.Samples {
				return nil // sent again after a reconnect: already stored
			}
		}
		if err := domain.AudioChunkConflict(c, chunks, samples, ended, purged != ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audio_chunks (recording_id, seq, blob_key, start_sample, samples, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.RecordingID, c.Seq, c.BlobKey, c.StartSample, c.Samples, fmtTime(c.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE recordings SET chunks = chunks + 1, samples = samples + ?, updated_at = ? WHERE id = ?`,
			c.Samples, fmtTime(c.CreatedAt), c.RecordingID); err != nil {
			return err
		}
		added = true
		return nil
	})
	return added, mapErr(err, "add audio chunk")
}

func (db *DB) AudioChunks(ctx context.Context, recordingID string, from, to int64) ([]*domain.AudioChunk, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT recording_id, seq, blob_key, start_sample, samples, created_at FROM audio_chunks
		WHERE recording_id = ? AND start_sample + samples > ? AND (? <= 0 OR start_sample < ?) ORDER BY seq`, recordingID, from, to, to)
	if err != nil {
		return nil, mapErr(err, "list audio chunks")
	}
	defer rows.Close()
	out := []*domain.AudioChunk{}
	for rows.Next() {
		var c domain.AudioChunk
		var created string
		if err := rows.Scan(&c.RecordingID, &c.Seq, &c.BlobKey, &c.StartSample, &c.Samples, &created); err != nil {
			return nil, mapErr(err, "list audio chunks")
		}
		if c.CreatedAt, err = parseTime(created); err != nil {
			return nil, mapErr(err, "list audio chunks")
		}
		out = append(out, &c)
	}
	return out, mapErr(rows.Err(), "list audio chunks")
}

func (db *DB) EndRecording(ctx context.Context, id string, at time.Time) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE recordings SET ended = 1, updated_at = ? WHERE id = ?`, fmtTime(at), id)
	if err != nil {
		return mapErr(err, "end recording")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noRecording()
	}
	return nil
}

func (db *DB) PendingRecordings(ctx context.Context, limit int) ([]*domain.Recording, error) {
	return db.listRecordings(ctx, "pending recordings", ` WHERE r.purged_at = '' AND r.transcribed_samples < r.samples
		ORDER BY r.created_at, r.id LIMIT ?`, limitOr(limit, 100))
}

// AddTranscript also clears the recording's transcription error: the
// engine has just succeeded.
func (db *DB) AddTranscript(ctx context.Context, recordingID string, from, upTo int64, segs []*domain.TranscriptSegment, engine string, at time.Time) (bool, error) {
	if err := domain.CheckTranscript(from, upTo, segs); err != nil {
		return false, err
	}
	var done bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		done = false
		var consultationID string
		var mark, samples int64
		if err := tx.QueryRowContext(ctx, `SELECT consultation_id, transcribed_samples, samples FROM recordings WHERE id = ?`, recordingID).
			Scan(&consultationID, &mark, &samples); err == sql.ErrNoRows {
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
		if _, err := tx.ExecContext(ctx, `UPDATE recordings SET transcribed_samples = ?, engine = ?, transcribe_error = '', updated_at = ? WHERE id = ?`,
			upTo, engine, fmtTime(at), recordingID); err != nil {
			return err
		}
		for _, s := range segs {
			if s.ID == "" {
				s.ID = newID()
			}
			if s.CreatedAt.IsZero() {
				s.CreatedAt = at
			}
			s.RecordingID, s.ConsultationID = recordingID, consultationID
			if _, err := tx.ExecContext(ctx, `INSERT INTO transcript_segments (id, recording_id, consultation_id, start_ms, end_ms, speaker, text, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.RecordingID, s.ConsultationID, s.StartMS, s.EndMS, s.Speaker, s.Text, fmtTime(s.CreatedAt)); err != nil {
				return err
			}
		}
		done = true
		return nil
	})
	return done, mapErr(err, "add transcript")
}

func (db *DB) SetTranscribeError(ctx context.Context, recordingID, engine, msg string, at time.Time) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE recordings SET engine = ?, transcribe_error = ?, updated_at = ? WHERE id = ?`,
		engine, msg, fmtTime(at), recordingID)
	if err != nil {
		return mapErr(err, "record transcription error")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noRecording()
	}
	return nil
}

func (db *DB) Transcript(ctx context.Context, consultationID string) ([]*domain.TranscriptSegment, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT s.id, s.recording_id, s.consultation_id, s.start_ms, s.end_ms, s.speaker, s.text, s.created_at
		FROM transcript_segments s JOIN recordings r ON r.id = s.recording_id
		WHERE s.consultation_id = ? ORDER BY r.created_at, r.id, s.start_ms, s.end_ms, s.id`, consultationID)
	if err != nil {
		return nil, mapErr(err, "read transcript")
	}
	defer rows.Close()
	out := []*domain.TranscriptSegment{}
	for rows.Next() {
		var s domain.TranscriptSegment
		var created string
		if err := rows.Scan(&s.ID, &s.RecordingID, &s.ConsultationID, &s.StartMS, &s.EndMS, &s.Speaker, &s.Text, &created); err != nil {
			return nil, mapErr(err, "read transcript")
		}
		if s.CreatedAt, err = parseTime(created); err != nil {
			return nil, mapErr(err, "read transcript")
		}
		out = append(out, &s)
	}
	return out, mapErr(rows.Err(), "read transcript")
}

func (db *DB) RecordingsSignedBefore(ctx context.Context, t time.Time, limit int) ([]*domain.Recording, error) {
	return db.listRecordings(ctx, "recordings past retention", ` WHERE r.purged_at = '' AND c.note_status = 'signed' AND c.signed_at < ?
		AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.patient_id = c.patient_id)
		ORDER BY c.signed_at, r.id LIMIT ?`, fmtTime(t), limitOr(limit, 100))
}

// PurgeRecordingAudio leaves a recording whose patient is on legal hold
// alone (0 chunks), as it does one already purged: a hold stops every purge.
func (db *DB) PurgeRecordingAudio(ctx context.Context, id string, at time.Time) (int, error) {
	var n int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		var purged string
		var held bool
		if err := tx.QueryRowContext(ctx, `SELECT r.purged_at, EXISTS (SELECT 1 FROM legal_holds h WHERE h.patient_id = c.patient_id)`+
			recordingFrom+` WHERE r.id = ?`, id).Scan(&purged, &held); err == sql.ErrNoRows {
			return noRecording()
		} else if err != nil {
			return err
		}
		if purged != "" || held {
			return nil
		}
		var err error
		if n, err = deleteChunks(ctx, tx, `recording_id = ?`, at, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE recordings SET purged_at = ?, updated_at = ? WHERE id = ?`, fmtTime(at), fmtTime(at), id)
		return err
	})
	return n, mapErr(err, "purge recording audio")
}

// deleteChunks deletes the audio chunks matching where (a condition on
// audio_chunks), queueing their blobs as garbage at time at.
func deleteChunks(ctx context.Context, tx *sql.Tx, where string, at time.Time, args ...any) (int, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_garbage (key, queued_at) SELECT DISTINCT blob_key, ? FROM audio_chunks WHERE `+where+`
		ON CONFLICT (key) DO NOTHING`, append([]any{fmtTime(at)}, args...)...); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM audio_chunks WHERE `+where, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (db *DB) BlobGarbage(ctx context.Context, limit int) ([]string, error) {
	var out []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = []string{}
		// A key queued by one recording's purge may still be another's
		// (chunks of the same content share a blob).
		if _, err := tx.ExecContext(ctx, `DELETE FROM blob_garbage WHERE EXISTS (SELECT 1 FROM audio_chunks a WHERE a.blob_key = blob_garbage.key)`); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT key FROM blob_garbage ORDER BY queued_at, key LIMIT ?`, limitOr(limit, 100))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, mapErr(err, "list blob garbage")
}

func (db *DB) DropBlobGarbage(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return mapErr(db.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM blob_garbage WHERE key = ?`, k); err != nil {
				return err
			}
		}
		return nil
	}), "drop blob garbage")
}
