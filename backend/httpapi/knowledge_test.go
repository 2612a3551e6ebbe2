package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
)

// TestKnowledgeVisibilityOverHTTP: through the API a patient never gets a
// passage from a staff-only source; staff get both kinds.
func TestKnowledgeVisibilityOverHTTP(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			a := newAPI(t, e.Open(t))
			staffDir, publicDir := t.TempDir(), t.TempDir()
			os.WriteFile(filepath.Join(staffDir, "triage.md"), []byte("# Triage\n\nZebrafinch protocol: internal escalation for chest pain."), 0o644)
			os.WriteFile(filepath.Join(publicDir, "leaflet.md"), []byte("# Chest pain\n\nCall emergency services for chest pain."), 0o644)
			ctx := domain.WithPrincipal(context.Background(), domain.System)
			for dir, vis := range map[string]string{staffDir: domain.VisibilityStaff, publicDir: domain.VisibilityEveryone} {
				if _, err := a.Knowledge.AddSource(ctx, knowledge.NewSource{Kind: domain.SourceFolder, Path: dir, Visibility: vis}); err != nil {
					t.Fatal(err)
				}
			}
			staffTok := a.login(a.user(domain.RoleStaff).Email).AccessToken
			patientTok := a.login(a.user(domain.RolePatient).Email).AccessToken
			search := func(tok, q string) []knowledge.Result {
				t.Helper()
				res := a.do("GET", "/api/v1/knowledge/search?q="+q, tok, nil)
				var body struct {
					Results []knowledge.Result `json:"results"`
				}
				if res.Status != 200 || json.Unmarshal(res.Body, &body) != nil {
					t.Fatalf("search %q: %d %s", q, res.Status, res.Body)
				}
				return body.Results
			}
			deadline := time.Now().Add(30 * time.Second)
			for len(search(staffTok, "chest+pain")) < 2 {
				if time.Now().After(deadline) {
					t.Fatal("the sources were not indexed")
				}
				time.Sleep(20 * time.Millisecond)
			}
			for _, q := range []string{"zebrafinch", "chest+pain", "internal+escalation+protocol", "triage"} {
				for _, r := range search(patientTok, q) {
					if r.Source != "leaflet.md" {
						t.Fatalf("patient search %q returned a staff passage: %+v", q, r)
					}
				}
			}
			if got := search(staffTok, "zebrafinch"); len(got) != 1 || got[0].Source != "triage.md" || got[0].Title != "Triage" || got[0].Heading != "" {
				t.Fatalf("staff search = %+v", got)
			}
			if res := a.do("GET", "/api/v1/knowledge/search?q=", patientTok, nil); res.Status != 400 || res.code() != "invalid" {
				t.Fatalf("empty query: %d %s", res.Status, res.Body)
			}
			if res := a.do("GET", "/api/v1/knowledge/search?q=x&limit=500", patientTok, nil); res.Status != 400 {
				t.Fatalf("limit 500: %d %s", res.Status, res.Body)
			}
		})
	}
}
