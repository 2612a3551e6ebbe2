package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
)

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// scanner is a row or rows.
type scanner interface{ Scan(...any) error }

// times parses several stored times at once.
func times(pairs ...any) error {
	for i := 0; i < len(pairs); i += 2 {
		t, err := parseTime(pairs[i+1].(string))
		if err != nil {
			return err
		}
		*pairs[i].(*time.Time) = t
	}
	return nil
}

const patientColumns = `id, COALESCE(user_id, ''), name, date_of_birth, sex, phone, email, address, emergency_contacts,
	insurance_provider, insurance_member_sealed, national_id_sealed, created_at, updated_at`

func scanPatient(row scanner) (*domain.Patient, error) {
	var p domain.Patient
	var addr, contacts, created, updated string
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.DateOfBirth, &p.Sex, &p.Phone, &p.Email, &addr, &contacts,
		&p.InsuranceProvider, &p.InsuranceMemberNumber, &p.NationalID, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(addr), &p.Address); err != nil {
		return nil, fmt.Errorf("stored address: %w", err)
	}
	if err := json.Unmarshal([]byte(contacts), &p.EmergencyContacts); err != nil {
		return nil, fmt.Errorf("stored contacts: %w", err)
	}
	return &p, times(&p.CreatedAt, created, &p.UpdatedAt, updated)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func insertUser(ctx context.Context, tx *sql.Tx, u *domain.User) error {
	if u.ID == "" {
		u.ID = newID()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, string(u.Role), u.PasswordHash, u.MFAEnabled, u.MFASecret, u.Disabled,
		u.FailedLogins, fmtTime(u.LockedUntil), fmtTime(u.CreatedAt), fmtTime(u.UpdatedAt))
	if isCode(err, 2067) {
		return domain.Errorf(domain.ECONFLICT, "An account with that e-mail address already exists.")
	}
	return mapErr(err, "create user")
}

func (db *DB) CreatePatient(ctx context.Context, p *domain.Patient, account *domain.User, notes []*domain.Notification) error {
	if p.ID == "" {
		p.ID = newID()
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		if account != nil {
			if err := insertUser(ctx, tx, account); err != nil {
				return err
			}
			p.UserID = account.ID
		}
		if p.EmergencyContacts == nil {
			p.EmergencyContacts = []domain.EmergencyContact{}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO patients (`+strings.Replace(patientColumns, "COALESCE(user_id, '')", "user_id", 1)+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, nullable(p.UserID), p.Name, p.DateOfBirth, p.Sex, p.Phone, p.Email, jsonText(p.Address), jsonText(p.EmergencyContacts),
			p.InsuranceProvider, p.InsuranceMemberNumber, p.NationalID, fmtTime(p.CreatedAt), fmtTime(p.UpdatedAt))
		if isCode(err, 2067) {
			return domain.Errorf(domain.ECONFLICT, "That account already has a patient record.")
		}
		if err != nil {
			return mapErr(err, "create patient")
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityPatient, p.ID, p.UpdatedAt); err != nil {
			return err
		}
		return insertNotifications(ctx, tx, notes)
	})
}

func (db *DB) PatientByID(ctx context.Context, id string) (*domain.Patient, error) {
	p, err := scanPatient(db.reader.QueryRowContext(ctx, `SELECT `+patientColumns+` FROM patients WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No patient with that id.")
	}
	return p, mapErr(err, "patient by id")
}

func (db *DB) PatientByUserID(ctx context.Context, userID string) (*domain.Patient, error) {
	p, err := scanPatient(db.reader.QueryRowContext(ctx, `SELECT `+patientColumns+` FROM patients WHERE user_id = ?`, userID))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "This account has no patient record.")
	}
	return p, mapErr(err, "patient by user")
}

