package portal

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// TestBookingNoticeStatesTheZone: the notice of a booking gives the time in
// the doctor's zone and names it, and names the doctor with one title.
func TestBookingNoticeStatesTheZone(t *testing.T) {
	c := &clockT{t: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)} // Monday
	s, d, p := newService(t, c.now)
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	if _, err := s.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "Europe/Berlin", SlotMinutes: 30, HorizonDays: 30, Weekly: weekdays("09:00", "12:00")}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 8, 8, 30, 0, 0, time.UTC) // 09:30 in Berlin
	if _, err := s.Book(ctx, BookRequest{DoctorID: d.ID, PatientID: p.ID, Start: start, End: start.Add(30 * time.Minute)}, ""); err != nil {
		t.Fatal(err)
	}
	notes, err := s.store.ListNotifications(ctx, d.UserID, 10)
	if err != nil || len(notes) != 1 {
		t.Fatalf("doctor's notices = %v, %v", notes, err)
	}
	body := notes[0].Body
	if !strings.Contains(body, "with Dr D (GP) on Tuesday 8 December 2026 at 09:30–10:00 (Europe/Berlin)") || strings.Contains(body, "Dr Dr") {
		t.Fatalf("notice body: %q", body)
	}
}
