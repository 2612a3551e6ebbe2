package httpapi_test

import (
	"crypto/rand"

	"golang.org/x/mod/sumdb/note"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/healthhub/healthhub/backend/sync/upstream"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/store/storetest"
	"github.com/healthhub/healthhub/backend/transcribe"
)

// Callers of the matrix: nobody, and one account of each role.
var callers = []domain.Role{"anonymous", domain.RolePatient, domain.RoleDoctor, domain.RoleStaff, domain.RoleAdmin}

// ownership of the record a route acts on, for routes that act on one.
type ownership string

const (
	notApplicable ownership = "-"
	own           ownership = "own"
	other         ownership = "other"
)

// expect gives the exact status for a caller and ownership.
type expect func(role domain.Role, o ownership) int

func all(status int) expect { return func(domain.Role, ownership) int { return status } }

// signedIn: 401 for anonymous, status for everyone else.
func signedIn(status int) expect {
	return func(r domain.Role, _ ownership) int {
		if r == "anonymous" {
			return 401
		}
		return status
	}
}

// adminOnly: 401 anonymous, 403 other roles, status for admins.
func adminOnly(status int) expect {
	return func(r domain.Role, _ ownership) int {
		switch r {
		case "anonymous":
			return 401
		case domain.RoleAdmin:
			return status
		}
		return 403
	}
}

// caseEnv is what a request of the matrix can use: the caller's fresh token
// pair, the caller, and another user.
type caseEnv struct {
	a      *api
	pair   *auth.TokenPair // nil for anonymous
	caller *domain.User    // nil for anonymous
	other  *domain.User
	w      *world
}

// world is the clinic the matrix runs in: the patient caller's record, the
// doctor caller who treats that patient, and another patient and doctor
// unrelated to them.
type world struct {
	a                        *api
	ownPatient, otherPatient *domain.Patient
	ownDoctor, otherDoctor   *domain.Doctor
	slot                     atomic.Int64
	dir                      string // for knowledge folders
}

// patient is the own or the other patient record.
func (w *world) patient(o ownership) *domain.Patient {
	if o == other {
		return w.otherPatient
	}
	return w.ownPatient
}

func (w *world) doctor(o ownership) *domain.Doctor {
	if o == other {
		return w.otherDoctor
	}
	return w.ownDoctor
}

// nextSlot is a free half hour of both doctors, later each time.
func (w *world) nextSlot() (time.Time, time.Time) {
	for {
		n := w.slot.Add(1)
		start := time.Now().UTC().Truncate(24 * time.Hour).Add(48*time.Hour + time.Duration(n)*30*time.Minute)
		if start.Hour() == 23 && start.Minute() == 30 { // outside the 00:00–23:30 hours
			continue
		}
		return start, start.Add(30 * time.Minute)
	}
}

// ownOr404: 401 anonymous; the status for the caller's own record, and 404
// for someone else's, whose existence is not revealed.
func ownOr404(status int) expect {
	return func(r domain.Role, o ownership) int {
		switch {
		case r == "anonymous":
			return 401
		case o == other:
			return 404
		}
		return status
	}
}

// conversation is a fresh conversation of the caller (own) or of another
// user (other, or for an anonymous caller).
func (e caseEnv) conversation(o ownership) string {
	owner := e.other
	if o == own && e.caller != nil {
		owner = e.caller
	}
	ctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: owner.ID, Role: owner.Role, Account: owner})
	c, err := e.a.Assistant.CreateConversation(ctx, assistant.NewConversation{})
	if err != nil {
		panic(err)
	}
	return c.ID
}

// provider adds a disabled language model provider.
func (w *world) provider() string {
	ctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "admin", Role: domain.RoleAdmin})
	off := false
	p, err := w.a.Assistant.SaveProvider(ctx, "", assistant.ProviderInput{Name: fmt.Sprint("p", w.slot.Add(1)), Kind: domain.ProviderOpenAI,
		BaseURL: "http://127.0.0.1:9/v1", Enabled: &off, Models: []domain.LLMModel{{Name: "m", Roles: domain.Roles}}})
	if err != nil {
		panic(err)
	}
	return p.ID
}

// enrollment is a fresh one-time code and checkpoint key for a node.
func (w *world) enrollment() (code, publicKey string) {
	ctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "admin", Role: domain.RoleAdmin})
	e, err := w.a.Upstream.CreateEnrollment(ctx, upstream.NewEnrollment{Name: "ws"})
	if err != nil {
		panic(err)
	}
	_, vkey, err := note.GenerateKey(rand.Reader, fmt.Sprintf("hh-matrix-%d-%d", time.Now().UnixNano(), w.slot.Add(1)))
	if err != nil {
		panic(err)
	}
	return e.Code, vkey
}

// syncNode enrols a node and returns its id.
func (w *world) syncNode() string {
	code, key := w.enrollment()
	n, err := w.a.Upstream.Enroll(context.Background(), upstream.EnrollRequest{Code: code, PublicKey: key})
	if err != nil {
		panic(err)
	}
	return n.NodeID
}

