package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

var clinicTests = []struct {
	name string
	fn   func(t *testing.T, db store.DB)
}{
	{"PatientsWithAccountAndOutbox", testPatients},
	{"ClinicalEntriesAndChanges", testEntries},
	{"DoctorsAndAvailability", testDoctors},
	{"DoctorProfileForAnExistingAccount", testDoctorOfExistingAccount},
	{"BookingOverlapIsRefused", testBookingOverlap},
	{"BookingRaceHasOneWinner", testBookingRace},
	{"BookingIdempotencyKey", testIdempotency},
	{"UpdateAppointment", testUpdateAppointment},
	{"AppointmentCountsByDay", testAppointmentCounts},
	{"OutboxClaimAndRetry", testOutbox},
	{"OutboxSkippedWithoutEmail", testOutboxSkipped},
	{"RemindersOncePerAppointment", testReminders},
	{"ChangesPagedInOrder", testChanges},
}

// clinic makes a doctor and a patient to book with.
func clinic(t *testing.T, db store.DB, tag string) (*domain.Doctor, *domain.Patient) {
	t.Helper()
	ctx := context.Background()
	d := &domain.Doctor{Specialization: "General practice", Qualifications: []string{"MD"}, LicenseNumber: "L-" + tag, YearsExperience: 7, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateDoctor(ctx, d, newUser("doc-"+tag+"@example.org", domain.RoleDoctor), nil); err != nil {
		t.Fatal(err)
	}
	p := &domain.Patient{Name: "Pat " + tag, DateOfBirth: "1980-02-03", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreatePatient(ctx, p, nil, nil); err != nil {
		t.Fatal(err)
	}
	return d, p
}

func appt(d *domain.Doctor, p *domain.Patient, start time.Time, minutes int) *domain.Appointment {
	return &domain.Appointment{DoctorID: d.ID, PatientID: p.ID, Start: start, End: start.Add(time.Duration(minutes) * time.Minute),
		Status: domain.StatusBooked, Reason: "check-up", CreatedBy: "tester", CreatedAt: t0, UpdatedAt: t0}
}

func testPatients(t *testing.T, db store.DB) {
	ctx := context.Background()
	acct := newUser("self@example.org", domain.RolePatient)
	p := &domain.Patient{Name: "Self Registered", DateOfBirth: "1990-01-02", Sex: "female", Email: "self@example.org",
		Address:               domain.Address{Line: "1 Main St", City: "Springfield", PostalCode: "12345"},
		EmergencyContacts:     []domain.EmergencyContact{{Name: "Kim", Relationship: "sister", Phone: "+1 555 0100"}},
		InsuranceMemberNumber: "sealed-1", CreatedAt: t0, UpdatedAt: t0}
	welcome := &domain.Notification{Kind: domain.NotifyWelcome, Subject: "Welcome", Body: "Hello", CreatedAt: t0}
	welcome.UserID = "" // set below once the account has an id
	// The account id is assigned inside CreatePatient, so the note names it by pointer.
	acct.ID = "acct-self"
	welcome.UserID = acct.ID
	if err := db.CreatePatient(ctx, p, acct, []*domain.Notification{welcome}); err != nil {
		t.Fatal(err)
	}
	got, err := db.PatientByUserID(ctx, acct.ID)
	if err != nil || got.ID != p.ID || got.Address.City != "Springfield" || len(got.EmergencyContacts) != 1 || got.InsuranceMemberNumber != "sealed-1" {
		t.Fatalf("patient by user = %+v, %v", got, err)
	}
	notes, _ := db.ListNotifications(ctx, acct.ID, 10)
	if len(notes) != 1 || notes[0].Kind != domain.NotifyWelcome || notes[0].EmailStatus != domain.EmailPending {
		t.Fatalf("welcome in outbox: %+v", notes)
	}
	// A failing account insert leaves no patient and no notification.
	dup := &domain.Patient{Name: "Dup", DateOfBirth: "1990-01-02", CreatedAt: t0, UpdatedAt: t0}
	err = db.CreatePatient(ctx, dup, newUser("self@example.org", domain.RolePatient), []*domain.Notification{{UserID: acct.ID, Kind: "x", Subject: "s", Body: "b", CreatedAt: t0}})
	mustCode(t, err, domain.ECONFLICT)
	if _, err := db.PatientByID(ctx, dup.ID); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("half-created patient: %v", err)
	}
	if notes, _ := db.ListNotifications(ctx, acct.ID, 10); len(notes) != 1 {
		t.Fatalf("notification of a failed registration kept: %d", len(notes))
	}
	d, other := clinic(t, db, "pl")
	list, err := db.ListPatients(ctx, domain.PatientFilter{Query: "registered"})
	if err != nil || len(list) != 1 {
		t.Fatalf("query: %d %v", len(list), err)
	}
	if err := db.BookAppointment(ctx, appt(d, other, t0.Add(48*time.Hour), 30), nil); err != nil {
		t.Fatal(err)
	}
	mine, _ := db.ListPatients(ctx, domain.PatientFilter{DoctorID: d.ID})
	if len(mine) != 1 || mine[0].ID != other.ID {
		t.Fatalf("doctor's patients = %v", mine)
	}
	if ok, _ := db.TreatsPatient(ctx, d.ID, other.ID); !ok {
		t.Fatal("TreatsPatient false for a booked patient")
	}
	if ok, _ := db.TreatsPatient(ctx, d.ID, p.ID); ok {
		t.Fatal("TreatsPatient true for a stranger")
	}
	got.Phone, got.UpdatedAt = "+1 555 0199", t0.Add(time.Hour)
	if err := db.UpdatePatient(ctx, got, &domain.PatientChange{PatientID: got.ID, Entity: "profile", EntityID: got.ID, Action: "update",
		Fields: []string{"phone"}, ActorID: "u1", ActorRole: "staff", At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ch, err := db.PatientChanges(ctx, got.ID, 10)
	if err != nil || len(ch) != 1 || ch[0].Fields[0] != "phone" || ch[0].ActorRole != "staff" {
		t.Fatalf("changes = %+v, %v", ch, err)
	}
	mustCode(t, db.UpdatePatient(ctx, &domain.Patient{ID: "missing"}, nil), domain.ENOTFOUND)
}

func testEntries(t *testing.T, db store.DB) {
	ctx := context.Background()
	_, p := clinic(t, db, "en")
	mk := func(kind, desc string) *domain.ClinicalEntry {
		return &domain.ClinicalEntry{PatientID: p.ID, Kind: kind, Description: desc, Status: "active", RecordedBy: "doc", CreatedAt: t0, UpdatedAt: t0}
	}
	change := func(action string) *domain.PatientChange {
		return &domain.PatientChange{PatientID: p.ID, Entity: "allergy", Action: action, Fields: []string{"description"}, ActorID: "doc", ActorRole: "doctor", At: t0}
	}
	a := mk(domain.EntryAllergy, "Penicillin")
	a.Detail = "rash, moderate"
	if err := db.CreateEntry(ctx, a, change("create")); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*domain.ClinicalEntry{mk(domain.EntryCondition, "Asthma"), mk(domain.EntryMedication, "Salbutamol")} {
		if err := db.CreateEntry(ctx, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := db.Entries(ctx, p.ID, "")
	allergies, _ := db.Entries(ctx, p.ID, domain.EntryAllergy)
	if len(all) != 3 || len(allergies) != 1 || allergies[0].Detail != "rash, moderate" {
		t.Fatalf("entries: %d all, %+v", len(all), allergies)
	}
	a.Status, a.UpdatedAt = "inactive", t0.Add(time.Minute)
	if err := db.UpdateEntry(ctx, a, change("update")); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Entry(ctx, p.ID, a.ID)
	if got.Status != "inactive" {
		t.Fatalf("entry after update: %+v", got)
	}
	mustCode(t, db.DeleteEntry(ctx, "other-patient", a.ID, nil), domain.ENOTFOUND)
	if err := db.DeleteEntry(ctx, p.ID, a.ID, change("delete")); err != nil {
		t.Fatal(err)
	}
	_, err := db.Entry(ctx, p.ID, a.ID)
	mustCode(t, err, domain.ENOTFOUND)
	ch, _ := db.PatientChanges(ctx, p.ID, 10)
	if len(ch) != 3 || ch[2].EntityID != a.ID {
		t.Fatalf("changes: %+v", ch)
	}
	mustCode(t, db.CreateEntry(ctx, &domain.ClinicalEntry{PatientID: "missing", Kind: domain.EntryAllergy, Description: "x", Status: "active", CreatedAt: t0, UpdatedAt: t0}, nil), domain.ENOTFOUND)
}

func testDoctors(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, _ := clinic(t, db, "dr")
	d2 := &domain.Doctor{Specialization: "Dermatology", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateDoctor(ctx, d2, newUser("derm@example.org", domain.RoleDoctor), nil); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.CreateDoctor(ctx, &domain.Doctor{Specialization: "x", CreatedAt: t0, UpdatedAt: t0}, newUser("derm@example.org", domain.RoleDoctor), nil), domain.ECONFLICT)
	got, err := db.DoctorByUserID(ctx, d.UserID)
	if err != nil || got.ID != d.ID || got.Name == "" || got.Qualifications[0] != "MD" || got.YearsExperience != 7 {
		t.Fatalf("doctor = %+v %v", got, err)
	}
	derm, _ := db.ListDoctors(ctx, "dermatology")
	all, _ := db.ListDoctors(ctx, "")
	if len(derm) != 1 || len(all) != 2 {
		t.Fatalf("list: %d derm, %d all", len(derm), len(all))
	}
	_, err = db.Availability(ctx, d.ID)
	mustCode(t, err, domain.ENOTFOUND)
	av := &domain.Availability{DoctorID: d.ID, TimeZone: "Europe/Berlin", SlotMinutes: 30, BufferMinutes: 5, HorizonDays: 60,
		Weekly:     []domain.WeeklyHours{{Weekday: 1, Start: "09:00", End: "17:00"}},
		Exceptions: []domain.DayException{{Date: "2026-12-24", Available: false}}, UpdatedAt: t0}
	if err := db.PutAvailability(ctx, av); err != nil {
		t.Fatal(err)
	}
	av.SlotMinutes = 20
	if err := db.PutAvailability(ctx, av); err != nil {
		t.Fatal(err)
	}
	back, err := db.Availability(ctx, d.ID)
	if err != nil || back.SlotMinutes != 20 || back.TimeZone != "Europe/Berlin" || len(back.Exceptions) != 1 || back.Weekly[0].End != "17:00" {
		t.Fatalf("availability = %+v %v", back, err)
	}
	mustCode(t, db.PutAvailability(ctx, &domain.Availability{DoctorID: "missing", UpdatedAt: t0}), domain.ENOTFOUND)
}

// testDoctorOfExistingAccount makes a doctor of an account that already
// exists (a role change, or a doctor account made without a profile): the
// account change, the profile and the first hours are stored together, and
// only doctors whose account has the doctor role are listed.
func testDoctorOfExistingAccount(t *testing.T, db store.DB) {
	ctx := context.Background()
	acct := newUser("later-doctor@example.org", domain.RoleStaff)
	if err := db.CreateUser(ctx, acct); err != nil {
		t.Fatal(err)
	}
	acct.Role, acct.UpdatedAt = domain.RoleDoctor, t0.Add(time.Minute)
	hours := &domain.Availability{TimeZone: "America/New_York", SlotMinutes: 30, HorizonDays: 90, Weekly: []domain.WeeklyHours{}, Exceptions: []domain.DayException{}, UpdatedAt: t0}
	d := &domain.Doctor{Specialization: "Cardiology", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateDoctor(ctx, d, acct, hours); err != nil {
		t.Fatal(err)
	}
	if u, err := db.UserByID(ctx, acct.ID); err != nil || u.Role != domain.RoleDoctor {
		t.Fatalf("account after becoming a doctor = %+v, %v", u, err)
	}
	if got, err := db.DoctorByUserID(ctx, acct.ID); err != nil || got.ID != d.ID || got.Specialization != "Cardiology" {
		t.Fatalf("profile = %+v, %v", got, err)
	}
	if av, err := db.Availability(ctx, d.ID); err != nil || av.TimeZone != "America/New_York" || av.DoctorID != d.ID {
		t.Fatalf("first hours = %+v, %v", av, err)
	}
	// A second profile for the same account is refused, and leaves the account as it was.
	acct.Name = "Changed In A Refused Transaction"
	mustCode(t, db.CreateDoctor(ctx, &domain.Doctor{Specialization: "x", CreatedAt: t0, UpdatedAt: t0}, acct, nil), domain.ECONFLICT)
	if u, _ := db.UserByID(ctx, acct.ID); u.Name == acct.Name {
		t.Fatal("a refused profile changed the account")
	}
	listed := func() bool {
		all, err := db.ListDoctors(ctx, "cardiology")
		if err != nil {
			t.Fatal(err)
		}
		return len(all) == 1 && all[0].ID == d.ID
	}
	if !listed() {
		t.Fatal("the new doctor is not listed")
	}
	// An account that is no longer a doctor keeps its profile (its
	// appointments refer to it) but is not offered for booking.
	acct.Role, acct.Name = domain.RoleStaff, "Later Doctor"
	if err := db.UpdateUser(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if listed() {
		t.Fatal("an account that is no longer a doctor is still listed")
	}
}

// testOutboxSkipped: a notification whose e-mail is skipped (no e-mail is
// configured) stays listed for its recipient, says so, and is never claimed
// again.
func testOutboxSkipped(t *testing.T, db store.DB) {
	ctx := context.Background()
	u := newUser("in-app@example.org", domain.RolePatient)
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	n := &domain.Notification{UserID: u.ID, Kind: domain.NotifyBooked, Subject: "Booked", Body: "b", CreatedAt: t0}
	if err := db.AddNotifications(ctx, []*domain.Notification{n}); err != nil {
		t.Fatal(err)
	}
	claimed, err := db.ClaimNotifications(ctx, t0, t0.Add(time.Minute), 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %d, %v", len(claimed), err)
	}
	if err := db.MarkNotificationSkipped(ctx, n.ID, claimed[0].NextAttemptAt.Add(-time.Second), "no e-mail"); !errors.Is(err, domain.ErrClaimLapsed) {
		t.Fatalf("skip with a stale lease: %v", err)
	}
	if err := db.MarkNotificationSkipped(ctx, n.ID, claimed[0].NextAttemptAt, "no e-mail"); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListNotifications(ctx, u.ID, 10)
	if err != nil || len(list) != 1 || list[0].EmailStatus != domain.EmailSkipped || list[0].LastError != "no e-mail" {
		t.Fatalf("listed = %+v, %v", list, err)
	}
	if again, _ := db.ClaimNotifications(ctx, t0.Add(time.Hour), t0.Add(2*time.Hour), 10); len(again) != 0 {
		t.Fatalf("a skipped notification was claimed again")
	}
}

func testBookingOverlap(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "ov")
	at := t0.Add(24 * time.Hour)
	first := appt(d, p, at, 30)
	note := &domain.Notification{UserID: d.UserID, Kind: domain.NotifyBooked, Subject: "Booked", Body: "b", CreatedAt: t0}
	if err := db.BookAppointment(ctx, first, []*domain.Notification{note}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		start time.Time
		mins  int
	}{{at, 30}, {at.Add(15 * time.Minute), 30}, {at.Add(-15 * time.Minute), 30}, {at.Add(5 * time.Minute), 10}, {at.Add(-time.Hour), 120}} {
		err := db.BookAppointment(ctx, appt(d, p, c.start, c.mins), []*domain.Notification{{UserID: d.UserID, Kind: "x", Subject: "s", Body: "b", CreatedAt: t0}})
		mustCode(t, err, domain.ECONFLICT)
		if !strings.Contains(domain.ErrorMessage(err), first.Start.Format(time.RFC3339)) {
			t.Fatalf("conflict does not name the clash: %v", err)
		}
	}
	// Back to back is fine; a cancelled appointment holds no time.
	if err := db.BookAppointment(ctx, appt(d, p, at.Add(30*time.Minute), 30), nil); err != nil {
		t.Fatalf("adjacent booking: %v", err)
	}
	cancelled := appt(d, p, at.Add(2*time.Hour), 30)
	cancelled.Status = domain.StatusCancelled
	if err := db.BookAppointment(ctx, cancelled, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.BookAppointment(ctx, appt(d, p, at.Add(2*time.Hour), 30), nil); err != nil {
		t.Fatalf("booking over a cancelled one: %v", err)
	}
	// Another doctor at the same time is fine.
	d2, _ := clinic(t, db, "ov2")
	if err := db.BookAppointment(ctx, appt(d2, p, at, 30), nil); err != nil {
		t.Fatal(err)
	}
	notes, _ := db.ListNotifications(ctx, d.UserID, 50)
	if len(notes) != 1 {
		t.Fatalf("refused bookings left %d notifications, want only the first", len(notes))
	}
	mustCode(t, db.BookAppointment(ctx, appt(&domain.Doctor{ID: "missing"}, p, at.Add(5*time.Hour), 30), nil), domain.ENOTFOUND)
	// The database refuses an appointment over 8 hours.
	mustCode(t, db.BookAppointment(ctx, appt(d, p, at.Add(30*24*time.Hour), 8*60+1), nil), domain.EINVALID)
	if err := db.BookAppointment(ctx, appt(d, p, at.Add(31*24*time.Hour), 8*60), nil); err != nil {
		t.Fatalf("an 8-hour appointment: %v", err)
	}
	// A window query finds an 8-hour appointment that started before it.
	in, _ := db.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: d.ID, From: at.Add(31*24*time.Hour + 7*time.Hour), To: at.Add(32 * 24 * time.Hour)})
	if len(in) != 1 {
		t.Fatalf("window inside a long appointment found %d", len(in))
	}
	list, _ := db.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: d.ID, From: at, To: at.Add(time.Hour)})
	if len(list) != 2 {
		t.Fatalf("list in window: %d", len(list))
	}
	booked, _ := db.ListAppointments(ctx, domain.AppointmentFilter{PatientID: p.ID, Status: domain.StatusCancelled})
	if len(booked) != 1 {
		t.Fatalf("cancelled filter: %d", len(booked))
	}
}

func testBookingRace(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "race")
	// Rounds of 40 bookings at once, each round on its own half hour. Two
	// inserts that check each other's overlap at the same moment can make
	// the database abort one as a deadlock; that must still end as one
	// winner and conflicts, never as an error.
	const rounds, clients = 6, 40
	for round := range rounds {
		at := t0.Add(72*time.Hour + time.Duration(round)*2*time.Hour)
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Everyone wants the same half hour, shifted a little.
				a := appt(d, p, at.Add(time.Duration(i%3)*10*time.Minute), 30)
				err := db.BookAppointment(ctx, a, []*domain.Notification{{UserID: d.UserID, Kind: domain.NotifyBooked, Subject: "s", Body: "b", CreatedAt: t0}})
				switch domain.ErrorCode(err) {
				case "":
					wins.Add(1)
				case domain.ECONFLICT:
					conflicts.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != clients-1 {
			t.Fatalf("round %d: wins=%d conflicts=%d", round, wins.Load(), conflicts.Load())
		}
	}
	notes, _ := db.ListNotifications(ctx, d.UserID, 100)
	if len(notes) != rounds {
		t.Fatalf("%d outbox rows for %d bookings", len(notes), rounds)
	}
}

func testIdempotency(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "idem")
	a := appt(d, p, t0.Add(96*time.Hour), 30)
	a.IdempotencyKey = "key-1"
	if err := db.BookAppointment(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			retry := appt(d, p, t0.Add(96*time.Hour), 30)
			retry.IdempotencyKey = "key-1"
			err := db.BookAppointment(ctx, retry, nil)
			if !errors.Is(err, domain.ErrIdempotentReplay) || retry.ID != a.ID {
				t.Errorf("retry = %v, id %s want %s", err, retry.ID, a.ID)
			}
		}()
	}
	wg.Wait()
	byKey, err := db.AppointmentByIdempotencyKey(ctx, "tester", "key-1")
	if err != nil || byKey.ID != a.ID {
		t.Fatalf("by key = %v, %v", byKey, err)
	}
	_, err = db.AppointmentByIdempotencyKey(ctx, "someone-else", "key-1")
	mustCode(t, err, domain.ENOTFOUND)
	// The same key from another user is another booking (and here a clash).
	other := appt(d, p, t0.Add(96*time.Hour), 30)
	other.IdempotencyKey, other.CreatedBy = "key-1", "someone-else"
	mustCode(t, db.BookAppointment(ctx, other, nil), domain.ECONFLICT)
	if errors.Is(db.BookAppointment(ctx, other, nil), domain.ErrIdempotentReplay) {
		t.Fatal("key shared across users")
	}
	all, _ := db.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: d.ID})
	if len(all) != 1 {
		t.Fatalf("%d appointments after retries", len(all))
	}
}

