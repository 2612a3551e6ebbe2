package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

const appointmentColumns = `id, doctor_id, patient_id, start_at, end_at, status, reason, cancel_reason, created_by, idempotency_key, created_at, updated_at,
	origin_node`

func scanAppointment(row scanner) (*domain.Appointment, error) {
	var a domain.Appointment
	var start, end, created, updated string
	if err := row.Scan(&a.ID, &a.DoctorID, &a.PatientID, &start, &end, &a.Status, &a.Reason, &a.CancelReason, &a.CreatedBy,
		&a.IdempotencyKey, &created, &updated, &a.OriginNode); err != nil {
		return nil, err
	}
	return &a, times(&a.Start, start, &a.End, end, &a.CreatedAt, created, &a.UpdatedAt, updated)
}

func isOverlap(err error) bool {
	return err != nil && strings.Contains(err.Error(), "appointment_overlap")
}

// isLeased reports the refusal of time inside another holder's active
// lease (migration 0012).
func isLeased(err error) bool {
	return err != nil && strings.Contains(err.Error(), "appointment_leased")
}

func isTooLong(err error) bool {
	return err != nil && strings.Contains(err.Error(), "appointment_too_long")
}

var errTooLong = domain.Invalid("end", "An appointment may last at most 8 hours.")

// clash returns the error for an overlap, naming the appointment in the way.
func clash(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, a *domain.Appointment) error {
	other, err := scanAppointment(q.QueryRowContext(ctx, `SELECT `+appointmentColumns+` FROM appointments
		WHERE doctor_id = ? AND id <> ? AND status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
		  AND start_at > ? AND start_at < ? AND ? < end_at ORDER BY start_at LIMIT 1`,
		a.DoctorID, a.ID, fmtTime(a.Start.Add(-domain.MaxAppointmentLength)), fmtTime(a.End), fmtTime(a.Start)))
	if err != nil {
		return domain.Errorf(domain.ECONFLICT, "That time overlaps another appointment of this doctor.")
	}
	return domain.ClashError(other)
}

func (db *DB) BookAppointment(ctx context.Context, a *domain.Appointment, notes []*domain.Notification) error {
	return db.bookAppointment(ctx, a, notes, nil)
}

// bookAppointment is BookAppointment that, with op not nil, also queues op
// in the outbox (BookAppointmentQueued).
func (db *DB) bookAppointment(ctx context.Context, a *domain.Appointment, notes []*domain.Notification, op *domain.SyncOp) error {
	if a.ID == "" {
		a.ID = newID()
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		if a.IdempotencyKey != "" {
			prev, err := scanAppointment(tx.QueryRowContext(ctx, `SELECT `+appointmentColumns+` FROM appointments
				WHERE created_by = ? AND idempotency_key = ?`, a.CreatedBy, a.IdempotencyKey))
			if err == nil {
				*a = *prev
				return domain.ErrIdempotentReplay
			}
			if err != sql.ErrNoRows {
				return mapErr(err, "idempotency lookup")
			}
		}
		if err := insertAppointment(ctx, tx, a); err != nil {
			return err
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, a.ID, a.UpdatedAt); err != nil {
			return err
		}
		if err := insertNotifications(ctx, tx, notes); err != nil {
			return err
		}
		return queueOp(ctx, tx, a, op, domain.OpBook)
	})
}

// insertAppointment stores a new appointment; an overlap is the conflict
// naming the appointment in the way, time inside another holder's lease
// ErrLeased.
func insertAppointment(ctx context.Context, tx *sql.Tx, a *domain.Appointment) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO appointments (`+appointmentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.DoctorID, a.PatientID, fmtTime(a.Start), fmtTime(a.End), a.Status, a.Reason, a.CancelReason, a.CreatedBy,
		a.IdempotencyKey, fmtTime(a.CreatedAt), fmtTime(a.UpdatedAt), a.OriginNode)
	switch {
	case isTooLong(err):
		return errTooLong
	case isLeased(err):
		return domain.ErrLeased
	case isOverlap(err):
		return clash(ctx, tx, a)
	case isCode(err, 787):
		return domain.Errorf(domain.ENOTFOUND, "The doctor or patient does not exist.")
	}
	return mapErr(err, "book appointment")
}

// updateAppointmentRow writes a's times, status, reasons and origin while the
// stored appointment is still the one last updated at expectUpdated.
func updateAppointmentRow(ctx context.Context, tx *sql.Tx, a *domain.Appointment, expectUpdated time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE appointments SET start_at = ?, end_at = ?, status = ?, reason = ?, cancel_reason = ?, updated_at = ?,
		origin_node = ? WHERE id = ? AND updated_at = ?`, fmtTime(a.Start), fmtTime(a.End), a.Status, a.Reason, a.CancelReason, fmtTime(a.UpdatedAt),
		a.OriginNode, a.ID, fmtTime(expectUpdated))
	if isTooLong(err) {
		return errTooLong
	}
	if isLeased(err) {
		return domain.ErrLeased
	}
	if isOverlap(err) {
		return clash(ctx, tx, a)
	}
	if err != nil {
		return mapErr(err, "update appointment")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return domain.Errorf(domain.ECONFLICT, "The appointment was changed by someone else meanwhile; reload it and try again.")
	}
	return nil
}