// conflict stores an open conflict about the own patient.
func (w *world) conflict() string {
	start, end := w.nextSlot()
	c := &domain.SyncConflict{ID: fmt.Sprintf("c-%d", w.slot.Add(1)), NodeID: "hh-node", AppointmentID: "a-x", DoctorID: w.ownDoctor.ID,
		PatientID: w.ownPatient.ID, Start: start, End: end, Kind: domain.OpBook, Outcome: domain.OutcomeConflict, Reason: "taken", CreatedAt: time.Now()}
	if err := w.a.DB.PutSyncConflict(context.Background(), c); err != nil {
		panic(err)
	}
	return c.ID
}

// folder is a fresh empty folder for a knowledge source.
func (w *world) folder() string {
	dir, err := os.MkdirTemp(w.dir, "kb")
	if err != nil {
		panic(err)
	}
	return dir
}

// source adds a knowledge source over a fresh folder.
func (w *world) source() string {
	st, err := w.a.Knowledge.AddSource(domain.WithPrincipal(context.Background(), domain.System),
		knowledge.NewSource{Kind: domain.SourceFolder, Path: w.folder(), Visibility: domain.VisibilityStaff})
	if err != nil {
		panic(err)
	}
	return st.ID
}

// appointment books one between the own or other doctor and patient.
func (w *world) appointment(o ownership) *domain.Appointment {
	start, end := w.nextSlot()
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	b, err := w.a.Portal.Book(ctx, portal.BookRequest{DoctorID: w.doctor(o).ID, PatientID: w.patient(o).ID, Start: start, End: end}, "")
	if err != nil {
		panic(err)
	}
	return b.Appointment
}

func (w *world) entry(o ownership) *domain.ClinicalEntry {
	desc := "Hay fever"
	// Medical records are written by the patient's treating doctor.
	doctor := &domain.Principal{UserID: w.doctor(o).UserID, Role: domain.RoleDoctor}
	e, err := w.a.Portal.AddEntry(domain.WithPrincipal(context.Background(), doctor), w.patient(o).ID, portal.EntryInput{Kind: domain.EntryAllergy, Description: &desc})
	if err != nil {
		panic(err)
	}
	return e
}

// consultation is a fresh consultation of the own or other doctor with
// their patient, with consent, a short uploaded recording, its transcript
// and a drafted note; signed when asked.
func (w *world) consultation(o ownership, signed bool) *domain.Consultation {
	ctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: w.doctor(o).UserID, Role: domain.RoleDoctor})
	c, _, err := w.a.Consult.Create(ctx, consult.CreateInput{PatientID: w.patient(o).ID, Consent: true, ConsentHow: "verbal"})
	if err != nil {
		panic(err)
	}
	rec, err := w.a.Consult.Upload(ctx, c.ID, "visit.wav", "audio/wav", bytes.NewReader(transcribe.WAVBytes(make([]int16, 1600), 16000)))
	if err != nil {
		panic(err)
	}
	seg := &domain.TranscriptSegment{ID: fmt.Sprint("seg-", w.slot.Add(1)), RecordingID: rec.ID, ConsultationID: c.ID, StartMS: 0, EndMS: 100,
		Speaker: "spk_0", Text: "The patient reports a cough since yesterday.", CreatedAt: time.Now()}
	if _, err := w.a.DB.AddTranscript(ctx, rec.ID, 0, rec.Samples, []*domain.TranscriptSegment{seg}, "test", time.Now()); err != nil {
		panic(err)
	}
	if c, err = w.a.Consult.Draft(ctx, c.ID); err != nil {
		panic(err)
	}
	if signed {
		if c, err = w.a.Consult.Sign(ctx, c.ID, c.NoteVersion); err != nil {
			panic(err)
		}
	}
	return c
}

// recordingOf is the id of a consultation's first recording.
func (w *world) recordingOf(c *domain.Consultation) string {
	recs, err := w.a.DB.Recordings(context.Background(), c.ID)
	if err != nil || len(recs) == 0 {
		panic(fmt.Sprint("no recording: ", err))
	}
	return recs[0].ID
}

func newWorld(t *testing.T, a *api) (*world, map[domain.Role]*domain.User) {
	t.Helper()
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	w := &world{a: a, dir: t.TempDir()}
	users := map[domain.Role]*domain.User{domain.RoleStaff: a.user(domain.RoleStaff), domain.RoleAdmin: a.user(domain.RoleAdmin)}
	mkPatient := func(tag string) (*domain.Patient, *domain.User) {
		name, dob, email := "Patient "+tag, "1985-06-07", a.email("pat"+tag)
		p, err := a.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob, Email: &email}, Password: testPassword}, false)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := a.Auth.User(ctx, p.UserID)
		return p, u
	}
	mkDoctor := func(tag string) (*domain.Doctor, *domain.User) {
		d, err := a.Portal.CreateDoctor(ctx, portal.NewDoctor{Email: a.email("doc" + tag), Password: testPassword, Name: "Doctor " + tag, Specialization: "General practice"})
		if err != nil {
			t.Fatal(err)
		}
		var weekly []domain.WeeklyHours
		for day := range 7 {
			weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:30"})
		}
		if _, err := a.Portal.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 700, Weekly: weekly}); err != nil {
			t.Fatal(err)
		}
		u, _ := a.Auth.User(ctx, d.UserID)
		return d, u
	}
	w.ownPatient, users[domain.RolePatient] = mkPatient("own")
	w.ownDoctor, users[domain.RoleDoctor] = mkDoctor("own")
	w.otherPatient, _ = mkPatient("other")
	w.otherDoctor, _ = mkDoctor("other")
	w.appointment(own)   // the own doctor treats the own patient
	w.appointment(other) // and the other doctor the other patient
	return w, users
}

