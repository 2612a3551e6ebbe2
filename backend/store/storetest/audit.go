package storetest

import (
	"context"
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

// testAuditNames: ListAudit names the actor and the patient as they are now,
// leaves unknown ones empty, and the names stay out of the chain.
func testAuditNames(t *testing.T, db store.DB) {
	ctx := context.Background()
	doctor := newUser("lee@example.org", domain.RoleDoctor)
	doctor.Name = "Dr Lee"
	if err := db.CreateUser(ctx, doctor); err != nil {
		t.Fatal(err)
	}
	ana := &domain.Patient{Name: "Ana Díaz", DateOfBirth: "1990-05-06", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreatePatient(ctx, ana, nil, nil); err != nil {
		t.Fatal(err)
	}
	read := auditEvent(1, ana.ID)
	read.ActorID = doctor.ID
	login := auditEvent(2, "")
	login.ActorID, login.Action, login.ResourceType, login.ResourceID = doctor.ID, domain.ActionLogin, "session", "s-1"
	stranger := auditEvent(3, "no-such-patient")
	stranger.ActorID = "anonymous"
	if err := db.AppendAudit(ctx, []*domain.AuditEvent{read, login, stranger}); err != nil {
		t.Fatal(err)
	}

	got, err := db.ListAudit(ctx, domain.AuditFilter{Limit: 10})
	if err != nil || len(got) != 3 {
		t.Fatalf("ListAudit = %d events, %v", len(got), err)
	}
	want := []struct{ actor, patient string }{{"", ""}, {"Dr Lee", ""}, {"Dr Lee", "Ana Díaz"}}
	for i, w := range want {
		if got[i].ActorName != w.actor || got[i].PatientName != w.patient {
			t.Errorf("event %d: actor %q, patient %q; want %q, %q", got[i].Seq, got[i].ActorName, got[i].PatientName, w.actor, w.patient)
		}
		if got[i].ComputeHash() != got[i].Hash {
			t.Errorf("event %d: the names changed its hash", got[i].Seq)
		}
	}
	// Filters still apply to the chain's columns with the names joined in.
	mine, err := db.ListAudit(ctx, domain.AuditFilter{PatientID: ana.ID, ActorID: doctor.ID, From: t0, Limit: 10})
	if err != nil || len(mine) != 1 || mine[0].PatientName != "Ana Díaz" {
		t.Fatalf("filtered ListAudit = %+v, %v", mine, err)
	}
	// A renamed record shows its current name.
	ana.Name = "Ana Díaz Ruiz"
	if err := db.UpdatePatient(ctx, ana, nil); err != nil {
		t.Fatal(err)
	}
	again, err := db.ListAudit(ctx, domain.AuditFilter{PatientID: ana.ID, Limit: 1})
	if err != nil || len(again) != 1 || again[0].PatientName != "Ana Díaz Ruiz" {
		t.Fatalf("after rename: %+v, %v", again, err)
	}
	// The scan the chain check uses carries no names.
	scanned, err := db.ScanAudit(ctx, 0, 10)
	if err != nil || len(scanned) != 3 || scanned[0].ActorName != "" {
		t.Fatalf("ScanAudit = %+v, %v", scanned, err)
	}
	checkChain(t, db, 3)
}
