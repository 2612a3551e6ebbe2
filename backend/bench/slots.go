package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
)

// SlotsResult is the slot search scenario's outcome.
type SlotsResult struct {
	Engine string
	// Next is GET /api/v1/doctors/{id}/slots for the coming seven days,
	// Past for seven days in the middle of the doctor's history (no slot is
	// bookable there, but the appointments are still read and subtracted),
	// both by o.Clients clients; NextAlone is Next by a single client, the
	// latency of a search without queueing behind others.
	Next, Past, NextAlone Stats
	// PastAppointments and FutureAppointments are the doctor's appointments
	// before and after the start of the run.
	PastAppointments, FutureAppointments int
	// NextBooked and PastBooked are the appointments in each searched
	// window, NextFree and PastFree the free slots the search returned.
	NextBooked, NextFree int
	PastBooked, PastFree int
}

// slotSearchTarget is the latency a slot search should stay under at the
// 99th percentile; the report shows it next to the figures.
const slotSearchTarget = 5 * time.Millisecond

// The slot search doctor works weekdays 08:00–18:00 UTC in 20-minute slots,
// and about this share of them is booked, past and future alike.
const (
	historyDayStart = 8 * 60
	historyDayEnd   = 18 * 60
	historySlot     = 20
	historyFill     = 0.64
	historyAhead    = 28 // days of appointments after now
	historyPatients = 20
)

// BenchSlots gives a doctor a year of appointments (about 5,000, inserted
// straight into the store since the portal refuses past times) and four weeks
// of bookings ahead, then has o.Clients signed-in patients search the
// doctor's free slots over HTTP: for the coming week, and for a week in the
// middle of the history; then one patient alone searches the coming week.
func BenchSlots(ctx context.Context, e Engine, o Options) (res SlotsResult, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return SlotsResult{}, err
	}
	db, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return SlotsResult{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer func() {
		if cerr := db.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", e.Name, cerr))
		}
	}()
	res, err = benchSlots(ctx, db, o)
	res.Engine = e.Name
	if err != nil {
		return res, fmt.Errorf("%s GET /api/v1/doctors/{id}/slots: %w", e.Name, err)
	}
	return res, nil
}

// slotHours is the slot search doctor's availability.
func slotHours() domain.Availability {
	var weekly []domain.WeeklyHours
	for day := time.Monday; day <= time.Friday; day++ {
		weekly = append(weekly, domain.WeeklyHours{Weekday: int(day), Start: "08:00", End: "18:00"})
	}
	return domain.Availability{TimeZone: "UTC", SlotMinutes: historySlot, MinNoticeMinutes: 0, HorizonDays: 730, Weekly: weekly}
}

// workSlots calls fn with the start of each of the doctor's slots that lies
// within [from, to), in order.
func workSlots(from, to time.Time, fn func(start time.Time)) {
	step := historySlot * time.Minute
	for day := from.UTC().Truncate(24 * time.Hour); day.Before(to); day = day.AddDate(0, 0, 1) {
		if day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
			continue
		}
		for m := historyDayStart; m+historySlot <= historyDayEnd; m += historySlot {
			start := day.Add(time.Duration(m) * time.Minute)
			if !start.Before(from) && !start.Add(step).After(to) {
				fn(start)
			}
		}
	}
}

// history is the doctor's appointments from days before now to
// historyAhead days after, a fixed pseudo-random historyFill of the slots.
func history(doctorID string, patients []string, now time.Time, days int) []*domain.Appointment {
	rng := mrand.New(mrand.NewPCG(2024, 5))
	var out []*domain.Appointment
	workSlots(now.AddDate(0, 0, -days), now.AddDate(0, 0, historyAhead), func(start time.Time) {
		if rng.Float64() >= historyFill {
			return
		}
		made := start.AddDate(0, 0, -14)
		out = append(out, &domain.Appointment{DoctorID: doctorID, PatientID: patients[rng.IntN(len(patients))],
			Start: start, End: start.Add(historySlot * time.Minute), Status: domain.StatusBooked, Reason: "Follow-up",
			CreatedBy: "healthhub-bench", CreatedAt: made, UpdatedAt: made})
	})
	return out
}

// insertAll stores the appointments, given in time order, with a few
// writers at once.
func insertAll(ctx context.Context, st interface {
	BookAppointment(context.Context, *domain.Appointment, []*domain.Notification) error
}, list []*domain.Appointment) error {
	const writers = 8
	next := make(chan *domain.Appointment)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for a := range next {
				if errs[w] != nil {
					continue
				}
				if err := st.BookAppointment(ctx, a, nil); err != nil {
					errs[w] = fmt.Errorf("insert the appointment at %s: %w", a.Start.Format(time.RFC3339), err)
				}
			}
		})
	}
	// Newest first: on SQLite the overlap trigger reads the doctor's
	// appointments that start before the new one ends, so inserting in
	// time order would read the whole history again for every row.
	for _, a := range slices.Backward(list) {
		if ctx.Err() != nil {
			break
		}
		next <- a
	}
	close(next)
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}

