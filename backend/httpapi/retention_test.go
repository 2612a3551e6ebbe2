package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/retention"
)

// The retention routes in the role × route matrix. Listing holds reads the
// held patients' names, so one is held when it is asked; a hold is placed on
// the caller's own patient and lifted from the other patient.
func init() {
	holdOther := func(e caseEnv) {
		// Already held is fine: the hold is what the case needs.
		_ = e.a.DB.PutLegalHold(context.Background(), &domain.LegalHold{PatientID: e.w.otherPatient.ID, Reason: "matrix", PlacedBy: "test", PlacedAt: time.Now()})
	}
	rows := map[string]matrixRoute{
		"GET /api/v1/retention":      {na, adminOnly(200), fixed("/api/v1/retention", nil)},
		"PATCH /api/v1/retention":    {na, adminOnly(200), fixed("/api/v1/retention", map[string]int{"clinical_records_years": 11})},
		"POST /api/v1/retention/run": {na, adminOnly(200), fixed("/api/v1/retention/run", map[string]bool{"dry_run": true})},
		"GET /api/v1/legal-holds": {na, adminOnly(200), func(e caseEnv, _ ownership) (string, any) {
			holdOther(e)
			return "/api/v1/legal-holds", nil
		}},
		"POST /api/v1/legal-holds": {na, adminOnly(201), func(e caseEnv, _ ownership) (string, any) {
			return "/api/v1/legal-holds", map[string]string{"patient_id": e.w.ownPatient.ID, "reason": "records request"}
		}},
		"DELETE /api/v1/legal-holds/{patient_id}": {na, adminOnly(204), func(e caseEnv, _ ownership) (string, any) {
			holdOther(e)
			return "/api/v1/legal-holds/" + e.w.otherPatient.ID, nil
		}},
	}
	for k, v := range rows {
		matrix[k] = v
	}
	audits := map[string]auditRow{
		"GET /api/v1/retention": noAudit, "PATCH /api/v1/retention": oneEvent, "POST /api/v1/retention/run": oneEvent,
		"GET /api/v1/legal-holds":                 {success: perPatient},
		"POST /api/v1/legal-holds":                {success: 1, patient: ownPatientID},
		"DELETE /api/v1/legal-holds/{patient_id}": {success: 1, patient: func(e caseEnv, _ ownership) string { return e.w.otherPatient.ID }},
	}
	for k, v := range audits {
		matrixAudit[k] = v
	}
}

