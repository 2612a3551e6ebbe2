package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// bookingBody is a booking of the own doctor and patient at start.
func bookingBody(w *world, start time.Time) map[string]any {
	return map[string]any{"doctor_id": w.ownDoctor.ID, "patient_id": w.ownPatient.ID, "start": start, "end": start.Add(30 * time.Minute), "reason": "flu"}
}

func postBooking(a *api, token, key string, body any) response {
	a.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", a.URL+"/api/v1/appointments", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	var raw json.RawMessage
	dec.Decode(&raw)
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// TestConcurrentBookingNeverDoubleBooks: hundreds of clients over real HTTP
// try overlapping times of one doctor; exactly one wins per slot.
func TestConcurrentBookingNeverDoubleBooks(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a := newAPI(t, eng.Open(t))
			w, users := newWorld(t, a)
			staff := a.login(users[domain.RoleStaff].Email).AccessToken
			patient := a.login(users[domain.RolePatient].Email).AccessToken
			base, _ := w.nextSlot()
			const slots, clients = 8, 240
			type outcome struct {
				status int
				code   string
			}
			results := make([]outcome, clients)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					token := staff
					if i%2 == 1 {
						token = patient // the patient books for themselves
					}
					// Everyone aims at one of 8 slots; neighbours overlap too.
					at := base.Add(time.Duration(i%slots) * 30 * time.Minute)
					res := postBooking(a, token, "", bookingBody(w, at))
					results[i] = outcome{res.Status, res.code()}
				}()
			}
			close(start)
			wg.Wait()
			wins, conflicts := 0, 0
			for _, r := range results {
				switch {
				case r.status == 201:
					wins++
				case r.status == 409 && r.code == "conflict":
					conflicts++
				default:
					t.Errorf("unexpected outcome %+v", r)
				}
			}
			if wins != slots || conflicts != clients-slots {
				t.Fatalf("wins=%d conflicts=%d, want %d and %d", wins, conflicts, slots, clients-slots)
			}
			list, err := a.DB.ListAppointments(context.Background(), domain.AppointmentFilter{DoctorID: w.ownDoctor.ID, From: base, To: base.Add(slots * 30 * time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != slots {
				t.Fatalf("%d appointments stored, want %d", len(list), slots)
			}
			for i := 1; i < len(list); i++ {
				if list[i].Start.Before(list[i-1].End) {
					t.Fatalf("double booking: %v overlaps %v", list[i], list[i-1])
				}
			}
			// Each booking has its outbox rows (patient and doctor), no more.
			for _, ap := range list {
				for _, uid := range []string{w.ownPatient.UserID, w.ownDoctor.UserID} {
					notes, _ := a.DB.ListNotifications(context.Background(), uid, 1000)
					n := 0
					for _, note := range notes {
						if note.AppointmentID == ap.ID && note.Kind == domain.NotifyBooked {
							n++
						}
					}
					if n != 1 {
						t.Fatalf("appointment %s has %d booking notifications for %s", ap.ID, n, uid)
					}
				}
			}
		})
	}
}

