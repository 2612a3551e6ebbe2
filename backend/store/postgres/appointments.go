package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const appointmentColumns = `id, doctor_id, patient_id, start_at, end_at, status, reason, cancel_reason, created_by, idempotency_key, created_at, updated_at,
	origin_node`

func scanAppointment(row pgx.Row) (*domain.Appointment, error) {
	var a domain.Appointment
	err := row.Scan(&a.ID, &a.DoctorID, &a.PatientID, &a.Start, &a.End, &a.Status, &a.Reason, &a.CancelReason, &a.CreatedBy,
		&a.IdempotencyKey, &a.CreatedAt, &a.UpdatedAt, &a.OriginNode)
	a.Start, a.End, a.CreatedAt, a.UpdatedAt = a.Start.UTC(), a.End.UTC(), a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return &a, err
}

// lockDoctor makes the transaction's changes to one doctor's appointments
// wait for those of other transactions. Without it, two overlapping
// bookings that reach the exclusion constraint at the same moment each wait
// for the other, and PostgreSQL aborts one as a deadlock only after
// deadlock_timeout (a second by default).
func lockDoctor(ctx context.Context, tx pgx.Tx, doctorID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('appointments/' || $1::text, 0))`, doctorID)
	return err
}

// isLeased reports the refusal of time inside another holder's active
// lease (raised by the trigger of migration 0012).
func isLeased(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Message == "appointment_leased"
}

// clash names the appointment a booking overlaps.
func (db *DB) clash(ctx context.Context, a *domain.Appointment) error {
	other, err := scanAppointment(db.pool.QueryRow(ctx, `SELECT `+appointmentColumns+` FROM appointments
		WHERE doctor_id = $1 AND id <> $2 AND status IN ('proposed', 'pending', 'booked', 'arrived', 'checked-in', 'fulfilled')
		  AND tstzrange(start_at, end_at, '[)') && tstzrange($3, $4, '[)') ORDER BY start_at LIMIT 1`, a.DoctorID, a.ID, a.Start, a.End))
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
	// A retry finds the first booking by its key, before trying to insert and
	// after any failure (the first may have committed meanwhile).
	if a.IdempotencyKey != "" {
		if err := db.replay(ctx, a); err == nil || !domain.IsCode(err, domain.ENOTFOUND) {
			return err
		}
	}
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		if err := lockDoctor(ctx, tx, a.DoctorID); err != nil {
			return err
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
	if err == nil {
		return nil
	}
	code := pgCode(err)
	if a.IdempotencyKey != "" && (code == "23P01" || code == "23505" || isLeased(err)) {
		if rerr := db.replay(ctx, a); rerr == nil || !domain.IsCode(rerr, domain.ENOTFOUND) {
			return rerr
		}
	}
	if isLeased(err) {
		return domain.ErrLeased
	}
	switch code {
	case "23514":
		return domain.Invalid("end", "An appointment may last at most 8 hours.")
	case "23P01":
		return db.clash(ctx, a)
	case "23503":
		return domain.Errorf(domain.ENOTFOUND, "The doctor or patient does not exist.")
	}
	return mapErr(err, "book appointment")
}

// insertAppointment inserts a as a new row.
func insertAppointment(ctx context.Context, tx pgx.Tx, a *domain.Appointment) error {
	_, err := tx.Exec(ctx, `INSERT INTO appointments (`+appointmentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		a.ID, a.DoctorID, a.PatientID, a.Start.UTC(), a.End.UTC(), a.Status, a.Reason, a.CancelReason, a.CreatedBy,
		a.IdempotencyKey, a.CreatedAt.UTC(), a.UpdatedAt.UTC(), a.OriginNode)
	return err
}

// updateAppointmentRow writes a's times, status, reasons and origin while
// the stored appointment is still the one last updated at expectUpdated;
// ok is false when it is not.
func updateAppointmentRow(ctx context.Context, tx pgx.Tx, a *domain.Appointment, expectUpdated time.Time) (ok bool, err error) {
	tag, err := tx.Exec(ctx, `UPDATE appointments SET start_at = $1, end_at = $2, status = $3, reason = $4, cancel_reason = $5, updated_at = $6,
		origin_node = $7 WHERE id = $8 AND updated_at = $9`, a.Start.UTC(), a.End.UTC(), a.Status, a.Reason, a.CancelReason, a.UpdatedAt.UTC(),
		a.OriginNode, a.ID, expectUpdated.UTC())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// replay loads the appointment made earlier with a's creator and key into a
// and returns ErrIdempotentReplay, or not_found when there is none.
func (db *DB) replay(ctx context.Context, a *domain.Appointment) error {
	prev, err := scanAppointment(db.pool.QueryRow(ctx, `SELECT `+appointmentColumns+` FROM appointments
		WHERE created_by = $1 AND idempotency_key = $2`, a.CreatedBy, a.IdempotencyKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Errorf(domain.ENOTFOUND, "no earlier booking with this key")
	}
	if err != nil {
		return mapErr(err, "idempotency lookup")
	}
	*a = *prev
	return domain.ErrIdempotentReplay
}

func (db *DB) AppointmentByID(ctx context.Context, id string) (*domain.Appointment, error) {
	a, err := scanAppointment(db.pool.QueryRow(ctx, `SELECT `+appointmentColumns+` FROM appointments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No appointment with that id.")
	}
	return a, mapErr(err, "appointment by id")
}