func (db *DB) ListPatients(ctx context.Context, f domain.PatientFilter) ([]*domain.Patient, error) {
	q := `SELECT ` + patientColumns + ` FROM patients WHERE 1=1`
	var args []any
	if f.Query != "" {
		s := strings.ToLower(f.Query)
		q += ` AND (instr(lower(name), ?) > 0 OR instr(lower(email), ?) > 0)`
		args = append(args, s, s)
	}
	if f.DoctorID != "" {
		q += ` AND id IN (SELECT patient_id FROM appointments WHERE doctor_id = ? AND status IN ('booked', 'arrived', 'checked-in', 'fulfilled', 'noshow'))`
		args = append(args, f.DoctorID)
	}
	q += ` ORDER BY name, id LIMIT ? OFFSET ?`
	args = append(args, limitOr(f.Limit, 100), f.Offset)
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list patients")
	}
	defer rows.Close()
	var out []*domain.Patient
	for rows.Next() {
		p, err := scanPatient(rows)
		if err != nil {
			return nil, mapErr(err, "scan patient")
		}
		out = append(out, p)
	}
	return out, mapErr(rows.Err(), "list patients")
}

func insertChange(ctx context.Context, tx *sql.Tx, c *domain.PatientChange) error {
	if c == nil {
		return nil
	}
	if c.ID == "" {
		c.ID = newID()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO patient_changes (id, patient_id, entity, entity_id, action, fields, actor_id, actor_role, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.PatientID, c.Entity, c.EntityID, c.Action, jsonText(c.Fields), c.ActorID, c.ActorRole, fmtTime(c.At))
	return mapErr(err, "record change")
}

func (db *DB) UpdatePatient(ctx context.Context, p *domain.Patient, change *domain.PatientChange) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE patients SET name = ?, date_of_birth = ?, sex = ?, phone = ?, email = ?, address = ?,
			emergency_contacts = ?, insurance_provider = ?, insurance_member_sealed = ?, national_id_sealed = ?, updated_at = ?
			WHERE id = ?`, p.Name, p.DateOfBirth, p.Sex, p.Phone, p.Email, jsonText(p.Address), jsonText(p.EmergencyContacts),
			p.InsuranceProvider, p.InsuranceMemberNumber, p.NationalID, fmtTime(p.UpdatedAt), p.ID)
		if err != nil {
			return mapErr(err, "update patient")
		}
		if err := mustAffect(res, "No patient with that id."); err != nil {
			return err
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityPatient, p.ID, p.UpdatedAt); err != nil {
			return err
		}
		return insertChange(ctx, tx, change)
	})
}

func (db *DB) PatientChanges(ctx context.Context, patientID string, limit int) ([]*domain.PatientChange, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT id, patient_id, entity, entity_id, action, fields, actor_id, actor_role, at
		FROM patient_changes WHERE patient_id = ? ORDER BY at DESC, id DESC LIMIT ?`, patientID, limitOr(limit, 100))
	if err != nil {
		return nil, mapErr(err, "patient changes")
	}
	defer rows.Close()
	var out []*domain.PatientChange
	for rows.Next() {
		var c domain.PatientChange
		var fields, at string
		if err := rows.Scan(&c.ID, &c.PatientID, &c.Entity, &c.EntityID, &c.Action, &fields, &c.ActorID, &c.ActorRole, &at); err != nil {
			return nil, mapErr(err, "scan change")
		}
		if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
			return nil, err
		}
		if err := times(&c.At, at); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, mapErr(rows.Err(), "patient changes")
}

const entryColumns = `id, patient_id, kind, description, detail, status, onset_date, end_date, notes, recorded_by, created_at, updated_at`

func scanEntry(row scanner) (*domain.ClinicalEntry, error) {
	var e domain.ClinicalEntry
	var created, updated string
	if err := row.Scan(&e.ID, &e.PatientID, &e.Kind, &e.Description, &e.Detail, &e.Status, &e.OnsetDate, &e.EndDate,
		&e.Notes, &e.RecordedBy, &created, &updated); err != nil {
		return nil, err
	}
	return &e, times(&e.CreatedAt, created, &e.UpdatedAt, updated)
}