func TestIdempotentBookingRetry(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a := newAPI(t, eng.Open(t))
			w, users := newWorld(t, a)
			tok := a.login(users[domain.RolePatient].Email).AccessToken
			at, _ := w.nextSlot()
			body := bookingBody(w, at)
			first := postBooking(a, tok, "retry-me-1", body)
			if first.Status != 201 {
				t.Fatalf("first: %d %s", first.Status, first.Body)
			}
			var want domain.Appointment
			json.Unmarshal(first.Body, &want)
			// The client did not hear the answer and retries, many times at once.
			var wg sync.WaitGroup
			for range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := postBooking(a, tok, "retry-me-1", body)
					var got domain.Appointment
					json.Unmarshal(r.Body, &got)
					if r.Status != 201 || got.ID != want.ID || r.Header.Get("Idempotent-Replayed") != "true" {
						t.Errorf("retry: %d %s replayed=%q", r.Status, r.Body, r.Header.Get("Idempotent-Replayed"))
					}
				}()
			}
			wg.Wait()
			// The same key for a different booking is refused.
			other := bookingBody(w, at.Add(time.Hour))
			if r := postBooking(a, tok, "retry-me-1", other); r.Status != 409 || !strings.Contains(string(r.Body), "different booking") {
				t.Fatalf("reused key: %d %s", r.Status, r.Body)
			}
			list, _ := a.DB.ListAppointments(context.Background(), domain.AppointmentFilter{PatientID: w.ownPatient.ID, From: at, To: at.Add(2 * time.Hour)})
			if len(list) != 1 {
				t.Fatalf("%d appointments after retries, want 1", len(list))
			}
		})
	}
}

func TestBookingBadInput(t *testing.T) {
	a := newAPI(t, engines(t)[0].Open(t))
	w, users := newWorld(t, a)
	tok := a.login(users[domain.RolePatient].Email).AccessToken
	at, _ := w.nextSlot()
	before, _ := a.DB.ListAppointments(context.Background(), domain.AppointmentFilter{})
	for name, c := range map[string]struct {
		body   any
		status int
		field  string
	}{
		"in the past":         {map[string]any{"doctor_id": w.ownDoctor.ID, "patient_id": w.ownPatient.ID, "start": "2020-01-06T09:00:00Z", "end": "2020-01-06T09:30:00Z"}, 400, "start"},
		"end before start":    {map[string]any{"doctor_id": w.ownDoctor.ID, "patient_id": w.ownPatient.ID, "start": at, "end": at.Add(-time.Hour)}, 400, "end"},
		"zero length":         {map[string]any{"doctor_id": w.ownDoctor.ID, "patient_id": w.ownPatient.ID, "start": at, "end": at}, 400, "end"},
		"malformed time":      {`{"doctor_id":"` + w.ownDoctor.ID + `","patient_id":"` + w.ownPatient.ID + `","start":"tomorrow 9am","end":"x"}`, 400, ""},
		"bad time zone":       {`{"doctor_id":"` + w.ownDoctor.ID + `","patient_id":"` + w.ownPatient.ID + `","start":"2030-01-01T09:00:00+25:00","end":"2030-01-01T09:30:00+25:00"}`, 400, ""},
		"off the grid":        {map[string]any{"doctor_id": w.ownDoctor.ID, "patient_id": w.ownPatient.ID, "start": at.Add(7 * time.Minute), "end": at.Add(37 * time.Minute)}, 400, "start"},
		"no such doctor":      {map[string]any{"doctor_id": "nobody", "patient_id": w.ownPatient.ID, "start": at, "end": at.Add(30 * time.Minute)}, 400, "doctor_id"},
		"for another patient": {map[string]any{"doctor_id": w.ownDoctor.ID, "patient_id": w.otherPatient.ID, "start": at, "end": at.Add(30 * time.Minute)}, 403, ""},
		"unknown field":       {map[string]any{"doctor_id": w.ownDoctor.ID, "patient_id": w.ownPatient.ID, "start": at, "end": at.Add(30 * time.Minute), "price": 0}, 400, "price"},
	} {
		r := postBooking(a, tok, "", c.body)
		var e struct {
			Error struct{ Code, Message, Field string } `json:"error"`
		}
		json.Unmarshal(r.Body, &e)
		if r.Status != c.status || e.Error.Field != c.field || e.Error.Message == "" {
			t.Errorf("%s: %d %+v; want %d field %q", name, r.Status, e.Error, c.status, c.field)
		}
	}
	after, _ := a.DB.ListAppointments(context.Background(), domain.AppointmentFilter{})
	if len(after) != len(before) {
		t.Fatalf("bad bookings stored %d appointments", len(after)-len(before))
	}
}