func (db *DB) AppointmentByIdempotencyKey(ctx context.Context, createdBy, key string) (*domain.Appointment, error) {
	if key == "" {
		return nil, domain.Errorf(domain.ENOTFOUND, "No booking with that key.")
	}
	a := &domain.Appointment{CreatedBy: createdBy, IdempotencyKey: key}
	if err := db.replay(ctx, a); !errors.Is(err, domain.ErrIdempotentReplay) {
		return nil, err
	}
	return a, nil
}

func (db *DB) ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	rows, err := db.pool.Query(ctx, `SELECT `+appointmentColumns+` FROM appointments
		WHERE ($1 = '' OR doctor_id = $1) AND ($2 = '' OR patient_id = $2) AND ($3 = '' OR status = $3)
		  AND ($4::timestamptz IS NULL OR (end_at > $4 AND start_at > $4::timestamptz - interval '8 hours'))
		  AND ($5::timestamptz IS NULL OR start_at < $5)
		ORDER BY start_at, id LIMIT $6 OFFSET $7`, f.DoctorID, f.PatientID, f.Status, nullTime(f.From), nullTime(f.To), limit, f.Offset)
	if err != nil {
		return nil, mapErr(err, "list appointments")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.Appointment, error) { return scanAppointment(r) })
	return out, mapErr(err, "list appointments")
}

func (db *DB) UpdateAppointment(ctx context.Context, a *domain.Appointment, expectUpdated time.Time, notes []*domain.Notification) error {
	return db.updateAppointment(ctx, a, expectUpdated, notes, nil)
}

// updateAppointment is UpdateAppointment that, with op not nil, also queues
// op in the outbox (UpdateAppointmentQueued).
func (db *DB) updateAppointment(ctx context.Context, a *domain.Appointment, expectUpdated time.Time, notes []*domain.Notification, op *domain.SyncOp) error {
	stale := false
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		if err := lockDoctor(ctx, tx, a.DoctorID); err != nil {
			return err
		}
		ok, err := updateAppointmentRow(ctx, tx, a, expectUpdated)
		if err != nil {
			return err
		}
		if !ok {
			stale = true
			return errors.New("stale")
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, a.ID, a.UpdatedAt); err != nil {
			return err
		}
		if err := insertNotifications(ctx, tx, notes); err != nil {
			return err
		}
		return queueOp(ctx, tx, a, op, domain.OpUpdate)
	})
	switch {
	case stale:
		return domain.Errorf(domain.ECONFLICT, "The appointment was changed by someone else meanwhile; reload it and try again.")
	case isLeased(err):
		return domain.ErrLeased
	case pgCode(err) == "23P01":
		return db.clash(ctx, a)
	}
	return mapErr(err, "update appointment")
}

