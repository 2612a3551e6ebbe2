package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

// seed writes n events through the group-commit writer.
func seed(t *testing.T, db store.DB, n int) {
	t.Helper()
	l := audit.NewLog(db, fixedClock(), discard)
	defer l.Close()
	ctx := domain.WithRequestMeta(context.Background(), domain.RequestMeta{RequestID: "r", SourceIP: "198.51.100.7", UserAgent: "ua"})
	ctx = domain.WithPrincipal(ctx, &domain.Principal{UserID: "doc-1", Role: domain.RoleDoctor})
	for i := range n {
		if err := l.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "patient", ResourceID: fmt.Sprint("p", i), PatientID: fmt.Sprint("p", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, db store.DB) audit.Report {
	t.Helper()
	r, err := audit.Verify(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTamperDetection(t *testing.T) {
	type tamper struct {
		name    string
		sql     func(engine string) []string
		brokeAt int64
		problem string
	}
	// Each attack runs with the append-only triggers disabled, as by someone
	// holding the database owner's rights.
	tampers := []tamper{
		{"edit", func(string) []string {
			return []string{`UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 5`}
		}, 5, "altered"},
		{"delete", func(string) []string { return []string{`DELETE FROM audit_events WHERE seq = 4`} }, 5, "missing"},
		{"delete-tail", func(string) []string { return []string{`DELETE FROM audit_events WHERE seq >= 9`} }, 9, "missing"},
		{"insert", func(string) []string {
			// Make room by renumbering, then insert a forged event at 4 whose
			// own hash is consistent but that does not belong in the chain.
			return []string{
				`UPDATE audit_events SET seq = seq + 100 WHERE seq >= 4`,
				`UPDATE audit_events SET seq = seq - 99 WHERE seq >= 104`,
				`INSERT INTO audit_events (seq, id, time, actor_id, actor_role, action, resource_type, resource_id, patient_id, outcome, source_ip, user_agent, request_id, detail, prev_hash, hash)
				 SELECT 4, 'forged', time, actor_id, actor_role, action, resource_type, resource_id, patient_id, outcome, source_ip, user_agent, request_id, detail, prev_hash, hash FROM audit_events WHERE seq = 3`,
			}
		}, 4, "does not link"},
		{"reorder", func(string) []string {
			return []string{
				`UPDATE audit_events SET seq = 1000 WHERE seq = 6`,
				`UPDATE audit_events SET seq = 6 WHERE seq = 7`,
				`UPDATE audit_events SET seq = 7 WHERE seq = 1000`,
			}
		}, 6, "does not link"},
		{"append-outside", func(string) []string {
			return []string{`INSERT INTO audit_events (seq, id, time, actor_id, actor_role, action, resource_type, resource_id, patient_id, outcome, source_ip, user_agent, request_id, detail, prev_hash, hash)
				SELECT 11, 'extra', time, actor_id, actor_role, action, resource_type, resource_id, patient_id, outcome, source_ip, user_agent, request_id, detail, hash, hash FROM audit_events WHERE seq = 10`}
		}, 11, "altered"},
	}
	for _, e := range storetest.Engines(t) {
		for _, tc := range tampers {
			t.Run(e.Name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				db := e.Open(t)
				seed(t, db, 10)
				if r := verify(t, db); !r.OK || r.Events != 10 {
					t.Fatalf("intact chain reported %+v", r)
				}
				raw := db.(storetest.Raw)
				storetest.WithoutAuditGuards(t, raw, func() {
					for _, q := range tc.sql(e.Name) {
						if err := raw.Exec(context.Background(), q); err != nil {
							t.Fatalf("%s: %v", q, err)
						}
					}
				})
				r := verify(t, db)
				if r.OK || r.BrokenAt != tc.brokeAt || !strings.Contains(r.Problem, tc.problem) {
					t.Fatalf("after %s: %+v; want broken at %d with %q", tc.name, r, tc.brokeAt, tc.problem)
				}
			})
		}
	}
}

func TestGroupCommitKeepsChainUnderConcurrency(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			db := e.Open(t)
			l := audit.NewLog(db, fixedClock(), discard)
			var wg sync.WaitGroup
			for g := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 25 {
						if err := l.Record(context.Background(), audit.Event{Action: domain.ActionRead, ResourceType: "patient", ResourceID: fmt.Sprint(g, "-", i)}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			l.Close()
			if r := verify(t, db); !r.OK || r.Events != 800 {
				t.Fatalf("report %+v", r)
			}
			if err := l.Record(context.Background(), audit.Event{Action: domain.ActionRead}); !errors.Is(err, audit.ErrClosed) {
				t.Fatalf("record after close = %v", err)
			}
		})
	}
}

func TestRecordFillsActorAndRequest(t *testing.T) {
	db := storetest.OpenSQLite(t)
	seed(t, db, 1)
	anon := audit.NewLog(db, fixedClock(), discard)
	if err := anon.Record(context.Background(), audit.Event{Action: domain.ActionLogin, Outcome: domain.OutcomeFailure, ResourceType: "user"}); err != nil {
		t.Fatal(err)
	}
	anon.Close()
	evs, err := db.ListAudit(context.Background(), domain.AuditFilter{})
	if err != nil || len(evs) != 2 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	first := evs[1]
	if first.ActorID != "doc-1" || first.ActorRole != "doctor" || first.SourceIP != "198.51.100.7" || first.RequestID != "r" ||
		first.Outcome != domain.OutcomeSuccess || first.PatientID != "p0" {
		t.Fatalf("event = %+v", first)
	}
	if evs[0].ActorID != "anonymous" || evs[0].Outcome != domain.OutcomeFailure {
		t.Fatalf("anonymous event = %+v", evs[0])
	}
}

// failingStore fails every append, as a database that is down does.
type failingStore struct{ domain.AuditStore }

func (failingStore) AppendAudit(context.Context, []*domain.AuditEvent) error {
	return errors.New("connection refused")
}

func TestRecordFailsClosed(t *testing.T) {
	l := audit.NewLog(failingStore{}, fixedClock(), discard)
	defer l.Close()
	err := l.Record(context.Background(), audit.Event{Action: domain.ActionRead})
	if domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("err = %v, want unavailable", err)
	}
}

func TestFHIRExport(t *testing.T) {
	db := storetest.OpenSQLite(t)
	seed(t, db, 3)
	l := audit.NewLog(db, fixedClock(), discard)
	ctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "u-1", Role: domain.RolePatient})
	l.Record(ctx, audit.Event{Action: domain.ActionLogin, ResourceType: "user", ResourceID: "u-1"})
	l.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "user", ResourceID: "u-1", Outcome: domain.OutcomeDenied})
	l.Close()
	var buf bytes.Buffer
	n, err := audit.ExportNDJSON(context.Background(), db, domain.AuditFilter{}, &buf)
	if err != nil || n != 5 {
		t.Fatalf("exported %d, %v", n, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines", len(lines))
	}
	validActions := map[string]bool{"C": true, "R": true, "U": true, "D": true, "E": true}
	validOutcomes := map[string]bool{"0": true, "4": true, "8": true, "12": true}
	var login, denied, read map[string]any
	for _, line := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line is not JSON: %v", err)
		}
		// Required by R4: resourceType, type, recorded, agent (1..*), source.
		if r["resourceType"] != "AuditEvent" || r["type"] == nil || r["source"] == nil {
			t.Fatalf("missing required elements: %s", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, r["recorded"].(string)); err != nil {
			t.Fatalf("recorded is not an instant: %v", err)
		}
		agents := r["agent"].([]any)
		if len(agents) == 0 || agents[0].(map[string]any)["requestor"] == nil {
			t.Fatalf("agent.requestor is required: %s", line)
		}
		if a, ok := r["action"].(string); !ok || !validActions[a] {
			t.Fatalf("action %v not in the R4 value set", r["action"])
		}
		if o := r["outcome"].(string); !validOutcomes[o] {
			t.Fatalf("outcome %v not in the R4 value set", o)
		}
		sub := r["subtype"].([]any)[0].(map[string]any)
		switch sub["code"] {
		case "110122":
			login = r
		case "update":
			denied = r
		case "read":
			read = r
		}
	}
	if login == nil || login["action"] != "E" || login["type"].(map[string]any)["code"] != "110114" {
		t.Fatalf("login event: %v", login)
	}
	if denied == nil || denied["outcome"] != "4" || denied["action"] != "U" {
		t.Fatalf("denied update: %v", denied)
	}
	ent := read["entity"].([]any)[0].(map[string]any)["what"].(map[string]any)
	if !strings.HasPrefix(ent["reference"].(string), "Patient/p") {
		t.Fatalf("read entity = %v", ent)
	}
}

// appendingReader appends events through the log after the head was read
// and before the walk reads them, as a busy server does while the chain is
// verified.
type appendingReader struct {
	store.DB
	t    *testing.T
	once sync.Once
}

func (r *appendingReader) ScanAudit(ctx context.Context, after int64, limit int) ([]*domain.AuditEvent, error) {
	r.once.Do(func() { seed(r.t, r.DB, 3) })
	return r.DB.ScanAudit(ctx, after, limit)
}

// Events appended while the chain is walked are not mistaken for events
// added outside HealthHub; an event past the head that no append wrote is
// still found.
func TestVerifyWhileAppending(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Open(t)
			seed(t, db, 5)
			r, err := audit.Verify(context.Background(), &appendingReader{DB: db, t: t})
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK || r.Events != 8 || r.HeadSeq != 8 {
				t.Fatalf("verify while appending: %+v", r)
			}
		})
	}
}
