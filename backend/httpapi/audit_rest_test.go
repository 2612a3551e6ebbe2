package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// TestAuditLogOverREST: reading the audit log is itself audited, and the
// verify endpoint reports an edited event.
func TestAuditLogOverREST(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			a := newAPI(t, e.Open(t))
			admin := a.user(domain.RoleAdmin)
			tok := a.login(admin.Email).AccessToken

			if res := a.do("GET", "/api/v1/audit/events?patient_id=p-42&limit=5", tok, nil); res.Status != 200 {
				t.Fatalf("read: %d %s", res.Status, res.Body)
			}
			var page struct {
				Events []domain.AuditEvent `json:"events"`
			}
			res := a.do("GET", "/api/v1/audit/events?user_id="+admin.ID+"&limit=20", tok, nil)
			if err := json.Unmarshal(res.Body, &page); err != nil || res.Status != 200 {
				t.Fatalf("list: %d %s", res.Status, res.Body)
			}
			var found bool
			for _, ev := range page.Events {
				found = found || ev.ResourceType == "audit_event" && ev.Action == domain.ActionRead && ev.PatientID == "p-42" && ev.ActorRole == "admin"
			}
			if !found {
				t.Fatalf("the read of the audit log was not audited: %+v", page.Events)
			}

			var report audit.Report
			res = a.do("GET", "/api/v1/audit/verify", tok, nil)
			if json.Unmarshal(res.Body, &report); res.Status != 200 || !report.OK {
				t.Fatalf("intact chain: %d %s", res.Status, res.Body)
			}
			raw := a.DB.(storetest.Raw)
			storetest.WithoutAuditGuards(t, raw, func() {
				if err := raw.Exec(context.Background(), `UPDATE audit_events SET detail = 'edited' WHERE seq = 2`); err != nil {
					t.Fatal(err)
				}
			})
			res = a.do("GET", "/api/v1/audit/verify", tok, nil)
			report = audit.Report{}
			if json.Unmarshal(res.Body, &report); res.Status != 200 || report.OK || report.BrokenAt != 2 || !strings.Contains(report.Problem, "altered") {
				t.Fatalf("edited chain: %d %s", res.Status, res.Body)
			}
		})
	}
}
