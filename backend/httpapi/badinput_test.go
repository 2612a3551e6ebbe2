package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// state is what bad input must not change.
type state struct {
	users int
}

func snapshot(t *testing.T, a *api) state {
	t.Helper()
	n, err := a.DB.CountUsers(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), a.DB)
	if err != nil || !rep.OK {
		t.Fatalf("audit chain: %+v %v", rep, err)
	}
	return state{users: n}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a := newAPI(t, eng.Open(t))
			admin := a.user(domain.RoleAdmin)
			tok := a.login(admin.Email).AccessToken
			before := snapshot(t, a)

			huge := `{"email":"a@example.org","password":"` + strings.Repeat("x", 2<<20) + `","name":"n"}`
			cases := []struct {
				name, method, path string
				token              bool
				body               any
				status             int
				field, contains    string
			}{
				{"malformed JSON", "POST", "/api/v1/auth/register", false, `{"email":`, 400, "", "ends too early"},
				{"syntax error", "POST", "/api/v1/auth/register", false, `{"email" "x"}`, 400, "", "not valid JSON"},
				{"not an object", "POST", "/api/v1/auth/register", false, `[1,2]`, 400, "", "JSON object"},
				{"empty body", "POST", "/api/v1/auth/register", false, ``, 400, "", "empty"},
				{"two objects", "POST", "/api/v1/auth/register", false, `{"email":"a@example.org"} {}`, 400, "", "exactly one"},
				{"wrong type", "POST", "/api/v1/users", true, `{"email":"a@example.org","password":"correct horse battery","name":"A","role":7}`, 400, "role", "must be a string"},
				{"unknown field", "POST", "/api/v1/users", true, `{"email":"a@example.org","password":"correct horse battery","name":"A","role":"staff","is_admin":true}`, 400, "is_admin", "Unknown field"},
				{"oversized body", "POST", "/api/v1/auth/register", false, huge, 413, "", "larger than"},
				{"invalid e-mail", "POST", "/api/v1/auth/register", false, map[string]string{"email": "nobody@", "password": testPassword, "name": "N"}, 400, "email", "not a valid e-mail"},
				{"weak password", "POST", "/api/v1/auth/register", false, map[string]string{"email": "weak@example.org", "password": "password123", "name": "N"}, 400, "password", "too common"},
				{"unknown role", "POST", "/api/v1/users", true, map[string]string{"email": "r@example.org", "password": testPassword, "name": "N", "role": "root"}, 400, "role", "Unknown role"},
				{"duplicate e-mail", "POST", "/api/v1/users", true, map[string]string{"email": admin.Email, "password": testPassword, "name": "N", "role": "staff"}, 409, "", "already exists"},
				{"bad limit", "GET", "/api/v1/users?limit=-4", true, nil, 400, "limit", "whole number"},
				{"bad time", "GET", "/api/v1/audit/events?from=yesterday", true, nil, 400, "from", "RFC 3339"},
				{"empty range", "GET", "/api/v1/audit/events?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", true, nil, 400, "to", "empty"},
				{"unknown user", "GET", "/api/v1/users/does-not-exist", true, nil, 404, "", "No user"},
				{"bad idle timeout", "PATCH", "/api/v1/settings", true, map[string]int{"idle_timeout_minutes": 0}, 400, "idle_timeout_minutes", "between"},
				{"empty patch", "PATCH", "/api/v1/users/" + admin.ID, true, map[string]any{}, 400, "", "Nothing to change"},
				{"wrong content type", "POST", "/api/v1/auth/login", false, "email=a&password=b", 400, "", "Content-Type"},
			}
			for _, c := range cases {
				var res response
				token := ""
				if c.token {
					token = tok
				}
				if c.name == "wrong content type" {
					req, _ := http.NewRequest(c.method, a.URL+c.path, strings.NewReader(c.body.(string)))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var b [4096]byte
					n, _ := r.Body.Read(b[:])
					r.Body.Close()
					res = response{Status: r.StatusCode, Body: b[:n]}
				} else {
					res = a.do(c.method, c.path, token, c.body)
				}
				var e struct {
					Error struct{ Code, Message, Field string } `json:"error"`
				}
				json.Unmarshal(res.Body, &e)
				if res.Status != c.status || !strings.Contains(e.Error.Message, c.contains) || e.Error.Field != c.field {
					t.Errorf("%s: %d %+v; want %d, field %q, message containing %q", c.name, res.Status, e.Error, c.status, c.field, c.contains)
				}
			}
			if after := snapshot(t, a); after.users != before.users {
				t.Fatalf("bad input changed the number of accounts: %d → %d", before.users, after.users)
			}
		})
	}
}