func testUpdateAppointment(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "up")
	at := t0.Add(24 * time.Hour)
	a := appt(d, p, at, 30)
	b := appt(d, p, at.Add(time.Hour), 30)
	for _, x := range []*domain.Appointment{a, b} {
		if err := db.BookAppointment(ctx, x, nil); err != nil {
			t.Fatal(err)
		}
	}
	moved := *b
	moved.Start, moved.End, moved.UpdatedAt = at.Add(15*time.Minute), at.Add(45*time.Minute), t0.Add(time.Minute)
	mustCode(t, db.UpdateAppointment(ctx, &moved, b.UpdatedAt, nil), domain.ECONFLICT)
	cancel := *a
	cancel.Status, cancel.CancelReason, cancel.UpdatedAt = domain.StatusCancelled, "ill", t0.Add(time.Minute)
	note := &domain.Notification{UserID: d.UserID, Kind: domain.NotifyCancelled, Subject: "s", Body: "b", CreatedAt: t0}
	if err := db.UpdateAppointment(ctx, &cancel, a.UpdatedAt, []*domain.Notification{note}); err != nil {
		t.Fatal(err)
	}
	// A stale writer loses.
	stale := *a
	stale.Reason, stale.UpdatedAt = "changed", t0.Add(2*time.Minute)
	err := db.UpdateAppointment(ctx, &stale, a.UpdatedAt, nil)
	mustCode(t, err, domain.ECONFLICT)
	if !strings.Contains(domain.ErrorMessage(err), "changed by someone else") {
		t.Fatalf("stale message: %v", err)
	}
	// Now the move fits.
	moved.UpdatedAt = t0.Add(3 * time.Minute)
	if err := db.UpdateAppointment(ctx, &moved, b.UpdatedAt, nil); err != nil {
		t.Fatalf("move into freed time: %v", err)
	}
	got, _ := db.AppointmentByID(ctx, b.ID)
	if !got.Start.Equal(at.Add(15 * time.Minute)) {
		t.Fatalf("start = %v", got.Start)
	}
	// Reactivating the cancelled one now clashes with the moved one.
	back, _ := db.AppointmentByID(ctx, a.ID)
	re := *back
	re.Status, re.UpdatedAt = domain.StatusBooked, t0.Add(4*time.Minute)
	mustCode(t, db.UpdateAppointment(ctx, &re, back.UpdatedAt, nil), domain.ECONFLICT)
}

