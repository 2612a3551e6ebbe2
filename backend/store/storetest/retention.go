package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

var retentionTests = []struct {
	name string
	fn   func(t *testing.T, db store.DB)
}{
	{"LegalHolds", testLegalHolds},
	{"PurgePatient", testPurgePatient},
	{"AuditPseudonymiseOnly", testAuditPseudonymiseOnly},
	{"AuditPrefixPurge", testAuditPrefixPurge},
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func testLegalHolds(t *testing.T, db store.DB) {
	ctx := context.Background()
	_, p := clinic(t, db, "holds")
	h := &domain.LegalHold{PatientID: p.ID, Reason: "subpoena 7", PlacedBy: "admin-1", PlacedAt: t0}
	if err := db.PutLegalHold(ctx, h); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.PutLegalHold(ctx, h), domain.ECONFLICT)
	hs, err := db.ListLegalHolds(ctx)
	if err != nil || len(hs) != 1 || hs[0].PatientID != p.ID || hs[0].Reason != "subpoena 7" || hs[0].PlacedBy != "admin-1" ||
		!hs[0].PlacedAt.Equal(t0) || hs[0].PatientName != p.Name {
		t.Fatalf("holds = %+v, %v", hs, err)
	}
	if err := db.DeleteLegalHold(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.DeleteLegalHold(ctx, p.ID), domain.ENOTFOUND)
	if hs, err := db.ListLegalHolds(ctx); err != nil || len(hs) != 0 {
		t.Fatalf("holds after lifting = %+v, %v", hs, err)
	}
}

