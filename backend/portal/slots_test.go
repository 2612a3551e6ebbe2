package portal

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

func weekdays(start, end string) []domain.WeeklyHours {
	var out []domain.WeeklyHours
	for d := 1; d <= 5; d++ {
		out = append(out, domain.WeeklyHours{Weekday: d, Start: start, End: end})
	}
	return out
}

func starts(slots []Slot, loc *time.Location) []string {
	var out []string
	for _, s := range slots {
		out = append(out, s.Start.In(loc).Format("2006-01-02 15:04 MST"))
	}
	return out
}

func TestSlotsAcrossDaylightSaving(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Sunday 29 March 2026 02:00 CET → 03:00 CEST; Sunday 25 October 2026 03:00 CEST → 02:00 CET.
	a := &domain.Availability{TimeZone: "Europe/Berlin", SlotMinutes: 60, HorizonDays: 700,
		Weekly: []domain.WeeklyHours{{Weekday: 0, Start: "01:00", End: "05:00"}, {Weekday: 1, Start: "09:00", End: "11:00"}}}

	spring := candidateSlots(a, mustZone(a.TimeZone), time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), time.Date(2026, 3, 31, 0, 0, 0, 0, berlin))
	want := []string{
		// 01:00–05:00 wall time is three real hours on the night the clock skips 02:00–03:00.
		"2026-03-29 01:00 CET", "2026-03-29 03:00 CEST", "2026-03-29 04:00 CEST",
		// Monday's 09:00 is 08:00 UTC before the change and 07:00 UTC after it.
		"2026-03-30 09:00 CEST", "2026-03-30 10:00 CEST",
	}
	if got := starts(spring, berlin); !equal(got, want) {
		t.Fatalf("spring slots\n got %v\nwant %v", got, want)
	}
	if !spring[3].Start.Equal(time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("Monday 09:00 CEST = %v, want 07:00 UTC", spring[3].Start)
	}
	for _, s := range spring {
		if s.End.Sub(s.Start) != time.Hour {
			t.Fatalf("slot %v–%v is not an hour long", s.Start, s.End)
		}
	}

	autumn := candidateSlots(a, mustZone(a.TimeZone), time.Date(2026, 10, 25, 0, 0, 0, 0, berlin), time.Date(2026, 10, 27, 0, 0, 0, 0, berlin))
	want = []string{
		// The night the clock repeats 02:00–03:00 the window holds five real hours.
		"2026-10-25 01:00 CEST", "2026-10-25 02:00 CEST", "2026-10-25 02:00 CET", "2026-10-25 03:00 CET", "2026-10-25 04:00 CET",
		"2026-10-26 09:00 CET", "2026-10-26 10:00 CET",
	}
	if got := starts(autumn, berlin); !equal(got, want) {
		t.Fatalf("autumn slots\n got %v\nwant %v", got, want)
	}
	if !autumn[5].Start.Equal(time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("Monday 09:00 CET = %v, want 08:00 UTC", autumn[5].Start)
	}

	// The same wall-clock hours in New York change on other dates.
	ny, _ := time.LoadLocation("America/New_York")
	a.TimeZone = "America/New_York"
	us := candidateSlots(a, mustZone(a.TimeZone), time.Date(2026, 3, 9, 0, 0, 0, 0, ny), time.Date(2026, 3, 10, 0, 0, 0, 0, ny))
	if len(us) != 2 || !us[0].Start.Equal(time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("New York Monday after the change: %v", starts(us, ny))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestExceptions(t *testing.T) {
	a := &domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 700, Weekly: weekdays("09:00", "12:00"),
		Exceptions: []domain.DayException{
			{Date: "2026-12-24", Available: false},                               // whole day off
			{Date: "2026-12-23", Start: "10:00", End: "11:00", Available: false}, // an hour off
			{Date: "2026-12-26", Start: "10:00", End: "11:00", Available: true},  // extra hours on a Saturday
		}}
	day := func(d int) []Slot {
		return candidateSlots(a, mustZone(a.TimeZone), time.Date(2026, 12, d, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, d+1, 0, 0, 0, 0, time.UTC))
	}
	if n := len(day(22)); n != 6 {
		t.Fatalf("ordinary Tuesday: %d slots", n)
	}
	if got := starts(day(23), time.UTC); !equal(got, []string{"2026-12-23 09:00 UTC", "2026-12-23 09:30 UTC", "2026-12-23 11:00 UTC", "2026-12-23 11:30 UTC"}) {
		t.Fatalf("hour off: %v", got)
	}
	if n := len(day(24)); n != 0 {
		t.Fatalf("day off: %d slots", n)
	}
	if got := starts(day(26), time.UTC); !equal(got, []string{"2026-12-26 10:00 UTC", "2026-12-26 10:30 UTC"}) {
		t.Fatalf("extra hours: %v", got)
	}
}

