package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

var _ domain.RetentionStore = (*DB)(nil)

func (db *DB) PutLegalHold(ctx context.Context, h *domain.LegalHold) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO legal_holds (patient_id, reason, placed_by, placed_at) VALUES ($1, $2, $3, $4)`,
		h.PatientID, h.Reason, h.PlacedBy, h.PlacedAt.UTC())
	return mapErr(err, "place legal hold")
}

func (db *DB) DeleteLegalHold(ctx context.Context, patientID string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM legal_holds WHERE patient_id = $1`, patientID)
	if err != nil {
		return mapErr(err, "lift legal hold")
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.ENOTFOUND, "This patient has no legal hold.")
	}
	return nil
}

func (db *DB) ListLegalHolds(ctx context.Context) ([]*domain.LegalHold, error) {
	rows, err := db.pool.Query(ctx, `SELECT h.patient_id, h.reason, h.placed_by, h.placed_at, COALESCE(p.name, '')
		FROM legal_holds h LEFT JOIN patients p ON p.id = h.patient_id ORDER BY h.placed_at, h.patient_id`)
	if err != nil {
		return nil, mapErr(err, "list legal holds")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.LegalHold, error) {
		var h domain.LegalHold
		err := r.Scan(&h.PatientID, &h.Reason, &h.PlacedBy, &h.PlacedAt, &h.PatientName)
		h.PlacedAt = h.PlacedAt.UTC()
		return &h, err
	})
	if out == nil {
		out = []*domain.LegalHold{}
	}
	return out, mapErr(err, "list legal holds")
}

// lastContact is a patient's last contact: the latest of the record's own
// times, its appointments' ends, its clinical entries', its consultations'
// and its changes' (GREATEST skips the NULLs of those it has none of).
const lastContact = `GREATEST(p.created_at, p.updated_at,
	(SELECT MAX(a.end_at) FROM appointments a WHERE a.patient_id = p.id),
	(SELECT MAX(c.updated_at) FROM clinical_entries c WHERE c.patient_id = p.id),
	(SELECT MAX(GREATEST(k.created_at, k.updated_at)) FROM consultations k WHERE k.patient_id = p.id),
	(SELECT MAX(x.at) FROM patient_changes x WHERE x.patient_id = p.id))`

func (db *DB) PatientsLastContactBefore(ctx context.Context, t time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT id FROM (SELECT p.id, `+lastContact+` AS last FROM patients p
			WHERE NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.patient_id = p.id)) q
		WHERE last < $1 ORDER BY last, id LIMIT $2`, t.UTC(), limit)
	if err != nil {
		return nil, mapErr(err, "patients past retention")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, mapErr(err, "patients past retention")
}

// A purged patient's sign-in account keeps its row (other records point
// at it) under these.
const (
	purgedEmailDomain = "@purged.invalid"
	purgedName        = "Removed by retention"
)

func (db *DB) PurgePatient(ctx context.Context, patientID string, t time.Time, pseudonym string, at time.Time) (domain.PatientPurge, error) {
	var out domain.PatientPurge
	err := db.tx(ctx, "purge patient", func(tx pgx.Tx) error {
		out = domain.PatientPurge{}
		// The row lock makes a hold placed meanwhile wait for this purge
		// or be seen by it.
		var qualifies bool
		err := tx.QueryRow(ctx, `SELECT `+lastContact+` < $1 AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.patient_id = p.id)
			FROM patients p WHERE p.id = $2 FOR UPDATE`, t.UTC(), patientID).Scan(&qualifies)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !qualifies) {
			return nil
		}
		if err != nil {
			return err
		}
		appts, err := collectStrings(ctx, tx, `SELECT id FROM appointments WHERE patient_id = $1`, patientID)
		if err != nil {
			return err
		}
		for _, id := range appts {
			if _, err := tx.Exec(ctx, `DELETE FROM notifications WHERE appointment_id = $1`, id); err != nil {
				return err
			}
			if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, id, at); err != nil {
				return err
			}
		}
		// The patient's own sign-in account goes with the record: signed
		// out, disabled, no longer naming them, and their own conversations
		// with the assistant removed.
		const account = `(SELECT user_id FROM patients WHERE id = $1)`
		tag, err := tx.Exec(ctx, `DELETE FROM conversations WHERE user_id = `+account, patientID)
		if err != nil {
			return err
		}
		out.Conversations += int(tag.RowsAffected())
		for _, q := range []string{`DELETE FROM sessions WHERE user_id = ` + account, `DELETE FROM api_keys WHERE user_id = ` + account} {
			if _, err := tx.Exec(ctx, q, patientID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET email = $2, name = $3, password_hash = '', mfa_enabled = false, mfa_secret = '', disabled = true,
				updated_at = $4 WHERE role = 'patient' AND id = `+account, patientID, pseudonym+purgedEmailDomain, purgedName, at.UTC()); err != nil {
			return err
		}
		// Consultations go with their recordings and transcripts; the
		// recordings' audio is queued as blob garbage first.
		if _, err := deleteChunks(ctx, tx, `recording_id IN (SELECT r.id FROM recordings r JOIN consultations c ON c.id = r.consultation_id
			WHERE c.patient_id = $2)`, at, patientID); err != nil {
			return err
		}
		var ignored int
		for _, step := range []struct {
			n *int
			q string
		}{
			{&out.Consultations, `DELETE FROM consultations WHERE patient_id = $1`},
			{&out.Appointments, `DELETE FROM appointments WHERE patient_id = $1`},
			{&ignored, `DELETE FROM sync_conflicts WHERE patient_id = $1`},
			{&out.Conversations, `DELETE FROM conversations WHERE patient_id = $1`},
			{&out.ClinicalEntries, `DELETE FROM clinical_entries WHERE patient_id = $1`},
			{&ignored, `DELETE FROM patient_changes WHERE patient_id = $1`},
			{&out.Patients, `DELETE FROM patients WHERE id = $1`},
		} {
			tag, err := tx.Exec(ctx, step.q, patientID)
			if err != nil {
				return err
			}
			*step.n += int(tag.RowsAffected())
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityPatient, patientID, at); err != nil {
			return err
		}
		out.AuditPseudonymised, err = pseudonymiseAudit(ctx, tx, patientID, pseudonym)
		return err
	})
	return out, err
}