func (db *DB) AppointmentByID(ctx context.Context, id string) (*domain.Appointment, error) {
	a, err := scanAppointment(db.reader.QueryRowContext(ctx, `SELECT `+appointmentColumns+` FROM appointments WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No appointment with that id.")
	}
	return a, mapErr(err, "appointment by id")
}

func (db *DB) AppointmentByIdempotencyKey(ctx context.Context, createdBy, key string) (*domain.Appointment, error) {
	a, err := scanAppointment(db.reader.QueryRowContext(ctx, `SELECT `+appointmentColumns+` FROM appointments
		WHERE created_by = ? AND idempotency_key = ? AND idempotency_key <> ''`, createdBy, key))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No booking with that key.")
	}
	return a, mapErr(err, "appointment by key")
}

func (db *DB) ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.DoctorID != "" {
		add(`doctor_id = ?`, f.DoctorID)
	}
	if f.PatientID != "" {
		add(`patient_id = ?`, f.PatientID)
	}
	if f.Status != "" {
		add(`status = ?`, f.Status)
	}
	if !f.From.IsZero() {
		add(`end_at > ?`, fmtTime(f.From))
		// Bounds the index scan: nothing lasts longer.
		add(`start_at > ?`, fmtTime(f.From.Add(-domain.MaxAppointmentLength)))
	}
	if !f.To.IsZero() {
		add(`start_at < ?`, fmtTime(f.To))
	}
	q := `SELECT ` + appointmentColumns + ` FROM appointments`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY start_at, id LIMIT ? OFFSET ?`
	args = append(args, limitOr(f.Limit, 500), f.Offset)
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list appointments")
	}
	defer rows.Close()
	var out []*domain.Appointment
	for rows.Next() {
		a, err := scanAppointment(rows)
		if err != nil {
			return nil, mapErr(err, "scan appointment")
		}
		out = append(out, a)
	}
	return out, mapErr(rows.Err(), "list appointments")
}

func (db *DB) UpdateAppointment(ctx context.Context, a *domain.Appointment, expectUpdated time.Time, notes []*domain.Notification) error {
	return db.updateAppointment(ctx, a, expectUpdated, notes, nil)
}

// updateAppointment is UpdateAppointment that, with op not nil, also queues
// op in the outbox (UpdateAppointmentQueued).
func (db *DB) updateAppointment(ctx context.Context, a *domain.Appointment, expectUpdated time.Time, notes []*domain.Notification, op *domain.SyncOp) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := updateAppointmentRow(ctx, tx, a, expectUpdated); err != nil {
			return err
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, a.ID, a.UpdatedAt); err != nil {
			return err
		}
		if err := insertNotifications(ctx, tx, notes); err != nil {
			return err
		}
		return queueOp(ctx, tx, a, op, domain.OpUpdate)
	})
}

func insertNotifications(ctx context.Context, tx *sql.Tx, notes []*domain.Notification) error {
	for _, n := range notes {
		if n.ID == "" {
			n.ID = newID()
		}
		if n.EmailStatus == "" {
			n.EmailStatus = domain.EmailPending
		}
		// A repeated dedupe key is skipped, not an error: the notice exists.
		// The skipped note's ID is cleared so callers do not announce it.
		var stored string
		err := tx.QueryRowContext(ctx, `INSERT INTO notifications (id, user_id, kind, appointment_id, subject, body, dedupe_key, created_at,
			email_status, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
			n.ID, n.UserID, n.Kind, n.AppointmentID, n.Subject, n.Body, nullable(n.DedupeKey), fmtTime(n.CreatedAt),
			n.EmailStatus, fmtTime(n.CreatedAt)).Scan(&stored)
		if err == sql.ErrNoRows {
			n.ID = ""
			continue
		}
		if err != nil {
			return mapErr(err, "write notification")
		}
	}
	return nil
}

func (db *DB) AddNotifications(ctx context.Context, notes []*domain.Notification) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return insertNotifications(ctx, tx, notes) })
}

const notificationColumns = `id, user_id, kind, appointment_id, subject, body, COALESCE(dedupe_key, ''), created_at, read_at,
	email_status, attempts, next_attempt_at, sent_at, last_error`

func scanNotification(row scanner) (*domain.Notification, error) {
	var n domain.Notification
	var created, read, next, sent string
	if err := row.Scan(&n.ID, &n.UserID, &n.Kind, &n.AppointmentID, &n.Subject, &n.Body, &n.DedupeKey, &created, &read,
		&n.EmailStatus, &n.Attempts, &next, &sent, &n.LastError); err != nil {
		return nil, err
	}
	return &n, times(&n.CreatedAt, created, &n.ReadAt, read, &n.NextAttemptAt, next, &n.SentAt, sent)
}

func (db *DB) ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*domain.Notification, error) {
	var out []*domain.Notification
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = nil // a retried attempt claims afresh
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET email_status = 'sending', attempts = attempts + 1, next_attempt_at = ?
			WHERE id IN (SELECT id FROM notifications
				WHERE email_status IN ('pending', 'sending') AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?)
			RETURNING `+notificationColumns, fmtTime(leaseUntil), fmtTime(now), limitOr(limit, 50))
		if err != nil {
			return mapErr(err, "claim notifications")
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return mapErr(err, "scan notification")
			}
			out = append(out, n)
		}
		return mapErr(rows.Err(), "claim notifications")
	})
	return out, err
}

