package portal

import (
	"context"
	"github.com/healthhub/healthhub/backend/policy"
	"sort"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// Slot is a bookable interval.
type Slot struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// MaxSlotRange bounds one slot search.
const MaxSlotRange = 62 * 24 * time.Hour

// window is an interval of local wall-clock minutes on one date.
type window struct{ from, to int }

// windows returns the bookable windows of one local date: the weekly hours of
// its weekday, minus time off, plus extra hours.
func windows(a *domain.Availability, date time.Time) []window {
	var ws []window
	for _, w := range a.Weekly {
		if time.Weekday(w.Weekday) == date.Weekday() {
			from, _ := clock("", w.Start)
			to, _ := clock("", w.End)
			ws = append(ws, window{from, to})
		}
	}
	day := date.Format(time.DateOnly)
	for _, e := range a.Exceptions {
		if e.Date != day {
			continue
		}
		if e.Start == "" { // the whole day off
			if !e.Available {
				return nil
			}
			continue
		}
		from, _ := clock("", e.Start)
		to, _ := clock("", e.End)
		if e.Available {
			ws = append(ws, window{from, to})
			continue
		}
		var kept []window
		for _, w := range ws {
			if to <= w.from || from >= w.to {
				kept = append(kept, w)
				continue
			}
			if w.from < from {
				kept = append(kept, window{w.from, from})
			}
			if to < w.to {
				kept = append(kept, window{to, w.to})
			}
		}
		ws = kept
	}
	return ws
}

// wall returns the instant of a local date and minute of day. A wall time in
// a daylight-saving gap moves forward, as the clock on the wall does.
func wall(date time.Time, minute int, loc *time.Location) time.Time {
	return time.Date(date.Year(), date.Month(), date.Day(), minute/60, minute%60, 0, 0, loc)
}

// candidateSlots lists every slot the availability offers in [from, to),
// ignoring bookings, notice and horizon. Slots are stepped in absolute time
// from each window's start, so a window that spans a daylight-saving change
// keeps slots of the true length.
func candidateSlots(a *domain.Availability, loc *time.Location, from, to time.Time) []Slot {
	step := time.Duration(a.SlotMinutes) * time.Minute
	first := from.In(loc)
	day := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	last := to.In(loc)
	lastDay := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC)
	seen := map[int64]bool{}
	var out []Slot
	for ; !day.After(lastDay); day = day.AddDate(0, 0, 1) {
		for _, w := range windows(a, day) {
			start, end := wall(day, w.from, loc), wall(day, w.to, loc)
			for t := start; !t.Add(step).After(end); t = t.Add(step) {
				if t.Before(from) || t.Add(step).After(to) || seen[t.Unix()] {
					continue
				}
				seen[t.Unix()] = true
				out = append(out, Slot{Start: t.UTC(), End: t.Add(step).UTC()})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// bookable reports whether a slot respects the notice and horizon at now.
func bookable(a *domain.Availability, s Slot, now time.Time) bool {
	return !s.Start.Before(now.Add(time.Duration(a.MinNoticeMinutes)*time.Minute)) &&
		!s.Start.After(now.AddDate(0, 0, a.HorizonDays))
}

// Slots returns the free bookable slots of a doctor in [from, to).
func (s *Service) Slots(ctx context.Context, doctorID string, from, to time.Time) ([]Slot, error) {
	if err := s.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Schedule, ID: doctorID}); err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, domain.Invalid("to", "'to' must be after 'from'.")
	}
	if to.Sub(from) > MaxSlotRange {
		return nil, domain.Invalid("to", "Search at most 62 days of slots at a time.")
	}
	a, err := s.store.Availability(ctx, doctorID)
	if domain.IsCode(err, domain.ENOTFOUND) {
		// No hours published, or no such doctor: say which.
		if _, err := s.store.DoctorByID(ctx, doctorID); err != nil {
			return nil, err
		}
		return []Slot{}, nil
	}
	if err != nil {
		return nil, err
	}
	buffer := time.Duration(a.BufferMinutes) * time.Minute
	busy, err := s.store.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: doctorID, From: from.Add(-buffer), To: to.Add(buffer), Limit: 10000})
	if err != nil {
		return nil, err
	}
	var held []Slot
	for _, b := range busy {
		if domain.Blocks(b.Status) {
			held = append(held, Slot{Start: b.Start.Add(-buffer), End: b.End.Add(buffer)})
		}
	}
	loc, err := s.location(a.TimeZone)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []Slot{}
	j := 0
	for _, c := range candidateSlots(a, loc, from, to) {
		if !bookable(a, c, now) {
			continue
		}
		// held is sorted by start; skip those that end before this slot.
		for j < len(held) && !held[j].End.After(c.Start) {
			j++
		}
		free := true
		for k := j; k < len(held) && held[k].Start.Before(c.End); k++ {
			if held[k].End.After(c.Start) {
				free = false
				break
			}
		}
		if free {
			out = append(out, c)
		}
	}
	return out, nil
}

// fitsAvailability checks a requested time against the doctor's hours,
// notice and horizon (not against other bookings: the database decides
// those, atomically).
func fitsAvailability(a *domain.Availability, loc *time.Location, start, end, now time.Time) error {
	if !start.After(now) {
		return domain.Invalid("start", "The appointment is in the past; choose a future time.")
	}
	s := Slot{Start: start, End: end}
	if !bookable(a, s, now) {
		if start.Before(now.Add(time.Duration(a.MinNoticeMinutes) * time.Minute)) {
			return domain.Invalid("start", "This doctor needs at least %d minutes' notice; choose a later time.", a.MinNoticeMinutes)
		}
		return domain.Invalid("start", "This doctor takes bookings up to %d days ahead; choose an earlier date.", a.HorizonDays)
	}
	for _, c := range candidateSlots(a, loc, start.Add(-24*time.Hour), end.Add(24*time.Hour)) {
		if c.Start.Equal(start) && c.End.Equal(end) {
			return nil
		}
	}
	return domain.Invalid("start", "That time is not one of the doctor's bookable slots (%d-minute slots within their hours, time zone %s); pick a time from GET /api/v1/doctors/{id}/slots.",
		a.SlotMinutes, a.TimeZone)
}

// location returns a parsed time zone. Loading one reads and parses the zone
// database, which would otherwise be most of the cost of a slot search; the
// set of zones in use is small, so the cache stays small.
func (s *Service) location(name string) (*time.Location, error) {
	if l, ok := s.zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, domain.Invalid("time_zone", "%q is not a known time zone.", name)
	}
	s.zones.Store(name, l)
	return l, nil
}
