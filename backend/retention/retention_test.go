package retention_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/retention"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

const year = 365 * 24 * time.Hour

type fixture struct {
	db  store.DB
	log *audit.Log
	svc *retention.Service
	ctx context.Context // an administrator's
}

func newFixture(t *testing.T, e storetest.Engine) *fixture {
	t.Helper()
	db := e.Open(t)
	log := audit.NewLog(db, time.Now, slog.New(slog.DiscardHandler))
	t.Cleanup(log.Close)
	svc := retention.New(retention.Options{Store: db, Guard: access.New(log), Audit: log, Keys: secret.NewEphemeral(), Now: time.Now})
	admin := &domain.Principal{UserID: "admin-1", Role: domain.RoleAdmin}
	return &fixture{db: db, log: log, svc: svc, ctx: domain.WithPrincipal(context.Background(), admin)}
}

// scenario is one random installation: patients last seen up to fifteen
// years ago, some on hold, with clinical entries, and an audit log reaching
// back twelve years whose events name them.
type scenario struct {
	patients []*domain.Patient
	last     map[string]time.Time
	held     map[string]bool
	entries  map[string]int
}

func build(t *testing.T, f *fixture, rng *rand.Rand, now time.Time) *scenario {
	t.Helper()
	ctx := context.Background()
	s := &scenario{last: map[string]time.Time{}, held: map[string]bool{}, entries: map[string]int{}}
	for i := range 2 + rng.IntN(8) {
		at := now.Add(-time.Duration(rng.Int64N(int64(15 * year)))).UTC().Truncate(time.Microsecond)
		p := &domain.Patient{Name: fmt.Sprintf("Patient %d", i), DateOfBirth: "1970-01-01", CreatedAt: at.Add(-time.Hour), UpdatedAt: at}
		if err := f.db.CreatePatient(ctx, p, nil, nil); err != nil {
			t.Fatal(err)
		}
		s.patients = append(s.patients, p)
		s.last[p.ID] = at
		for range rng.IntN(3) {
			e := &domain.ClinicalEntry{PatientID: p.ID, Kind: "allergy", Description: "penicillin", Status: "active", RecordedBy: "doc", CreatedAt: at.Add(-time.Minute), UpdatedAt: at.Add(-time.Minute)}
			if err := f.db.CreateEntry(ctx, e, nil); err != nil {
				t.Fatal(err)
			}
			s.entries[p.ID]++
		}
		s.held[p.ID] = rng.IntN(3) == 0
	}
	// The log: times ascending from twelve years ago, each event about a
	// random patient (or none), its resource the patient or another thing.
	n := 5 + rng.IntN(40)
	offsets := make([]int64, n)
	for i := range offsets {
		offsets[i] = rng.Int64N(int64(12 * year))
	}
	for i := range offsets { // descending offsets: ascending times
		for j := i + 1; j < len(offsets); j++ {
			if offsets[j] > offsets[i] {
				offsets[i], offsets[j] = offsets[j], offsets[i]
			}
		}
	}
	var evs []*domain.AuditEvent
	for i, off := range offsets {
		e := &domain.AuditEvent{ID: fmt.Sprintf("ev-%d", i), Time: now.Add(-time.Duration(off)), ActorID: "doc-1", ActorRole: "doctor",
			Action: domain.ActionRead, ResourceType: "appointment", ResourceID: fmt.Sprintf("a-%d", i), Outcome: domain.OutcomeSuccess}
		if k := rng.IntN(len(s.patients) + 1); k < len(s.patients) {
			e.PatientID = s.patients[k].ID
			if rng.IntN(2) == 0 {
				e.ResourceType, e.ResourceID = "patient", e.PatientID
			}
		}
		evs = append(evs, e)
	}
	if err := f.db.AppendAudit(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// Holds after the old events, so that the log starts with them.
	for _, p := range s.patients {
		if !s.held[p.ID] {
			continue
		}
		if _, err := f.svc.PlaceHold(f.ctx, p.ID, "litigation matter 2026-17"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func allEvents(t *testing.T, db store.DB) map[string]*domain.AuditEvent {
	t.Helper()
	out := map[string]*domain.AuditEvent{}
	var after int64
	if a, _, err := db.AuditAnchor(context.Background()); err != nil {
		t.Fatal(err)
	} else {
		after = a
	}
	for {
		page, err := db.ScanAudit(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			out[e.ID] = e
			after = e.Seq
		}
	}
}

func mustVerify(t *testing.T, db store.DB) audit.Report {
	t.Helper()
	r, err := audit.Verify(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		t.Fatalf("audit verify: %+v", r)
	}
	return r
}

// TestRetentionProperties runs random installations through a purge and
// checks what must always hold: no audit event younger than six years is
// deleted (nor one younger than the policy's period), held patients and
// patients seen within the period are untouched, purged patients' events
// stay with a pseudonym and the chain verifies, a second run removes
// nothing, and tampering after pseudonymisation is still detected.
func TestRetentionProperties(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		cases := 24
		if e.Name == "postgres" {
			cases = 12
		}
		for seed := range cases {
			t.Run(fmt.Sprintf("%s/seed=%d", e.Name, seed), func(t *testing.T) {
				t.Parallel()
				checkProperties(t, e, uint64(seed))
			})
		}
	}
}

func checkProperties(t *testing.T, e storetest.Engine, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	f := newFixture(t, e)
	ctx := context.Background()
	now := time.Now().UTC()
	s := build(t, f, rng, now)

	clinical := retention.ClinicalFloorYears + rng.IntN(10)
	auditYears := retention.AuditFloorYears + rng.IntN(5)
	below := retention.AuditFloorYears - 1 - rng.IntN(5)
	if _, err := f.svc.SetPolicy(f.ctx, retention.PolicyPatch{AuditEventsYears: &below}); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("audit retention of %d years: %v, want invalid", below, err)
	}
	pol, err := f.svc.SetPolicy(f.ctx, retention.PolicyPatch{ClinicalRecordsYears: &clinical, AuditEventsYears: &auditYears})
	if err != nil {
		t.Fatal(err)
	}
	dry, err := f.svc.Run(f.ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	before := allEvents(t, f.db)
	mustVerify(t, f.db)

	rep, err := f.svc.Run(f.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Patients != rep.Patients || dry.AuditEventsDeleted != rep.AuditEventsDeleted || dry.AuditPseudonymised != 0 {
		t.Fatalf("a dry run counted %d patients and %d audit events; the run removed %d and %d", dry.Patients, dry.AuditEventsDeleted, rep.Patients, rep.AuditEventsDeleted)
	}
	after := allEvents(t, f.db)
	rep0 := mustVerify(t, f.db)

	// Audit: only events older than the period (and than six years) went,
	// and only a prefix of the log.
	floor := now.AddDate(-retention.AuditFloorYears, 0, 0)
	cut := now.AddDate(-pol.AuditEventsYears, 0, 0)
	var deleted int64
	var maxDeletedSeq int64
	for id, ev := range before {
		if _, ok := after[id]; ok {
			continue
		}
		deleted++
		maxDeletedSeq = max(maxDeletedSeq, ev.Seq)
		if !ev.Time.Before(floor) || !ev.Time.Before(cut) {
			t.Fatalf("event %d of %s deleted: younger than the floor %s or the cut %s", ev.Seq, ev.Time, floor, cut)
		}
	}
	for id, ev := range before {
		if _, ok := after[id]; ok && ev.Seq < maxDeletedSeq {
			t.Fatalf("event %d kept but %d before it deleted: not a prefix", ev.Seq, maxDeletedSeq)
		}
	}
	if deleted != rep.AuditEventsDeleted || rep0.AnchorSeq != maxDeletedSeq {
		t.Fatalf("deleted %d (up to %d), report says %d, anchor %d", deleted, maxDeletedSeq, rep.AuditEventsDeleted, rep0.AnchorSeq)
	}

	// Patients: held ones and recent ones untouched; the others gone, their
	// events pseudonymised.
	clinicalCut := now.AddDate(-pol.ClinicalRecordsYears, 0, 0)
	purged := 0
	pseudonyms := map[string]string{}
	for _, p := range s.patients {
		_, err := f.db.PatientByID(ctx, p.ID)
		keep := s.held[p.ID] || !s.last[p.ID].Before(clinicalCut)
		if keep {
			if err != nil {
				t.Fatalf("patient (held=%t, last %s) gone: %v", s.held[p.ID], s.last[p.ID], err)
			}
			if got, err := f.db.Entries(ctx, p.ID, ""); err != nil || len(got) != s.entries[p.ID] {
				t.Fatalf("held or recent patient has %d entries (%v), want %d", len(got), err, s.entries[p.ID])
			}
		} else {
			if domain.ErrorCode(err) != domain.ENOTFOUND {
				t.Fatalf("patient last seen %s (cut %s) still there: %v", s.last[p.ID], clinicalCut, err)
			}
			purged++
		}
		for _, ev := range after {
			if b, ok := before[ev.ID]; !ok || b.PatientID != p.ID {
				continue
			}
			switch {
			case keep && (ev.Redacted || ev.PatientID != p.ID):
				t.Fatalf("event %d of a kept patient pseudonymised", ev.Seq)
			case !keep && (!ev.Redacted || !strings.HasPrefix(ev.PatientID, "pn-") || ev.PatientSalt != ""):
				t.Fatalf("event %d of a purged patient not pseudonymised: %+v", ev.Seq, ev)
			case !keep:
				if ps, ok := pseudonyms[p.ID]; ok && ps != ev.PatientID {
					t.Fatalf("one patient, two pseudonyms: %s, %s", ps, ev.PatientID)
				}
				pseudonyms[p.ID] = ev.PatientID
				if before[ev.ID].ResourceID == p.ID && ev.ResourceID != ev.PatientID {
					t.Fatalf("event %d: the resource (the patient) kept its identifier", ev.Seq)
				}
			}
		}
	}
	if rep.Patients != purged {
		t.Fatalf("report says %d patients purged, %d were", rep.Patients, purged)
	}

	t.Logf("purged %d patients, pseudonymised %d events, deleted %d of %d events", rep.Patients, rep.AuditPseudonymised, rep.AuditEventsDeleted, len(before))
	// Idempotent: a second run removes nothing.
	again, err := f.svc.Run(f.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if again.PatientPurge != (domain.PatientPurge{}) || again.AuditEventsDeleted != 0 {
		t.Fatalf("second run removed %+v and %d audit events", again.PatientPurge, again.AuditEventsDeleted)
	}
	mustVerify(t, f.db)

	// Whatever the settings say, the database keeps events younger than six
	// years: asking the store itself to remove everything is refused.
	head, _, err := f.db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.PurgeAuditBefore(ctx, now.Add(time.Hour), head, now); err == nil {
		t.Fatal("the store removed audit events younger than six years")
	}
	mustVerify(t, f.db)

	// Tampering with a pseudonymised event is still detected.
	var victim *domain.AuditEvent
	for _, ev := range allEvents(t, f.db) {
		if ev.Redacted && (victim == nil || ev.Seq < victim.Seq) {
			victim = ev
		}
	}
	if victim == nil {
		return
	}
	raw := f.db.(storetest.Raw)
	tamper := []string{
		fmt.Sprintf(`UPDATE audit_events SET detail = 'edited' WHERE seq = %d`, victim.Seq),
		fmt.Sprintf(`UPDATE audit_events SET patient_commit = '%s' WHERE seq = %d`, domain.AuditPatientCommitment("", victim.PatientID), victim.Seq),
		fmt.Sprintf(`UPDATE audit_events SET resource_id = 'other' WHERE seq = %d`, victim.Seq),
	}[rng.IntN(3)]
	if err := raw.Exec(ctx, tamper); err == nil {
		t.Fatalf("the database admitted %s", tamper)
	}
	storetest.WithoutAuditGuards(t, raw, func() {
		if err := raw.Exec(ctx, tamper); err != nil {
			t.Fatal(err)
		}
	})
	r, err := audit.Verify(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.BrokenAt != victim.Seq {
		t.Fatalf("after %s: %+v, want broken at %d", tamper, r, victim.Seq)
	}
}
