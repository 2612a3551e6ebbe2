package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/retention"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/sqlite"
)

func TestRetentionCommand(t *testing.T) {
	vars := testEnv(t, "")
	if out, err := run(t, vars, "", "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	ctx := context.Background()
	path := filepath.Join(vars["HEALTHHUB_DATA_DIR"], store.SQLiteFile)
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().AddDate(-12, 0, 0).UTC().Truncate(time.Microsecond)
	old := &domain.Patient{Name: "Long Gone", DateOfBirth: "1950-01-01", CreatedAt: long, UpdatedAt: long}
	recent := &domain.Patient{Name: "Seen Lately", DateOfBirth: "1990-01-01", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	for _, p := range []*domain.Patient{old, recent} {
		if err := db.CreatePatient(ctx, p, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AppendAudit(ctx, []*domain.AuditEvent{{ID: "ev-old", Time: time.Now(), ActorID: "doc", ActorRole: "doctor",
		Action: domain.ActionRead, ResourceType: "patient", ResourceID: old.ID, PatientID: old.ID, Outcome: domain.OutcomeSuccess}}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if out, err := run(t, vars, "", "retention"); exitCode(err) != 2 || !strings.Contains(errString(err), "retention run") {
		t.Fatalf("no subcommand: exit %d, %s %v", exitCode(err), out, err)
	}
	out, err := run(t, vars, "", "retention", "run", "--dry-run")
	if err != nil || !strings.Contains(out, "would purge 1 patients") {
		t.Fatalf("dry run: %v %s", err, out)
	}
	out, err = run(t, vars, "", "retention", "run")
	if err != nil || !strings.Contains(out, "purged 1 patients") || !strings.Contains(out, "1 audit events pseudonymised") {
		t.Fatalf("run: %v %s", err, out)
	}
	out, err = run(t, vars, "", "retention", "run")
	if err != nil || !strings.Contains(out, "purged 0 patients") || !strings.Contains(out, "0 audit events pseudonymised") {
		t.Fatalf("second run: %v %s", err, out)
	}
	if out, err := run(t, vars, "", "audit", "verify"); exitCode(err) != 0 {
		t.Fatalf("verify after the purge: %v %s", err, out)
	}

	db, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.PatientByID(ctx, old.ID); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("purged patient: %v", err)
	}
	if _, err := db.PatientByID(ctx, recent.ID); err != nil {
		t.Fatalf("recent patient: %v", err)
	}
	if evs, err := db.ListAudit(ctx, domain.AuditFilter{PatientID: old.ID}); err != nil || len(evs) != 0 {
		t.Fatalf("events still naming the purged patient: %d, %v", len(evs), err)
	}
	runs, err := db.ListAudit(ctx, domain.AuditFilter{ResourceType: retention.ResourceRetention})
	if err != nil || len(runs) != 3 {
		t.Fatalf("recorded runs = %d, %v", len(runs), err)
	}
	for i, want := range []string{"dry_run=false", "dry_run=false", "dry_run=true"} {
		r := runs[i]
		if r.ActorID != domain.System.UserID || !strings.Contains(r.Detail, want) || !strings.Contains(r.Detail, "clinical_records_years=10") {
			t.Fatalf("run %d recorded as %+v", i, r)
		}
	}
	if !strings.Contains(runs[1].Detail, "patients=1 ") || !strings.Contains(runs[0].Detail, "patients=0 ") {
		t.Fatalf("counts recorded: %q, %q", runs[1].Detail, runs[0].Detail)
	}
}
