package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
)

// BookingResult is the booking contention scenario's outcome: the bookings
// made and refused in the window, and the check of the doctor's schedule
// afterwards.
type BookingResult struct {
	Engine string
	// Booked are the requests answered 201 in the window, Conflicts those
	// answered 409 conflict. Failures (any other answer) are counted in
	// Booked.Errors.
	Booked, Conflicts Stats
	// Acknowledged counts every 201, warm-up included; Failed every request
	// that got neither 201 nor 409 conflict.
	Acknowledged, Failed int64
	// Stored is the number of blocking appointments of the doctor found in
	// the store afterwards, and DoubleBookings how many of them overlap an
	// earlier one.
	Stored, DoubleBookings int
	// Exhausted is set when every slot of the doctor's horizon was booked
	// before the end, so the last requests could only conflict.
	Exhausted bool
}

const (
	// maxBookingClients bounds Options.BookingClients.
	maxBookingClients = 10000
	// contendedSlots is how many slots the booking clients aim at at once.
	contendedSlots = 200
	// bookingSlotsPerDay: the doctor's hours are 00:00–23:30 in 30-minute
	// slots, so the last slot starts at 23:00.
	bookingSlotsPerDay = 47
	// bookingDays is how many days ahead, from tomorrow, are booked: within
	// the doctor's 700-day horizon whatever the time of day.
	bookingDays = 698
)

// Outcomes of a booking request, as loadKinds kinds.
const (
	outcomeBooked = iota
	outcomeConflict
	bookingOutcomes
)

// BenchBooking has o.BookingClients clients book one patient with one
// doctor over HTTP, all aiming at the same 200 slots so that most requests
// collide, for the measured window. Once those 200 slots are all booked the
// clients move on to the next 200. Afterwards the doctor's appointments are
// read back from the store: any overlap between two of them, or a count that
// does not match the bookings acknowledged, is an error.
func BenchBooking(ctx context.Context, e Engine, o Options) (res BookingResult, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return BookingResult{}, err
	}
	// A connection each for the client and the server side, and some for
	// the database and the data folder.
	if err := ensureOpenFiles(uint64(2*o.BookingClients + 256)); err != nil {
		return BookingResult{}, fmt.Errorf("%s booking: %w", e.Name, err)
	}
	db, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return BookingResult{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer func() {
		if cerr := db.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", e.Name, cerr))
		}
	}()
	res, err = benchBooking(ctx, db, o)
	res.Engine = e.Name
	if err != nil {
		return res, fmt.Errorf("%s POST /api/v1/appointments: %w", e.Name, err)
	}
	return res, nil
}

// bookingTarget maps the clients' attempts to slots: slot n is the n-th
// half hour of the doctor's hours from tomorrow 00:00 UTC.
type bookingTarget struct {
	day0  time.Time
	slots int64 // slots within the horizon
}

func newBookingTarget(now time.Time) bookingTarget {
	return bookingTarget{day0: now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour), slots: bookingDays * bookingSlotsPerDay}
}

// index is the slot client aims at in its round-th attempt when booked
// bookings have been acknowledged so far: the clients share a window of
// contendedSlots slots, client i aiming at slot (i + round) mod 200 of it,
// and the window moves on once as many bookings were acknowledged as it has
// slots. The last window is kept once the horizon is used up; exhausted then
// reports it.
func (t bookingTarget) index(booked int64, client, round int) (n int64, exhausted bool) {
	w := booked / contendedSlots
	if last := t.slots/contendedSlots - 1; w > last {
		w, exhausted = last, true
	}
	return w*contendedSlots + int64((client+round)%contendedSlots), exhausted
}

// at is the start of slot n.
func (t bookingTarget) at(n int64) time.Time {
	return t.day0.Add(time.Duration(n/bookingSlotsPerDay)*24*time.Hour + time.Duration(n%bookingSlotsPerDay)*30*time.Minute)
}