type clockT struct{ t time.Time }

func (c *clockT) now() time.Time { return c.t }

func newService(t *testing.T, now func() time.Time) (*Service, *domain.Doctor, *domain.Patient) {
	t.Helper()
	db := storetest.OpenSQLite(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := audit.NewLog(db, now, logger)
	t.Cleanup(log.Close)
	s := New(db, nil, secret.NewEphemeral(), log, nil, now, logger)
	ctx := context.Background()
	d := &domain.Doctor{Specialization: "GP", CreatedAt: now(), UpdatedAt: now()}
	if err := db.CreateDoctor(ctx, d, &domain.User{Email: "d@example.org", Name: "Dr D", Role: domain.RoleDoctor, PasswordHash: "x", CreatedAt: now(), UpdatedAt: now()}, nil); err != nil {
		t.Fatal(err)
	}
	p := &domain.Patient{Name: "P", DateOfBirth: "1990-01-01", CreatedAt: now(), UpdatedAt: now()}
	if err := db.CreatePatient(ctx, p, nil, nil); err != nil {
		t.Fatal(err)
	}
	return s, d, p
}

func TestSlotsRespectBookingsBufferNoticeAndHorizon(t *testing.T) {
	c := &clockT{t: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)} // Monday 08:00
	s, d, p := newService(t, c.now)
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	if _, err := s.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, BufferMinutes: 15,
		MinNoticeMinutes: 90, HorizonDays: 2, Weekly: weekdays("09:00", "12:00")}); err != nil {
		t.Fatal(err)
	}
	from, to := c.t, c.t.Add(5*24*time.Hour)
	slots, err := s.Slots(ctx, d.ID, from, to)
	if err != nil {
		t.Fatal(err)
	}
	// Notice: nothing before 09:30 today; horizon: nothing after Wednesday 08:00.
	if got := starts(slots, time.UTC); got[0] != "2026-12-07 09:30 UTC" || got[len(got)-1] != "2026-12-08 11:30 UTC" || len(got) != 11 {
		t.Fatalf("slots = %v", got)
	}
	// A booking at 10:30 takes its slot and, with the 15-minute buffer, the neighbours.
	if _, err := s.Book(ctx, BookRequest{DoctorID: d.ID, PatientID: p.ID, Start: time.Date(2026, 12, 8, 10, 30, 0, 0, time.UTC), End: time.Date(2026, 12, 8, 11, 0, 0, 0, time.UTC)}, ""); err != nil {
		t.Fatal(err)
	}
	slots, _ = s.Slots(ctx, d.ID, from, to)
	for _, sl := range starts(slots, time.UTC) {
		if sl == "2026-12-08 10:00 UTC" || sl == "2026-12-08 10:30 UTC" || sl == "2026-12-08 11:00 UTC" {
			t.Fatalf("slot %s should be held by the booking and its buffer", sl)
		}
	}
	if len(slots) != 8 {
		t.Fatalf("%d slots after one booking, want 8", len(slots))
	}
	// Booking inside the buffer is refused, naming the clash.
	_, err = s.Book(ctx, BookRequest{DoctorID: d.ID, PatientID: p.ID, Start: time.Date(2026, 12, 8, 11, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 8, 11, 30, 0, 0, time.UTC)}, "")
	if domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("booking in the buffer: %v", err)
	}
	for name, req := range map[string]BookRequest{
		"too soon":          {Start: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)},
		"beyond horizon":    {Start: time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 10, 9, 30, 0, 0, time.UTC)},
		"outside hours":     {Start: time.Date(2026, 12, 8, 13, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 8, 13, 30, 0, 0, time.UTC)},
		"off the slot grid": {Start: time.Date(2026, 12, 8, 9, 10, 0, 0, time.UTC), End: time.Date(2026, 12, 8, 9, 40, 0, 0, time.UTC)},
		"in the past":       {Start: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)},
		"end before start":  {Start: time.Date(2026, 12, 8, 9, 30, 0, 0, time.UTC), End: time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)},
		"zero length":       {Start: time.Date(2026, 12, 8, 9, 30, 0, 0, time.UTC), End: time.Date(2026, 12, 8, 9, 30, 0, 0, time.UTC)},
		"no times":          {},
	} {
		req.DoctorID, req.PatientID = d.ID, p.ID
		if _, err := s.Book(ctx, req, ""); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if _, err := s.Book(ctx, BookRequest{DoctorID: "nobody", PatientID: p.ID, Start: time.Date(2026, 12, 8, 9, 30, 0, 0, time.UTC), End: time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)}, ""); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("unknown doctor: %v", err)
	}
	list, _ := s.store.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: d.ID})
	if len(list) != 1 {
		t.Fatalf("%d appointments stored after refused bookings", len(list))
	}
}

