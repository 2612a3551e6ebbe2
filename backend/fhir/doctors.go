package fhir

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
)

// readPractitioner: any signed-in user may read a doctor's profile.
func (h *Handlers) readPractitioner(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ctx := r.Context()
	if err := checkID("Practitioner", id); err != nil {
		return err
	}
	if _, err := parseParams(r.URL.RawQuery, "Practitioner read"); err != nil {
		return err
	}
	d, err := h.portal.Doctor(ctx, id)
	if err != nil {
		return err
	}
	h.write(w, r, http.StatusOK, toPractitioner(d))
	return nil
}

// searchPractitioners lists active doctors: specialty matches the
// specialization exactly (ignoring case), name any part of the name.
func (h *Handlers) searchPractitioners(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := parseParams(r.URL.RawQuery, "Practitioner", "name", "specialty", "_count", "_offset")
	if err != nil {
		return err
	}
	name, err := q.text("name", 200)
	if err != nil {
		return err
	}
	spec, err := q.text("specialty", 100)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	ds, err := h.portal.ListDoctors(ctx, spec)
	if err != nil {
		return err
	}
	var match []*domain.Doctor
	for _, d := range ds {
		if name == "" || strings.Contains(strings.ToLower(d.Name), strings.ToLower(name)) {
			match = append(match, d)
		}
	}
	shown, total, more := window(match, pg)
	var items []entry
	for _, d := range shown {
		items = append(items, entry{d.ID, toPractitioner(d)})
	}
	h.write(w, r, http.StatusOK, h.searchset(r, "Practitioner", items, total, pg, more))
	return nil
}

// readSchedule: a doctor's schedule is their availability; anyone signed in
// may read it.
func (h *Handlers) readSchedule(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ctx := r.Context()
	if err := checkID("Schedule", id); err != nil {
		return err
	}
	if _, err := parseParams(r.URL.RawQuery, "Schedule read"); err != nil {
		return err
	}
	d, err := h.portal.Doctor(ctx, id)
	if err != nil {
		return err
	}
	a, err := h.portal.Availability(ctx, id)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return domain.Errorf(domain.ENOTFOUND, "This doctor has not published bookable hours, so there is no schedule yet.")
	}
	if err != nil {
		return err
	}
	h.write(w, r, http.StatusOK, toSchedule(d, a, h.now()))
	return nil
}

// searchSchedules lists the schedules of doctors with bookable hours, or the
// one of actor.
func (h *Handlers) searchSchedules(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := parseParams(r.URL.RawQuery, "Schedule", "actor", "_count", "_offset")
	if err != nil {
		return err
	}
	_, actor, err := q.reference("actor", h.base(r), "Practitioner")
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	var ds []*domain.Doctor
	if actor != "" {
		d, err := h.portal.Doctor(ctx, actor)
		switch {
		case domain.IsCode(err, domain.ENOTFOUND):
		case err != nil:
			return err
		default:
			ds = append(ds, d)
		}
	} else if ds, err = h.portal.ListDoctors(ctx, ""); err != nil {
		return err
	}
	now := h.now()
	var all []entry
	for _, d := range ds {
		a, err := h.portal.Availability(ctx, d.ID)
		if domain.IsCode(err, domain.ENOTFOUND) {
			continue
		}
		if err != nil {
			return err
		}
		all = append(all, entry{d.ID, toSchedule(d, a, now)})
	}
	items, total, more := window(all, pg)
	h.write(w, r, http.StatusOK, h.searchset(r, "Schedule", items, total, pg, more))
	return nil
}

// defaultSlotRange is how far a slot search without an upper bound looks.
const defaultSlotRange = 7 * 24 * time.Hour

// searchSlots lists the free slots of one schedule whose start lies in the
// start range (from now for a week when not given, at most 62 days).
func (h *Handlers) searchSlots(w http.ResponseWriter, r *http.Request) error {
	q, err := parseParams(r.URL.RawQuery, "Slot", "schedule", "start", "status", "_count", "_offset")
	if err != nil {
		return err
	}
	_, doctorID, err := q.reference("schedule", h.base(r), "Schedule")
	if err != nil {
		return err
	}
	if doctorID == "" {
		return domain.Invalid("schedule", "Give the schedule to search, such as schedule=Schedule/{id} (see GET /fhir/R4/Schedule).")
	}
	status, err := q.token("status", systemSlotStatus)
	if err != nil {
		return err
	}
	switch status {
	case "", "free":
	case "busy", "busy-unavailable", "busy-tentative", "entered-in-error":
		return domain.Invalid("status", "Only free slots can be searched (status=free); booked time is found with GET /fhir/R4/Appointment.")
	default:
		return domain.Invalid("status", "Unknown slot status %q; only status=free is supported.", clip(status, 40))
	}
	rng, err := q.dates("start")
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	from, to := rng.From, rng.To
	if from.IsZero() {
		from = h.now()
	}
	if to.IsZero() {
		to = from.Add(defaultSlotRange)
	}
	if !to.After(from) {
		return domain.Invalid("start", "The start range is empty: the upper bound is not after %s.", instant(from))
	}
	if to.Sub(from) > portal.MaxSlotRange {
		return domain.Invalid("start", "Search at most 62 days of slots at a time.")
	}
	slots, err := h.freeSlots(r, doctorID, from, to)
	if err != nil {
		return err
	}
	shown, total, more := window(slots, pg)
	var items []entry
	for _, s := range shown {
		res := toSlot(doctorID, s.Start, s.End)
		items = append(items, entry{res.ID, res})
	}
	h.write(w, r, http.StatusOK, h.searchset(r, "Slot", items, total, pg, more))
	return nil
}

// freeSlots returns the free slots of a doctor starting in [from, to). The
// portal returns slots lying wholly inside its range, so the range is
// extended by one slot length, in calls of at most portal.MaxSlotRange.
func (h *Handlers) freeSlots(r *http.Request, doctorID string, from, to time.Time) ([]portal.Slot, error) {
	ctx := r.Context()
	a, err := h.portal.Availability(ctx, doctorID)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return nil, nil // no such doctor, or no bookable hours: no slots
	}
	if err != nil {
		return nil, err
	}
	step := time.Duration(a.SlotMinutes) * time.Minute
	if step <= 0 || step > maxSlot {
		step = maxSlot
	}
	until := to.Add(step)
	var out []portal.Slot
	seen := map[int64]bool{}
	for cur := from; ; {
		end := earlier(cur.Add(portal.MaxSlotRange), until)
		ss, err := h.portal.Slots(ctx, doctorID, cur, end)
		if domain.IsCode(err, domain.ENOTFOUND) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			if s.Start.Before(to) && !s.Start.Before(from) && !seen[s.Start.Unix()] {
				seen[s.Start.Unix()] = true
				out = append(out, s)
			}
		}
		if !end.Before(until) {
			sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
			return out, nil
		}
		cur = end.Add(-step)
	}
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
