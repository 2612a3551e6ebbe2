package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

// mustResync asserts that a pull after cursor is told to start again.
func mustResync(t *testing.T, db store.DB, cursor string) {
	t.Helper()
	page, err := db.Changes(context.Background(), cursor, 10)
	if !errors.Is(err, domain.ErrResync) || domain.ErrorCode(err) != domain.EGONE {
		t.Fatalf("changes after %q = %+v, %v; want ErrResync", cursor, page, err)
	}
}

// entityList names changes as "entity id" for comparing.
func entityList(changes []domain.Change) string {
	var out []string
	for _, c := range changes {
		out = append(out, c.Entity+" "+c.EntityID)
	}
	return strings.Join(out, ", ")
}

// Compaction removes superseded rows and old tombstones: a pull from the
// start still brings every live entity once, at its last change; a cursor
// before a tombstone row removed is told to resync, one at or after the
// horizon goes on; the horizon never moves back.
func testChangesCompaction(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "cmp") // changes 0, 1
	day := t0.Add(24 * time.Hour)
	keep := t0.Add(2 * time.Hour) // tombstones changed before it go
	book := func(start time.Time) *domain.Appointment {
		t.Helper()
		a := appt(d, p, start, 30)
		if err := db.BookAppointment(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		return a
	}
	update := func(a *domain.Appointment, at time.Time, change func(a *domain.Appointment)) {
		t.Helper()
		before := a.UpdatedAt
		change(a)
		a.UpdatedAt = at
		if err := db.UpdateAppointment(ctx, a, before, nil); err != nil {
			t.Fatal(err)
		}
	}
	cancel := func(a *domain.Appointment) { a.Status, a.CancelReason = domain.StatusCancelled, "No longer needed." }
	moved := book(day)                                               // 2
	old := book(day.Add(time.Hour))                                  // 3: cancelled before keep
	recent := book(day.Add(2 * time.Hour))                           // 4: cancelled after keep
	update(moved, t0.Add(time.Minute), func(a *domain.Appointment) { // 5
		a.Start, a.End = a.Start.Add(3*time.Hour), a.End.Add(3*time.Hour)
	})
	update(moved, t0.Add(2*time.Minute), func(a *domain.Appointment) { a.Reason = "follow-up" }) // 6
	p.Phone, p.UpdatedAt = "+1 555 0101", t0.Add(3*time.Minute)
	if err := db.UpdatePatient(ctx, p, nil); err != nil { // 7
		t.Fatal(err)
	}
	update(old, t0.Add(time.Hour), cancel)      // 8: a tombstone before keep
	update(recent, t0.Add(3*time.Hour), cancel) // 9: a tombstone after keep
	// A conflict resolved before keep and an open one; a lease released
	// before keep and an active one.
	for _, k := range []*domain.SyncConflict{conflictAt("cmp-k1", t0), conflictAt("cmp-k2", t0)} { // 10, 11
		if err := db.PutSyncConflict(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ResolveSyncConflict(ctx, "cmp-k1", "desk", t0.Add(time.Hour)); err != nil { // 12
		t.Fatal(err)
	}
	released, held := lease(d, "node-a", day.Add(5*time.Hour), 60), lease(d, "node-a", day.Add(7*time.Hour), 60)
	if err := db.GrantSyncLease(ctx, released); err != nil { // 13
		t.Fatal(err)
	}
	if err := db.ReleaseSyncLease(ctx, released.ID, "node-a", t0.Add(90*time.Minute)); err != nil { // 14: the newest tombstone row
		t.Fatal(err)
	}
	if err := db.GrantSyncLease(ctx, held); err != nil { // 15
		t.Fatal(err)
	}
	before, _ := readChanges(t, db, "", 16)
	if len(before) != 16 || before[14].EntityID != released.ID || before[15].EntityID != held.ID {
		t.Fatalf("changes before compaction: %s", entityList(before))
	}

	// Superseded: moved 2, 5; old 3; recent 4; the patient 1; k1 10; the
	// released lease 13. Tombstones before keep: old 8, k1 12, the lease 14.
	n, err := db.CompactChanges(ctx, keep)
	if err != nil || n != 10 {
		t.Fatalf("CompactChanges = %d, %v; want 10", n, err)
	}
	after, last := readChanges(t, db, "", 6)
	want := strings.Join([]string{"doctor " + d.ID, "appointment " + moved.ID, "patient " + p.ID, "appointment " + recent.ID,
		"conflict cmp-k2", "lease " + held.ID}, ", ")
	if got := entityList(after); got != want {
		t.Fatalf("a pull from the start after compaction: %s; want %s", got, want)
	}
	if !after[1].At.Equal(t0.Add(2*time.Minute)) || !after[2].At.Equal(t0.Add(3*time.Minute)) || !after[3].At.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("not the last changes: %+v", after)
	}
	if page, err := db.Changes(ctx, last, 10); err != nil || len(page) != 0 {
		t.Fatalf("after the last change: %+v, %v", page, err)
	}

	// The horizon is the released lease's row (14): a cursor before it
	// missed a tombstone; one at it, or later, did not.
	mustResync(t, db, before[0].Cursor)
	mustResync(t, db, before[7].Cursor)  // before old's cancellation
	mustResync(t, db, before[13].Cursor) // just before the horizon
	if page, _ := readChanges(t, db, before[14].Cursor, 1); len(page) != 1 || page[0].EntityID != held.ID {
		t.Fatalf("after the horizon: %s", entityList(page))
	}
	later := book(day.Add(9 * time.Hour))
	if page, _ := readChanges(t, db, last, 1); len(page) != 1 || page[0].EntityID != later.ID {
		t.Fatalf("a cursor after the horizon sees later changes: %s", entityList(page))
	}
	if page, _ := readChanges(t, db, before[15].Cursor, 1); len(page) != 1 || page[0].EntityID != later.ID {
		t.Fatalf("a cursor from before the compaction, after the horizon: %s", entityList(page))
	}

	// Nothing more to remove: nothing goes, and the horizon stays.
	for _, since := range []time.Time{keep, t0} {
		if n, err := db.CompactChanges(ctx, since); err != nil || n != 0 {
			t.Fatalf("CompactChanges again = %d, %v; want 0", n, err)
		}
	}
	mustResync(t, db, before[13].Cursor)
	// A later keepSince takes recent's cancellation (9), a row older than
	// the horizon: the horizon does not move back.
	if n, err := db.CompactChanges(ctx, t0.Add(4*time.Hour)); err != nil || n != 1 {
		t.Fatalf("CompactChanges with a later keepSince = %d, %v; want 1", n, err)
	}
	mustResync(t, db, before[13].Cursor)
	if page, _ := readChanges(t, db, before[14].Cursor, 2); entityList(page) != "lease "+held.ID+", appointment "+later.ID {
		t.Fatalf("after the horizon, once more: %s", entityList(page))
	}
	all, _ := readChanges(t, db, "", 6)
	want = strings.Join([]string{"doctor " + d.ID, "appointment " + moved.ID, "patient " + p.ID, "conflict cmp-k2",
		"lease " + held.ID, "appointment " + later.ID}, ", ")
	if got := entityList(all); got != want {
		t.Fatalf("a pull from the start: %s; want %s", got, want)
	}

	// A pull from the start goes on across a compaction that removes only
	// tombstones written before it began, even one that moves the horizon
	// past the pull's position: it never read those entities live.
	update(later, t0.Add(3*time.Hour), cancel) // 17
	readChanges(t, db, "", 7)                  // every row readable (PostgreSQL)
	pass, cursor := readChanges(t, db, "", 1)
	if n, err := db.CompactChanges(ctx, t0.Add(4*time.Hour)); err != nil || n != 2 {
		t.Fatalf("CompactChanges = %d, %v; want 2 (later's rows)", n, err)
	}
	mustResync(t, db, before[15].Cursor) // the horizon is now later's cancellation
	rest, cursor := readChanges(t, db, cursor, 5-len(pass))
	want = strings.Join([]string{"doctor " + d.ID, "appointment " + moved.ID, "patient " + p.ID, "conflict cmp-k2", "lease " + held.ID}, ", ")
	if got := entityList(append(pass, rest...)); got != want {
		t.Fatalf("a pull from the start across a compaction: %s; want %s", got, want)
	}
	// But a tombstone written since it began, removed, is one it missed:
	// it read moved live.
	update(moved, t0.Add(3*time.Hour), cancel) // 18
	if page, _ := readChanges(t, db, cursor, 1); len(page) != 1 || page[0].EntityID != moved.ID {
		t.Fatalf("moved's cancellation: %s", entityList(page))
	}
	if n, err := db.CompactChanges(ctx, t0.Add(4*time.Hour)); err != nil || n != 2 {
		t.Fatalf("CompactChanges = %d, %v; want 2 (moved's rows)", n, err)
	}
	mustResync(t, db, cursor)
	if all, _ := readChanges(t, db, "", 4); entityList(all) != strings.Join([]string{"doctor " + d.ID, "patient " + p.ID,
		"conflict cmp-k2", "lease " + held.ID}, ", ") {
		t.Fatalf("a pull from the start at last: %s", entityList(all))
	}
}

// Compactions running while appointments are booked, moved and cancelled
// never take the last change of a live one: once the writes end, a pull
// from the start brings each live appointment, the doctor and the patient
// exactly once, and none of the old tombstones.
func testChangesCompactionRace(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "cmprace")
	const workers, each = 4, 12
	keep := t0.Add(time.Hour)
	var mu sync.Mutex
	live := map[string]bool{}
	done := make(chan struct{})
	var compactions atomic.Int32
	compactErr := make(chan error, 1)
	go func() {
		defer close(compactErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := db.CompactChanges(ctx, keep); err != nil {
				compactErr <- err
				return
			}
			compactions.Add(1)
		}
	}()
	// A reader pulls all the while, starting again when told to resync;
	// any other answer is a failure.
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		cursor := ""
		for {
			select {
			case <-done:
				return
			default:
			}
			page, err := db.Changes(ctx, cursor, 5)
			switch {
			case errors.Is(err, domain.ErrResync) && cursor != "":
				cursor = ""
			case err != nil:
				readErr <- err
				return
			case len(page) > 0:
				cursor = page[len(page)-1].Cursor
			default:
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a := appt(d, p, t0.Add(time.Duration(24*(w+1))*time.Hour+time.Duration(i)*time.Hour), 30)
				if err := db.BookAppointment(ctx, a, nil); err != nil {
					errs <- err
					return
				}
				// Every one is changed again (its booking superseded); every
				// third is then cancelled before keep, a tombstone to go.
				before := a.UpdatedAt
				a.Reason, a.UpdatedAt = fmt.Sprint("visit ", i), t0.Add(time.Minute)
				if err := db.UpdateAppointment(ctx, a, before, nil); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					before := a.UpdatedAt
					a.Status, a.UpdatedAt = domain.StatusCancelled, t0.Add(2*time.Minute)
					if err := db.UpdateAppointment(ctx, a, before, nil); err != nil {
						errs <- err
						return
					}
					continue
				}
				mu.Lock()
				live[a.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(done)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := <-compactErr; err != nil {
		t.Fatalf("CompactChanges during bookings: %v", err)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("a pull during bookings and compactions: %v", err)
	}
	if compactions.Load() == 0 {
		t.Fatal("no compaction ran during the bookings")
	}
	// One more booking, once it shows, shows every row before it readable
	// (PostgreSQL), so the last compaction takes every old tombstone.
	marker := appt(d, p, t0.Add(10*24*time.Hour), 30)
	if err := db.BookAppointment(ctx, marker, nil); err != nil {
		t.Fatal(err)
	}
	live[marker.ID] = true
	changesThrough(t, db, marker.ID)
	if _, err := db.CompactChanges(ctx, keep); err != nil {
		t.Fatal(err)
	}
	got, last := readChanges(t, db, "", len(live)+2)
	seen := map[string]int{}
	for _, c := range got {
		seen[c.Entity+" "+c.EntityID]++
	}
	for id := range live {
		if seen[domain.ChangeEntityAppointment+" "+id] != 1 {
			t.Errorf("live appointment %s pulled %d times", id, seen[domain.ChangeEntityAppointment+" "+id])
		}
	}
	if len(got) != len(live)+2 || seen["doctor "+d.ID] != 1 || seen["patient "+p.ID] != 1 {
		t.Fatalf("a pull from the start: %s; want the doctor, the patient and %d live appointments", entityList(got), len(live))
	}
	if page, err := db.Changes(ctx, last, 10); err != nil || len(page) != 0 {
		t.Fatalf("more changes: %s, %v", entityList(page), err)
	}
}

// Migration 0013 gives every entity that has no change row one (data from
// before the change log, migration 0010), in the order a node can apply
// them, at the time of the entity's last change; an entity that has rows
// gets none more. The data are written through the store at schema 12 and
// their rows then removed, as the log never had them.
func testChangesBackfill(t *testing.T, db store.DB) {
	ctx := context.Background()
	old := openAt(t, db.(Raw).Engine(), 12)
	d, p := clinic(t, old, "bf")
	day := t0.Add(24 * time.Hour)
	if err := old.PutAvailability(ctx, &domain.Availability{DoctorID: d.ID, TimeZone: "UTC", SlotMinutes: 30,
		UpdatedAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	kept, gone := appt(d, p, day, 30), appt(d, p, day.Add(time.Hour), 30)
	for _, a := range []*domain.Appointment{kept, gone} {
		if err := old.BookAppointment(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	gone.Status, gone.UpdatedAt = domain.StatusCancelled, t0.Add(2*time.Minute)
	if err := old.UpdateAppointment(ctx, gone, t0, nil); err != nil {
		t.Fatal(err)
	}
	if err := old.PutSyncConflict(ctx, conflictAt("bf-k", t0)); err != nil {
		t.Fatal(err)
	}
	if err := old.ResolveSyncConflict(ctx, "bf-k", "desk", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	l := lease(d, "node-a", day.Add(3*time.Hour), 60)
	if err := old.GrantSyncLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := old.ReleaseSyncLease(ctx, l.ID, "node-a", t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Only the patient's rows stay (it was changed again since 0010).
	if err := old.(Raw).Exec(ctx, `DELETE FROM sync_changes WHERE entity <> 'patient'`); err != nil {
		t.Fatal(err)
	}
	p.Phone, p.UpdatedAt = "+1 555 0102", t0.Add(5*time.Minute)
	if err := old.UpdatePatient(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	if v, err := old.Migrate(ctx); err != nil || v < 13 {
		t.Fatalf("migrate = %d, %v", v, err)
	}

	got, last := readChanges(t, old, "", 8)
	want := []struct {
		entity, id string
		at         time.Time
	}{
		{domain.ChangeEntityPatient, p.ID, t0}, // its own rows, none added
		{domain.ChangeEntityPatient, p.ID, t0.Add(5 * time.Minute)},
		{domain.ChangeEntityDoctor, d.ID, t0},
		{domain.ChangeEntityAvailability, d.ID, t0.Add(time.Minute)},
		{domain.ChangeEntityLease, l.ID, t0.Add(4 * time.Minute)}, // released
		{domain.ChangeEntityAppointment, kept.ID, t0},
		{domain.ChangeEntityAppointment, gone.ID, t0.Add(2 * time.Minute)},
		{domain.ChangeEntityConflict, "bf-k", t0.Add(3 * time.Minute)}, // resolved
	}
	if len(got) != len(want) {
		t.Fatalf("changes after the backfill: %s", entityList(got))
	}
	for i, w := range want {
		if got[i].Entity != w.entity || got[i].EntityID != w.id || !got[i].At.Equal(w.at) {
			t.Errorf("change %d = %+v, want %s %s at %v", i, got[i], w.entity, w.id, w.at)
		}
	}
	if page, err := old.Changes(ctx, last, 10); err != nil || len(page) != 0 {
		t.Fatalf("more changes: %s, %v", entityList(page), err)
	}
	// The backfilled log compacts like any: the patient's first row and the
	// three tombstones go.
	if n, err := old.CompactChanges(ctx, t0.Add(time.Hour)); err != nil || n != 4 {
		t.Fatalf("CompactChanges = %d, %v; want 4", n, err)
	}
	if all, _ := readChanges(t, old, "", 4); entityList(all) != strings.Join([]string{"patient " + p.ID, "doctor " + d.ID,
		"availability " + d.ID, "appointment " + kept.ID}, ", ") {
		t.Fatalf("after compaction: %s", entityList(all))
	}
	mustResync(t, old, got[6].Cursor)
}
