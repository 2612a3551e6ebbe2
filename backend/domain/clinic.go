package domain

import (
	"context"
	"time"
)

// Patient is a person the clinic cares for. UserID links the portal account,
// when the patient has one. InsuranceMemberNumber and NationalID are sealed
// at rest: the store holds them encrypted and the patient service opens them.
type Patient struct {
	ID                    string             `json:"id"`
	UserID                string             `json:"user_id,omitempty"`
	Name                  string             `json:"name"`
	DateOfBirth           string             `json:"date_of_birth"` // YYYY-MM-DD
	Sex                   string             `json:"sex,omitempty"` // male, female, other, unknown (FHIR administrative gender)
	Phone                 string             `json:"phone,omitempty"`
	Email                 string             `json:"email,omitempty"`
	Address               Address            `json:"address"`
	EmergencyContacts     []EmergencyContact `json:"emergency_contacts"`
	InsuranceProvider     string             `json:"insurance_provider,omitempty"`
	InsuranceMemberNumber string             `json:"insurance_member_number,omitempty"`
	NationalID            string             `json:"national_id,omitempty"`
	CreatedAt             time.Time          `json:"created_at"`
	UpdatedAt             time.Time          `json:"updated_at"`
}

// Address is a postal address.
type Address struct {
	Line       string `json:"line,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// EmergencyContact is someone to call for a patient.
type EmergencyContact struct {
	Name         string `json:"name"`
	Relationship string `json:"relationship,omitempty"`
	Phone        string `json:"phone"`
}

// Clinical entry kinds.
const (
	EntryCondition  = "condition" // medical history
	EntryAllergy    = "allergy"
	EntryMedication = "medication"
)

// ClinicalEntry is one item of a patient's medical history, allergies or
// medications.
type ClinicalEntry struct {
	ID          string    `json:"id"`
	PatientID   string    `json:"patient_id"`
	Kind        string    `json:"kind"`
	Description string    `json:"description"`          // the condition, substance or medicine
	Detail      string    `json:"detail,omitempty"`     // reaction and severity, or dose and frequency
	Status      string    `json:"status"`               // active, resolved, inactive
	OnsetDate   string    `json:"onset_date,omitempty"` // YYYY-MM-DD
	EndDate     string    `json:"end_date,omitempty"`
	Notes       string    `json:"notes,omitempty"`
	RecordedBy  string    `json:"recorded_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// PatientChange records who changed what in a patient's record. Fields lists
// the changed field names; values are not repeated here.
type PatientChange struct {
	ID        string    `json:"id"`
	PatientID string    `json:"patient_id"`
	Entity    string    `json:"entity"` // profile, condition, allergy, medication
	EntityID  string    `json:"entity_id"`
	Action    string    `json:"action"` // create, update, delete
	Fields    []string  `json:"fields"`
	ActorID   string    `json:"actor_id"`
	ActorRole string    `json:"actor_role"`
	At        time.Time `json:"at"`
}

// Doctor is a practitioner with a portal account.
type Doctor struct {
	ID              string    `json:"id"`
	UserID          string    `json:"user_id"`
	Name            string    `json:"name"`
	Specialization  string    `json:"specialization"`
	Qualifications  []string  `json:"qualifications"`
	LicenseNumber   string    `json:"license_number,omitempty"`
	YearsExperience int       `json:"years_experience"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Availability is when a doctor can be booked, in the doctor's time zone.
type Availability struct {
	DoctorID         string         `json:"doctor_id"`
	TimeZone         string         `json:"time_zone"`
	SlotMinutes      int            `json:"slot_minutes"`
	BufferMinutes    int            `json:"buffer_minutes"`     // kept free after each appointment
	MinNoticeMinutes int            `json:"min_notice_minutes"` // how soon before a slot it can still be booked
	HorizonDays      int            `json:"horizon_days"`       // how far ahead it can be booked
	Weekly           []WeeklyHours  `json:"weekly"`
	Exceptions       []DayException `json:"exceptions"`
	UpdatedAt        time.Time      `json:"updated_at"`
}

// WeeklyHours is a recurring window; Weekday 0 is Sunday.
type WeeklyHours struct {
	Weekday int    `json:"weekday"`
	Start   string `json:"start"` // HH:MM local
	End     string `json:"end"`
}

// DayException changes one date: time off (Available false; the whole day
// when Start and End are empty) or extra hours (Available true).
type DayException struct {
	Date      string `json:"date"` // YYYY-MM-DD local
	Start     string `json:"start,omitempty"`
	End       string `json:"end,omitempty"`
	Available bool   `json:"available"`
}

// Appointment statuses: the FHIR R4 Appointment status value set.
const (
	StatusProposed       = "proposed"
	StatusPending        = "pending"
	StatusBooked         = "booked"
	StatusArrived        = "arrived"
	StatusFulfilled      = "fulfilled"
	StatusCancelled      = "cancelled"
	StatusNoShow         = "noshow"
	StatusEnteredInError = "entered-in-error"
	StatusCheckedIn      = "checked-in"
	StatusWaitlist       = "waitlist"
)

// BlockingStatuses hold the doctor's time: no two appointments in these may
// overlap. The databases enforce it with the same list.
var BlockingStatuses = []string{StatusProposed, StatusPending, StatusBooked, StatusArrived, StatusCheckedIn, StatusFulfilled}

// Blocks reports whether an appointment in status s holds its time.
func Blocks(s string) bool {
	for _, b := range BlockingStatuses {
		if s == b {
			return true
		}
	}
	return false
}

// MaxAppointmentLength is the longest an appointment may last; both
// databases enforce it, which bounds every overlap search.
const MaxAppointmentLength = 8 * time.Hour

// Appointment is a booked time with a doctor.
type Appointment struct {
	ID             string    `json:"id"`
	DoctorID       string    `json:"doctor_id"`
	PatientID      string    `json:"patient_id"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Status         string    `json:"status"`
	Reason         string    `json:"reason"`
	CancelReason   string    `json:"cancel_reason,omitempty"`
	CreatedBy      string    `json:"created_by"`
	IdempotencyKey string    `json:"-"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// OriginNode is the node whose op last set its time or made it hold
	// time ("" for this installation's own people); a slot lease admits
	// only its holder's.
	OriginNode string `json:"origin_node,omitempty"`
}

// AppointmentFilter narrows ListAppointments. Zero values match everything;
// From/To select appointments overlapping [From, To).
type AppointmentFilter struct {
	DoctorID  string
	PatientID string
	Status    string
	From, To  time.Time
	Limit     int
	Offset    int
}

// StatusCount is how many appointments of one day have one status.
type StatusCount struct {
	Day    string // YYYY-MM-DD
	Status string
	Count  int
}

// Notification kinds.
const (
	NotifyWelcome      = "welcome"
	NotifyBooked       = "appointment_booked"
	NotifyCancelled    = "appointment_cancelled"
	NotifyRescheduled  = "appointment_rescheduled"
	NotifyReminder     = "appointment_reminder"
	NotifyStatusChange = "appointment_status"
)

// Notification is a message for one user, written to the outbox in the same
// transaction as the change it announces, and delivered by a worker.
type Notification struct {
	ID            string `json:"id"`
	UserID        string `json:"user_id"`
	Kind          string `json:"kind"`
	AppointmentID string `json:"appointment_id,omitempty"`
	Subject       string `json:"subject"`
	Body          string `json:"body"`
	// DedupeKey makes a notification unique: a second one with the same key
	// is not stored (reminders, retried requests).
	DedupeKey string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ReadAt    time.Time `json:"read_at,omitzero"`
	// Delivery by e-mail.
	EmailStatus   string    `json:"email_status"` // pending, sending, sent, failed, skipped
	Attempts      int       `json:"-"`
	NextAttemptAt time.Time `json:"-"`
	SentAt        time.Time `json:"sent_at,omitzero"`
	LastError     string    `json:"-"`
}

// E-mail delivery states of a notification.
const (
	EmailPending = "pending"
	EmailSending = "sending"
	EmailSent    = "sent"
	EmailFailed  = "failed"
	EmailSkipped = "skipped"
)

// ClinicStore keeps patients, doctors, availability, appointments and the
// notification outbox.
// Change says that an entity changed; a reader fetches its state as it is
// now. Cursor resumes a read after this change.
type Change struct {
	Cursor   string    `json:"cursor"`
	Entity   string    `json:"entity"` // "appointment"
	EntityID string    `json:"entity_id"`
	At       time.Time `json:"at"`
}

// ChangeEntityAppointment is the entity of appointment changes.
const ChangeEntityAppointment = "appointment"

type ClinicStore interface {
	// CreatePatient stores a patient; with account non-nil, the account is
	// created in the same transaction and linked, and notes are written to
	// the outbox with it.
	CreatePatient(ctx context.Context, p *Patient, account *User, notes []*Notification) error
	PatientByID(ctx context.Context, id string) (*Patient, error)
	PatientByUserID(ctx context.Context, userID string) (*Patient, error)
	ListPatients(ctx context.Context, f PatientFilter) ([]*Patient, error)
	// UpdatePatient writes p and appends change in one transaction.
	UpdatePatient(ctx context.Context, p *Patient, change *PatientChange) error
	PatientChanges(ctx context.Context, patientID string, limit int) ([]*PatientChange, error)

	CreateEntry(ctx context.Context, e *ClinicalEntry, change *PatientChange) error
	UpdateEntry(ctx context.Context, e *ClinicalEntry, change *PatientChange) error
	DeleteEntry(ctx context.Context, patientID, entryID string, change *PatientChange) error
	// Entry returns an entry of the patient; with patientID "", of
	// whichever patient it belongs to.
	Entry(ctx context.Context, patientID, entryID string) (*ClinicalEntry, error)
	Entries(ctx context.Context, patientID, kind string) ([]*ClinicalEntry, error)

	// CreateDoctor stores a doctor profile together with its account and,
	// when hours is not nil, its first hours, in one transaction. An account
	// without an ID is created; one with an ID is updated to account (how an
	// existing account becomes a doctor). A second profile for one account is
	// a conflict.
	CreateDoctor(ctx context.Context, d *Doctor, account *User, hours *Availability) error
	DoctorByID(ctx context.Context, id string) (*Doctor, error)
	DoctorByUserID(ctx context.Context, userID string) (*Doctor, error)
	ListDoctors(ctx context.Context, specialization string) ([]*Doctor, error)
	PutAvailability(ctx context.Context, a *Availability) error
	Availability(ctx context.Context, doctorID string) (*Availability, error)
	// TreatsPatient reports whether the doctor has a booked or held
	// appointment with the patient (booked, arrived, checked-in, fulfilled,
	// no-show); cancelled, voided and merely proposed ones do not count.
	TreatsPatient(ctx context.Context, doctorID, patientID string) (bool, error)

	// BookAppointment stores a and its notes atomically, refusing (conflict)
	// when it overlaps a blocking appointment of the same doctor. A repeated
	// IdempotencyKey of the same creator returns the first appointment and
	// ErrIdempotentReplay instead.
	BookAppointment(ctx context.Context, a *Appointment, notes []*Notification) error
	AppointmentByID(ctx context.Context, id string) (*Appointment, error)
	// AppointmentByIdempotencyKey finds the booking a creator made with key.
	AppointmentByIdempotencyKey(ctx context.Context, createdBy, key string) (*Appointment, error)
	ListAppointments(ctx context.Context, f AppointmentFilter) ([]*Appointment, error)
	// AppointmentCounts counts appointments starting in [from, to) by day
	// and status; a day is a date at offsetMinutes east of UTC.
	AppointmentCounts(ctx context.Context, from, to time.Time, offsetMinutes int) ([]StatusCount, error)
	// UpdateAppointment writes a (status, times, reasons) and its notes
	// atomically; a time change that overlaps another blocking appointment is
	// a conflict. expectUpdated guards against lost updates.
	UpdateAppointment(ctx context.Context, a *Appointment, expectUpdated time.Time, notes []*Notification) error
	// Changes returns up to limit changes after the cursor ("" for the
	// first), in an order a reader can page through without missing a
	// change whose transaction commits after a later one's. Booking and
	// updating an appointment each write a change in their transaction.
	Changes(ctx context.Context, after string, limit int) ([]Change, error)

	// Outbox. AddNotifications stores notes; one whose DedupeKey is already
	// stored is skipped and comes back with an empty ID.
	AddNotifications(ctx context.Context, notes []*Notification) error
	// ClaimNotifications marks up to limit due e-mails as sending, leased
	// until leaseUntil, and returns them; a lease that runs out makes the
	// notification due again.
	ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*Notification, error)
	// MarkNotificationSent and MarkNotificationFailed act only while the
	// caller's claim holds: lease is the NextAttemptAt its claim returned. A
	// claim that lapsed (and may now be another worker's) gives a conflict.
	MarkNotificationSent(ctx context.Context, id string, lease, at time.Time) error
	MarkNotificationFailed(ctx context.Context, id string, lease time.Time, lastErr string, nextAttempt time.Time, final bool) error
	// MarkNotificationSkipped ends a claimed notification's e-mail delivery
	// without sending it (e-mail is not configured), giving the reason.
	MarkNotificationSkipped(ctx context.Context, id string, lease time.Time, reason string) error
	ListNotifications(ctx context.Context, userID string, limit int) ([]*Notification, error)
	MarkNotificationRead(ctx context.Context, userID, id string, at time.Time) error
	// AppointmentsNeedingReminder lists booked appointments starting in
	// [from, to) with no reminder made since they were last changed (a
	// rescheduled appointment is reminded of its new time).
	AppointmentsNeedingReminder(ctx context.Context, from, to time.Time, limit int) ([]*Appointment, error)
}

// PatientFilter narrows ListPatients.
type PatientFilter struct {
	Query    string // part of the name or e-mail
	DoctorID string // only patients with an appointment with this doctor
	Limit    int
	Offset   int
}

// ErrIdempotentReplay is returned with the stored appointment when a booking
// repeats an Idempotency-Key.
var ErrIdempotentReplay = &Error{Code: ECONFLICT, Message: "This booking was already made with the same Idempotency-Key."}

// ClashError is the conflict a booking gets when it overlaps other, naming
// the time in the way (not the other patient).
func ClashError(other *Appointment) error {
	return &Error{Code: ECONFLICT, Message: "That time overlaps another appointment of this doctor, from " +
		other.Start.UTC().Format(time.RFC3339) + " to " + other.End.UTC().Format(time.RFC3339) + "; choose a free slot."}
}

// ErrClaimLapsed is returned when a worker records the outcome of a
// notification whose claim ran out: another worker may hold it now.
var ErrClaimLapsed = &Error{Code: ECONFLICT, Message: "The claim on this notification lapsed; another worker may be delivering it."}