func (db *DB) CreateEntry(ctx context.Context, e *domain.ClinicalEntry, change *domain.PatientChange) error {
	if e.ID == "" {
		e.ID = newID()
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO clinical_entries (`+entryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.PatientID, e.Kind, e.Description, e.Detail, e.Status, e.OnsetDate, e.EndDate, e.Notes, e.RecordedBy,
			fmtTime(e.CreatedAt), fmtTime(e.UpdatedAt))
		if isCode(err, 787) { // SQLITE_CONSTRAINT_FOREIGNKEY
			return domain.Errorf(domain.ENOTFOUND, "No patient with that id.")
		}
		if err != nil {
			return mapErr(err, "create entry")
		}
		if change != nil {
			change.EntityID = e.ID
		}
		return insertChange(ctx, tx, change)
	})
}

func (db *DB) UpdateEntry(ctx context.Context, e *domain.ClinicalEntry, change *domain.PatientChange) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE clinical_entries SET description = ?, detail = ?, status = ?, onset_date = ?, end_date = ?,
			notes = ?, updated_at = ? WHERE id = ? AND patient_id = ?`, e.Description, e.Detail, e.Status, e.OnsetDate, e.EndDate,
			e.Notes, fmtTime(e.UpdatedAt), e.ID, e.PatientID)
		if err != nil {
			return mapErr(err, "update entry")
		}
		if err := mustAffect(res, "No such entry for this patient."); err != nil {
			return err
		}
		return insertChange(ctx, tx, change)
	})
}

func (db *DB) DeleteEntry(ctx context.Context, patientID, entryID string, change *domain.PatientChange) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM clinical_entries WHERE id = ? AND patient_id = ?`, entryID, patientID)
		if err != nil {
			return mapErr(err, "delete entry")
		}
		if err := mustAffect(res, "No such entry for this patient."); err != nil {
			return err
		}
		return insertChange(ctx, tx, change)
	})
}

func (db *DB) Entry(ctx context.Context, patientID, entryID string) (*domain.ClinicalEntry, error) {
	e, err := scanEntry(db.reader.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM clinical_entries WHERE id = ? AND (? = '' OR patient_id = ?)`, entryID, patientID, patientID))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such entry for this patient.")
	}
	return e, mapErr(err, "entry")
}

func (db *DB) Entries(ctx context.Context, patientID, kind string) ([]*domain.ClinicalEntry, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+entryColumns+` FROM clinical_entries
		WHERE patient_id = ? AND (? = '' OR kind = ?) ORDER BY kind, created_at, id`, patientID, kind, kind)
	if err != nil {
		return nil, mapErr(err, "entries")
	}
	defer rows.Close()
	var out []*domain.ClinicalEntry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, mapErr(err, "scan entry")
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err(), "entries")
}

const doctorColumns = `d.id, d.user_id, u.name, d.specialization, d.qualifications, d.license_number, d.years_experience, d.created_at, d.updated_at`

