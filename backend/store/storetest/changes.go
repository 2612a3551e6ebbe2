package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

// Booking and changing appointments write changes that a reader pages
// through in order, each once; a refused booking writes none.
func testChanges(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "chg")
	// Making the doctor and the patient wrote their changes first.
	ref, start := readChanges(t, db, "", 2)
	if len(ref) != 2 || ref[0].Entity != domain.ChangeEntityDoctor || ref[0].EntityID != d.ID ||
		ref[1].Entity != domain.ChangeEntityPatient || ref[1].EntityID != p.ID {
		t.Fatalf("changes of the doctor and patient: %+v", ref)
	}
	var want []string
	for i := range 5 {
		a := appt(d, p, t0.Add(time.Duration(24+i)*time.Hour), 30)
		if err := db.BookAppointment(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		want = append(want, a.ID)
	}
	// A clash is refused and leaves no change.
	mustCode(t, db.BookAppointment(ctx, appt(d, p, t0.Add(24*time.Hour), 30), nil), domain.ECONFLICT)
	first, err := db.AppointmentByID(ctx, want[0])
	if err != nil {
		t.Fatal(err)
	}
	before := first.UpdatedAt
	first.Status, first.UpdatedAt = domain.StatusCancelled, t0.Add(time.Minute)
	if err := db.UpdateAppointment(ctx, first, before, nil); err != nil {
		t.Fatal(err)
	}
	want = append(want, first.ID)

	// A change shows once every older transaction of the database has
	// ended (on PostgreSQL other work may hold that back a moment), so the
	// reader pages on until it has them all.
	got, cursor := readChanges(t, db, start, len(want))
	if len(got) != len(want) {
		t.Fatalf("%d changes, want %d: %+v", len(got), len(want), got)
	}
	for i, c := range got {
		if c.EntityID != want[i] || c.Entity != domain.ChangeEntityAppointment || c.At.IsZero() {
			t.Errorf("change %d = %+v, want appointment %s", i, c, want[i])
		}
	}
	// Nothing new after the last cursor, until something changes.
	if page, err := db.Changes(ctx, cursor, 10); err != nil || len(page) != 0 {
		t.Fatalf("after the last change: %+v, %v", page, err)
	}
	late := appt(d, p, t0.Add(40*time.Hour), 30)
	if err := db.BookAppointment(ctx, late, nil); err != nil {
		t.Fatal(err)
	}
	if page, _ := readChanges(t, db, cursor, 1); len(page) != 1 || page[0].EntityID != late.ID {
		t.Fatalf("the next change: %+v", page)
	}
	mustCode(t, func() error { _, err := db.Changes(ctx, "not a cursor", 10); return err }(), domain.EINVALID)
}

// readChanges pages from cursor, two at a time, until it has n changes or a
// deadline that only a missing change reaches; it returns them and the
// cursor after the last.
func readChanges(t *testing.T, db store.DB, cursor string, n int) ([]domain.Change, string) {
	t.Helper()
	var got []domain.Change
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		page, err := db.Changes(context.Background(), cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			time.Sleep(10 * time.Millisecond) // waiting for older transactions to end; the deadline bounds it
			continue
		}
		got = append(got, page...)
		cursor = page[len(page)-1].Cursor
	}
	return got, cursor
}