func TestAvailabilityValidation(t *testing.T) {
	bad := map[string]domain.Availability{
		"no zone":          {SlotMinutes: 30},
		"unknown zone":     {TimeZone: "Mars/Olympus", SlotMinutes: 30},
		"tiny slots":       {TimeZone: "UTC", SlotMinutes: 1},
		"bad weekday":      {TimeZone: "UTC", Weekly: []domain.WeeklyHours{{Weekday: 7, Start: "09:00", End: "10:00"}}},
		"bad time":         {TimeZone: "UTC", Weekly: []domain.WeeklyHours{{Weekday: 1, Start: "9am", End: "10:00"}}},
		"end before start": {TimeZone: "UTC", Weekly: []domain.WeeklyHours{{Weekday: 1, Start: "10:00", End: "09:00"}}},
		"overlap":          {TimeZone: "UTC", Weekly: []domain.WeeklyHours{{Weekday: 1, Start: "09:00", End: "12:00"}, {Weekday: 1, Start: "11:00", End: "13:00"}}},
		"bad date":         {TimeZone: "UTC", Exceptions: []domain.DayException{{Date: "24.12.2026"}}},
		"half a window":    {TimeZone: "UTC", Exceptions: []domain.DayException{{Date: "2026-12-24", Start: "09:00"}}},
		"extra w/o times":  {TimeZone: "UTC", Exceptions: []domain.DayException{{Date: "2026-12-24", Available: true}}},
		"horizon":          {TimeZone: "UTC", HorizonDays: 9999},
	}
	for name, a := range bad {
		if err := validateAvailability(&a); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	ok := domain.Availability{TimeZone: "Europe/Berlin", Weekly: weekdays("09:00", "17:00")}
	if err := validateAvailability(&ok); err != nil || ok.SlotMinutes != 30 || ok.HorizonDays != 90 {
		t.Fatalf("defaults: %+v %v", ok, err)
	}
}

func TestStatusWorkflow(t *testing.T) {
	c := &clockT{t: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	s, d, p := newService(t, c.now)
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	s.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 30, Weekly: weekdays("09:00", "12:00")})
	b, err := s.Book(ctx, BookRequest{DoctorID: d.ID, PatientID: p.ID, Start: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)}, "")
	if err != nil {
		t.Fatal(err)
	}
	id := b.Appointment.ID
	for _, step := range []struct {
		status string
		ok     bool
	}{{"fulfilled", true}, {"booked", false}, {"arrived", false}, {"entered-in-error", true}, {"bogus", false}} {
		_, err := s.SetStatus(ctx, id, step.status)
		if (err == nil) != step.ok {
			t.Fatalf("→ %s: %v", step.status, err)
		}
	}
	// Far ahead, an appointment cannot be marked arrived yet.
	b2, _ := s.Book(ctx, BookRequest{DoctorID: d.ID, PatientID: p.ID, Start: time.Date(2026, 12, 9, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 9, 9, 30, 0, 0, time.UTC)}, "")
	if _, err := s.SetStatus(ctx, b2.Appointment.ID, "arrived"); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("arrived two days early: %v", err)
	}
	cancelled, err := s.Cancel(ctx, b2.Appointment.ID, "feeling better")
	if err != nil || cancelled.Status != domain.StatusCancelled || cancelled.CancelReason != "feeling better" {
		t.Fatalf("cancel: %+v %v", cancelled, err)
	}
	if _, err := s.Cancel(ctx, b2.Appointment.ID, ""); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := s.Reschedule(ctx, b2.Appointment.ID, time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC), time.Date(2026, 12, 9, 10, 30, 0, 0, time.UTC)); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("moving a cancelled appointment: %v", err)
	}
}