// overlapping counts the appointments that overlap [from, to).
func overlapping(list []*domain.Appointment, from, to time.Time) int {
	n := 0
	for _, a := range list {
		if a.Start.Before(to) && a.End.After(from) {
			n++
		}
	}
	return n
}

// freeSlots is what the search should return for [from, to) at now: the
// doctor's slots from now on, less those booked.
func freeSlots(list []*domain.Appointment, from, to, now time.Time) int {
	booked := map[int64]bool{}
	for _, a := range list {
		booked[a.Start.Unix()] = true
	}
	n := 0
	workSlots(from, to, func(start time.Time) {
		if !start.Before(now) && !booked[start.Unix()] {
			n++
		}
	})
	return n
}

func benchSlots(ctx context.Context, db *database, o Options) (res SlotsResult, err error) {
	h, err := startServer(ctx, db, o, o.Clients)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, h.close()) }()

	sysCtx := domain.WithPrincipal(ctx, domain.System)
	doctor, err := h.sys.Portal.CreateDoctor(sysCtx, portal.NewDoctor{Email: "bench.doctor@example.org", Password: rand.Text(),
		Name: "Bench Doctor", Specialization: "General practice"})
	if err != nil {
		return res, fmt.Errorf("create doctor: %w", err)
	}
	if _, err := h.sys.Portal.SetAvailability(sysCtx, doctor.ID, slotHours()); err != nil {
		return res, fmt.Errorf("set availability: %w", err)
	}
	var patients []string
	for i := range historyPatients {
		name, born := fmt.Sprintf("History Patient %d", i+1), "1970-03-04"
		p, err := h.sys.Portal.CreatePatient(sysCtx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &born}}, false)
		if err != nil {
			return res, fmt.Errorf("create patient: %w", err)
		}
		patients = append(patients, p.ID)
	}
	const searcherEmail = "bench.searcher@example.org"
	password := rand.Text()
	if _, err := h.sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: searcherEmail, Password: password, Name: "Bench Searcher", Role: domain.RolePatient}); err != nil {
		return res, fmt.Errorf("create patient account: %w", err)
	}

	now := time.Now().UTC().Truncate(time.Second)
	list := history(doctor.ID, patients, now, o.historyDays)
	for _, a := range list {
		if a.Start.Before(now) {
			res.PastAppointments++
		} else {
			res.FutureAppointments++
		}
	}
	if err := insertAll(ctx, h.sys.Store, list); err != nil {
		return res, err
	}

	token, err := h.login(ctx, searcherEmail, password)
	if err != nil {
		return res, err
	}
	search := func(from, to time.Time) (*http.Request, error) {
		q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/api/v1/doctors/"+doctor.ID+"/slots?"+q.Encode(), nil)
		if err != nil {
			return nil, fmt.Errorf("build request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return req, nil
	}

	nextFrom, nextTo := now, now.AddDate(0, 0, 7)
	pastFrom := now.AddDate(0, 0, -o.historyDays/2)
	pastTo := pastFrom.AddDate(0, 0, 7)
	res.NextBooked, res.PastBooked = overlapping(list, nextFrom, nextTo), overlapping(list, pastFrom, pastTo)
	next, err := search(nextFrom, nextTo)
	if err != nil {
		return res, err
	}
	past, err := search(pastFrom, pastTo)
	if err != nil {
		return res, err
	}
	if res.NextFree, err = checkSlots(h.client, next, list, nextFrom, nextTo); err != nil {
		return res, err
	}
	if res.PastFree, err = checkSlots(h.client, past, list, pastFrom, pastTo); err != nil {
		return res, err
	}

	for _, s := range []struct {
		req     *http.Request
		clients int
		stats   *Stats
	}{{next, o.Clients, &res.Next}, {past, o.Clients, &res.Past}, {next, 1, &res.NextAlone}} {
		*s.stats, err = load(ctx, s.clients, o.Warmup, o.Duration, func(ctx context.Context) func() error {
			r := s.req.Clone(ctx)
			return func() error { return getOK(h.client, r) }
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// checkSlots makes sure, before the load, that a search answers 200 with
// exactly the free slots the doctor has, and returns how many.
func checkSlots(client *http.Client, req *http.Request, list []*domain.Appointment, from, to time.Time) (int, error) {
	before := time.Now()
	resp, err := client.Do(req.Clone(req.Context()))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, statusError(resp)
	}
	var body struct {
		Slots []portal.Slot `json:"slots"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("decode the slots: %w", err)
	}
	after := time.Now()
	// A slot may start while the request is under way.
	most, least := freeSlots(list, from, to, before), freeSlots(list, from, to, after)
	if got := len(body.Slots); got < least || got > most {
		return got, fmt.Errorf("the search from %s to %s returned %d free slots, want %d", from.Format(time.RFC3339), to.Format(time.RFC3339), got, most)
	}
	return len(body.Slots), nil
}
