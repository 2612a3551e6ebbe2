package fhir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/fhir"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

const testPassword = "correct horse battery"

// server is the FHIR routes over a real store, behind a minimal bearer
// authentication, for one test.
type server struct {
	t      testing.TB
	URL    string
	DB     store.DB
	Auth   *auth.Service
	Portal *portal.Service
	seq    atomic.Int64
}

func newServer(t testing.TB, db store.DB) *server { return newServerWith(t, db, nil) }

// newServerWith is newServer with more set up on the handlers, from the
// same portal and audit log, before the routes are read.
func newServerWith(t testing.TB, db store.DB, extend func(h *fhir.Handlers, p *portal.Service, log *audit.Log)) *server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := audit.NewLog(db, time.Now, logger)
	svc, err := auth.New(context.Background(), auth.Config{
		Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}, SelfRegistration: true,
		LoginPerIPPerMinute: -1, LoginPerAccountPerMinute: -1, RegistrationsPerIPPerHour: -1,
	}, db, log, secret.NewEphemeral(), time.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	p := portal.New(db, svc, secret.NewEphemeral(), log, nil, time.Now, logger)
	h := fhir.New(p, db, log, time.Now, logger, nil)
	if extend != nil {
		extend(h, p, log)
	}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		handler := rt.Handler
		if !rt.Public {
			handler = authenticate(svc, h, handler)
		}
		mux.Handle(rt.Method+" "+rt.Path, handler)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { ts.Close(); log.Close() })
	return &server{t: t, URL: ts.URL, DB: db, Auth: svc, Portal: p}
}

// authenticate puts the caller of a bearer token into the context; without
// a token the handler sees no caller.
func authenticate(svc *auth.Service, h *fhir.Handlers, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			next.ServeHTTP(w, r)
			return
		}
		p, err := svc.Authenticate(r.Context(), strings.TrimSpace(token))
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(domain.WithPrincipal(r.Context(), p)))
	})
}

func (s *server) email(prefix string) string {
	return fmt.Sprintf("%s%d@example.org", prefix, s.seq.Add(1))
}

var system = domain.WithPrincipal(context.Background(), domain.System)

