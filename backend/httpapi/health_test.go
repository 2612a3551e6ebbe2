package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/health"
	"github.com/healthhub/healthhub/backend/portal"
)

// TestAdminHealth: an administrator gets the installation's health, read
// from the real services and audited; anyone else gets 403, and the refusal
// is in the audit log.
func TestAdminHealth(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			a := newAPI(t, e.Open(t))
			admin := a.user(domain.RoleAdmin)
			tok := a.login(admin.Email).AccessToken
			sys := domain.WithPrincipal(context.Background(), domain.System)
			booked, err := a.Portal.CreateDoctor(sys, portal.NewDoctor{Email: a.email("doc"), Password: testPassword, Name: "Dr Hourless", Specialization: "General practice"})
			if err != nil {
				t.Fatal(err)
			}
			// An account of the doctor role stored without a profile (as an
			// older version could leave one).
			bare := &domain.User{Email: a.email("bare"), Name: "Dr Bare", Role: domain.RoleDoctor, PasswordHash: "x", CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := a.DB.CreateUser(context.Background(), bare); err != nil {
				t.Fatal(err)
			}
			patient := a.user(domain.RolePatient)

			var before health.InstallationHealth
			res := a.do("GET", "/api/v1/admin/health", tok, nil)
			if res.Status != 200 || json.Unmarshal(res.Body, &before) != nil {
				t.Fatalf("health: %d %s", res.Status, res.Body)
			}
			if before.Audit.Verified {
				t.Errorf("audit verified before any check: %+v", before.Audit)
			}
			if !before.Assistant.Offline || before.Assistant.Kind != domain.ProviderOffline || before.Email.Configured {
				t.Errorf("assistant %+v, e-mail %+v; want offline and no e-mail", before.Assistant, before.Email)
			}
			if got := before.Accounts.ByRole; got["admin"] != 1 || got["doctor"] != 2 || got["patient"] != 1 || got["staff"] != 0 {
				t.Errorf("accounts by role = %v", got)
			}
			if p := before.Accounts.DoctorsWithoutProfile; len(p) != 1 || p[0].UserID != bare.ID || p[0].Name != "Dr Bare" {
				t.Errorf("doctors without a profile = %+v", p)
			}
			if h := before.Accounts.DoctorsWithoutHours; len(h) != 1 || h[0].ID != booked.ID || h[0].Name != "Dr Hourless" {
				t.Errorf("doctors without hours = %+v", h)
			}
			if before.Knowledge.Sources != 0 || len(before.Knowledge.Problems) != 0 {
				t.Errorf("knowledge = %+v", before.Knowledge)
			}

			// A check of the chain shows up as the last verification.
			if res := a.do("GET", "/api/v1/audit/verify", tok, nil); res.Status != 200 {
				t.Fatalf("verify: %d %s", res.Status, res.Body)
			}
			var after health.InstallationHealth
			res = a.do("GET", "/api/v1/admin/health", tok, nil)
			if res.Status != 200 || json.Unmarshal(res.Body, &after) != nil {
				t.Fatalf("health: %d %s", res.Status, res.Body)
			}
			if v := after.Audit; !v.Verified || !v.OK || v.By != admin.Name || time.Since(v.VerifiedAt) > time.Hour || v.Detail == "" {
				t.Errorf("last verification = %+v", v)
			}

			// Each read by the admin is audited.
			reads, err := a.DB.ListAudit(context.Background(), domain.AuditFilter{ActorID: admin.ID, ResourceType: "installation_health", Limit: 10})
			if err != nil || len(reads) != 2 || reads[0].Action != domain.ActionRead || reads[0].Outcome != domain.OutcomeSuccess {
				t.Errorf("audited reads = %+v, %v", reads, err)
			}

			// A patient is refused, and the refusal is audited.
			res = a.do("GET", "/api/v1/admin/health", a.login(patient.Email).AccessToken, nil)
			if res.Status != 403 || res.code() != domain.EFORBIDDEN {
				t.Fatalf("patient: %d %s", res.Status, res.Body)
			}
			denied, err := a.DB.ListAudit(context.Background(), domain.AuditFilter{ActorID: patient.ID, Limit: 10})
			var found bool
			for _, ev := range denied {
				found = found || ev.ResourceType == "installation" && ev.Outcome == domain.OutcomeDenied
			}
			if err != nil || !found {
				t.Errorf("the patient's refused read was not audited: %+v, %v", denied, err)
			}
		})
	}
}