func TestSQLMetacharactersAreData(t *testing.T) {
	a := newAPI(t, engines(t)[len(engines(t))-1].Open(t))
	admin := a.user(domain.RoleAdmin)
	tok := a.login(admin.Email).AccessToken
	evil := []string{`x'; DROP TABLE users; --`, `" OR ""="`, `%' OR 1=1 --`, `\'; SELECT pg_sleep(5); --`, "$$ LANGUAGE sql $$"}
	for i, s := range evil {
		res := a.do("POST", "/api/v1/users", tok, map[string]string{"email": a.email("sql"), "password": testPassword, "name": s, "role": "staff"})
		if res.Status != 201 {
			t.Fatalf("name %q: %d %s", s, res.Status, res.Body)
		}
		var u domain.User
		json.Unmarshal(res.Body, &u)
		if u.Name != s {
			t.Fatalf("name stored as %q, want %q", u.Name, s)
		}
		// In e-mail, query and path positions they are refused or match nothing.
		for _, probe := range []response{
			a.do("POST", "/api/v1/auth/login", "", map[string]string{"email": s, "password": s}),
			a.do("GET", "/api/v1/users?q="+urlEscape(s), tok, nil),
			a.do("GET", "/api/v1/users/"+urlEscape(s), tok, nil),
			a.do("GET", "/api/v1/audit/events?patient_id="+urlEscape(s), tok, nil),
		} {
			if probe.Status >= 500 {
				t.Fatalf("probe %d with %q: %d %s", i, s, probe.Status, probe.Body)
			}
		}
	}
	res := a.do("GET", "/api/v1/users?limit=100", tok, nil)
	var list struct{ Users []domain.User }
	json.Unmarshal(res.Body, &list)
	if len(list.Users) != len(evil)+1 {
		t.Fatalf("%d users after metacharacter names", len(list.Users))
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", " ", "%20", "'", "%27", `"`, "%22", ";", "%3B", "=", "%3D", "$", "%24", "\\", "%5C", "#", "%23", "?", "%3F", "&", "%26", "/", "%2F")
	return r.Replace(s)
}

func TestTokenAbuseOverHTTP(t *testing.T) {
	a := newAPI(t, engines(t)[0].Open(t))
	u := a.user(domain.RolePatient)
	pair := a.login(u.Email)
	parts := strings.Split(pair.AccessToken, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	for name, h := range map[string]string{
		"alg none":        "Bearer " + none,
		"forged sig":      "Bearer " + parts[0] + "." + parts[1] + ".AAAA",
		"basic auth":      "Basic dXNlcjpwYXNz",
		"no token":        "Bearer ",
		"api key on /api": "Bearer hhk_abcdef",
	} {
		req, _ := http.NewRequest("GET", a.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", h)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
	// A refresh token used twice ends the whole family.
	first := a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken})
	if first.Status != 200 {
		t.Fatalf("refresh: %d %s", first.Status, first.Body)
	}
	var next struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(first.Body, &next)
	if again := a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}); again.Status != 401 {
		t.Fatalf("reused refresh token: %d", again.Status)
	}
	if me := a.do("GET", "/api/v1/me", next.AccessToken, nil); me.Status != 401 {
		t.Fatalf("token of a revoked family still works: %d", me.Status)
	}
	if r := a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": next.RefreshToken}); r.Status != 401 {
		t.Fatalf("refresh token of a revoked family still works: %d", r.Status)
	}
}