func TestSealedIdentifiersAndRotation(t *testing.T) {
	c := &clockT{t: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	s, _, _ := newService(t, c.now)
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	name, dob, member, nid := "Sealed Person", "1970-05-06", "INS-99887766", "123-45-6789"
	p, err := s.CreatePatient(ctx, NewPatient{PatientInput: PatientInput{Name: &name, DateOfBirth: &dob, InsuranceMemberNumber: &member, NationalID: &nid}}, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := s.store.PatientByID(ctx, p.ID)
	if strings.Contains(raw.InsuranceMemberNumber, "99887766") || strings.Contains(raw.NationalID, "6789") || raw.NationalID == "" {
		t.Fatalf("identifiers stored in the clear: %q %q", raw.InsuranceMemberNumber, raw.NationalID)
	}
	got, err := s.Patient(ctx, p.ID)
	if err != nil || got.InsuranceMemberNumber != member || got.NationalID != nid {
		t.Fatalf("opened = %+v, %v", got, err)
	}
	if _, err := s.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	n, err := s.ResealPatients(ctx)
	if err != nil || n != 1 {
		t.Fatalf("resealed %d, %v", n, err)
	}
	after, _ := s.store.PatientByID(ctx, p.ID)
	if s.keys.NeedsRotation(after.NationalID) || after.NationalID == raw.NationalID {
		t.Fatal("not re-sealed under the new key")
	}
	if n, _ := s.ResealPatients(ctx); n != 0 {
		t.Fatalf("second pass resealed %d", n)
	}
	got, _ = s.Patient(ctx, p.ID)
	if got.NationalID != nid {
		t.Fatalf("after rotation: %q", got.NationalID)
	}
	// A sealed value moved to another record does not open there.
	q, _ := s.CreatePatient(ctx, NewPatient{PatientInput: PatientInput{Name: &name, DateOfBirth: &dob}}, false)
	moved, _ := s.store.PatientByID(ctx, q.ID)
	moved.NationalID = after.NationalID
	s.store.UpdatePatient(ctx, moved, nil)
	if _, err := s.Patient(ctx, q.ID); domain.ErrorCode(err) != domain.EINTERNAL {
		t.Fatalf("copied ciphertext opened under another record: %v", err)
	}
}

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}