func TestRetentionAPI(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			db := e.Open(t)
			a := newAPI(t, db)
			admin := a.login(a.user(domain.RoleAdmin).Email).AccessToken
			staffUser := a.user(domain.RoleStaff)
			staff := a.login(staffUser.Email).AccessToken

			res := a.do("GET", "/api/v1/retention", admin, nil)
			var pol retention.Policy
			if res.Status != 200 || json.Unmarshal(res.Body, &pol) != nil || pol.ClinicalRecordsYears != 10 || pol.AuditEventsYears != 6 || pol.AuditEventsFloorYears != 6 {
				t.Fatalf("policy: %d %s", res.Status, res.Body)
			}
			if res := a.do("GET", "/api/v1/retention", staff, nil); res.Status != 403 {
				t.Fatalf("staff reads the policy: %d", res.Status)
			}
			if res := a.do("PATCH", "/api/v1/retention", admin, map[string]int{"audit_events_years": 5}); res.Status != 400 || res.code() != "invalid" || !strings.Contains(string(res.Body), "HIPAA") {
				t.Fatalf("audit retention under the floor: %d %s", res.Status, res.Body)
			}
			if res := a.do("PATCH", "/api/v1/retention", admin, `{"clinical_records_years": "ten"}`); res.Status != 400 {
				t.Fatalf("bad JSON: %d %s", res.Status, res.Body)
			}
			if res := a.do("PATCH", "/api/v1/retention", admin, map[string]int{"clinical_records_years": 8}); res.Status != 200 || !strings.Contains(string(res.Body), `"clinical_records_years":8`) {
				t.Fatalf("set clinical retention: %d %s", res.Status, res.Body)
			}

			long := time.Now().AddDate(-9, 0, 0).UTC().Truncate(time.Microsecond)
			p := &domain.Patient{Name: "Ann Old", DateOfBirth: "1940-01-01", CreatedAt: long, UpdatedAt: long}
			if err := db.CreatePatient(context.Background(), p, nil, nil); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				body   map[string]string
				status int
			}{
				{map[string]string{"patient_id": p.ID}, 400},
				{map[string]string{"patient_id": "", "reason": "x"}, 400},
				{map[string]string{"patient_id": "nobody", "reason": "subpoena 12"}, 404},
				{map[string]string{"patient_id": p.ID, "reason": "subpoena 12"}, 201},
				{map[string]string{"patient_id": p.ID, "reason": "again"}, 409},
			} {
				if res := a.do("POST", "/api/v1/legal-holds", admin, c.body); res.Status != c.status {
					t.Fatalf("place hold %v: %d %s, want %d", c.body, res.Status, res.Body, c.status)
				}
			}
			if res := a.do("POST", "/api/v1/legal-holds", staff, map[string]string{"patient_id": p.ID, "reason": "x"}); res.Status != 403 {
				t.Fatalf("staff places a hold: %d", res.Status)
			}
			res = a.do("GET", "/api/v1/legal-holds", admin, nil)
			if res.Status != 200 || !strings.Contains(string(res.Body), `"reason":"subpoena 12"`) || !strings.Contains(string(res.Body), "Ann Old") {
				t.Fatalf("holds: %d %s", res.Status, res.Body)
			}

			var rep retention.Report
			res = a.do("POST", "/api/v1/retention/run", admin, map[string]bool{"dry_run": false})
			if res.Status != 200 || json.Unmarshal(res.Body, &rep) != nil || rep.Patients != 0 || rep.LegalHolds != 1 {
				t.Fatalf("run with the hold: %d %s", res.Status, res.Body)
			}
			if res := a.do("DELETE", "/api/v1/legal-holds/"+p.ID, admin, nil); res.Status != 204 {
				t.Fatalf("lift: %d %s", res.Status, res.Body)
			}
			if res := a.do("DELETE", "/api/v1/legal-holds/"+p.ID, admin, nil); res.Status != 404 {
				t.Fatalf("lift again: %d %s", res.Status, res.Body)
			}
			res = a.do("POST", "/api/v1/retention/run", admin, map[string]bool{"dry_run": false})
			if res.Status != 200 || json.Unmarshal(res.Body, &rep) != nil || rep.Patients != 1 || rep.AuditPseudonymised < 2 {
				t.Fatalf("run without the hold: %d %s", res.Status, res.Body)
			}
			if res := a.do("GET", "/api/v1/audit/verify", admin, nil); res.Status != 200 || !strings.Contains(string(res.Body), `"ok":true`) {
				t.Fatalf("verify: %d %s", res.Status, res.Body)
			}
			// The hold's events stay, under the patient's pseudonym.
			evs, err := db.ListAudit(context.Background(), domain.AuditFilter{ResourceType: retention.ResourceLegalHold})
			if err != nil || len(evs) < 2 {
				t.Fatalf("hold events: %d %v", len(evs), err)
			}
			for _, ev := range evs {
				if ev.PatientID == p.ID || !strings.HasPrefix(ev.PatientID, "pn-") || ev.ResourceID != ev.PatientID {
					t.Fatalf("hold event after the purge: %+v", ev)
				}
			}
			runs, err := db.ListAudit(context.Background(), domain.AuditFilter{ResourceType: retention.ResourceRetention, Action: domain.ActionDelete})
			if err != nil || len(runs) != 2 || runs[0].ActorRole != string(domain.RoleAdmin) || !strings.Contains(runs[0].Detail, "patients=1 ") {
				t.Fatalf("recorded runs: %+v %v", runs, err)
			}

			// A privacy officer holds patients too, but does not set the
			// periods or run purges.
			if err := db.SetPrivacyOfficer(context.Background(), staffUser.ID, true, time.Now()); err != nil {
				t.Fatal(err)
			}
			q := &domain.Patient{Name: "Quinn Kept", DateOfBirth: "1960-01-01", CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := db.CreatePatient(context.Background(), q, nil, nil); err != nil {
				t.Fatal(err)
			}
			if res := a.do("POST", "/api/v1/legal-holds", staff, map[string]string{"patient_id": q.ID, "reason": "complaint 3"}); res.Status != 201 {
				t.Fatalf("officer places a hold: %d %s", res.Status, res.Body)
			}
			if res := a.do("GET", "/api/v1/legal-holds", staff, nil); res.Status != 200 || !strings.Contains(string(res.Body), "Quinn Kept") {
				t.Fatalf("officer lists holds: %d %s", res.Status, res.Body)
			}
			if res := a.do("DELETE", "/api/v1/legal-holds/"+q.ID, staff, nil); res.Status != 204 {
				t.Fatalf("officer lifts a hold: %d %s", res.Status, res.Body)
			}
			for _, c := range []struct{ method, path string }{{"PATCH", "/api/v1/retention"}, {"POST", "/api/v1/retention/run"}} {
				if res := a.do(c.method, c.path, staff, map[string]int{}); res.Status != 403 {
					t.Fatalf("officer %s %s: %d", c.method, c.path, res.Status)
				}
			}
		})
	}
}