func TestHeadersCORSAndRequestID(t *testing.T) {
	a := newAPI(t, engines(t)[0].Open(t))
	req, _ := http.NewRequest("GET", a.URL+"/api/v1/setup", nil)
	req.Header.Set("Origin", "wails://wails")
	req.Header.Set("X-Request-ID", "trace-123")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin": "wails://wails", "X-Request-Id": "trace-123", "X-Content-Type-Options": "nosniff",
		"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
	} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	// Other origins get no CORS grant, and their preflight is refused.
	pre, _ := http.NewRequest("OPTIONS", a.URL+"/api/v1/me", nil)
	pre.Header.Set("Origin", "https://evil.example")
	pre.Header.Set("Access-Control-Request-Method", "GET")
	res, _ = http.DefaultClient.Do(pre)
	res.Body.Close()
	if res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign preflight: %d %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
	pre.Header.Set("Origin", "wails://wails")
	res, _ = http.DefaultClient.Do(pre)
	res.Body.Close()
	if res.StatusCode != 204 || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("desktop preflight: %d %v", res.StatusCode, res.Header)
	}
	// A request id that is not plain is replaced.
	req.Header.Set("X-Request-ID", "bad id <script>")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if id := res.Header.Get("X-Request-Id"); id == "" || strings.ContainsAny(id, " <") {
		t.Errorf("request id = %q", id)
	}
	// Unknown API paths and wrong methods answer in the error shape.
	if r := a.do("GET", "/api/v1/nope", "", nil); r.Status != 404 || r.code() != "not_found" {
		t.Errorf("unknown path: %d %s", r.Status, r.Body)
	}
	if r := a.do("PUT", "/api/v1/me", "", nil); r.Status != 405 || r.code() != "invalid" || r.Header.Get("Allow") == "" {
		t.Errorf("wrong method: %d %s", r.Status, r.Body)
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	a := newAPI(t, engines(t)[0].Open(t))
	res := a.do("GET", "/api/openapi.json", "", nil)
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi: %v %q", err, doc.OpenAPI)
	}
	n := 0
	for _, p := range doc.Paths {
		n += len(p)
	}
	routes := a.Server.Routes()
	if n != len(routes) {
		t.Errorf("document has %d operations, server %d routes", n, len(routes))
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		op := doc.Paths[path][strings.ToLower(method)]
		if op == nil || op["summary"] == "" || op["responses"] == nil {
			t.Errorf("%s missing or incomplete in the document", rt)
		}
	}
	login := doc.Paths["/api/v1/auth/login"]["post"]["requestBody"]
	if !strings.Contains(toJSON(login), "#/components/schemas/Credentials") {
		t.Errorf("login body schema: %s", toJSON(login))
	}
	cred := doc.Components.Schemas["Credentials"]
	if toJSON(cred["required"]) != `["email","password"]` {
		t.Errorf("Credentials required = %s", toJSON(cred["required"]))
	}
	if _, leaks := doc.Components.Schemas["User"]["properties"].(map[string]any)["password_hash"]; leaks {
		t.Error("User schema exposes the password hash")
	}
	// Two Go types of one name (the clinic's and the assistant's settings)
	// get two schemas, each with its own fields.
	schemaOf := func(path string) map[string]any {
		ref := doc.Paths[path]["get"]["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"].(string)
		return doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]["properties"].(map[string]any)
	}
	if _, ok := schemaOf("/api/v1/ai/settings")["messages_per_minute"]; !ok {
		t.Errorf("assistant settings schema: %s", toJSON(schemaOf("/api/v1/ai/settings")))
	}
	if _, ok := schemaOf("/api/v1/settings")["idle_timeout_minutes"]; !ok {
		t.Errorf("clinic settings schema: %s", toJSON(schemaOf("/api/v1/settings")))
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// A doctor cannot make themselves a patient's treating doctor: they may not
// book a patient they do not treat, and cancelled or voided appointments do
// not make a care relationship.
func TestDoctorCannotGrantThemselvesAccess(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a := newAPI(t, eng.Open(t))
			w, users := newWorld(t, a)
			doc := a.login(users[domain.RoleDoctor].Email).AccessToken
			staff := a.login(users[domain.RoleStaff].Email).AccessToken
			stranger := w.otherPatient.ID
			if r := a.do("GET", "/api/v1/patients/"+stranger+"/entries", doc, nil); r.Status != 403 {
				t.Fatalf("before: %d", r.Status)
			}
			start, end := w.nextSlot()
			booking := map[string]any{"doctor_id": w.ownDoctor.ID, "patient_id": stranger, "start": start, "end": end}
			if r := a.do("POST", "/api/v1/appointments", doc, booking); r.Status != 403 {
				t.Fatalf("doctor booked a patient they do not treat: %d %s", r.Status, r.Body)
			}
			// Staff book it, then it is voided: no care relationship remains.
			r := a.do("POST", "/api/v1/appointments", staff, booking)
			if r.Status != 201 {
				t.Fatalf("staff booking: %d %s", r.Status, r.Body)
			}
			var ap domain.Appointment
			json.Unmarshal(r.Body, &ap)
			if r := a.do("GET", "/api/v1/patients/"+stranger+"/entries", doc, nil); r.Status != 200 {
				t.Fatalf("with a booked appointment the doctor treats the patient: %d", r.Status)
			}
			if r := a.do("POST", "/api/v1/appointments/"+ap.ID+"/status", staff, map[string]string{"status": "entered-in-error"}); r.Status != 200 {
				t.Fatalf("void: %d %s", r.Status, r.Body)
			}
			for _, path := range []string{"/api/v1/patients/" + stranger, "/api/v1/patients/" + stranger + "/entries", "/fhir/R4/Patient/" + stranger} {
				if r := a.do("GET", path, doc, nil); r.Status != 403 {
					t.Fatalf("%s after the appointment was voided: %d", path, r.Status)
				}
			}
			if r := a.do("GET", "/api/v1/patients", doc, nil); strings.Contains(string(r.Body), stranger) {
				t.Fatal("voided patient still in the doctor's list")
			}
		})
	}
}

