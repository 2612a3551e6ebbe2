package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

var _ domain.RetentionStore = (*DB)(nil)

func (db *DB) PutLegalHold(ctx context.Context, h *domain.LegalHold) error {
	_, err := db.writer.ExecContext(ctx, `INSERT INTO legal_holds (patient_id, reason, placed_by, placed_at) VALUES (?, ?, ?, ?)`,
		h.PatientID, h.Reason, h.PlacedBy, fmtTime(h.PlacedAt))
	return mapErr(err, "place legal hold")
}

func (db *DB) DeleteLegalHold(ctx context.Context, patientID string) error {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM legal_holds WHERE patient_id = ?`, patientID)
	if err != nil {
		return mapErr(err, "lift legal hold")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return domain.Errorf(domain.ENOTFOUND, "This patient has no legal hold.")
	}
	return nil
}

func (db *DB) ListLegalHolds(ctx context.Context) ([]*domain.LegalHold, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT h.patient_id, h.reason, h.placed_by, h.placed_at, COALESCE(p.name, '')
		FROM legal_holds h LEFT JOIN patients p ON p.id = h.patient_id ORDER BY h.placed_at, h.patient_id`)
	if err != nil {
		return nil, mapErr(err, "list legal holds")
	}
	defer rows.Close()
	out := []*domain.LegalHold{}
	for rows.Next() {
		var h domain.LegalHold
		var at string
		if err := rows.Scan(&h.PatientID, &h.Reason, &h.PlacedBy, &at, &h.PatientName); err != nil {
			return nil, mapErr(err, "list legal holds")
		}
		if h.PlacedAt, err = parseTime(at); err != nil {
			return nil, mapErr(err, "list legal holds")
		}
		out = append(out, &h)
	}
	return out, mapErr(rows.Err(), "list legal holds")
}

// lastContact is a patient's last contact: the latest of the record's own
// times, its appointments' ends, its clinical entries', its consultations'
// and its changes'.
const lastContact = `MAX(p.created_at, p.updated_at,
	COALESCE((SELECT MAX(a.end_at) FROM appointments a WHERE a.patient_id = p.id), ''),
	COALESCE((SELECT MAX(c.updated_at) FROM clinical_entries c WHERE c.patient_id = p.id), ''),
	COALESCE((SELECT MAX(MAX(k.created_at, k.updated_at)) FROM consultations k WHERE k.patient_id = p.id), ''),
	COALESCE((SELECT MAX(x.at) FROM patient_changes x WHERE x.patient_id = p.id), ''))`

