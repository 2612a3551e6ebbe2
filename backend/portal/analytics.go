package portal

import (
	"context"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// AppointmentDay is one day's appointments by outcome.
type AppointmentDay struct {
	Day       string `json:"day"`       // YYYY-MM-DD in the requested time zone
	Total     int    `json:"total"`     // every appointment starting that day
	Open      int    `json:"open"`      // still to happen or in progress: booked, arrived, checked-in, pending, …
	Fulfilled int    `json:"fulfilled"` // seen
	NoShow    int    `json:"noshow"`    // did not come
	Cancelled int    `json:"cancelled"` // cancelled or entered in error
}

// AppointmentStats are the clinic's appointment figures for a range of days.
type AppointmentStats struct {
	From     string           `json:"from"`
	To       string           `json:"to"`
	TimeZone string           `json:"time_zone"`
	Days     []AppointmentDay `json:"days"` // every day of the range, oldest first
	// NoShowRate is no-shows over appointments that came to an outcome
	// (fulfilled or no-show); null when none did.
	NoShowRate *float64 `json:"no_show_rate"`
}

// maxStatsDays bounds one request for figures.
const maxStatsDays = 400

// AppointmentStats counts the appointments starting on each day from from
// to to (YYYY-MM-DD, both included; the last 30 days by default), days
// being those of the IANA time zone tz (UTC by default). Counts carry no
// patient's data, so reading them is not audited.
func (s *Service) AppointmentStats(ctx context.Context, from, to, tz string) (*AppointmentStats, error) {
	if err := s.access.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Analytics}); err != nil {
		return nil, err
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || len(tz) > 64 {
		return nil, domain.Invalid("time_zone", "Unknown time zone %q; use an IANA name such as Europe/Berlin.", truncate(tz, 64))
	}
	today := s.now().In(loc)
	if to == "" {
		to = today.Format(time.DateOnly)
	}
	if from == "" {
		f, _ := time.ParseInLocation(time.DateOnly, to, loc)
		from = f.AddDate(0, 0, -29).Format(time.DateOnly)
	}
	first, err1 := time.ParseInLocation(time.DateOnly, from, loc)
	last, err2 := time.ParseInLocation(time.DateOnly, to, loc)
	if err1 != nil || err2 != nil || last.Before(first) || last.Sub(first) > maxStatsDays*24*time.Hour {
		return nil, domain.Invalid("from", "from and to must be dates (YYYY-MM-DD), from not after to, at most %d days apart.", maxStatsDays)
	}
	end := last.AddDate(0, 0, 1)
	// One offset for the whole range keeps the count a single query; a
	// daylight-saving change moves only appointments within an hour of
	// midnight, which a clinic does not book.
	_, offset := first.Add(end.Sub(first) / 2).Zone()
	counts, err := s.store.AppointmentCounts(ctx, first, end, offset/60)
	if err != nil {
		return nil, err
	}
	out := &AppointmentStats{From: from, To: to, TimeZone: loc.String(), Days: []AppointmentDay{}}
	index := map[string]int{}
	for d := first; d.Before(end); d = d.AddDate(0, 0, 1) {
		index[d.Format(time.DateOnly)] = len(out.Days)
		out.Days = append(out.Days, AppointmentDay{Day: d.Format(time.DateOnly)})
	}
	var seen, missed int
	for _, c := range counts {
		i, ok := index[c.Day]
		if !ok {
			continue // the edge of a range across a daylight-saving change
		}
		d := &out.Days[i]
		d.Total += c.Count
		switch c.Status {
		case domain.StatusFulfilled:
			d.Fulfilled += c.Count
			seen += c.Count
		case domain.StatusNoShow:
			d.NoShow += c.Count
			missed += c.Count
		case domain.StatusCancelled, domain.StatusEnteredInError:
			d.Cancelled += c.Count
		default:
			d.Open += c.Count
		}
	}
	if seen+missed > 0 {
		r := float64(missed) / float64(seen+missed)
		out.NoShowRate = &r
	}
	return out, nil
}