func benchBooking(ctx context.Context, db *database, o Options) (res BookingResult, err error) {
	h, err := startServer(ctx, db, o, o.BookingClients)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, h.close()) }()

	sysCtx := domain.WithPrincipal(ctx, domain.System)
	const staffEmail = "bench.staff@example.org"
	password := rand.Text()
	if _, err := h.sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: staffEmail, Password: password, Name: "Bench Staff", Role: domain.RoleStaff}); err != nil {
		return res, fmt.Errorf("create staff account: %w", err)
	}
	doctor, err := h.sys.Portal.CreateDoctor(sysCtx, portal.NewDoctor{Email: "bench.doctor@example.org", Password: rand.Text(),
		Name: "Bench Doctor", Specialization: "General practice"})
	if err != nil {
		return res, fmt.Errorf("create doctor: %w", err)
	}
	weekly := make([]domain.WeeklyHours, 0, 7)
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:30"})
	}
	if _, err := h.sys.Portal.SetAvailability(sysCtx, doctor.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 700, Weekly: weekly}); err != nil {
		return res, fmt.Errorf("set availability: %w", err)
	}
	name, born := "Bench Patient", "1980-01-01"
	patient, err := h.sys.Portal.CreatePatient(sysCtx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &born}}, false)
	if err != nil {
		return res, fmt.Errorf("create patient: %w", err)
	}
	token, err := h.login(ctx, staffEmail, password)
	if err != nil {
		return res, err
	}

	target := newBookingTarget(time.Now())
	url := h.base + "/api/v1/appointments"
	var acknowledged, failed atomic.Int64
	var exhausted atomic.Bool
	kinds, err := loadKinds(ctx, o.BookingClients, bookingOutcomes, o.Warmup, o.Duration, func(ctx context.Context, client int) func() (int, error) {
		round := 0
		return func() (int, error) {
			n, ex := target.index(acknowledged.Load(), client, round)
			round++
			if ex {
				exhausted.Store(true)
			}
			start := target.at(n)
			body := fmt.Appendf(nil, `{"doctor_id":%q,"patient_id":%q,"start":%q,"end":%q,"reason":"benchmark"}`,
				doctor.ID, patient.ID, start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339))
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				failed.Add(1)
				return 0, err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			kind, err := postBooking(h.client, req)
			switch {
			case err != nil:
				failed.Add(1)
			case kind == outcomeBooked:
				acknowledged.Add(1)
			}
			return kind, err
		}
	})
	if err != nil {
		return res, err
	}
	res.Booked, res.Conflicts = kinds[outcomeBooked], kinds[outcomeConflict]
	res.Acknowledged, res.Failed, res.Exhausted = acknowledged.Load(), failed.Load(), exhausted.Load()

	list, err := doctorAppointments(ctx, h.sys.Store, doctor.ID)
	if err != nil {
		return res, err
	}
	res.Stored, res.DoubleBookings = countOverlaps(list)
	switch {
	case res.DoubleBookings > 0:
		return res, fmt.Errorf("%d double bookings: the doctor's schedule holds overlapping appointments", res.DoubleBookings)
	case int64(res.Stored) < res.Acknowledged:
		return res, fmt.Errorf("%d bookings were acknowledged but only %d appointments are stored", res.Acknowledged, res.Stored)
	case int64(res.Stored) > res.Acknowledged+res.Failed:
		// A failed request may have booked before its answer was lost;
		// nothing else may.
		return res, fmt.Errorf("%d appointments are stored for %d acknowledged bookings and %d failed requests", res.Stored, res.Acknowledged, res.Failed)
	}
	return res, nil
}

// postBooking sends one booking request and sorts the answer: 201 booked,
// 409 with the conflict code refused; anything else is a failure.
func postBooking(client *http.Client, req *http.Request) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, fmt.Errorf("read response: %w", err)
		}
		return outcomeBooked, nil
	case http.StatusConflict:
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
		io.Copy(io.Discard, resp.Body)
		if err != nil {
			return 0, fmt.Errorf("read response: %w", err)
		}
		var body struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &body) != nil || body.Error.Code != domain.ECONFLICT {
			return 0, fmt.Errorf("%s without the conflict code: %.200s", resp.Status, b)
		}
		return outcomeConflict, nil
	}
	return 0, statusError(resp)
}

// appointmentLister is the part of the store the checks read.
type appointmentLister interface {
	ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error)
}

// doctorAppointments reads all of a doctor's appointments, page by page.
func doctorAppointments(ctx context.Context, st appointmentLister, doctorID string) ([]*domain.Appointment, error) {
	const page = 5000
	var all []*domain.Appointment
	for {
		list, err := st.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: doctorID, Limit: page, Offset: len(all)})
		if err != nil {
			return nil, fmt.Errorf("list the doctor's appointments: %w", err)
		}
		all = append(all, list...)
		if len(list) < page {
			return all, nil
		}
	}
}

// countOverlaps returns how many of the appointments hold the doctor's time
// and how many of those start before an earlier one has ended.
func countOverlaps(list []*domain.Appointment) (blocking, overlaps int) {
	held := make([]*domain.Appointment, 0, len(list))
	for _, a := range list {
		if domain.Blocks(a.Status) {
			held = append(held, a)
		}
	}
	slices.SortFunc(held, func(a, b *domain.Appointment) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	var busyUntil time.Time
	for _, a := range held {
		if a.Start.Before(busyUntil) {
			overlaps++
		}
		if a.End.After(busyUntil) {
			busyUntil = a.End
		}
	}
	return len(held), overlaps
}