func (db *DB) PatientsLastContactBefore(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT id FROM (SELECT p.id, `+lastContact+` AS last FROM patients p
			WHERE NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.patient_id = p.id))
		WHERE last < ? ORDER BY last, id LIMIT ?`, fmtTime(t), limitOr(limit, 100))
	if err != nil {
		return nil, mapErr(err, "patients past retention")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr(err, "patients past retention")
		}
		out = append(out, id)
	}
	return out, mapErr(rows.Err(), "patients past retention")
}

// A purged patient's sign-in account keeps its row (other records point
// at it) under these.
const (
	purgedEmailDomain = "@purged.invalid"
	purgedName        = "Removed by retention"
)

func (db *DB) PurgePatient(ctx context.Context, patientID string, t time.Time, pseudonym string, at time.Time) (domain.PatientPurge, error) {
	var out domain.PatientPurge
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = domain.PatientPurge{}
		var qualifies bool
		err := tx.QueryRowContext(ctx, `SELECT `+lastContact+` < ? AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.patient_id = p.id)
			FROM patients p WHERE p.id = ?`, fmtTime(t), patientID).Scan(&qualifies)
		if err == sql.ErrNoRows || (err == nil && !qualifies) {
			return nil
		}
		if err != nil {
			return err
		}
		count := func(n *int, q string, args ...any) error {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			*n += int(k)
			return err
		}
		// Deleted appointments and the patient enter the change feed, for
		// the nodes that hold copies.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM appointments WHERE patient_id = ?`, patientID)
		if err != nil {
			return err
		}
		var appts []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			appts = append(appts, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range appts {
			if _, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE appointment_id = ?`, id); err != nil {
				return err
			}
			if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, id, at); err != nil {
				return err
			}
		}
		// The patient's own sign-in account goes with the record: signed
		// out, disabled, no longer naming them, and their own conversations
		// with the assistant removed.
		const account = `(SELECT user_id FROM patients WHERE id = ?)`
		if err := count(&out.Conversations, `DELETE FROM conversations WHERE user_id = `+account, patientID); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM sessions WHERE user_id = ` + account, `DELETE FROM api_keys WHERE user_id = ` + account} {
			if _, err := tx.ExecContext(ctx, q, patientID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, name = ?, password_hash = '', mfa_enabled = 0, mfa_secret = '', disabled = 1,
				updated_at = ? WHERE role = 'patient' AND id = `+account, pseudonym+purgedEmailDomain, purgedName, fmtTime(at), patientID); err != nil {
			return err
		}
		// Consultations go with their recordings and transcripts; the
		// recordings' audio is queued as blob garbage first.
		if _, err := deleteChunks(ctx, tx, `recording_id IN (SELECT r.id FROM recordings r JOIN consultations c ON c.id = r.consultation_id
			WHERE c.patient_id = ?)`, at, patientID); err != nil {
			return err
		}
		var ignored int
		for _, step := range []struct {
			n *int
			q string
		}{
			{&out.Consultations, `DELETE FROM consultations WHERE patient_id = ?`},
			{&out.Appointments, `DELETE FROM appointments WHERE patient_id = ?`},
			{&ignored, `DELETE FROM sync_conflicts WHERE patient_id = ?`},
			{&out.Conversations, `DELETE FROM conversations WHERE patient_id = ?`},
			{&out.ClinicalEntries, `DELETE FROM clinical_entries WHERE patient_id = ?`},
			{&ignored, `DELETE FROM patient_changes WHERE patient_id = ?`},
			{&out.Patients, `DELETE FROM patients WHERE id = ?`},
		} {
			if err := count(step.n, step.q, patientID); err != nil {
				return err
			}
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityPatient, patientID, at); err != nil {
			return err
		}
		out.AuditPseudonymised, err = pseudonymiseAudit(ctx, tx, patientID, pseudonym)
		return err
	})
	return out, mapErr(err, "purge patient")
}

func (db *DB) PseudonymiseAudit(ctx context.Context, patientID, pseudonym string) (int, error) {
	var n int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = pseudonymiseAudit(ctx, tx, patientID, pseudonym)
		return err
	})
	return n, mapErr(err, "pseudonymise audit")
}

// pseudonymiseAudit is the one update the audit tables' triggers admit; the
// patient's emergency access grants take the pseudonym too.
func pseudonymiseAudit(ctx context.Context, tx *sql.Tx, patientID, pseudonym string) (int, error) {
	n := 0
	for _, table := range []string{"audit_events", "sync_node_audit"} {
		res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET patient_id = ?1, patient_salt = '', redacted = 1,
				resource_id = CASE WHEN resource_id = patient_id THEN ?1 ELSE resource_id END
			WHERE patient_id = ?2 AND chain_version = 2 AND redacted = 0 AND (resource_id = patient_id OR resource_id <> ?1)`, pseudonym, patientID)
		if err != nil {
			return n, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, err
		}
		n += int(k)
	}
	// Emergency access grants stay for the privacy officers' review, under
	// the pseudonym, and without the clinician's words about the patient.
	if _, err := tx.ExecContext(ctx, `UPDATE emergency_grants SET patient_id = ?, details = '' WHERE patient_id = ?`, pseudonym, patientID); err != nil {
		return n, err
	}
	return n, nil
}

func (db *DB) AuditAnchor(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := db.reader.QueryRowContext(ctx, `SELECT seq, hash FROM audit_anchor WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, mapErr(err, "read audit anchor")
}

func (db *DB) PurgeAuditBefore(ctx context.Context, t time.Time, maxSeq int64, at time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		var anchor int64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM audit_anchor WHERE id = 1`).Scan(&anchor); err != nil {
			return err
		}
		// The prefix ends before the first event at or after t.
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_events WHERE seq <= ?
				AND seq < COALESCE((SELECT MIN(seq) FROM audit_events WHERE time >= ?), 9223372036854775807)`,
			maxSeq, fmtTime(t)).Scan(&last); err != nil {
			return err
		}
		if !last.Valid || last.Int64 <= anchor {
			return nil
		}
		var hash string
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = ?`, last.Int64).Scan(&hash); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE audit_anchor SET seq = ?, hash = ?, moved_at = ? WHERE id = 1`, last.Int64, hash, fmtTime(at)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq <= ?`, last.Int64)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, mapErr(err, "purge audit events")
}