func testAppointmentCounts(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "counts")
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for i, x := range []struct {
		at     time.Duration
		status string
	}{
		{9 * time.Hour, domain.StatusFulfilled},
		{10 * time.Hour, domain.StatusNoShow},
		{11 * time.Hour, domain.StatusCancelled},
		{23*time.Hour + 30*time.Minute, domain.StatusBooked}, // the next day from UTC+1 on
		{24*time.Hour + 9*time.Hour, domain.StatusBooked},
		{3 * 24 * time.Hour, domain.StatusBooked}, // outside the range
	} {
		a := appt(d, p, day.Add(x.at), 20)
		a.Status = x.status
		a.Reason = fmt.Sprint(i)
		if err := db.BookAppointment(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	render := func(cs []domain.StatusCount) string {
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintf(&b, "%s %s %d;", c.Day, c.Status, c.Count)
		}
		return b.String()
	}
	to := day.Add(2 * 24 * time.Hour)
	utc, err := db.AppointmentCounts(ctx, day, to, 0)
	if want := "2026-03-02 booked 1;2026-03-02 cancelled 1;2026-03-02 fulfilled 1;2026-03-02 noshow 1;2026-03-03 booked 1;"; err != nil || render(utc) != want {
		t.Fatalf("counts in UTC = %q, %v; want %q", render(utc), err, want)
	}
	east, err := db.AppointmentCounts(ctx, day, to, 60)
	if want := "2026-03-02 cancelled 1;2026-03-02 fulfilled 1;2026-03-02 noshow 1;2026-03-03 booked 2;"; err != nil || render(east) != want {
		t.Fatalf("counts at UTC+1 = %q, %v; want %q", render(east), err, want)
	}
	west, err := db.AppointmentCounts(ctx, day, to, -600)
	if want := "2026-03-01 fulfilled 1;2026-03-02 booked 2;2026-03-02 cancelled 1;2026-03-02 noshow 1;"; err != nil || render(west) != want {
		t.Fatalf("counts at UTC-10 = %q, %v; want %q", render(west), err, want)
	}
	none, err := db.AppointmentCounts(ctx, to.Add(48*time.Hour), to.Add(72*time.Hour), 0)
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("an empty range = %#v, %v", none, err)
	}
}

