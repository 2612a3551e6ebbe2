package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
)

// TestAuditListNamesPeople: the audit log over the API names who acted and
// whose record it was, so an admin reads "Sam read the record of Ana".
func TestAuditListNamesPeople(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			a := newAPI(t, e.Open(t))
			admin := a.user(domain.RoleAdmin)
			desk := a.user(domain.RoleStaff)
			deskTok := a.login(desk.Email).AccessToken
			res := a.do("POST", "/api/v1/patients", deskTok, map[string]string{"name": "Ana Díaz", "date_of_birth": "1990-05-06"})
			var ana domain.Patient
			if res.Status != 201 || json.Unmarshal(res.Body, &ana) != nil {
				t.Fatalf("register: %d %s", res.Status, res.Body)
			}
			if res := a.do("GET", "/api/v1/patients/"+ana.ID, deskTok, nil); res.Status != 200 {
				t.Fatalf("read: %d %s", res.Status, res.Body)
			}

			var page struct {
				Events []domain.AuditEvent `json:"events"`
			}
			res = a.do("GET", "/api/v1/audit/events?patient_id="+ana.ID+"&action=read&limit=10", a.login(admin.Email).AccessToken, nil)
			if res.Status != 200 || json.Unmarshal(res.Body, &page) != nil {
				t.Fatalf("list: %d %s", res.Status, res.Body)
			}
			var found bool
			for _, ev := range page.Events {
				if ev.ActorID == desk.ID && ev.ResourceType == "patient" {
					found = true
					if ev.ActorName != desk.Name || ev.PatientName != "Ana Díaz" {
						t.Errorf("names = %q, %q; want %q, %q", ev.ActorName, ev.PatientName, desk.Name, "Ana Díaz")
					}
				}
			}
			if !found {
				t.Fatalf("the front desk's read is not listed: %s", res.Body)
			}
		})
	}
}
