package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

var emergencyTests = []struct {
	name string
	fn   func(t *testing.T, db store.DB)
}{
	{"EmergencyGrants", testEmergencyGrants},
	{"EmergencyReviewOnce", testEmergencyReviewOnce},
	{"PrivacyOfficers", testPrivacyOfficers},
}

func emergencyWorld(t *testing.T, db store.DB) (doctor *domain.User, patient *domain.Patient) {
	t.Helper()
	ctx := context.Background()
	doctor = newUser("house@example.org", domain.RoleDoctor)
	doctor.Name = "Dr House"
	if err := db.CreateUser(ctx, doctor); err != nil {
		t.Fatal(err)
	}
	patient = &domain.Patient{Name: "Ana Díaz", DateOfBirth: "1990-05-06", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreatePatient(ctx, patient, nil, nil); err != nil {
		t.Fatal(err)
	}
	return doctor, patient
}

func testEmergencyGrants(t *testing.T, db store.DB) {
	ctx := context.Background()
	doctor, patient := emergencyWorld(t, db)
	g := &domain.EmergencyGrant{ID: "0190a000-0000-7000-8000-000000000001", UserID: doctor.ID, UserRole: "doctor", PatientID: patient.ID,
		Reason: "life_threatening", Details: "unconscious; 'quotes' and \\ backslashes", CreatedAt: t0, ExpiresAt: t0.Add(4 * time.Hour)}
	created, err := db.CreateEmergencyGrant(ctx, g)
	if err != nil || !created {
		t.Fatalf("CreateEmergencyGrant = %v, %v", created, err)
	}
	if g.ReviewStatus != domain.ReviewPending {
		t.Fatalf("new grant review status = %q", g.ReviewStatus)
	}
	// Delivered again (by sync): nothing changes, and the caller is told.
	again := *g
	again.Reason = "other"
	if created, err := db.CreateEmergencyGrant(ctx, &again); err != nil || created {
		t.Fatalf("second CreateEmergencyGrant = %v, %v; want false, nil", created, err)
	}
	got, err := db.EmergencyGrant(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reason != "life_threatening" || got.Details != g.Details || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(4*time.Hour)) ||
		got.UserName != "Dr House" || got.PatientName != "Ana Díaz" || got.Escalated || got.NodeID != "" || !got.ReviewedAt.IsZero() {
		t.Fatalf("EmergencyGrant = %+v", got)
	}
	// In force from its start until just before its end.
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{t0.Add(-time.Second), false}, {t0, true}, {t0.Add(4*time.Hour - time.Microsecond), true}, {t0.Add(4 * time.Hour), false}} {
		a, err := db.ActiveEmergencyGrant(ctx, doctor.ID, patient.ID, c.at)
		if c.want && (err != nil || a.ID != g.ID) {
			t.Errorf("ActiveEmergencyGrant at %v = %+v, %v; want the grant", c.at, a, err)
		}
		if !c.want {
			mustCode(t, err, domain.ENOTFOUND)
		}
	}
	_, err = db.ActiveEmergencyGrant(ctx, doctor.ID, "another-patient", t0.Add(time.Hour))
	mustCode(t, err, domain.ENOTFOUND)
	_, err = db.ActiveEmergencyGrant(ctx, "another-doctor", patient.ID, t0.Add(time.Hour))
	mustCode(t, err, domain.ENOTFOUND)
	_, err = db.EmergencyGrant(ctx, "nope")
	mustCode(t, err, domain.ENOTFOUND)

	// A later, longer grant is the one in force; a grant from a node keeps
	// its node and ids that are not accounts here.
	later := &domain.EmergencyGrant{UserID: doctor.ID, UserRole: "doctor", PatientID: patient.ID, Reason: "other", Details: "x",
		CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(6 * time.Hour), Escalated: true}
	if _, err := db.CreateEmergencyGrant(ctx, later); err != nil {
		t.Fatal(err)
	}
	remote := &domain.EmergencyGrant{UserID: "node-user", UserRole: "doctor", PatientID: "node-patient", Reason: "urgent_treatment",
		CreatedAt: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(3 * time.Hour), NodeID: "node-1"}
	if _, err := db.CreateEmergencyGrant(ctx, remote); err != nil {
		t.Fatal(err)
	}
	if a, err := db.ActiveEmergencyGrant(ctx, doctor.ID, patient.ID, t0.Add(2*time.Hour)); err != nil || a.ID != later.ID || !a.Escalated {
		t.Fatalf("ActiveEmergencyGrant with two in force = %+v, %v; want the later", a, err)
	}
	all, err := db.ListEmergencyGrants(ctx, domain.EmergencyFilter{})
	if err != nil || len(all) != 3 || all[0].ID != remote.ID || all[2].ID != g.ID {
		t.Fatalf("ListEmergencyGrants = %d, %v; want newest first", len(all), err)
	}
	if all[0].NodeID != "node-1" || all[0].UserName != "" {
		t.Fatalf("remote grant = %+v", all[0])
	}
	mine, err := db.ListEmergencyGrants(ctx, domain.EmergencyFilter{UserID: doctor.ID, Since: t0.Add(time.Minute)})
	if err != nil || len(mine) != 1 || mine[0].ID != later.ID {
		t.Fatalf("ListEmergencyGrants by user since = %+v, %v", mine, err)
	}
	byPatient, err := db.ListEmergencyGrants(ctx, domain.EmergencyFilter{PatientID: patient.ID, Limit: 1})
	if err != nil || len(byPatient) != 1 || byPatient[0].ID != later.ID {
		t.Fatalf("ListEmergencyGrants by patient, limit 1 = %+v, %v", byPatient, err)
	}
	// An end not after the start is refused by the database.
	bad := &domain.EmergencyGrant{UserID: doctor.ID, UserRole: "doctor", PatientID: patient.ID, Reason: "other", CreatedAt: t0, ExpiresAt: t0}
	if _, err := db.CreateEmergencyGrant(ctx, bad); err == nil {
		t.Fatal("a grant ending when it starts was stored")
	}
}