// testPurgePatient: last contact counts the record, its appointments and
// entries; a held patient is never purged, even when asked directly; a
// purge removes everything of the patient, enters the change feed and
// pseudonymises the patient's format-2 audit events.
func testPurgePatient(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "purge")
	_, seen := clinic(t, db, "seen")
	_, held := clinic(t, db, "held")
	later := t0.Add(24 * time.Hour)
	a := &domain.Appointment{DoctorID: d.ID, PatientID: seen.ID, Start: later, End: later.Add(30 * time.Minute), Status: domain.StatusBooked,
		CreatedBy: "u", CreatedAt: t0, UpdatedAt: t0}
	if err := db.BookAppointment(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	mine := &domain.Appointment{DoctorID: d.ID, PatientID: p.ID, Start: t0, End: t0.Add(30 * time.Minute), Status: domain.StatusFulfilled,
		CreatedBy: "u", CreatedAt: t0, UpdatedAt: t0}
	if err := db.BookAppointment(ctx, mine, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateEntry(ctx, &domain.ClinicalEntry{PatientID: p.ID, Kind: "allergy", Description: "penicillin", Status: "active", RecordedBy: "u", CreatedAt: t0, UpdatedAt: t0}, nil); err != nil {
		t.Fatal(err)
	}
	u := newUser("chat-purge@example.org", domain.RoleStaff)
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateConversation(ctx, &domain.Conversation{UserID: u.ID, PatientID: p.ID, Title: "About them", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutLegalHold(ctx, &domain.LegalHold{PatientID: held.ID, Reason: "r", PlacedBy: "a", PlacedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendAudit(ctx, []*domain.AuditEvent{auditEvent(1, p.ID), auditEvent(2, held.ID), auditEvent(3, p.ID)}); err != nil {
		t.Fatal(err)
	}
	grant := &domain.EmergencyGrant{ID: "grant-purge", UserID: u.ID, UserRole: string(domain.RoleDoctor), PatientID: p.ID, Reason: "other",
		Details: "words about the patient", CreatedAt: t0, ExpiresAt: t0.Add(4 * time.Hour), ReviewStatus: "pending"}
	if _, err := db.CreateEmergencyGrant(ctx, grant); err != nil {
		t.Fatal(err)
	}

	// At an hour after t0 (the appointment's end is t0+30m): p qualifies,
	// seen's appointment is later, held is on hold.
	cut := t0.Add(time.Hour)
	ids, err := db.PatientsLastContactBefore(ctx, cut, 10)
	if err != nil || len(ids) != 1 || ids[0] != p.ID {
		t.Fatalf("patients past retention = %v, %v", ids, err)
	}
	for _, id := range []string{held.ID, seen.ID, "no-such-patient"} {
		if got, err := db.PurgePatient(ctx, id, cut, "pn-x", later); err != nil || got != (domain.PatientPurge{}) {
			t.Fatalf("purge of %s: %+v, %v", id, got, err)
		}
	}
	if got, err := db.PurgePatient(ctx, held.ID, farFuture, "pn-x", later); err != nil || got != (domain.PatientPurge{}) {
		t.Fatalf("purge of a held patient whatever the last contact: %+v, %v", got, err)
	}
	got, err := db.PurgePatient(ctx, p.ID, cut, "pn-0123", later)
	want := domain.PatientPurge{Patients: 1, Appointments: 1, ClinicalEntries: 1, Conversations: 1, AuditPseudonymised: 2}
	if err != nil || got != want {
		t.Fatalf("purge = %+v, %v; want %+v", got, err, want)
	}
	mustCode(t, func() error { _, err := db.PatientByID(ctx, p.ID); return err }(), domain.ENOTFOUND)
	if g, err := db.EmergencyGrant(ctx, grant.ID); err != nil || g.PatientID != "pn-0123" || g.Details != "" {
		t.Fatalf("emergency grant after the purge: %+v, %v; want the pseudonym and no details", g, err)
	}
	mustCode(t, func() error { _, err := db.AppointmentByID(ctx, mine.ID); return err }(), domain.ENOTFOUND)
	if _, err := db.PatientByID(ctx, held.ID); err != nil {
		t.Fatalf("held patient: %v", err)
	}
	again, err := db.PurgePatient(ctx, p.ID, cut, "pn-0123", later)
	if err != nil || again != (domain.PatientPurge{}) {
		t.Fatalf("second purge = %+v, %v", again, err)
	}
	// A patient with a sign-in account: the account stays (other records
	// point at it) but is disabled, no longer names them, and their own
	// conversations go.
	acct := newUser("purge-self@example.org", domain.RolePatient)
	self := &domain.Patient{Name: "Pat Self", DateOfBirth: "1970-01-01", Email: "purge-self@example.org", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreatePatient(ctx, self, acct, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateConversation(ctx, &domain.Conversation{UserID: acct.ID, Title: "My question", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.PurgePatient(ctx, self.ID, cut, "pn-0456", later); err != nil || got.Patients != 1 || got.Conversations != 1 {
		t.Fatalf("purge of a patient with an account = %+v, %v", got, err)
	}
	if u, err := db.UserByID(ctx, acct.ID); err != nil || u.Email != "pn-0456@purged.invalid" || u.Name != "Removed by retention" ||
		!u.Disabled || u.PasswordHash != "" || u.Role != domain.RolePatient {
		t.Fatalf("the purged patient's account: %+v, %v", u, err)
	}
	// The patient and the appointment each have a row for their creation
	// and one for the purge (rows of transactions still running elsewhere
	// come once those end).
	rows := map[string]int{}
	for cursor, deadline := "", time.Now().Add(30*time.Second); rows["patient"] < 2 || rows["appointment"] < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("change rows of the purged patient and appointment: %v", rows)
		}
		page, err := db.Changes(ctx, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			time.Sleep(10 * time.Millisecond) // waiting for older transactions to end; the deadline bounds it
			continue
		}
		for _, c := range page {
			if (c.Entity == domain.ChangeEntityPatient && c.EntityID == p.ID) || (c.Entity == domain.ChangeEntityAppointment && c.EntityID == mine.ID) {
				rows[c.Entity]++
			}
		}
		cursor = page[len(page)-1].Cursor
	}
	evs, err := db.ScanAudit(ctx, 0, 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("audit = %d, %v", len(evs), err)
	}
	for _, e := range []*domain.AuditEvent{evs[0], evs[2]} {
		if e.PatientID != "pn-0123" || e.ResourceID != "pn-0123" || !e.Redacted || e.PatientSalt != "" || e.PatientCommit == "" || !e.Intact() {
			t.Fatalf("pseudonymised event = %+v", e)
		}
	}
	if evs[1].PatientID != held.ID || evs[1].Redacted {
		t.Fatalf("the held patient's event = %+v", evs[1])
	}
	if n, err := db.PseudonymiseAudit(ctx, p.ID, "pn-0123"); err != nil || n != 0 {
		t.Fatalf("pseudonymising again: %d, %v", n, err)
	}
	checkChain(t, db, 3)
}

// testAuditPseudonymiseOnly: the database admits exactly the
// pseudonymisation of a format-2 event and nothing else, and never on a
// format-1 event.
func testAuditPseudonymiseOnly(t *testing.T, db store.DB) {
	ctx := context.Background()
	if err := db.AppendAudit(ctx, []*domain.AuditEvent{auditEvent(1, "p-1"), auditEvent(2, "p-2")}); err != nil {
		t.Fatal(err)
	}
	raw := db.(Raw)
	tru := "1"
	if db.Engine() == "postgres" {
		tru = "true"
	}
	for _, q := range []string{
		`UPDATE audit_events SET patient_id = 'pn-1', patient_salt = '', redacted = ` + tru + `, resource_id = 'pn-1', detail = 'x' WHERE seq = 1`,
		`UPDATE audit_events SET patient_id = 'pn-1', patient_salt = '', redacted = ` + tru + ` WHERE seq = 1`, // the resource must follow
		`UPDATE audit_events SET patient_id = 'someone', patient_salt = '', redacted = ` + tru + `, resource_id = 'someone' WHERE seq = 1`,
		`UPDATE audit_events SET patient_id = 'pn-1', redacted = ` + tru + `, resource_id = 'pn-1' WHERE seq = 1`, // salt kept
		`UPDATE audit_events SET patient_id = 'pn-1', patient_salt = '', resource_id = 'pn-1' WHERE seq = 1`,      // unmarked
		`UPDATE audit_events SET patient_id = 'pn-1', patient_salt = '', redacted = ` + tru + `, resource_id = 'pn-1', patient_commit = '' WHERE seq = 1`,
		`UPDATE audit_events SET patient_id = 'pn-1', patient_salt = '', redacted = ` + tru + `, resource_id = 'pn-1', chain_version = 1 WHERE seq = 1`,
		`DELETE FROM audit_events WHERE seq = 1`,
		`UPDATE audit_anchor SET seq = 0 WHERE id = 1`,
		`DELETE FROM audit_anchor`,
	} {
		if err := raw.Exec(ctx, q); err == nil {
			t.Errorf("the database accepted %q", q)
		}
	}
	if n, err := db.PseudonymiseAudit(ctx, "p-1", "pn-1"); err != nil || n != 1 {
		t.Fatalf("pseudonymise: %d, %v", n, err)
	}
	for _, q := range []string{
		`UPDATE audit_events SET patient_id = 'pn-2', resource_id = 'pn-2' WHERE seq = 1`, // once only
		`UPDATE audit_events SET redacted = ` + map[bool]string{true: "false", false: "0"}[db.Engine() == "postgres"] + ` WHERE seq = 1`,
	} {
		if err := raw.Exec(ctx, q); err == nil {
			t.Errorf("the database accepted %q", q)
		}
	}
	// An event whose other resource is the pseudonym itself would read as
	// the patient's afterwards: it keeps its patient.
	odd := auditEvent(3, "p-3")
	odd.ResourceID = "pn-3"
	if err := db.AppendAudit(ctx, []*domain.AuditEvent{odd}); err != nil {
		t.Fatal(err)
	}
	if err := raw.Exec(ctx, `UPDATE audit_events SET patient_id = 'pn-3', patient_salt = '', redacted = `+tru+` WHERE seq = 3`); err == nil {
		t.Error("the database let an event's other resource become its patient")
	}
	if n, err := db.PseudonymiseAudit(ctx, "p-3", "pn-3"); err != nil || n != 0 {
		t.Fatalf("pseudonymise onto the resource id: %d, %v", n, err)
	}
	// A format-1 event (written before format 2) is left as written.
	WithoutAuditGuards(t, raw, func() {
		if err := raw.Exec(ctx, `UPDATE audit_events SET chain_version = 1, patient_salt = '', patient_commit = '' WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
	})
	if n, err := db.PseudonymiseAudit(ctx, "p-2", "pn-2"); err != nil || n != 0 {
		t.Fatalf("pseudonymise a format-1 event: %d, %v", n, err)
	}
}

// testAuditPrefixPurge: only a prefix of events older than both the cut and
// six years goes, behind an anchor that moves forward.
func testAuditPrefixPurge(t *testing.T, db store.DB) {
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.AddDate(-8, 0, 0)
	var evs []*domain.AuditEvent
	for i, at := range []time.Time{old, old.Add(time.Hour), now.AddDate(-7, 0, 0), now.AddDate(-1, 0, 0), now.AddDate(-7, 0, 0), now} {
		e := auditEvent(i+1, "p")
		e.Time = at
		evs = append(evs, e)
	}
	if err := db.AppendAudit(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if seq, hash, err := db.AuditAnchor(ctx); err != nil || seq != 0 || hash != "" {
		t.Fatalf("anchor of a whole log = %d %q, %v", seq, hash, err)
	}
	// Up to seq 2 only (maxSeq).
	if n, err := db.PurgeAuditBefore(ctx, now.AddDate(-6, 0, 0), 2, now); err != nil || n != 2 {
		t.Fatalf("purge up to 2: %d, %v", n, err)
	}
	if seq, hash, err := db.AuditAnchor(ctx); err != nil || seq != 2 || hash != evs[1].Hash {
		t.Fatalf("anchor = %d %q, %v", seq, hash, err)
	}
	// The fourth is a year old: the prefix stops before it, although the
	// fifth is older.
	if n, err := db.PurgeAuditBefore(ctx, now.AddDate(-6, 0, 0), 100, now); err != nil || n != 1 {
		t.Fatalf("purge of the prefix: %d, %v", n, err)
	}
	if n, err := db.PurgeAuditBefore(ctx, now.AddDate(-6, 0, 0), 100, now); err != nil || n != 0 {
		t.Fatalf("purge again: %d, %v", n, err)
	}
	// Asked to remove young events, the database refuses, and nothing goes.
	if _, err := db.PurgeAuditBefore(ctx, now.Add(time.Hour), 100, now); err == nil {
		t.Fatal("events younger than six years were removed")
	}
	rest, err := db.ScanAudit(ctx, 0, 10)
	if err != nil || len(rest) != 3 || rest[0].Seq != 4 || rest[0].PrevHash != evs[2].Hash {
		t.Fatalf("log after the purges = %d events, %v", len(rest), err)
	}
	raw := db.(Raw)
	if err := raw.Exec(ctx, `DELETE FROM audit_events WHERE seq = 5`); err == nil {
		t.Fatal("the database deleted an event after the anchor")
	}
}