func (db *DB) MarkNotificationSent(ctx context.Context, id string, lease, at time.Time) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE notifications SET email_status = 'sent', sent_at = ?, last_error = ''
		WHERE id = ? AND email_status = 'sending' AND next_attempt_at = ?`, fmtTime(at), id, fmtTime(lease))
	if err != nil {
		return mapErr(err, "mark sent")
	}
	return claimHeld(res)
}

func (db *DB) MarkNotificationFailed(ctx context.Context, id string, lease time.Time, lastErr string, nextAttempt time.Time, final bool) error {
	status := domain.EmailPending
	if final {
		status = domain.EmailFailed
	}
	return db.markClaimed(ctx, id, lease, status, lastErr, nextAttempt)
}

func (db *DB) MarkNotificationSkipped(ctx context.Context, id string, lease time.Time, reason string) error {
	return db.markClaimed(ctx, id, lease, domain.EmailSkipped, reason, lease)
}

// markClaimed ends a claim with an outcome other than sent.
func (db *DB) markClaimed(ctx context.Context, id string, lease time.Time, status, lastErr string, nextAttempt time.Time) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE notifications SET email_status = ?, next_attempt_at = ?, last_error = ?
		WHERE id = ? AND email_status = 'sending' AND next_attempt_at = ?`, status, fmtTime(nextAttempt), lastErr, id, fmtTime(lease))
	if err != nil {
		return mapErr(err, "mark "+status)
	}
	return claimHeld(res)
}

// claimHeld turns "no row changed" into the conflict of a lapsed claim.
func claimHeld(res sql.Result) error {
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return domain.ErrClaimLapsed
	}
	return nil
}

func (db *DB) ListNotifications(ctx context.Context, userID string, limit int) ([]*domain.Notification, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
		userID, limitOr(limit, 50))
	if err != nil {
		return nil, mapErr(err, "list notifications")
	}
	defer rows.Close()
	var out []*domain.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, mapErr(err, "scan notification")
		}
		out = append(out, n)
	}
	return out, mapErr(rows.Err(), "list notifications")
}

func (db *DB) MarkNotificationRead(ctx context.Context, userID, id string, at time.Time) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE notifications SET read_at = ? WHERE id = ? AND user_id = ? AND read_at = ''`, fmtTime(at), id, userID)
	if err != nil {
		return mapErr(err, "mark read")
	}
	return mustAffect(res, "No unread notification with that id.")
}

func (db *DB) AppointmentsNeedingReminder(ctx context.Context, from, to time.Time, limit int) ([]*domain.Appointment, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+appointmentColumns+` FROM appointments a
		WHERE a.status = 'booked' AND a.start_at >= ? AND a.start_at < ?
		  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.appointment_id = a.id AND n.kind = 'appointment_reminder'
		                  AND n.created_at >= a.updated_at)
		ORDER BY a.start_at LIMIT ?`, fmtTime(from), fmtTime(to), limitOr(limit, 200))
	if err != nil {
		return nil, mapErr(err, "reminders")
	}
	defer rows.Close()
	var out []*domain.Appointment
	for rows.Next() {
		a, err := scanAppointment(rows)
		if err != nil {
			return nil, mapErr(err, "scan appointment")
		}
		out = append(out, a)
	}
	return out, mapErr(rows.Err(), "reminders")
}

func (db *DB) AppointmentCounts(ctx context.Context, from, to time.Time, offsetMinutes int) ([]domain.StatusCount, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT date(start_at, printf('%+d minutes', ?)) AS day, status, count(*) FROM appointments
		WHERE start_at >= ? AND start_at < ? GROUP BY day, status ORDER BY day, status`, offsetMinutes, fmtTime(from), fmtTime(to))
	if err != nil {
		return nil, mapErr(err, "count appointments")
	}
	defer rows.Close()
	out := []domain.StatusCount{}
	for rows.Next() {
		var c domain.StatusCount
		if err := rows.Scan(&c.Day, &c.Status, &c.Count); err != nil {
			return nil, mapErr(err, "count appointments")
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err(), "count appointments")
}

func insertSyncChange(ctx context.Context, tx *sql.Tx, entity, id string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_changes (entity, entity_id, changed_at) VALUES (?, ?, ?)`, entity, id, fmtTime(at))
	return mapErr(err, "record change")
}