func scanDoctor(row scanner) (*domain.Doctor, error) {
	var d domain.Doctor
	var quals, created, updated string
	if err := row.Scan(&d.ID, &d.UserID, &d.Name, &d.Specialization, &quals, &d.LicenseNumber, &d.YearsExperience, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(quals), &d.Qualifications); err != nil {
		return nil, err
	}
	return &d, times(&d.CreatedAt, created, &d.UpdatedAt, updated)
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
		save = func(ctx context.Context, tx *sql.Tx, u *domain.User) error { return updateUser(ctx, tx, u) }
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := save(ctx, tx, account); err != nil {
			return err
		}
		d.UserID, d.Name = account.ID, account.Name
		_, err := tx.ExecContext(ctx, `INSERT INTO doctors (id, user_id, specialization, qualifications, license_number, years_experience, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.UserID, d.Specialization, jsonText(d.Qualifications), d.LicenseNumber, d.YearsExperience,
			fmtTime(d.CreatedAt), fmtTime(d.UpdatedAt))
		if isCode(err, 2067) || isCode(err, 1555) {
			return domain.Errorf(domain.ECONFLICT, "This account already has a doctor profile.")
		}
		if err != nil {
			return mapErr(err, "create doctor")
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityDoctor, d.ID, d.UpdatedAt); err != nil {
			return err
		}
		if hours == nil {
			return nil
		}
		hours.DoctorID = d.ID
		_, err = tx.ExecContext(ctx, `INSERT INTO availability (doctor_id, spec, updated_at) VALUES (?, ?, ?)`,
			hours.DoctorID, jsonText(hours), fmtTime(hours.UpdatedAt))
		if err != nil {
			return mapErr(err, "first hours of a doctor")
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityAvailability, d.ID, hours.UpdatedAt)
	})
}

func (db *DB) DoctorByID(ctx context.Context, id string) (*domain.Doctor, error) {
	d, err := scanDoctor(db.reader.QueryRowContext(ctx, `SELECT `+doctorColumns+` FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No doctor with that id.")
	}
	return d, mapErr(err, "doctor by id")
}

func (db *DB) DoctorByUserID(ctx context.Context, userID string) (*domain.Doctor, error) {
	d, err := scanDoctor(db.reader.QueryRowContext(ctx, `SELECT `+doctorColumns+` FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.user_id = ?`, userID))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "This account has no doctor profile.")
	}
	return d, mapErr(err, "doctor by user")
}

func (db *DB) ListDoctors(ctx context.Context, specialization string) ([]*domain.Doctor, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+doctorColumns+` FROM doctors d JOIN users u ON u.id = d.user_id
		WHERE (? = '' OR lower(d.specialization) = lower(?)) AND u.disabled = 0 AND u.role = 'doctor' ORDER BY u.name, d.id`, specialization, specialization)
	if err != nil {
		return nil, mapErr(err, "list doctors")
	}
	defer rows.Close()
	var out []*domain.Doctor
	for rows.Next() {
		d, err := scanDoctor(rows)
		if err != nil {
			return nil, mapErr(err, "scan doctor")
		}
		out = append(out, d)
	}
	return out, mapErr(rows.Err(), "list doctors")
}

func (db *DB) PutAvailability(ctx context.Context, a *domain.Availability) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return putAvailability(ctx, tx, a) })
}

// putAvailability stores a doctor's hours and writes their change.
func putAvailability(ctx context.Context, tx *sql.Tx, a *domain.Availability) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO availability (doctor_id, spec, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (doctor_id) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
		a.DoctorID, jsonText(a), fmtTime(a.UpdatedAt))
	if isCode(err, 787) {
		return domain.Errorf(domain.ENOTFOUND, "No doctor with that id.")
	}
	if err != nil {
		return mapErr(err, "put availability")
	}
	return insertSyncChange(ctx, tx, domain.ChangeEntityAvailability, a.DoctorID, a.UpdatedAt)
}

func (db *DB) Availability(ctx context.Context, doctorID string) (*domain.Availability, error) {
	var spec string
	err := db.reader.QueryRowContext(ctx, `SELECT spec FROM availability WHERE doctor_id = ?`, doctorID).Scan(&spec)
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "This doctor has not published availability yet.")
	}
	if err != nil {
		return nil, mapErr(err, "availability")
	}
	var a domain.Availability
	return &a, json.Unmarshal([]byte(spec), &a)
}

func (db *DB) TreatsPatient(ctx context.Context, doctorID, patientID string) (bool, error) {
	var one int
	err := db.reader.QueryRowContext(ctx, `SELECT 1 FROM appointments WHERE doctor_id = ? AND patient_id = ?
		AND status IN ('booked', 'arrived', 'checked-in', 'fulfilled', 'noshow') LIMIT 1`, doctorID, patientID).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, mapErr(err, "treats patient")
}