func testEmergencyReviewOnce(t *testing.T, db store.DB) {
	ctx := context.Background()
	doctor, patient := emergencyWorld(t, db)
	officer := newUser("privacy@example.org", domain.RoleStaff)
	if err := db.CreateUser(ctx, officer); err != nil {
		t.Fatal(err)
	}
	g := &domain.EmergencyGrant{UserID: doctor.ID, UserRole: "doctor", PatientID: patient.ID, Reason: "life_threatening", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if _, err := db.CreateEmergencyGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	// Two officers decide at once: one decision stands.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, status := range []string{domain.ReviewJustified, domain.ReviewNotJustified} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = db.ReviewEmergencyGrant(ctx, g.ID, status, "note "+status, officer.ID, t0.Add(2*time.Hour))
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two concurrent reviews: %v, %v; want exactly one to succeed", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil {
			mustCode(t, err, domain.ECONFLICT)
		}
	}
	got, err := db.EmergencyGrant(ctx, g.ID)
	if err != nil || got.ReviewStatus == domain.ReviewPending || got.ReviewNote != "note "+got.ReviewStatus || got.ReviewedBy != officer.ID ||
		!got.ReviewedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("reviewed grant = %+v, %v", got, err)
	}
	pending, err := db.ListEmergencyGrants(ctx, domain.EmergencyFilter{ReviewStatus: domain.ReviewPending})
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after review = %d, %v", len(pending), err)
	}
	_, err = db.ReviewEmergencyGrant(ctx, "nope", domain.ReviewJustified, "", officer.ID, t0)
	mustCode(t, err, domain.ENOTFOUND)
}

func testPrivacyOfficers(t *testing.T, db store.DB) {
	ctx := context.Background()
	a := newUser("po@example.org", domain.RoleStaff)
	b := newUser("po2@example.org", domain.RoleDoctor)
	for _, u := range []*domain.User{a, b} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := db.PrivacyOfficers(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("PrivacyOfficers at first = %v, %v", ids, err)
	}
	for range 2 { // giving it twice is giving it once
		if err := db.SetPrivacyOfficer(ctx, a.ID, true, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetPrivacyOfficer(ctx, b.ID, true, t0); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.SetPrivacyOfficer(ctx, "no-such-account", true, t0), domain.ENOTFOUND)
	ids, err := db.PrivacyOfficers(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("PrivacyOfficers = %v, %v", ids, err)
	}
	if err := db.SetPrivacyOfficer(ctx, a.ID, false, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPrivacyOfficer(ctx, a.ID, false, t0); err != nil { // taking it away twice is fine
		t.Fatal(err)
	}
	if ids, err := db.PrivacyOfficers(ctx); err != nil || len(ids) != 1 || ids[0] != b.ID {
		t.Fatalf("PrivacyOfficers after removal = %v, %v", ids, err)
	}
}