func insertNotifications(ctx context.Context, tx pgx.Tx, notes []*domain.Notification) error {
	for _, n := range notes {
		if n.ID == "" {
			n.ID = newID()
		}
		if n.EmailStatus == "" {
			n.EmailStatus = domain.EmailPending
		}
		var stored string
		err := tx.QueryRow(ctx, `INSERT INTO notifications (id, user_id, kind, appointment_id, subject, body, dedupe_key, created_at,
			email_status, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
			n.ID, n.UserID, n.Kind, n.AppointmentID, n.Subject, n.Body, nullable(n.DedupeKey), n.CreatedAt.UTC(), n.EmailStatus).Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			n.ID = "" // skipped: a notice with this dedupe key exists
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) AddNotifications(ctx context.Context, notes []*domain.Notification) error {
	return db.tx(ctx, "add notifications", func(tx pgx.Tx) error { return insertNotifications(ctx, tx, notes) })
}

const notificationColumns = `id, user_id, kind, appointment_id, subject, body, COALESCE(dedupe_key, ''), created_at, read_at,
	email_status, attempts, next_attempt_at, sent_at, last_error`

func scanNotification(row pgx.Row) (*domain.Notification, error) {
	var n domain.Notification
	var read, next, sent *time.Time
	err := row.Scan(&n.ID, &n.UserID, &n.Kind, &n.AppointmentID, &n.Subject, &n.Body, &n.DedupeKey, &n.CreatedAt, &read,
		&n.EmailStatus, &n.Attempts, &next, &sent, &n.LastError)
	n.CreatedAt = n.CreatedAt.UTC()
	n.ReadAt, n.NextAttemptAt, n.SentAt = fromNull(read), fromNull(next), fromNull(sent)
	return &n, err
}

func (db *DB) ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*domain.Notification, error) {
	if limit <= 0 {
		limit = 50
	}
	// SKIP LOCKED lets several servers share the outbox without waiting.
	rows, err := db.pool.Query(ctx, `UPDATE notifications SET email_status = 'sending', attempts = attempts + 1, next_attempt_at = $1
		WHERE id IN (SELECT id FROM notifications WHERE email_status IN ('pending', 'sending') AND next_attempt_at <= $2
			ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+notificationColumns, leaseUntil.UTC(), now.UTC(), limit)
	if err != nil {
		return nil, mapErr(err, "claim notifications")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.Notification, error) { return scanNotification(r) })
	return out, mapErr(err, "claim notifications")
}

func (db *DB) MarkNotificationSent(ctx context.Context, id string, lease, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE notifications SET email_status = 'sent', sent_at = $1, last_error = ''
		WHERE id = $2 AND email_status = 'sending' AND next_attempt_at = $3`, at.UTC(), id, lease.UTC())
	if err != nil {
		return mapErr(err, "mark sent")
	}
	if tag.RowsAffected() == 0 {
		return domain.ErrClaimLapsed
	}
	return nil
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
	tag, err := db.pool.Exec(ctx, `UPDATE notifications SET email_status = $1, next_attempt_at = $2, last_error = $3
		WHERE id = $4 AND email_status = 'sending' AND next_attempt_at = $5`, status, nextAttempt.UTC(), lastErr, id, lease.UTC())
	if err != nil {
		return mapErr(err, "mark "+status)
	}
	if tag.RowsAffected() == 0 {
		return domain.ErrClaimLapsed
	}
	return nil
}

func (db *DB) ListNotifications(ctx context.Context, userID string, limit int) ([]*domain.Notification, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := db.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, mapErr(err, "list notifications")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.Notification, error) { return scanNotification(r) })
	return out, mapErr(err, "list notifications")
}

func (db *DB) MarkNotificationRead(ctx context.Context, userID, id string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE notifications SET read_at = $1 WHERE id = $2 AND user_id = $3 AND read_at IS NULL`, at.UTC(), id, userID)
	if err != nil {
		return mapErr(err, "mark read")
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No unread notification with that id.")
	}
	return nil
}

func (db *DB) AppointmentsNeedingReminder(ctx context.Context, from, to time.Time, limit int) ([]*domain.Appointment, error) {
	if limit <= 0 {
		limit = 200
	}
	rows, err := db.pool.Query(ctx, `SELECT `+appointmentColumns+` FROM appointments a
		WHERE a.status = 'booked' AND a.start_at >= $1 AND a.start_at < $2
		  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.appointment_id = a.id AND n.kind = 'appointment_reminder'
		                  AND n.created_at >= a.updated_at)
		ORDER BY a.start_at LIMIT $3`, from.UTC(), to.UTC(), limit)
	if err != nil {
		return nil, mapErr(err, "reminders")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.Appointment, error) { return scanAppointment(r) })
	return out, mapErr(err, "reminders")
}

func (db *DB) AppointmentCounts(ctx context.Context, from, to time.Time, offsetMinutes int) ([]domain.StatusCount, error) {
	rows, err := db.pool.Query(ctx, `SELECT to_char((start_at AT TIME ZONE 'UTC') + make_interval(mins => $3), 'YYYY-MM-DD') AS day, status, count(*)::int
		FROM appointments WHERE start_at >= $1 AND start_at < $2 GROUP BY day, status ORDER BY day, status`, from, to, offsetMinutes)
	if err != nil {
		return nil, mapErr(err, "count appointments")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.StatusCount, error) {
		var c domain.StatusCount
		return c, r.Scan(&c.Day, &c.Status, &c.Count)
	})
	if out == nil {
		out = []domain.StatusCount{}
	}
	return out, mapErr(err, "count appointments")
}

func insertSyncChange(ctx context.Context, tx pgx.Tx, entity, id string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO sync_changes (entity, entity_id, changed_at) VALUES ($1, $2, $3)`, entity, id, at.UTC())
	return err
}