// targetID is the caller's own id or the other user's.
func (e caseEnv) targetID(o ownership) string {
	if o == own && e.caller != nil {
		return e.caller.ID
	}
	return e.other.ID
}

type matrixRoute struct {
	owners []ownership
	want   expect
	// request returns the path (with ids filled in) and the body.
	request func(e caseEnv, o ownership) (string, any)
}

func fixed(path string, body any) func(caseEnv, ownership) (string, any) {
	return func(caseEnv, ownership) (string, any) { return path, body }
}

var na = []ownership{notApplicable}
var ownOther = []ownership{own, other}

// matrix holds an expectation for every route. A route without one fails
// the test, so the matrix grows with the API.
var matrix = map[string]matrixRoute{
	"GET /healthz":          {na, all(200), fixed("/healthz", nil)},
	"GET /readyz":           {na, all(200), fixed("/readyz", nil)},
	"GET /metrics":          {na, all(200), fixed("/metrics", nil)},
	"GET /api/openapi.json": {na, all(200), fixed("/api/openapi.json", nil)},
	"GET /api/v1/setup":     {na, all(200), fixed("/api/v1/setup", nil)},
	"POST /api/v1/setup": {na, all(403), fixed("/api/v1/setup", map[string]string{
		"token": "hhs_guess", "email": "setup@example.org", "password": testPassword, "name": "Setup"})},
	"POST /api/v1/auth/register": {na, all(201), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/auth/register", map[string]string{"email": e.a.email("reg"), "password": testPassword, "name": "New Patient"}
	}},
	"POST /api/v1/auth/login": {na, all(200), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/auth/login", map[string]string{"email": e.other.Email, "password": testPassword}
	}},
	"POST /api/v1/auth/refresh": {na, all(200), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/auth/refresh", map[string]string{"refresh_token": e.a.login(e.other.Email).RefreshToken}
	}},
	"POST /api/v1/auth/logout":   {na, signedIn(204), fixed("/api/v1/auth/logout", nil)},
	"GET /api/v1/me":             {na, signedIn(200), fixed("/api/v1/me", nil)},
	"POST /api/v1/me/mfa/enroll": {na, signedIn(200), fixed("/api/v1/me/mfa/enroll", nil)},
	// A wrong code: authorised callers get past the policy to a 400.
	"POST /api/v1/me/mfa/confirm": {na, signedIn(400), fixed("/api/v1/me/mfa/confirm", map[string]string{"code": "000000"})},
	"GET /api/v1/me/api-keys":     {na, signedIn(200), fixed("/api/v1/me/api-keys", nil)},
	"POST /api/v1/me/api-keys":    {na, signedIn(201), fixed("/api/v1/me/api-keys", map[string]string{"name": "tool"})},
	"DELETE /api/v1/me/api-keys/{id}": {ownOther,
		func(r domain.Role, o ownership) int {
			switch {
			case r == "anonymous":
				return 401
			case o == own:
				return 204
			}
			return 404 // someone else's key does not exist for the caller
		},
		func(e caseEnv, o ownership) (string, any) {
			owner := e.other
			if o == own && e.caller != nil {
				owner = e.caller
			}
			_, k, err := e.a.Auth.CreateAPIKey(context.Background(), &domain.Principal{UserID: owner.ID, Role: owner.Role}, "k")
			if err != nil {
				panic(err)
			}
			return "/api/v1/me/api-keys/" + k.ID, nil
		}},
	"GET /api/v1/users": {na, adminOnly(200), fixed("/api/v1/users?role=patient&limit=10", nil)},
	"POST /api/v1/users": {na, adminOnly(201), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/users", map[string]string{"email": e.a.email("made"), "password": testPassword, "name": "Made", "role": "staff"}
	}},
	"GET /api/v1/users/{id}": {ownOther,
		func(r domain.Role, o ownership) int {
			switch {
			case r == "anonymous":
				return 401
			case r == domain.RoleAdmin || o == own:
				return 200
			}
			return 403
		},
		func(e caseEnv, o ownership) (string, any) { return "/api/v1/users/" + e.targetID(o), nil }},
	"PATCH /api/v1/users/{id}": {ownOther, adminOnly(200),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/users/" + e.targetID(o), map[string]string{"name": "Renamed Person"}
		}},
	"GET /api/v1/settings":     {na, adminOnly(200), fixed("/api/v1/settings", nil)},
	"PATCH /api/v1/settings":   {na, adminOnly(200), fixed("/api/v1/settings", map[string]int{"idle_timeout_minutes": 15})},
	"GET /api/v1/audit/events": {na, adminOnly(200), fixed("/api/v1/audit/events?limit=5", nil)},
	"GET /api/v1/audit/verify": {na, adminOnly(200), fixed("/api/v1/audit/verify", nil)},

	"GET /api/v1/knowledge/sources": {na, adminOnly(200), fixed("/api/v1/knowledge/sources", nil)},
	"POST /api/v1/knowledge/sources": {na, adminOnly(201), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/knowledge/sources", map[string]string{"kind": "folder", "path": e.w.folder(), "visibility": "staff"}
	}},
	"DELETE /api/v1/knowledge/sources/{id}": {na, adminOnly(204), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/knowledge/sources/" + e.w.source(), nil
	}},
	"POST /api/v1/knowledge/sources/{id}/sync": {na, adminOnly(202), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/knowledge/sources/" + e.w.source() + "/sync", nil
	}},
	"GET /api/v1/knowledge/sources/{id}/failures": {na, adminOnly(200), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/knowledge/sources/" + e.w.source() + "/failures", nil
	}},
	"GET /api/v1/knowledge/documents": {na, adminOnly(200), fixed("/api/v1/knowledge/documents?limit=5", nil)},
	"GET /api/v1/knowledge/search":    {na, signedIn(200), fixed("/api/v1/knowledge/search?q=opening+hours&limit=3", nil)},

	"GET /api/v1/conversations":  {na, signedIn(200), fixed("/api/v1/conversations?q=hours&limit=10", nil)},
	"POST /api/v1/conversations": {na, signedIn(201), fixed("/api/v1/conversations", map[string]string{"title": "Opening hours"})},
	"GET /api/v1/conversations/{id}": {ownOther, ownOr404(200), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/conversations/" + e.conversation(o), nil
	}},
	"PATCH /api/v1/conversations/{id}": {ownOther, ownOr404(200), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/conversations/" + e.conversation(o), map[string]string{"title": "Renamed"}
	}},
	"DELETE /api/v1/conversations/{id}": {ownOther, ownOr404(204), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/conversations/" + e.conversation(o), nil
	}},
	"GET /api/v1/conversations/{id}/export": {ownOther, ownOr404(200), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/conversations/" + e.conversation(o) + "/export?format=json", nil
	}},
	"POST /api/v1/conversations/{id}/messages": {ownOther, ownOr404(201), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/conversations/" + e.conversation(o) + "/messages", map[string]string{"content": "When are you open?"}
	}},
	"POST /api/v1/conversations/{id}/stop": {ownOther, ownOr404(204), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/conversations/" + e.conversation(o) + "/stop", nil
	}},
	"GET /api/v1/ai/models":    {na, signedIn(200), fixed("/api/v1/ai/models", nil)},
	"GET /api/v1/ai/providers": {na, adminOnly(200), fixed("/api/v1/ai/providers", nil)},
	"POST /api/v1/ai/providers": {na, adminOnly(201), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/ai/providers", map[string]any{"name": e.a.email("local"), "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "external": false,
			"enabled": false, "models": []map[string]any{{"name": "llama3", "roles": []string{"staff"}}}}
	}},
	"PUT /api/v1/ai/providers/{id}": {na, adminOnly(200), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/ai/providers/" + e.w.provider(), map[string]any{"name": e.a.email("renamed"), "kind": "openai", "base_url": "http://127.0.0.1:9/v1",
			"enabled": false, "models": []map[string]any{{"name": "llama3", "roles": []string{"staff"}}}}
	}},
	"DELETE /api/v1/ai/providers/{id}": {na, adminOnly(204), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/ai/providers/" + e.w.provider(), nil
	}},
	"GET /api/v1/ai/settings":            {na, adminOnly(200), fixed("/api/v1/ai/settings", nil)},
	"PATCH /api/v1/ai/settings":          {na, adminOnly(200), fixed("/api/v1/ai/settings", map[string]int{"messages_per_minute": 1000})},
	"GET /api/v1/ai/usage":               {na, adminOnly(200), fixed("/api/v1/ai/usage", nil)},
	"GET /api/v1/analytics/appointments": {na, adminOnly(200), fixed("/api/v1/analytics/appointments?time_zone=Europe/Berlin", nil)},
	"GET /v1/models":                     {na, signedIn(200), fixed("/v1/models", nil)},
	"POST /v1/chat/completions": {na, signedIn(200), fixed("/v1/chat/completions", map[string]any{"model": "extractive",
		"messages": []map[string]string{{"role": "user", "content": "When are you open?"}}})},
	"GET /api/v1/audit/export": {na, adminOnly(200), fixed("/api/v1/audit/export", nil)},
	"GET /api/v1/admin/health": {na, adminOnly(200), fixed("/api/v1/admin/health", nil)},

	"POST /api/v1/sync/enrollments": {na, adminOnly(201), fixed("/api/v1/sync/enrollments", map[string]any{"name": "front desk 2"})},
	"GET /api/v1/sync/nodes":        {na, adminOnly(200), fixed("/api/v1/sync/nodes", nil)},
	"POST /api/v1/sync/nodes/{id}/revoke": {na, adminOnly(200), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/sync/nodes/" + e.w.syncNode() + "/revoke", nil
	}},
	// Anyone may enrol with a valid code: the code is the permission.
	"POST /api/v1/sync/enroll": {na, all(201), func(e caseEnv, _ ownership) (string, any) {
		code, key := e.w.enrollment()
		return "/api/v1/sync/enroll", map[string]string{"code": code, "public_key": key, "name": "ws"}
	}},
	// A person's token never opens a node's endpoints.
	"POST /api/v1/sync/ops":                 {na, all(401), fixed("/api/v1/sync/ops", map[string]any{"ops": []any{}})},
	"GET /api/v1/sync/changes":              {na, all(401), fixed("/api/v1/sync/changes", nil)},
	"GET /api/v1/sync/audit":                {na, all(401), fixed("/api/v1/sync/audit", nil)},
	"POST /api/v1/sync/audit":               {na, all(401), fixed("/api/v1/sync/audit", map[string]any{"events": []any{}})},
	"GET /api/v1/sync/status":               {na, byRole(401, 403, 200, 200, 200), fixed("/api/v1/sync/status", nil)},
	"POST /api/v1/sync/leases":              {na, all(401), fixed("/api/v1/sync/leases", map[string]any{})},
	"POST /api/v1/sync/leases/{id}/release": {na, all(401), fixed("/api/v1/sync/leases/x/release", nil)},
	"GET /api/v1/sync/node/leases":          {na, byRole(401, 403, 200, 200, 200), fixed("/api/v1/sync/node/leases", nil)},
	// Not enrolled: asking or giving back is refused as invalid.
	"POST /api/v1/sync/node/leases": {na, adminOnly(400), fixed("/api/v1/sync/node/leases", map[string]any{"doctor_id": "d",
		"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T12:00:00Z"})},
	"POST /api/v1/sync/node/leases/{id}/release": {na, adminOnly(400), fixed("/api/v1/sync/node/leases/x/release", nil)},
	// The matrix's server is enrolled with no upstream: running and enrolling
	// without one is refused as invalid, for the one role that may ask.
	"POST /api/v1/sync/run":      {na, adminOnly(400), fixed("/api/v1/sync/run", nil)},
	"POST /api/v1/sync/upstream": {na, adminOnly(400), fixed("/api/v1/sync/upstream", map[string]string{"upstream": "", "code": ""})},
	"GET /api/v1/sync/conflicts": {na, byRole(401, 403, 403, 200, 200), fixed("/api/v1/sync/conflicts", nil)},
	"POST /api/v1/sync/conflicts/{id}/resolve": {na, byRole(401, 403, 403, 200, 200), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/sync/conflicts/" + e.w.conflict() + "/resolve", nil
	}},

	// Consultations: the treating doctor records, reads and signs; the
	// patient reads their signed notes; the front desk and admins reach
	// none of it.
	"POST /api/v1/consultations": {ownOther, byOwnership(byRole(401, 403, 201, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/consultations", map[string]any{"patient_id": e.w.patient(o).ID, "consent": true, "consent_how": "verbal"}
	}},
	"GET /api/v1/consultations": {ownOther, byOwnership(byRole(401, 200, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/consultations?patient_id=" + e.w.patient(o).ID, nil
	}},
	"GET /api/v1/consultations/{id}": {ownOther, byOwnership(byRole(401, 200, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/consultations/" + e.w.consultation(o, true).ID, nil
	}},
	"POST /api/v1/consultations/{id}/consent": {ownOther, byOwnership(byRole(401, 403, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/consultations/" + e.w.consultation(o, false).ID + "/consent", map[string]string{"consent_how": "written"}
	}},
	"GET /api/v1/consultations/{id}/transcript": {ownOther, byOwnership(byRole(401, 403, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/consultations/" + e.w.consultation(o, false).ID + "/transcript", nil
	}},
	// Not a WebSocket request: 426 before anything is read.
	"GET /api/v1/consultations/{id}/audio": {na, signedIn(426), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/consultations/" + e.w.consultation(own, false).ID + "/audio", nil
	}},
	// A JSON body is not a recording: refused once the caller may upload.
	"POST /api/v1/consultations/{id}/recordings": {ownOther, byOwnership(byRole(401, 403, 400, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/consultations/" + e.w.consultation(o, false).ID + "/recordings", map[string]string{"not": "audio"}
	}},
	"GET /api/v1/consultations/{id}/recordings/{rid}/audio": {ownOther, byOwnership(byRole(401, 403, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		c := e.w.consultation(o, false)
		return "/api/v1/consultations/" + c.ID + "/recordings/" + e.w.recordingOf(c) + "/audio", nil
	}},
	"POST /api/v1/consultations/{id}/draft": {ownOther, byOwnership(byRole(401, 403, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/consultations/" + e.w.consultation(o, false).ID + "/draft", nil
	}},
	"PUT /api/v1/consultations/{id}/note": {ownOther, byOwnership(byRole(401, 403, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		c := e.w.consultation(o, false)
		return "/api/v1/consultations/" + c.ID + "/note", map[string]any{"version": c.NoteVersion, "note": map[string]string{"reason": "Cough", "plan": "Rest"}}
	}},
	"POST /api/v1/consultations/{id}/sign": {ownOther, byOwnership(byRole(401, 403, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
		c := e.w.consultation(o, false)
		return "/api/v1/consultations/" + c.ID + "/sign", map[string]any{"version": c.NoteVersion}
	}},
	"GET /api/v1/transcription/settings": {na, adminOnly(200), fixed("/api/v1/transcription/settings", nil)},
	"PUT /api/v1/transcription/settings": {na, adminOnly(200), fixed("/api/v1/transcription/settings", map[string]any{"patients_see_notes": true})},

	"GET /api/v1/me/patient": {na, byRole(401, 200, 404, 404, 404), fixed("/api/v1/me/patient", nil)},
	"GET /api/v1/patients":   {na, byRole(401, 403, 200, 200, 200), fixed("/api/v1/patients?limit=5", nil)},
	"POST /api/v1/patients": {na, byRole(401, 403, 403, 201, 201), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/patients", map[string]string{"name": "Walk In", "date_of_birth": "1970-01-01", "email": e.a.email("walkin")}
	}},
	"GET /api/v1/patients/{id}": {ownOther, byOwnership(byRole(401, 200, 200, 200, 200), byRole(401, 403, 403, 200, 200)),
		func(e caseEnv, o ownership) (string, any) { return "/api/v1/patients/" + e.w.patient(o).ID, nil }},
	"PATCH /api/v1/patients/{id}": {ownOther, byOwnership(byRole(401, 200, 403, 200, 200), byRole(401, 403, 403, 200, 200)),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/patients/" + e.w.patient(o).ID, map[string]string{"phone": "+49 30 1234567"}
		}},
	"GET /api/v1/patients/{id}/entries": {ownOther, byOwnership(byRole(401, 200, 200, 403, 403), byRole(401, 403, 403, 403, 403)),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/patients/" + e.w.patient(o).ID + "/entries", nil
		}},
	"POST /api/v1/patients/{id}/entries": {ownOther, byOwnership(byRole(401, 403, 201, 403, 403), all403),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/patients/" + e.w.patient(o).ID + "/entries", map[string]string{"kind": "allergy", "description": "Latex", "detail": "hives"}
		}},
	"PATCH /api/v1/patients/{id}/entries/{entry_id}": {ownOther, byOwnership(byRole(401, 403, 200, 403, 403), all403),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/patients/" + e.w.patient(o).ID + "/entries/" + e.w.entry(o).ID, map[string]string{"status": "inactive"}
		}},
	"DELETE /api/v1/patients/{id}/entries/{entry_id}": {ownOther, byOwnership(byRole(401, 403, 204, 403, 403), all403),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/patients/" + e.w.patient(o).ID + "/entries/" + e.w.entry(o).ID, nil
		}},
	"GET /api/v1/patients/{id}/changes": {ownOther, byOwnership(byRole(401, 200, 200, 403, 403), all403),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/patients/" + e.w.patient(o).ID + "/changes", nil
		}},

	"GET /api/v1/doctors": {na, signedIn(200), fixed("/api/v1/doctors", nil)},
	"POST /api/v1/doctors": {na, adminOnly(201), func(e caseEnv, _ ownership) (string, any) {
		return "/api/v1/doctors", map[string]any{"email": e.a.email("newdoc"), "password": testPassword, "name": "New Doctor", "specialization": "Dermatology"}
	}},
	"GET /api/v1/doctors/{id}": {ownOther, signedIn(200), func(e caseEnv, o ownership) (string, any) { return "/api/v1/doctors/" + e.w.doctor(o).ID, nil }},
	"GET /api/v1/doctors/{id}/availability": {ownOther, signedIn(200), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/doctors/" + e.w.doctor(o).ID + "/availability", nil
	}},
	"PUT /api/v1/doctors/{id}/availability": {ownOther, byOwnership(byRole(401, 403, 200, 200, 200), byRole(401, 403, 403, 200, 200)),
		func(e caseEnv, o ownership) (string, any) {
			var weekly []map[string]any
			for day := range 7 {
				weekly = append(weekly, map[string]any{"weekday": day, "start": "00:00", "end": "23:30"})
			}
			return "/api/v1/doctors/" + e.w.doctor(o).ID + "/availability", map[string]any{"time_zone": "UTC", "slot_minutes": 30, "horizon_days": 700, "weekly": weekly}
		}},
	"GET /api/v1/doctors/{id}/slots": {ownOther, signedIn(200), func(e caseEnv, o ownership) (string, any) {
		return "/api/v1/doctors/" + e.w.doctor(o).ID + "/slots", nil
	}},

	"GET /api/v1/appointments": {na, signedIn(200), fixed("/api/v1/appointments", nil)},
	"POST /api/v1/appointments": {ownOther, byOwnership(byRole(401, 201, 201, 201, 201), byRole(401, 403, 403, 201, 201)),
		func(e caseEnv, o ownership) (string, any) {
			start, end := e.w.nextSlot()
			return "/api/v1/appointments", map[string]any{"doctor_id": e.w.doctor(o).ID, "patient_id": e.w.patient(o).ID, "start": start, "end": end, "reason": "check-up"}
		}},
	"GET /api/v1/appointments/{id}": {ownOther, byOwnership(signedIn(200), byRole(401, 403, 403, 200, 200)),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/appointments/" + e.w.appointment(o).ID, nil
		}},
	"POST /api/v1/appointments/{id}/cancel": {ownOther, byOwnership(signedIn(200), byRole(401, 403, 403, 200, 200)),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/appointments/" + e.w.appointment(o).ID + "/cancel", map[string]string{"reason": "travelling"}
		}},
	"POST /api/v1/appointments/{id}/reschedule": {ownOther, byOwnership(signedIn(200), byRole(401, 403, 403, 200, 200)),
		func(e caseEnv, o ownership) (string, any) {
			id := e.w.appointment(o).ID
			start, end := e.w.nextSlot()
			return "/api/v1/appointments/" + id + "/reschedule", map[string]any{"start": start, "end": end}
		}},
	"POST /api/v1/appointments/{id}/status": {ownOther, byOwnership(byRole(401, 403, 200, 200, 200), byRole(401, 403, 403, 200, 200)),
		func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/appointments/" + e.w.appointment(o).ID + "/status", map[string]string{"status": "cancelled"}
		}},

	// A plain GET is not a WebSocket handshake: signed-in callers get past
	// authentication to the upgrade check.
	"GET /api/v1/ws":            {na, signedIn(426), fixed("/api/v1/ws", nil)},
	"GET /api/v1/notifications": {na, signedIn(200), fixed("/api/v1/notifications", nil)},
	"POST /api/v1/notifications/{id}/read": {ownOther,
		func(r domain.Role, o ownership) int {
			switch {
			case r == "anonymous":
				return 401
			case o == own:
				return 204
			}
			return 404 // someone else's notification does not exist for the caller
		},
		func(e caseEnv, o ownership) (string, any) {
			owner := e.other.ID
			if o == own && e.caller != nil {
				owner = e.caller.ID
			}
			n := &domain.Notification{UserID: owner, Kind: "test", Subject: "s", Body: "b", CreatedAt: time.Now()}
			if err := e.a.DB.AddNotifications(context.Background(), []*domain.Notification{n}); err != nil {
				panic(err)
			}
			return "/api/v1/notifications/" + n.ID + "/read", nil
		}},
}