func TestPatientsKeepTheirContactDetailsOnly(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) { testContactDetailsOnly(t, newAPI(t, eng.Open(t))) })
	}
}

func testContactDetailsOnly(t *testing.T, a *api) {
	w, users := newWorld(t, a)
	tok := a.login(users[domain.RolePatient].Email).AccessToken
	path := "/api/v1/patients/" + w.ownPatient.ID
	if r := a.do("PATCH", path, tok, map[string]any{"phone": "+1 555 0142", "address": map[string]string{"city": "Springfield"}}); r.Status != 200 {
		t.Fatalf("contact change: %d %s", r.Status, r.Body)
	}
	for _, body := range []map[string]string{{"national_id": "X"}, {"insurance_member_number": "X"}, {"name": "Someone Else"}, {"date_of_birth": "1999-01-01"}} {
		if r := a.do("PATCH", path, tok, body); r.Status != 403 {
			t.Fatalf("patient changed %v: %d", body, r.Status)
		}
	}
	// Unknown bytes reach neither engine as a 500.
	staff := a.login(users[domain.RoleStaff].Email).AccessToken
	for _, p := range []string{"/api/v1/patients/%FF", "/api/v1/patients?q=%00", "/api/v1/appointments?doctor_id=%FF", "/fhir/R4/Patient?name=%00"} {
		if r := a.do("GET", p, staff, nil); r.Status >= 500 {
			t.Fatalf("%s: %d %s", p, r.Status, r.Body)
		}
	}
}

// TestOpenAPISnapshotForUI: the web UI's types are generated from a copy of
// this document (frontend/src/api/openapi.json); the copy must match the
// server. HEALTHHUB_UPDATE_OPENAPI=1 rewrites it, after which
// `cd frontend && npm run gen-api` regenerates the types.
func TestOpenAPISnapshotForUI(t *testing.T) {
	a := newAPI(t, engines(t)[0].Open(t))
	res := a.do("GET", "/api/openapi.json", "", nil)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatal(err)
	}
	// The version differs between builds; the UI needs the operations and schemas.
	snap, err := json.MarshalIndent(map[string]json.RawMessage{"openapi": doc["openapi"], "paths": doc["paths"], "components": doc["components"]}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	snap = append(snap, '\n')
	const path = "../../frontend/src/api/openapi.json"
	if os.Getenv("HEALTHHUB_UPDATE_OPENAPI") == "1" {
		if err := os.WriteFile(path, snap, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the UI's copy of the API document: %v", err)
	}
	if !bytes.Equal(have, snap) {
		t.Fatalf("%s differs from the server's /api/openapi.json: run HEALTHHUB_UPDATE_OPENAPI=1 go test ./backend/httpapi -run TestOpenAPISnapshotForUI, then cd frontend && npm run gen-api, and fix what no longer type-checks", path)
	}
}