func testOutbox(t *testing.T, db store.DB) {
	ctx := context.Background()
	u := newUser("out@example.org", domain.RolePatient)
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var notes []*domain.Notification
	for i := range 5 {
		notes = append(notes, &domain.Notification{UserID: u.ID, Kind: "k", Subject: fmt.Sprint("s", i), Body: "b", CreatedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	notes[4].DedupeKey = "once"
	if err := db.AddNotifications(ctx, notes); err != nil {
		t.Fatal(err)
	}
	again := &domain.Notification{UserID: u.ID, Kind: "k", Subject: "again", Body: "b", DedupeKey: "once", CreatedAt: t0}
	if err := db.AddNotifications(ctx, []*domain.Notification{again}); err != nil {
		t.Fatal(err)
	}
	if again.ID != "" || notes[4].ID == "" {
		t.Fatalf("skipped duplicate keeps id %q (stored one %q)", again.ID, notes[4].ID)
	}
	now := t0.Add(time.Minute)
	// Two workers claim concurrently: each notification goes to one.
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := db.ClaimNotifications(ctx, now, now.Add(time.Minute), 3)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, n := range got {
				seen[n.ID]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != 5 {
		t.Fatalf("claimed %d distinct notifications, want 5 (dedupe keeps one 'once')", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s claimed %d times", id, n)
		}
	}
	if again, _ := db.ClaimNotifications(ctx, now, now.Add(time.Minute), 10); len(again) != 0 {
		t.Fatalf("leased notifications claimed again: %d", len(again))
	}
	ids := make([]string, 0, 5)
	lease := map[string]time.Time{}
	for id := range seen {
		ids = append(ids, id)
	}
	// The claim's lease is the token for recording the outcome.
	claimed, _ := db.ListNotifications(ctx, u.ID, 10)
	for _, n := range claimed {
		lease[n.ID] = n.NextAttemptAt
	}
	if err := db.MarkNotificationSent(ctx, ids[0], lease[ids[0]], now); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkNotificationFailed(ctx, ids[1], lease[ids[1]], "421 try later", now.Add(30*time.Second), false); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkNotificationFailed(ctx, ids[2], lease[ids[2]], "550 no such user", now, true); err != nil {
		t.Fatal(err)
	}
	// A worker holding a stale lease cannot record anything.
	if err := db.MarkNotificationSent(ctx, ids[3], lease[ids[3]].Add(-time.Second), now); !errors.Is(err, domain.ErrClaimLapsed) {
		t.Fatalf("mark with a stale lease: %v", err)
	}
	if err := db.MarkNotificationSent(ctx, ids[0], lease[ids[0]], now); !errors.Is(err, domain.ErrClaimLapsed) {
		t.Fatalf("marking a sent notification again: %v", err)
	}
	// After the lease runs out, the unmarked two come back, and the retry
	// once its time has come; sent and failed ones never do.
	later, _ := db.ClaimNotifications(ctx, now.Add(2*time.Minute), now.Add(3*time.Minute), 10)
	if len(later) != 3 {
		t.Fatalf("after lease expiry claimed %d, want 3", len(later))
	}
	for _, n := range later {
		if n.ID == ids[0] || n.ID == ids[2] {
			t.Fatalf("sent or failed notification %s claimed again", n.ID)
		}
		if n.ID == ids[1] && n.Attempts != 2 {
			t.Fatalf("attempts = %d", n.Attempts)
		}
	}
	list, _ := db.ListNotifications(ctx, u.ID, 10)
	if len(list) != 5 {
		t.Fatalf("list = %d", len(list))
	}
	if err := db.MarkNotificationRead(ctx, u.ID, list[0].ID, now); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.MarkNotificationRead(ctx, u.ID, list[0].ID, now), domain.ENOTFOUND)
	mustCode(t, db.MarkNotificationRead(ctx, "someone-else", list[1].ID, now), domain.ENOTFOUND)
}

func testReminders(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "rem")
	soon := appt(d, p, t0.Add(20*time.Hour), 30)
	later := appt(d, p, t0.Add(30*time.Hour), 30)
	gone := appt(d, p, t0.Add(21*time.Hour), 30)
	gone.Status = domain.StatusCancelled
	for _, a := range []*domain.Appointment{soon, later, gone} {
		if err := db.BookAppointment(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	due, err := db.AppointmentsNeedingReminder(ctx, t0, t0.Add(24*time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].ID != soon.ID {
		t.Fatalf("due = %v %v", due, err)
	}
	rem := &domain.Notification{UserID: d.UserID, Kind: domain.NotifyReminder, AppointmentID: soon.ID, Subject: "s", Body: "b",
		DedupeKey: "reminder:" + soon.ID, CreatedAt: t0}
	if err := db.AddNotifications(ctx, []*domain.Notification{rem}); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.AppointmentsNeedingReminder(ctx, t0, t0.Add(24*time.Hour), 10); len(due) != 0 {
		t.Fatalf("reminded appointment still due: %v", due)
	}
	// Moved to a new time, it needs a reminder of the new time.
	moved := *soon
	moved.Start, moved.End, moved.UpdatedAt = t0.Add(22*time.Hour), t0.Add(22*time.Hour+30*time.Minute), t0.Add(time.Minute)
	if err := db.UpdateAppointment(ctx, &moved, soon.UpdatedAt, nil); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.AppointmentsNeedingReminder(ctx, t0, t0.Add(24*time.Hour), 10); len(due) != 1 || due[0].ID != soon.ID {
		t.Fatalf("rescheduled appointment not due again: %v", due)
	}
}
