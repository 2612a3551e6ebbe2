package httpapi_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
)

// TestAppointmentFigures: the admin's appointments per day and no-show
// rate count what was booked, seen, missed and cancelled, day by day.
func TestAppointmentFigures(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			db := eng.Open(t)
			a := newAPI(t, db)
			w, users := newWorld(t, a)
			admin := a.login(users[domain.RoleAdmin].Email).AccessToken
			staff := a.login(users[domain.RoleStaff].Email).AccessToken

			// Two days ago, in the past: three seen, one missed, stored
			// as they would be after the day's work.
			past := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2).Add(9 * time.Hour)
			for i, status := range []string{domain.StatusFulfilled, domain.StatusFulfilled, domain.StatusFulfilled, domain.StatusNoShow} {
				start := past.Add(time.Duration(i) * time.Hour)
				ap := &domain.Appointment{DoctorID: w.ownDoctor.ID, PatientID: w.ownPatient.ID, Start: start, End: start.Add(30 * time.Minute),
					Status: status, CreatedBy: "test", CreatedAt: past, UpdatedAt: past}
				if err := db.BookAppointment(context.Background(), ap, nil); err != nil {
					t.Fatal(err)
				}
			}
			first, _ := w.nextSlot()
			second, _ := w.nextSlot()
			from := past.Format(time.DateOnly)
			to := second.AddDate(0, 0, 1).Format(time.DateOnly)
			figures := func() portal.AppointmentStats {
				t.Helper()
				res := a.do("GET", "/api/v1/analytics/appointments?from="+from+"&to="+to+"&time_zone=UTC", admin, nil)
				var got portal.AppointmentStats
				if err := json.Unmarshal(res.Body, &got); res.Status != 200 || err != nil {
					t.Fatalf("figures: %d %s", res.Status, res.Body)
				}
				return got
			}
			coming := func(s portal.AppointmentStats) (open, gone, total int) {
				for _, d := range s.Days[1:] {
					open, gone, total = open+d.Open, gone+d.Cancelled, total+d.Total
				}
				return
			}
			open0, gone0, total0 := coming(figures())

			// Coming ones, over HTTP: one booked, one booked then cancelled.
			if res := postBooking(a, staff, "", bookingBody(w, first)); res.Status != 201 {
				t.Fatalf("book: %d %s", res.Status, res.Body)
			}
			res := postBooking(a, staff, "", bookingBody(w, second))
			var cancelled domain.Appointment
			json.Unmarshal(res.Body, &cancelled)
			if res := a.do("POST", "/api/v1/appointments/"+cancelled.ID+"/cancel", staff, map[string]string{"reason": "ill"}); res.Status != 200 {
				t.Fatalf("cancel: %d %s", res.Status, res.Body)
			}

			got := figures()
			wantDays := int(second.Truncate(24*time.Hour).Sub(past.Truncate(24*time.Hour))/(24*time.Hour)) + 2
			if len(got.Days) != wantDays || got.Days[0].Day != from || got.Days[len(got.Days)-1].Day != to || got.TimeZone != "UTC" {
				t.Fatalf("days %+v", got.Days)
			}
			if d := got.Days[0]; d != (portal.AppointmentDay{Day: from, Total: 4, Fulfilled: 3, NoShow: 1}) {
				t.Fatalf("two days ago: %+v", d)
			}
			if open, gone, total := coming(got); open != open0+1 || gone != gone0+1 || total != total0+2 {
				t.Fatalf("coming days: open %d→%d, cancelled %d→%d, total %d→%d", open0, open, gone0, gone, total0, total)
			}
			if got.NoShowRate == nil || math.Abs(*got.NoShowRate-0.25) > 1e-9 {
				t.Fatalf("no-show rate %v", got.NoShowRate)
			}

			// Days are those of the time zone asked for: 09:00 UTC is
			// still the day before in Honolulu (UTC-10).
			res = a.do("GET", "/api/v1/analytics/appointments?from="+past.AddDate(0, 0, -1).Format(time.DateOnly)+"&to="+from+"&time_zone=Pacific/Honolulu", admin, nil)
			json.Unmarshal(res.Body, &got)
			if res.Status != 200 || len(got.Days) != 2 || got.Days[0].Fulfilled != 1 || got.Days[1].Fulfilled != 2 || got.Days[1].NoShow != 1 {
				t.Fatalf("Honolulu days: %d %s", res.Status, res.Body)
			}

			for _, bad := range []struct{ query, field string }{
				{"time_zone=Mars/Olympus", "time_zone"},
				{"from=2026-05-02&to=2026-05-01", "from"},
				{"from=2020-01-01&to=2026-01-01", "from"},
				{"from=yesterday", "from"},
			} {
				res := a.do("GET", "/api/v1/analytics/appointments?"+bad.query, admin, nil)
				var e struct{ Error domain.Error }
				json.Unmarshal(res.Body, &e)
				if res.Status != 400 || e.Error.Field != bad.field || e.Error.Message == "" {
					t.Errorf("%s: %d %s", bad.query, res.Status, res.Body)
				}
			}
			if res := a.do("GET", "/api/v1/analytics/appointments", staff, nil); res.Status != 403 {
				t.Fatalf("staff: %d", res.Status)
			}
		})
	}
}
