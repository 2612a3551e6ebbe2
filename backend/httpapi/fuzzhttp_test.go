package httpapi_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// FuzzPublicEndpoints sends arbitrary bodies to every public POST endpoint of
// a real server: never a 5xx, always the error shape on refusal.
func FuzzPublicEndpoints(f *testing.F) {
	f.Add(0, []byte(`{"email":"p@example.org","password":"correct horse battery"}`))
	f.Add(1, []byte(`{"email":"new@example.org","password":"correct horse battery","name":"N"}`))
	f.Add(2, []byte(`{"refresh_token":"hhr_x"}`))
	f.Add(3, []byte(`{"token":"hhs_x","email":"a@b.co","password":"p","name":"n"}`))
	f.Add(0, []byte(`{"email":"p@example.org","password":"x","totp_code":"12345678901234567890"}`))
	a := newAPI(f, storetest.OpenSQLite(f))
	a.user(domain.RolePatient)
	paths := []string{"/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh", "/api/v1/setup"}
	f.Fuzz(func(t *testing.T, which int, body []byte) {
		path := paths[(which%len(paths)+len(paths))%len(paths)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		a.Server.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s with %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error":{"code":`)) {
			t.Fatalf("%s: error not in the API shape: %s", path, rec.Body)
		}
	})
}
