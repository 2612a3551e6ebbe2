package portal

import (
	"context"
	"errors"
	"fmt"
	"github.com/healthhub/healthhub/backend/policy"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/notify"
)

// BookRequest asks for an appointment.
type BookRequest struct {
	DoctorID  string    `json:"doctor_id"`
	PatientID string    `json:"patient_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Reason    string    `json:"reason"`
}

// Booked is the outcome of a booking; Replayed is set when an earlier
// request with the same Idempotency-Key had already made it.
type Booked struct {
	Appointment *domain.Appointment
	Replayed    bool
}

// parties are the accounts an appointment concerns.
type parties struct {
	patient *domain.Patient
	doctor  *domain.Doctor
}

func (s *Service) partiesOf(ctx context.Context, doctorID, patientID string) (parties, error) {
	d, err := s.store.DoctorByID(ctx, doctorID)
	if err != nil {
		if domain.IsCode(err, domain.ENOTFOUND) {
			return parties{}, domain.Invalid("doctor_id", "There is no doctor with id %q.", truncate(doctorID, 64))
		}
		return parties{}, err
	}
	p, err := s.store.PatientByID(ctx, patientID)
	if err != nil {
		if domain.IsCode(err, domain.ENOTFOUND) {
			return parties{}, domain.Invalid("patient_id", "There is no patient with id %q.", truncate(patientID, 64))
		}
		return parties{}, err
	}
	return parties{patient: p, doctor: d}, nil
}

// bookableDoctor refuses doctors whose account is disabled (they left, or are away).
func (s *Service) bookableDoctor(ctx context.Context, d *domain.Doctor) error {
	u, err := s.store.UserByID(ctx, d.UserID)
	if err != nil {
		return err
	}
	if u.Disabled {
		return domain.Invalid("doctor_id", "This doctor is not taking appointments.")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func checkTimes(start, end time.Time) error {
	switch {
	case start.IsZero():
		return domain.Invalid("start", "Give the start time (RFC 3339, such as 2026-12-01T09:00:00+01:00).")
	case end.IsZero():
		return domain.Invalid("end", "Give the end time (RFC 3339).")
	case !end.After(start):
		return domain.Invalid("end", "The end must be after the start.")
	case end.Sub(start) > domain.MaxAppointmentLength:
		return domain.Invalid("end", "An appointment may last at most 8 hours.")
	}
	return nil
}

// notes builds the outbox messages for a change, to the patient's account
// (when there is one) and the doctor's.
func (s *Service) notes(kind string, a *domain.Appointment, who parties, subject, body string) []*domain.Notification {
	var out []*domain.Notification
	for _, uid := range []string{who.patient.UserID, who.doctor.UserID} {
		if uid == "" {
			continue
		}
		out = append(out, &domain.Notification{UserID: uid, Kind: kind, AppointmentID: a.ID, Subject: subject, Body: body,
			CreatedAt: s.now(), DedupeKey: fmt.Sprintf("%s:%s:%s:%d", kind, a.ID, uid, a.UpdatedAt.UnixMicro())})
	}
	return out
}

// hasHours reports whether an availability offers any time at all: a new
// doctor starts with their time zone and no hours.
func hasHours(a *domain.Availability) bool {
	if len(a.Weekly) > 0 {
		return true
	}
	for _, e := range a.Exceptions {
		if e.Available {
			return true
		}
	}
	return false
}

// clinicTimeZone is the clinic's zone setting ("" when the service runs
// without accounts, as in tests of scheduling alone).
func (s *Service) clinicTimeZone(ctx context.Context) (string, error) {
	if s.accounts == nil {
		return "", nil
	}
	return s.accounts.ClinicTimeZone(ctx)
}

// describe says what an appointment is, its time in the doctor's zone (the
// clinic's for a doctor without hours), naming the zone.
func (s *Service) describe(ctx context.Context, a *domain.Appointment, who parties) string {
	zone := ""
	if av, err := s.store.Availability(ctx, a.DoctorID); err == nil {
		zone = av.TimeZone
	}
	loc := notify.Location(ctx, zone, s.clinicTimeZone)
	return fmt.Sprintf("Appointment with %s (%s) on %s, %d minutes.\n", notify.DoctorName(who.doctor.Name), who.doctor.Specialization,
		notify.When(a.Start, a.End, loc), int(a.End.Sub(a.Start)/time.Minute))
}

func (s *Service) announce(ctx context.Context, typ string, a *domain.Appointment, who parties, notes []*domain.Notification) {
	s.publish(ctx, typ, a.ID, a, []string{who.patient.UserID, who.doctor.UserID}, scheduleRoles...)
	for _, n := range notes {
		if n.ID != "" { // skipped duplicates are not announced
			s.publish(ctx, domain.EventNotification, n.ID, n, []string{n.UserID})
		}
	}
}

// Book makes an appointment for a caller allowed to book it for the
// patient with the doctor; the time must be one of the doctor's slots, and
// the database refuses any overlap with another booking (conflict, naming
// the clash).
func (s *Service) Book(ctx context.Context, in BookRequest, idempotencyKey string) (*Booked, error) {
	res, err := s.AppointmentResource(ctx, in.DoctorID, in.PatientID, "")
	if err != nil {
		return nil, err
	}
	if err := s.Authorize(ctx, policy.Create, res); err != nil {
		return nil, err
	}
	if err := checkTimes(in.Start, in.End); err != nil {
		return nil, err
	}
	reason, err := text("reason", in.Reason, 500, false, true)
	if err != nil {
		return nil, err
	}
	if len(idempotencyKey) > 200 {
		return nil, domain.Invalid("Idempotency-Key", "The Idempotency-Key header may be at most 200 characters.")
	}
	who, err := s.partiesOf(ctx, in.DoctorID, in.PatientID)
	if err != nil {
		return nil, err
	}
	if err := s.bookableDoctor(ctx, who.doctor); err != nil {
		return nil, err
	}
	p := domain.PrincipalFrom(ctx)
	if p == nil {
		return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "Sign in first."}
	}
	now := s.now()
	a := &domain.Appointment{ID: newID(), DoctorID: in.DoctorID, PatientID: in.PatientID, Start: in.Start.UTC().Truncate(time.Second),
		End: in.End.UTC().Truncate(time.Second), Status: domain.StatusBooked, Reason: reason, CreatedBy: p.UserID,
		IdempotencyKey: idempotencyKey, CreatedAt: now, UpdatedAt: now}
	if idempotencyKey == "" || !s.alreadyBooked(ctx, a) {
		av, err := s.store.Availability(ctx, in.DoctorID)
		if domain.IsCode(err, domain.ENOTFOUND) || err == nil && !hasHours(av) {
			return nil, domain.Invalid("doctor_id", "This doctor has not published bookable hours yet.")
		}
		if err != nil {
			return nil, err
		}
		loc, err := s.location(av.TimeZone)
		if err != nil {
			return nil, err
		}
		if err := fitsAvailability(av, loc, a.Start, a.End, now); err != nil {
			return nil, err
		}
		if err := s.checkBuffer(ctx, av, a); err != nil {
			return nil, err
		}
	}
	outbox := s.queueing()
	subject, body := "Appointment booked", "Your appointment is booked.\n\n"
	if outbox != nil && !outbox.Leased(ctx, a.DoctorID, a.Start, a.End) {
		// Confirmed when the upstream accepts it.
		a.Status = domain.StatusPending
		subject, body = "Appointment requested", "Your appointment is requested and will be confirmed shortly.\n\n"
	}
	notes := s.notes(domain.NotifyBooked, a, who, subject, body+s.describe(ctx, a, who))
	if outbox != nil {
		err = s.store.BookAppointmentQueued(ctx, a, notes, s.op(ctx, domain.OpBook, a))
	} else {
		err = s.store.BookAppointment(ctx, a, notes)
	}
	if errors.Is(err, domain.ErrIdempotentReplay) {
		if a.DoctorID != in.DoctorID || a.PatientID != in.PatientID || !a.Start.Equal(in.Start.UTC().Truncate(time.Second)) ||
			!a.End.Equal(in.End.UTC().Truncate(time.Second)) {
			return nil, domain.Errorf(domain.ECONFLICT, "This Idempotency-Key was already used for a different booking; use a new key for a new request.")
		}
		return &Booked{Appointment: a, Replayed: true}, nil
	}
	if err != nil {
		if domain.IsCode(err, domain.ECONFLICT) {
			s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "appointment", PatientID: a.PatientID, Outcome: domain.OutcomeFailure, Detail: "reason=conflict"})
		}
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "appointment", ResourceID: a.ID, PatientID: a.PatientID}); err != nil {
		return nil, err
	}
	s.announce(ctx, domain.EventAppointmentBooked, a, who, notes)
	if outbox != nil {
		outbox.Queued()
	}
	return &Booked{Appointment: a}, nil
}

// alreadyBooked reports whether this creator's key was used before, in which
// case the stored booking answers and today's availability does not matter.
func (s *Service) alreadyBooked(ctx context.Context, a *domain.Appointment) bool {
	_, err := s.store.AppointmentByIdempotencyKey(ctx, a.CreatedBy, a.IdempotencyKey)
	return err == nil
}

// checkBuffer keeps the doctor's buffer free around other appointments.
func (s *Service) checkBuffer(ctx context.Context, av *domain.Availability, a *domain.Appointment) error {
	if av.BufferMinutes == 0 {
		return nil
	}
	buf := time.Duration(av.BufferMinutes) * time.Minute
	near, err := s.store.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: a.DoctorID, From: a.Start.Add(-buf), To: a.End.Add(buf), Limit: 100})
	if err != nil {
		return err
	}
	for _, x := range near {
		if x.ID != a.ID && domain.Blocks(x.Status) {
			return domain.ClashError(x)
		}
	}
	return nil
}

// Appointment returns one appointment to a caller allowed to read it; the
// read is audited.
func (s *Service) Appointment(ctx context.Context, id string) (*domain.Appointment, error) {
	a, err := s.authorizeAppointment(ctx, policy.Read, id)
	if err != nil {
		return nil, err
	}
	return a, s.audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "appointment", ResourceID: id, PatientID: a.PatientID})
}

// AppointmentRef returns an appointment for authorisation, unaudited.
func (s *Service) AppointmentRef(ctx context.Context, id string) (*domain.Appointment, error) {
	return s.store.AppointmentByID(ctx, id)
}

// ListAppointments returns appointments matching f; the caller has narrowed
// f to what it may see.
func (s *Service) ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error) {
	if f.Status != "" && !validStatus[f.Status] {
		return nil, domain.Invalid("status", "Unknown status %q; use a FHIR appointment status such as booked or cancelled.", truncate(f.Status, 40))
	}
	if f.Limit <= 0 {
		f.Limit = 500
	}
	f.Limit = min(f.Limit, 1000)
	list, err := s.store.ListAppointments(ctx, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, a := range list {
		ids[i] = a.PatientID
	}
	if len(list) == 0 && f.PatientID != "" {
		ids = []string{f.PatientID}
	}
	return list, s.recordSearch(ctx, "appointment", ids)
}

var validStatus = map[string]bool{
	domain.StatusProposed: true, domain.StatusPending: true, domain.StatusBooked: true, domain.StatusArrived: true,
	domain.StatusFulfilled: true, domain.StatusCancelled: true, domain.StatusNoShow: true, domain.StatusEnteredInError: true,
	domain.StatusCheckedIn: true, domain.StatusWaitlist: true,
}

// transitions lists the statuses each status may move to.
var transitions = map[string][]string{
	domain.StatusProposed:  {domain.StatusPending, domain.StatusBooked, domain.StatusCancelled, domain.StatusEnteredInError},
	domain.StatusPending:   {domain.StatusBooked, domain.StatusCancelled, domain.StatusEnteredInError},
	domain.StatusWaitlist:  {domain.StatusBooked, domain.StatusCancelled, domain.StatusEnteredInError},
	domain.StatusBooked:    {domain.StatusArrived, domain.StatusCheckedIn, domain.StatusFulfilled, domain.StatusNoShow, domain.StatusCancelled, domain.StatusEnteredInError},
	domain.StatusArrived:   {domain.StatusCheckedIn, domain.StatusFulfilled, domain.StatusNoShow, domain.StatusEnteredInError},
	domain.StatusCheckedIn: {domain.StatusFulfilled, domain.StatusEnteredInError},
	domain.StatusFulfilled: {domain.StatusEnteredInError},
	domain.StatusNoShow:    {domain.StatusArrived, domain.StatusEnteredInError},
	domain.StatusCancelled: {domain.StatusEnteredInError},
}

func canMove(from, to string) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// change applies fn to a copy of the appointment and stores it with notes.
func (s *Service) update(ctx context.Context, id string, kind, event, subject string, fn func(a *domain.Appointment) error) (*domain.Appointment, error) {
	cur, err := s.store.AppointmentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	who, err := s.partiesOf(ctx, cur.DoctorID, cur.PatientID)
	if err != nil {
		return nil, err
	}
	next := *cur
	if err := fn(&next); err != nil {
		return nil, err
	}
	next.UpdatedAt = s.now()
	if !next.UpdatedAt.After(cur.UpdatedAt) {
		next.UpdatedAt = cur.UpdatedAt.Add(time.Microsecond)
	}
	var notes []*domain.Notification
	if kind != "" {
		notes = s.notes(kind, &next, who, subject, subject+".\n\n"+s.describe(ctx, &next, who))
	}
	outbox := s.queueing()
	if outbox != nil {
		err = s.store.UpdateAppointmentQueued(ctx, &next, cur.UpdatedAt, notes, s.op(ctx, domain.OpUpdate, &next))
	} else {
		err = s.store.UpdateAppointment(ctx, &next, cur.UpdatedAt, notes)
	}
	if err != nil {
		return nil, err
	}
	if outbox != nil {
		defer outbox.Queued()
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "appointment", ResourceID: id, PatientID: next.PatientID,
		Detail: "status=" + next.Status}); err != nil {
		return nil, err
	}
	s.announce(ctx, event, &next, who, notes)
	return &next, nil
}

// mayChange decides whether the caller may cancel or move an appointment:
// one allowed to change it, and for a patient only before it starts (after
// that, the clinic does it).
func (s *Service) mayChange(ctx context.Context, id string) error {
	a, err := s.authorizeAppointment(ctx, policy.Update, id)
	if err != nil {
		return err
	}
	if p := domain.PrincipalFrom(ctx); p.Role == domain.RolePatient && !a.Start.After(s.now()) {
		return domain.Errorf(domain.ECONFLICT, "The appointment has started; please call the clinic.")
	}
	return nil
}

// Cancel cancels an appointment that still holds its time.
func (s *Service) Cancel(ctx context.Context, id, reason string) (*domain.Appointment, error) {
	r, err := text("reason", reason, 500, false, true)
	if err != nil {
		return nil, err
	}
	if err := s.mayChange(ctx, id); err != nil {
		return nil, err
	}
	return s.update(ctx, id, domain.NotifyCancelled, domain.EventAppointmentCancelled, "Appointment cancelled", func(a *domain.Appointment) error {
		if !canMove(a.Status, domain.StatusCancelled) {
			return domain.Errorf(domain.ECONFLICT, "An appointment that is %s cannot be cancelled.", a.Status)
		}
		a.Status, a.CancelReason = domain.StatusCancelled, r
		return nil
	})
}

// Reschedule moves an appointment to another of the doctor's slots.
func (s *Service) Reschedule(ctx context.Context, id string, start, end time.Time) (*domain.Appointment, error) {
	if err := checkTimes(start, end); err != nil {
		return nil, err
	}
	if err := s.mayChange(ctx, id); err != nil {
		return nil, err
	}
	start, end = start.UTC().Truncate(time.Second), end.UTC().Truncate(time.Second)
	return s.update(ctx, id, domain.NotifyRescheduled, domain.EventAppointmentChanged, "Appointment moved", func(a *domain.Appointment) error {
		if !domain.Blocks(a.Status) || a.Status == domain.StatusFulfilled || a.Status == domain.StatusArrived || a.Status == domain.StatusCheckedIn {
			return domain.Errorf(domain.ECONFLICT, "An appointment that is %s cannot be moved.", a.Status)
		}
		av, err := s.store.Availability(ctx, a.DoctorID)
		if err != nil {
			return err
		}
		loc, err := s.location(av.TimeZone)
		if err != nil {
			return err
		}
		if err := fitsAvailability(av, loc, start, end, s.now()); err != nil {
			return err
		}
		a.Start, a.End = start, end
		a.OriginNode = "" // moved by this installation's people: its lease, if any, admits it
		return s.checkBuffer(ctx, av, a)
	})
}

// SetStatus moves an appointment along the FHIR status workflow.
func (s *Service) SetStatus(ctx context.Context, id, status string) (*domain.Appointment, error) {
	if _, err := s.authorizeAppointment(ctx, policy.SetStatus, id); err != nil {
		return nil, err
	}
	if !validStatus[status] {
		return nil, domain.Invalid("status", "Unknown status %q; use proposed, pending, booked, arrived, checked-in, fulfilled, noshow, cancelled, waitlist or entered-in-error.", truncate(status, 40))
	}
	event := domain.EventAppointmentChanged
	if status == domain.StatusCancelled {
		event = domain.EventAppointmentCancelled
	}
	kind := ""
	if status == domain.StatusCancelled {
		kind = domain.NotifyCancelled
	}
	return s.update(ctx, id, kind, event, "Appointment cancelled", func(a *domain.Appointment) error {
		if !canMove(a.Status, status) {
			return domain.Errorf(domain.ECONFLICT, "An appointment that is %s cannot become %s.", a.Status, status)
		}
		if (status == domain.StatusArrived || status == domain.StatusCheckedIn || status == domain.StatusFulfilled || status == domain.StatusNoShow) &&
			a.Start.After(s.now().Add(2*time.Hour)) {
			return domain.Errorf(domain.ECONFLICT, "The appointment is more than two hours away; it cannot be marked %s yet.", status)
		}
		a.Status = status
		return nil
	})
}
