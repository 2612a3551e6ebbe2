package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const patientColumns = `id, COALESCE(user_id, ''), name, date_of_birth, sex, phone, email, address, emergency_contacts,
	insurance_provider, insurance_member_sealed, national_id_sealed, created_at, updated_at`

func scanPatient(row pgx.Row) (*domain.Patient, error) {
	var p domain.Patient
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.DateOfBirth, &p.Sex, &p.Phone, &p.Email, &p.Address, &p.EmergencyContacts,
		&p.InsuranceProvider, &p.InsuranceMemberNumber, &p.NationalID, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	if p.EmergencyContacts == nil {
		p.EmergencyContacts = []domain.EmergencyContact{}
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

func insertUser(ctx context.Context, tx pgx.Tx, u *domain.User) error {
	if u.ID == "" {
		u.ID = newID()
	}
	_, err := tx.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.ID, u.Email, u.Name, string(u.Role), u.PasswordHash, u.MFAEnabled, u.MFASecret, u.Disabled,
		u.FailedLogins, nullTime(u.LockedUntil), u.CreatedAt.UTC(), u.UpdatedAt.UTC())
	if isUnique(err) {
		return domain.Errorf(domain.ECONFLICT, "An account with that e-mail address already exists.")
	}
	return err
}

func (db *DB) CreatePatient(ctx context.Context, p *domain.Patient, account *domain.User, notes []*domain.Notification) error {
	if p.ID == "" {
		p.ID = newID()
	}
	if p.EmergencyContacts == nil {
		p.EmergencyContacts = []domain.EmergencyContact{}
	}
	return db.tx(ctx, "create patient", func(tx pgx.Tx) error {
		if account != nil {
			if err := insertUser(ctx, tx, account); err != nil {
				return err
			}
			p.UserID = account.ID
		}
		_, err := tx.Exec(ctx, `INSERT INTO patients (id, user_id, name, date_of_birth, sex, phone, email, address, emergency_contacts,
			insurance_provider, insurance_member_sealed, national_id_sealed, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			p.ID, nullable(p.UserID), p.Name, p.DateOfBirth, p.Sex, p.Phone, p.Email, p.Address, p.EmergencyContacts,
			p.InsuranceProvider, p.InsuranceMemberNumber, p.NationalID, p.CreatedAt.UTC(), p.UpdatedAt.UTC())
		if isUnique(err) {
			return domain.Errorf(domain.ECONFLICT, "That account already has a patient record.")
		}
		if err != nil {
			return err
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityPatient, p.ID, p.UpdatedAt); err != nil {
			return err
		}
		return insertNotifications(ctx, tx, notes)
	})
}

func (db *DB) PatientByID(ctx context.Context, id string) (*domain.Patient, error) {
	p, err := scanPatient(db.pool.QueryRow(ctx, `SELECT `+patientColumns+` FROM patients WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No patient with that id.")
	}
	return p, mapErr(err, "patient by id")
}

func (db *DB) PatientByUserID(ctx context.Context, userID string) (*domain.Patient, error) {
	p, err := scanPatient(db.pool.QueryRow(ctx, `SELECT `+patientColumns+` FROM patients WHERE user_id = $1`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "This account has no patient record.")
	}
	return p, mapErr(err, "patient by user")
}

func (db *DB) ListPatients(ctx context.Context, f domain.PatientFilter) ([]*domain.Patient, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT `+patientColumns+` FROM patients
		WHERE ($1 = '' OR strpos(lower(name), lower($1)) > 0 OR strpos(lower(email), lower($1)) > 0)
		  AND ($2 = '' OR id IN (SELECT patient_id FROM appointments WHERE doctor_id = $2
		                        AND status IN ('booked', 'arrived', 'checked-in', 'fulfilled', 'noshow')))
		ORDER BY name, id LIMIT $3 OFFSET $4`, f.Query, f.DoctorID, limit, f.Offset)
	if err != nil {
		return nil, mapErr(err, "list patients")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.Patient, error) { return scanPatient(r) })
	return out, mapErr(err, "list patients")
}

func insertChange(ctx context.Context, tx pgx.Tx, c *domain.PatientChange) error {
	if c == nil {
		return nil
	}
	if c.ID == "" {
		c.ID = newID()
	}
	if c.Fields == nil {
		c.Fields = []string{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO patient_changes (id, patient_id, entity, entity_id, action, fields, actor_id, actor_role, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.ID, c.PatientID, c.Entity, c.EntityID, c.Action, c.Fields, c.ActorID, c.ActorRole, c.At.UTC())
	return err
}

func (db *DB) UpdatePatient(ctx context.Context, p *domain.Patient, change *domain.PatientChange) error {
	return db.tx(ctx, "update patient", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE patients SET name = $1, date_of_birth = $2, sex = $3, phone = $4, email = $5, address = $6,
			emergency_contacts = $7, insurance_provider = $8, insurance_member_sealed = $9, national_id_sealed = $10, updated_at = $11
			WHERE id = $12`, p.Name, p.DateOfBirth, p.Sex, p.Phone, p.Email, p.Address, p.EmergencyContacts,
			p.InsuranceProvider, p.InsuranceMemberNumber, p.NationalID, p.UpdatedAt.UTC(), p.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return domain.Errorf(domain.ENOTFOUND, "No patient with that id.")
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityPatient, p.ID, p.UpdatedAt); err != nil {
			return err
		}
		return insertChange(ctx, tx, change)
	})
}