// FHIR R4: the same rules as the REST routes over the same data.
func init() {
	fhirRows := map[string]matrixRoute{
		"GET /fhir/R4/metadata": {na, all(200), fixed("/fhir/R4/metadata", nil)},
		"GET /fhir/R4/Patient":  {na, byRole(401, 403, 200, 200, 200), fixed("/fhir/R4/Patient?_count=5", nil)},
		"GET /fhir/R4/Patient/{id}": {ownOther, byOwnership(byRole(401, 200, 200, 200, 200), byRole(401, 403, 403, 200, 200)),
			func(e caseEnv, o ownership) (string, any) { return "/fhir/R4/Patient/" + e.w.patient(o).ID, nil }},
		"GET /fhir/R4/Practitioner": {na, signedIn(200), fixed("/fhir/R4/Practitioner", nil)},
		"GET /fhir/R4/Practitioner/{id}": {ownOther, signedIn(200),
			func(e caseEnv, o ownership) (string, any) { return "/fhir/R4/Practitioner/" + e.w.doctor(o).ID, nil }},
		"GET /fhir/R4/Schedule": {na, signedIn(200), fixed("/fhir/R4/Schedule", nil)},
		"GET /fhir/R4/Schedule/{id}": {ownOther, signedIn(200),
			func(e caseEnv, o ownership) (string, any) { return "/fhir/R4/Schedule/" + e.w.doctor(o).ID, nil }},
		"GET /fhir/R4/Slot": {ownOther, signedIn(200),
			func(e caseEnv, o ownership) (string, any) {
				return "/fhir/R4/Slot?schedule=Schedule/" + e.w.doctor(o).ID, nil
			}},
		"GET /fhir/R4/Appointment": {na, signedIn(200), fixed("/fhir/R4/Appointment", nil)},
		"GET /fhir/R4/Appointment/{id}": {ownOther, byOwnership(signedIn(200), byRole(401, 403, 403, 200, 200)),
			func(e caseEnv, o ownership) (string, any) {
				return "/fhir/R4/Appointment/" + e.w.appointment(o).ID, nil
			}},
		"POST /fhir/R4/Appointment": {ownOther, byOwnership(byRole(401, 201, 201, 201, 201), byRole(401, 403, 403, 201, 201)),
			func(e caseEnv, o ownership) (string, any) {
				start, end := e.w.nextSlot()
				return "/fhir/R4/Appointment", map[string]any{"resourceType": "Appointment", "status": "booked", "start": start, "end": end,
					"participant": []any{
						map[string]any{"actor": map[string]string{"reference": "Patient/" + e.w.patient(o).ID}, "status": "accepted"},
						map[string]any{"actor": map[string]string{"reference": "Practitioner/" + e.w.doctor(o).ID}, "status": "accepted"},
					}}
			}},
		"GET /fhir/R4/AuditEvent": {na, adminOnly(200), fixed("/fhir/R4/AuditEvent?_count=5", nil)},
		// Signed visit notes and their encounters: as the consultation
		// service lets the caller see them.
		"GET /fhir/R4/DocumentReference": {ownOther, byOwnership(byRole(401, 200, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
			return "/fhir/R4/DocumentReference?patient=" + e.w.patient(o).ID, nil
		}},
		"GET /fhir/R4/DocumentReference/{id}": {ownOther, byOwnership(byRole(401, 200, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
			return "/fhir/R4/DocumentReference/" + e.w.consultation(o, true).ID, nil
		}},
		"GET /fhir/R4/Encounter": {ownOther, byOwnership(byRole(401, 200, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
			return "/fhir/R4/Encounter?patient=" + e.w.patient(o).ID, nil
		}},
		"GET /fhir/R4/Encounter/{id}": {ownOther, byOwnership(byRole(401, 200, 200, 403, 403), all403), func(e caseEnv, o ownership) (string, any) {
			return "/fhir/R4/Encounter/" + e.w.consultation(o, true).ID, nil
		}},
	}
	for k, v := range fhirRows {
		matrix[k] = v
	}
}

// byRole gives the status for anonymous, patient, doctor, staff and admin.
func byRole(anon, patient, doctor, staff, admin int) expect {
	return func(r domain.Role, _ ownership) int {
		return map[domain.Role]int{"anonymous": anon, domain.RolePatient: patient, domain.RoleDoctor: doctor, domain.RoleStaff: staff, domain.RoleAdmin: admin}[r]
	}
}

// byOwnership uses one expectation for the caller's own record and another
// for someone else's.
func byOwnership(ownCase, otherCase expect) expect {
	return func(r domain.Role, o ownership) int {
		if o == other {
			return otherCase(r, o)
		}
		return ownCase(r, o)
	}
}

var all403 = byRole(401, 403, 403, 403, 403)

// openWorld starts the API on a fresh store of eng and makes the matrix's
// clinic in it; otherUser is the account of the patient unrelated to the
// callers.
func openWorld(t *testing.T, eng storetest.Engine) (a *api, w *world, users map[domain.Role]*domain.User, otherUser *domain.User) {
	t.Helper()
	a = newAPI(t, eng.Open(t))
	w, users = newWorld(t, a)
	otherUser, err := a.Auth.User(context.Background(), w.otherPatient.UserID)
	if err != nil {
		t.Fatal(err)
	}
	return a, w, users, otherUser
}

func TestRoleRouteOwnershipMatrix(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a, w, users, otherUser := openWorld(t, eng)
			var err error

			routes := a.Server.Routes()
			for _, rt := range routes {
				if _, ok := matrix[rt]; !ok {
					t.Errorf("route %s has no row in the authorization matrix", rt)
				}
				if _, ok := matrixAudit[rt]; !ok {
					t.Errorf("route %s has no row in the audit matrix", rt)
				}
			}
			for key := range matrixAudit {
				if !slices.Contains(routes, key) {
					t.Errorf("audit matrix row %s names a route that does not exist", key)
				}
			}
			var sent []sentRequest
			for key := range matrix {
				if !slices.Contains(routes, key) {
					t.Errorf("matrix row %s names a route that does not exist", key)
				}
			}
			cases := 0
			for _, rt := range routes {
				m, ok := matrix[rt]
				if !ok {
					continue
				}
				method := rt[:indexSpace(rt)]
				for _, role := range callers {
					for _, o := range m.owners {
						env := caseEnv{a: a, caller: users[role], other: otherUser, w: w}
						token := ""
						if u := users[role]; u != nil {
							env.pair = a.login(u.Email)
							token = env.pair.AccessToken
						}
						path, body := m.request(env, o)
						res := a.do(method, path, token, body)
						want := m.want(role, o)
						cases++
						sr := sentRequest{route: rt, role: string(role), o: o, status: res.Status, id: res.Header.Get("X-Request-ID"), row: matrixAudit[rt]}
						if sr.row.patient != nil {
							sr.patient = sr.row.patient(env, o)
						}
						sent = append(sent, sr)
						if res.Status != want {
							t.Errorf("%s as %s (%s): status %d, want %d; body %.300s", rt, role, o, res.Status, want, res.Body)
							continue
						}
						if want >= 400 && strings.HasPrefix(path, "/fhir/") {
							var oo struct {
								ResourceType string `json:"resourceType"`
								Issue        []struct{ Severity, Code, Diagnostics string }
							}
							if json.Unmarshal(res.Body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 ||
								oo.Issue[0].Severity != "error" || oo.Issue[0].Diagnostics == "" {
								t.Errorf("%s as %s: FHIR error is not an OperationOutcome: %.300s", rt, role, res.Body)
							}
						} else if want >= 400 {
							var e struct {
								Error struct{ Code, Message string } `json:"error"`
							}
							if json.Unmarshal(res.Body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
								t.Errorf("%s as %s: error body not in the API shape: %s", rt, role, res.Body)
							}
						}
					}
				}
			}
			t.Logf("%d route × role × ownership cases", cases)
			checkMatrixAudit(t, a, sent)

			// Refusals on audited resources are themselves in the audit log.
			var denied []*domain.AuditEvent
			denied, err = a.DB.ListAudit(context.Background(), domain.AuditFilter{ActorID: users[domain.RolePatient].ID, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range denied {
				if ev.Outcome == domain.OutcomeDenied {
					n++
				}
			}
			if n == 0 {
				t.Error("no denied access of the patient was audited")
			}
			if rep := a.do("GET", "/api/v1/audit/verify", a.login(users[domain.RoleAdmin].Email).AccessToken, nil); rep.Status != 200 ||
				!json.Valid(rep.Body) || string(rep.Body[:10]) != `{"ok":true` {
				t.Errorf("audit chain after the matrix: %s", rep.Body)
			}
		})
	}
}

func indexSpace(s string) int {
	for i := range s {
		if s[i] == ' ' {
			return i
		}
	}
	panic(fmt.Sprintf("no space in %q", s))
}