func (s *server) user(role domain.Role) *domain.User {
	s.t.Helper()
	u, err := s.Auth.CreateUser(system, auth.NewAccount{Email: s.email(string(role)), Password: testPassword, Name: "Test " + string(role), Role: role})
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// token signs a user in and returns the access token.
func (s *server) token(u *domain.User) string {
	s.t.Helper()
	pair, err := s.Auth.Login(context.Background(), auth.Credentials{Email: u.Email, Password: testPassword})
	if err != nil {
		s.t.Fatalf("login %s: %v", u.Email, err)
	}
	return pair.AccessToken
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request; body may be nil, a string or a value sent as JSON.
// headers are name, value pairs.
func (s *server) do(method, path, token string, body any, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = s.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// get sends a GET and checks the answer: the status, the FHIR content type
// and the R4 shape of the resource, which it returns.
func (s *server) get(path, token string, status int, resourceType string) map[string]any {
	s.t.Helper()
	return s.expect(s.do("GET", path, token, nil), status, resourceType)
}

func (s *server) expect(res response, status int, resourceType string) map[string]any {
	s.t.Helper()
	if res.Status != status {
		s.t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		s.t.Fatalf("Content-Type %q", ct)
	}
	return checkR4(s.t, res.Body, resourceType)
}

// outcome expects an OperationOutcome with the status and issue code, and
// returns its diagnostics.
func (s *server) outcome(res response, status int, code string) string {
	s.t.Helper()
	m := s.expect(res, status, "OperationOutcome")
	is := m["issue"].([]any)[0].(map[string]any)
	if is["code"] != code || is["severity"] != "error" {
		s.t.Fatalf("issue %v, want code %s", is, code)
	}
	d, _ := is["diagnostics"].(string)
	if d == "" {
		s.t.Fatalf("issue without diagnostics: %s", res.Body)
	}
	return d
}

// pathOf turns an absolute link into a path for do.
func pathOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		t.Fatalf("link %q is not an absolute URL", link)
	}
	return u.RequestURI()
}

// entries returns the resources of a Bundle.
func entries(b map[string]any) []map[string]any {
	var out []map[string]any
	es, _ := b["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any)["resource"].(map[string]any))
	}
	return out
}

func ids(b map[string]any) []string {
	var out []string
	for _, r := range entries(b) {
		out = append(out, r["id"].(string))
	}
	return out
}

func link(b map[string]any, rel string) string {
	ls, _ := b["link"].([]any)
	for _, l := range ls {
		m := l.(map[string]any)
		if m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}

func total(t testing.TB, b map[string]any) int {
	t.Helper()
	n, ok := b["total"].(float64)
	if !ok {
		t.Fatalf("Bundle without total: %v", b)
	}
	return int(n)
}

// world is a small clinic: a patient and the doctor who treats them, another
// patient and doctor, and a staff member and an admin.
type world struct {
	s                        *server
	ownPatient, otherPatient *domain.Patient
	ownDoctor, otherDoctor   *domain.Doctor
	users                    map[string]*domain.User
	tokens                   map[string]string
	slot                     atomic.Int64
}

func newWorld(t *testing.T, s *server) *world {
	t.Helper()
	w := &world{s: s, users: map[string]*domain.User{}, tokens: map[string]string{}}
	w.users["staff"], w.users["admin"] = s.user(domain.RoleStaff), s.user(domain.RoleAdmin)
	w.ownPatient, w.users["patient"] = w.patient("Alice Own", true)
	w.otherPatient, w.users["otherPatient"] = w.patient("Bob Other", true)
	w.ownDoctor, w.users["doctor"] = w.doctor("Carol Own", "Cardiology")
	w.otherDoctor, w.users["otherDoctor"] = w.doctor("Dan Other", "Dermatology")
	w.book(w.ownDoctor, w.ownPatient)
	w.book(w.otherDoctor, w.otherPatient)
	for k, u := range w.users {
		w.tokens[k] = s.token(u)
	}
	return w
}

// patient registers a patient with full demographics and a portal account.
func (w *world) patient(name string, account bool) (*domain.Patient, *domain.User) {
	w.s.t.Helper()
	dob, sex, phone, email := "1985-06-07", "female", "+1 555 0100", w.s.email("pat")
	member, insurer := "MB-"+fmt.Sprint(w.s.seq.Add(1)), "Acme Health"
	addr := domain.Address{Line: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
	contacts := []domain.EmergencyContact{{Name: "Kim Sister", Relationship: "sister", Phone: "+1 555 0101"}}
	in := portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob, Sex: &sex, Phone: &phone, Email: &email,
		Address: &addr, EmergencyContacts: &contacts, InsuranceProvider: &insurer, InsuranceMemberNumber: &member}}
	if account {
		in.Password = testPassword
	}
	p, err := w.s.Portal.CreatePatient(system, in, false)
	if err != nil {
		w.s.t.Fatal(err)
	}
	if !account {
		return p, nil
	}
	u, err := w.s.Auth.User(system, p.UserID)
	if err != nil {
		w.s.t.Fatal(err)
	}
	return p, u
}

// doctor creates a doctor bookable every day from 00:00 to 23:30 UTC in
// 30-minute slots.
func (w *world) doctor(name, spec string) (*domain.Doctor, *domain.User) {
	w.s.t.Helper()
	d, err := w.s.Portal.CreateDoctor(system, portal.NewDoctor{Email: w.s.email("doc"), Password: testPassword, Name: name,
		Specialization: spec, Qualifications: []string{"MD", "FACC"}, LicenseNumber: "LIC-" + fmt.Sprint(w.s.seq.Add(1)), YearsExperience: 9})
	if err != nil {
		w.s.t.Fatal(err)
	}
	var weekly []domain.WeeklyHours
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:30"})
	}
	if _, err := w.s.Portal.SetAvailability(system, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 700, Weekly: weekly}); err != nil {
		w.s.t.Fatal(err)
	}
	u, err := w.s.Auth.User(system, d.UserID)
	if err != nil {
		w.s.t.Fatal(err)
	}
	return d, u
}

// nextSlot is a half hour from the day after tomorrow on, later each time.
func (w *world) nextSlot() (time.Time, time.Time) {
	for {
		n := w.slot.Add(1)
		start := time.Now().UTC().Truncate(24 * time.Hour).Add(48*time.Hour + time.Duration(n)*30*time.Minute)
		if start.Hour() == 23 && start.Minute() == 30 {
			continue
		}
		return start, start.Add(30 * time.Minute)
	}
}

func (w *world) book(d *domain.Doctor, p *domain.Patient) *domain.Appointment {
	w.s.t.Helper()
	start, end := w.nextSlot()
	b, err := w.s.Portal.Book(system, portal.BookRequest{DoctorID: d.ID, PatientID: p.ID, Start: start, End: end, Reason: "Check-up"}, "")
	if err != nil {
		w.s.t.Fatal(err)
	}
	return b.Appointment
}

// audited reports whether the audit log holds an event of the action on the
// resource by the user, with the outcome.
func (s *server) audited(userID, action, resourceType, resourceID, outcome string) bool {
	s.t.Helper()
	evs, err := s.DB.ListAudit(context.Background(), domain.AuditFilter{ActorID: userID, Action: action, ResourceType: resourceType, Limit: 1000})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range evs {
		if (resourceID == "" || e.ResourceID == resourceID) && e.Outcome == outcome {
			return true
		}
	}
	return false
}

func engines(t *testing.T) []storetest.Engine { return storetest.Engines(t) }