func collectStrings(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (db *DB) PseudonymiseAudit(ctx context.Context, patientID, pseudonym string) (int, error) {
	var n int
	err := db.tx(ctx, "pseudonymise audit", func(tx pgx.Tx) error {
		var err error
		n, err = pseudonymiseAudit(ctx, tx, patientID, pseudonym)
		return err
	})
	return n, err
}

// pseudonymiseAudit is the one update the audit tables' triggers admit; the
// patient's emergency access grants take the pseudonym too.
func pseudonymiseAudit(ctx context.Context, tx pgx.Tx, patientID, pseudonym string) (int, error) {
	n := 0
	for _, table := range []string{"audit_events", "sync_node_audit"} {
		tag, err := tx.Exec(ctx, `UPDATE `+table+` SET patient_id = $1, patient_salt = '', redacted = true,
				resource_id = CASE WHEN resource_id = patient_id THEN $1 ELSE resource_id END
			WHERE patient_id = $2 AND chain_version = 2 AND NOT redacted AND (resource_id = patient_id OR resource_id <> $1)`, pseudonym, patientID)
		if err != nil {
			return n, err
		}
		n += int(tag.RowsAffected())
	}
	// Emergency access grants stay for the privacy officers' review, under
	// the pseudonym, and without the clinician's words about the patient.
	if _, err := tx.Exec(ctx, `UPDATE emergency_grants SET patient_id = $1, details = '' WHERE patient_id = $2`, pseudonym, patientID); err != nil {
		return n, err
	}
	return n, nil
}

func (db *DB) AuditAnchor(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := db.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_anchor WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, mapErr(err, "read audit anchor")
}

func (db *DB) PurgeAuditBefore(ctx context.Context, t time.Time, maxSeq int64, at time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, "purge audit events", func(tx pgx.Tx) error {
		n = 0
		var anchor int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM audit_anchor WHERE id = 1 FOR UPDATE`).Scan(&anchor); err != nil {
			return err
		}
		// The prefix ends before the first event at or after t.
		var last *int64
		if err := tx.QueryRow(ctx, `SELECT MAX(seq) FROM audit_events WHERE seq <= $1
				AND seq < COALESCE((SELECT MIN(seq) FROM audit_events WHERE time >= $2), 9223372036854775807)`,
			maxSeq, t.UTC()).Scan(&last); err != nil {
			return err
		}
		if last == nil || *last <= anchor {
			return nil
		}
		var hash string
		if err := tx.QueryRow(ctx, `SELECT hash FROM audit_events WHERE seq = $1`, *last).Scan(&hash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE audit_anchor SET seq = $1, hash = $2, moved_at = $3 WHERE id = 1`, *last, hash, at.UTC()); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM audit_events WHERE seq <= $1`, *last)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