func (db *DB) PatientChanges(ctx context.Context, patientID string, limit int) ([]*domain.PatientChange, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT id, patient_id, entity, entity_id, action, fields, actor_id, actor_role, at
		FROM patient_changes WHERE patient_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, patientID, limit)
	if err != nil {
		return nil, mapErr(err, "patient changes")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.PatientChange, error) {
		var c domain.PatientChange
		err := r.Scan(&c.ID, &c.PatientID, &c.Entity, &c.EntityID, &c.Action, &c.Fields, &c.ActorID, &c.ActorRole, &c.At)
		c.At = c.At.UTC()
		return &c, err
	})
	return out, mapErr(err, "patient changes")
}

const entryColumns = `id, patient_id, kind, description, detail, status, onset_date, end_date, notes, recorded_by, created_at, updated_at`

func scanEntry(row pgx.Row) (*domain.ClinicalEntry, error) {
	var e domain.ClinicalEntry
	err := row.Scan(&e.ID, &e.PatientID, &e.Kind, &e.Description, &e.Detail, &e.Status, &e.OnsetDate, &e.EndDate,
		&e.Notes, &e.RecordedBy, &e.CreatedAt, &e.UpdatedAt)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return &e, err
}

func (db *DB) CreateEntry(ctx context.Context, e *domain.ClinicalEntry, change *domain.PatientChange) error {
	if e.ID == "" {
		e.ID = newID()
	}
	return db.tx(ctx, "create entry", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clinical_entries (`+entryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			e.ID, e.PatientID, e.Kind, e.Description, e.Detail, e.Status, e.OnsetDate, e.EndDate, e.Notes, e.RecordedBy,
			e.CreatedAt.UTC(), e.UpdatedAt.UTC())
		if pgCode(err) == "23503" {
			return domain.Errorf(domain.ENOTFOUND, "No patient with that id.")
		}
		if err != nil {
			return err
		}
		if change != nil {
			change.EntityID = e.ID
		}
		return insertChange(ctx, tx, change)
	})
}

func (db *DB) UpdateEntry(ctx context.Context, e *domain.ClinicalEntry, change *domain.PatientChange) error {
	return db.tx(ctx, "update entry", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE clinical_entries SET description = $1, detail = $2, status = $3, onset_date = $4, end_date = $5,
			notes = $6, updated_at = $7 WHERE id = $8 AND patient_id = $9`, e.Description, e.Detail, e.Status, e.OnsetDate, e.EndDate,
			e.Notes, e.UpdatedAt.UTC(), e.ID, e.PatientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return domain.Errorf(domain.ENOTFOUND, "No such entry for this patient.")
		}
		return insertChange(ctx, tx, change)
	})
}

func (db *DB) DeleteEntry(ctx context.Context, patientID, entryID string, change *domain.PatientChange) error {
	return db.tx(ctx, "delete entry", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM clinical_entries WHERE id = $1 AND patient_id = $2`, entryID, patientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return domain.Errorf(domain.ENOTFOUND, "No such entry for this patient.")
		}
		return insertChange(ctx, tx, change)
	})
}

func (db *DB) Entry(ctx context.Context, patientID, entryID string) (*domain.ClinicalEntry, error) {
	e, err := scanEntry(db.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM clinical_entries WHERE id = $1 AND ($2 = '' OR patient_id = $2)`, entryID, patientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such entry for this patient.")
	}
	return e, mapErr(err, "entry")
}

func (db *DB) Entries(ctx context.Context, patientID, kind string) ([]*domain.ClinicalEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+entryColumns+` FROM clinical_entries
		WHERE patient_id = $1 AND ($2 = '' OR kind = $2) ORDER BY kind, created_at, id`, patientID, kind)
	if err != nil {
		return nil, mapErr(err, "entries")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.ClinicalEntry, error) { return scanEntry(r) })
	return out, mapErr(err, "entries")
}

const doctorColumns = `d.id, d.user_id, u.name, d.specialization, d.qualifications, d.license_number, d.years_experience, d.created_at, d.updated_at`

