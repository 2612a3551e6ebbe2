package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/fhir"
)

// TestErrorsBeforeAHandler checks the answers the server gives before any
// handler runs (no such path, wrong method, no caller): on FHIR paths they
// are OperationOutcomes sent as FHIR JSON, elsewhere the API's JSON error.
func TestErrorsBeforeAHandler(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a := newAPI(t, eng.Open(t))
			u := a.user(domain.RoleStaff)
			token := a.login(u.Email).AccessToken

			// code is the issue type of the OperationOutcome on FHIR paths,
			// the API's error code elsewhere.
			cases := []struct {
				method, path, token string
				status              int
				code                string
			}{
				{"POST", "/fhir/R4/Patient", token, 405, "not-supported"},
				{"DELETE", "/fhir/R4/Appointment/abc", token, 405, "not-supported"},
				{"PUT", "/fhir/R4/metadata", "", 405, "not-supported"},
				{"GET", "/fhir/R4/Patient", "", 401, "security"},
				{"GET", "/fhir/R4/Observation", token, 404, "not-found"},
				{"GET", "/fhir/R4", token, 404, "not-found"},
				{"PUT", "/api/v1/me", token, 405, "invalid"},
				{"GET", "/api/v1/nothing-here", token, 404, "not_found"},
				{"GET", "/api/v1/me", "", 401, "unauthorized"},
				{"GET", "/fhir/other", token, 404, "not_found"},
			}
			for _, c := range cases {
				res := a.do(c.method, c.path, c.token, nil)
				what := c.method + " " + c.path
				if res.Status != c.status {
					t.Errorf("%s: status %d, want %d: %s", what, res.Status, c.status, res.Body)
					continue
				}
				if c.status == 405 && !strings.Contains(res.Header.Get("Allow"), "GET") {
					t.Errorf("%s: Allow %q", what, res.Header.Get("Allow"))
				}
				ct := res.Header.Get("Content-Type")
				if !strings.HasPrefix(c.path, fhir.Base) {
					if ct != "application/json; charset=utf-8" || res.code() != c.code {
						t.Errorf("%s: %s %s, want the API's JSON error with code %s", what, ct, res.Body, c.code)
					}
					continue
				}
				if ct != fhir.ContentType {
					t.Errorf("%s: Content-Type %q, want %q", what, ct, fhir.ContentType)
				}
				var oo struct {
					ResourceType string
					Issue        []struct{ Severity, Code, Diagnostics string }
				}
				if err := json.Unmarshal(res.Body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 ||
					oo.Issue[0].Severity != "error" || oo.Issue[0].Code != c.code || oo.Issue[0].Diagnostics == "" {
					t.Errorf("%s: not an OperationOutcome with issue code %s: %s", what, c.code, res.Body)
				}
			}
		})
	}
}