func scanDoctor(row pgx.Row) (*domain.Doctor, error) {
	var d domain.Doctor
	err := row.Scan(&d.ID, &d.UserID, &d.Name, &d.Specialization, &d.Qualifications, &d.LicenseNumber, &d.YearsExperience, &d.CreatedAt, &d.UpdatedAt)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if d.Qualifications == nil {
		d.Qualifications = []string{}
	}
	return &d, err
}

func (db *DB) CreateDoctor(ctx context.Context, d *domain.Doctor, account *domain.User, hours *domain.Availability) error {
	if d.ID == "" {
		d.ID = newID()
	}
	if d.Qualifications == nil {
		d.Qualifications = []string{}
	}
	// Decided once: insertUser gives a new account its id, which a retried
	// attempt must insert again rather than update.
	save := insertUser
	if account.ID != "" {
		save = func(ctx context.Context, tx pgx.Tx, u *domain.User) error { return updateUser(ctx, tx, u) }
	}
	return db.tx(ctx, "create doctor", func(tx pgx.Tx) error {
		if err := save(ctx, tx, account); err != nil {
			return err
		}
		d.UserID, d.Name = account.ID, account.Name
		_, err := tx.Exec(ctx, `INSERT INTO doctors (id, user_id, specialization, qualifications, license_number, years_experience, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, d.ID, d.UserID, d.Specialization, d.Qualifications, d.LicenseNumber, d.YearsExperience,
			d.CreatedAt.UTC(), d.UpdatedAt.UTC())
		if isUnique(err) {
			return domain.Errorf(domain.ECONFLICT, "This account already has a doctor profile.")
		}
		if err != nil {
			return err
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityDoctor, d.ID, d.UpdatedAt); err != nil || hours == nil {
			return err
		}
		hours.DoctorID = d.ID
		if _, err := tx.Exec(ctx, `INSERT INTO availability (doctor_id, spec, updated_at) VALUES ($1, $2, $3)`, hours.DoctorID, hours, hours.UpdatedAt.UTC()); err != nil {
			return err
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityAvailability, d.ID, hours.UpdatedAt)
	})
}

func (db *DB) DoctorByID(ctx context.Context, id string) (*domain.Doctor, error) {
	d, err := scanDoctor(db.pool.QueryRow(ctx, `SELECT `+doctorColumns+` FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No doctor with that id.")
	}
	return d, mapErr(err, "doctor by id")
}

func (db *DB) DoctorByUserID(ctx context.Context, userID string) (*domain.Doctor, error) {
	d, err := scanDoctor(db.pool.QueryRow(ctx, `SELECT `+doctorColumns+` FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.user_id = $1`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "This account has no doctor profile.")
	}
	return d, mapErr(err, "doctor by user")
}

func (db *DB) ListDoctors(ctx context.Context, specialization string) ([]*domain.Doctor, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+doctorColumns+` FROM doctors d JOIN users u ON u.id = d.user_id
		WHERE ($1 = '' OR lower(d.specialization) = lower($1)) AND NOT u.disabled AND u.role = 'doctor' ORDER BY u.name, d.id`, specialization)
	if err != nil {
		return nil, mapErr(err, "list doctors")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.Doctor, error) { return scanDoctor(r) })
	return out, mapErr(err, "list doctors")
}

func (db *DB) PutAvailability(ctx context.Context, a *domain.Availability) error {
	return db.tx(ctx, "put availability", func(tx pgx.Tx) error { return putAvailability(ctx, tx, a) })
}

// putAvailability stores a doctor's hours and writes their change.
func putAvailability(ctx context.Context, tx pgx.Tx, a *domain.Availability) error {
	_, err := tx.Exec(ctx, `INSERT INTO availability (doctor_id, spec, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (doctor_id) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`, a.DoctorID, a, a.UpdatedAt.UTC())
	if pgCode(err) == "23503" {
		return domain.Errorf(domain.ENOTFOUND, "No doctor with that id.")
	}
	if err != nil {
		return err
	}
	return insertSyncChange(ctx, tx, domain.ChangeEntityAvailability, a.DoctorID, a.UpdatedAt)
}

func (db *DB) Availability(ctx context.Context, doctorID string) (*domain.Availability, error) {
	var a domain.Availability
	err := db.pool.QueryRow(ctx, `SELECT spec FROM availability WHERE doctor_id = $1`, doctorID).Scan(&a)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "This doctor has not published availability yet.")
	}
	return &a, mapErr(err, "availability")
}

func (db *DB) TreatsPatient(ctx context.Context, doctorID, patientID string) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM appointments WHERE doctor_id = $1 AND patient_id = $2
		AND status IN ('booked', 'arrived', 'checked-in', 'fulfilled', 'noshow'))`, doctorID, patientID).Scan(&ok)
	return ok, mapErr(err, "treats patient")
}
