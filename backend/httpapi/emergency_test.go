package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/emergency"
	"github.com/healthhub/healthhub/backend/portal"
)

// emergencyPatients remembers the patient each matrix request for
// emergency access was made about, for the audit check.
var emergencyPatients sync.Map

func init() {
	key := func(e caseEnv, o ownership) string {
		if e.caller == nil {
			return "anonymous"
		}
		return e.caller.ID + string(o)
	}
	freshPatient := func(e caseEnv) string {
		ctx := domain.WithPrincipal(context.Background(), domain.System)
		name, dob := "Emergency "+e.a.email("p"), "1970-01-02"
		p, err := e.a.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob}}, false)
		if err != nil {
			panic(err)
		}
		return p.ID
	}
	grantOnOwnPatient := func(e caseEnv) string {
		now := time.Now()
		g := &domain.EmergencyGrant{UserID: e.w.otherDoctor.UserID, UserRole: "doctor", PatientID: e.w.ownPatient.ID, Reason: "life_threatening",
			CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
		if _, err := e.a.DB.CreateEmergencyGrant(context.Background(), g); err != nil {
			panic(err)
		}
		return g.ID
	}
	staff := func(e caseEnv) string { return e.a.user(domain.RoleStaff).ID }
	rows := map[string]matrixRoute{
		// A patient of its own each time: a grant on one of the matrix's
		// patients would change the answers of the routes after it.
		"POST /api/v1/emergency-access": {na, byRole(401, 403, 201, 403, 403), func(e caseEnv, o ownership) (string, any) {
			id := freshPatient(e)
			emergencyPatients.Store(key(e, o), id)
			return "/api/v1/emergency-access", map[string]any{"patient_id": id, "reason": "life_threatening", "password": testPassword}
		}},
		"GET /api/v1/emergency-access":         {na, byRole(401, 403, 200, 403, 403), fixed("/api/v1/emergency-access", nil)},
		"GET /api/v1/emergency-access/options": {na, signedIn(200), fixed("/api/v1/emergency-access/options", nil)},
		"PUT /api/v1/emergency-access/options": {na, adminOnly(200), fixed("/api/v1/emergency-access/options", map[string]int{"max_minutes": 480})},
		"GET /api/v1/emergency-access/review":  {na, adminOnly(200), fixed("/api/v1/emergency-access/review?status=all", nil)},
		"POST /api/v1/emergency-access/review/{id}": {na, adminOnly(200), func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/emergency-access/review/" + grantOnOwnPatient(e), map[string]string{"decision": "justified"}
		}},
		"GET /api/v1/emergency-access/privacy-officers": {na, adminOnly(200), fixed("/api/v1/emergency-access/privacy-officers", nil)},
		"PUT /api/v1/emergency-access/privacy-officers/{user_id}": {na, adminOnly(204), func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/emergency-access/privacy-officers/" + staff(e), nil
		}},
		"DELETE /api/v1/emergency-access/privacy-officers/{user_id}": {na, adminOnly(204), func(e caseEnv, o ownership) (string, any) {
			return "/api/v1/emergency-access/privacy-officers/" + staff(e), nil
		}},
	}
	for k, v := range rows {
		matrix[k] = v
	}
	audits := map[string]auditRow{
		"POST /api/v1/emergency-access": {success: 1, anyPatient: true, patient: func(e caseEnv, o ownership) string {
			id, _ := emergencyPatients.Load(key(e, o))
			s, _ := id.(string)
			return s
		}},
		"GET /api/v1/emergency-access":         {success: perPatient},
		"GET /api/v1/emergency-access/options": noAudit, "PUT /api/v1/emergency-access/options": oneEvent,
		"GET /api/v1/emergency-access/review":                     {success: perPatient},
		"POST /api/v1/emergency-access/review/{id}":               {success: 1, patient: ownPatientID},
		"GET /api/v1/emergency-access/privacy-officers":           noAudit,
		"PUT /api/v1/emergency-access/privacy-officers/{user_id}": oneEvent, "DELETE /api/v1/emergency-access/privacy-officers/{user_id}": oneEvent,
	}
	for k, v := range audits {
		matrixAudit[k] = v
	}
}

type apiError struct {
	Error struct{ Code, Field, Message string } `json:"error"`
}

func errorOf(t *testing.T, res response) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(res.Body, &e); err != nil {
		t.Fatalf("error body %s: %v", res.Body, err)
	}
	return e
}

// emergencyClinic is a clinic with a doctor who treats nobody yet, two
// patients, an admin and a member of staff made privacy officer.
type emergencyClinic struct {
	a                     *api
	admin, officer, staff *domain.User
	doctor                *domain.User
	p1, p2                *domain.Patient
	tok                   map[string]string // user id → access token
}

func newEmergencyClinic(t *testing.T, a *api) *emergencyClinic {
	t.Helper()
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	c := &emergencyClinic{a: a, admin: a.user(domain.RoleAdmin), officer: a.user(domain.RoleStaff), staff: a.user(domain.RoleStaff),
		doctor: a.user(domain.RoleDoctor), tok: map[string]string{}}
	for _, p := range []**domain.Patient{&c.p1, &c.p2} {
		name, dob := "Patient "+a.email("x"), "1960-03-04"
		var err error
		if *p, err = a.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob}}, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []*domain.User{c.admin, c.officer, c.staff, c.doctor} {
		c.tok[u.ID] = a.login(u.Email).AccessToken
	}
	if res := a.do("PUT", "/api/v1/emergency-access/privacy-officers/"+c.officer.ID, c.tok[c.admin.ID], nil); res.Status != 204 {
		t.Fatalf("make privacy officer: %d %s", res.Status, res.Body)
	}
	return c
}

func (c *emergencyClinic) ask(u *domain.User, body map[string]any) response {
	return c.a.do("POST", "/api/v1/emergency-access", c.tok[u.ID], body)
}

func TestEmergencyAccess(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a := newAPI(t, eng.Open(t))
			c := newEmergencyClinic(t, a)
			ctx := context.Background()
			doc := c.tok[c.doctor.ID]
			p1 := "/api/v1/patients/" + c.p1.ID

			// Refused at first: the doctor does not treat the patient.
			if res := a.do("GET", p1, doc, nil); res.Status != 403 {
				t.Fatalf("before emergency access: %d %s", res.Status, res.Body)
			}
			const details = "Collapsed in the waiting room; allergy check before adrenaline"
			ok := map[string]any{"patient_id": c.p1.ID, "reason": "life_threatening", "details": details, "password": testPassword}
			with := func(k string, v any) map[string]any {
				m := map[string]any{}
				for kk, vv := range ok {
					m[kk] = vv
				}
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
				return m
			}
			for _, tc := range []struct {
				name   string
				body   map[string]any
				status int
				field  string
			}{
				{"no reason", with("reason", nil), 400, "reason"},
				{"unknown reason", with("reason", "curiosity"), 400, "reason"},
				{"other without details", with("details", nil), -1, ""}, // placeholder replaced below
				{"no password", with("password", nil), 400, "password"},
				{"wrong password", with("password", "not the password"), 403, "password"},
				{"no patient", with("patient_id", nil), 400, "patient_id"},
				{"unknown patient", with("patient_id", "no-such-patient"), 400, "patient_id"},
				{"too short", with("minutes", 5), 400, "minutes"},
				{"too long", with("minutes", 10000), 400, "minutes"},
				{"details too long", with("details", strings.Repeat("x", 1001)), 400, "details"},
			} {
				if tc.status == -1 {
					tc.body, tc.status, tc.field = with("reason", "other"), 400, "details"
					delete(tc.body, "details")
				}
				res := c.ask(c.doctor, tc.body)
				if e := errorOf(t, res); res.Status != tc.status || e.Error.Field != tc.field || e.Error.Message == "" {
					t.Errorf("%s: %d %s, want %d on field %q", tc.name, res.Status, res.Body, tc.status, tc.field)
				}
			}
			// None of those gave access.
			if res := a.do("GET", p1, doc, nil); res.Status != 403 {
				t.Fatalf("after refused requests: %d %s", res.Status, res.Body)
			}
			// The wrong password was recorded, and counts towards the lockout.
			evs, err := a.DB.ListAudit(ctx, domain.AuditFilter{ActorID: c.doctor.ID, Action: domain.ActionVerify})
			if err != nil || len(evs) != 1 || evs[0].Outcome != domain.OutcomeFailure || !strings.Contains(evs[0].Detail, "bad_password") {
				t.Fatalf("re-authentication failures recorded: %s, %v", describeEvents(evs), err)
			}
			evs, err = a.DB.ListAudit(ctx, domain.AuditFilter{ActorID: c.doctor.ID, PatientID: c.p1.ID, ResourceType: "emergency_access"})
			if err != nil || len(evs) != 1 || evs[0].Outcome != domain.OutcomeFailure || evs[0].Detail != "reauthentication_failed" {
				t.Fatalf("failed attempt in the patient's trail: %s, %v", describeEvents(evs), err)
			}
			if u, _ := a.DB.UserByID(ctx, c.doctor.ID); u.FailedLogins != 1 {
				t.Errorf("failed logins after a wrong password = %d, want 1", u.FailedLogins)
			}

			// Only clinicians ask; patients, the front desk and admins never.
			patientUser := a.user(domain.RolePatient)
			for _, u := range []*domain.User{c.staff, c.admin, patientUser} {
				tok := c.tok[u.ID]
				if tok == "" {
					tok = a.login(u.Email).AccessToken
				}
				if res := a.do("POST", "/api/v1/emergency-access", tok, ok); res.Status != 403 {
					t.Errorf("%s asks for emergency access: %d %s, want 403", u.Role, res.Status, res.Body)
				}
			}

			// A doctor who treats the patient has no need of it.
			if res := a.do("POST", "/api/v1/emergency-access", c.tok[c.doctor.ID], with("patient_id", treatedID(t, a, c))); res.Status != 409 {
				t.Errorf("emergency access to one's own patient: %d %s, want 409", res.Status, res.Body)
			}

			// Granted: four hours by default.
			res := c.ask(c.doctor, ok)
			if res.Status != 201 {
				t.Fatalf("grant: %d %s", res.Status, res.Body)
			}
			var g domain.EmergencyGrant
			json.Unmarshal(res.Body, &g)
			if g.ExpiresAt.Sub(g.CreatedAt) != emergency.DefaultDuration || g.PatientID != c.p1.ID || g.UserID != c.doctor.ID ||
				g.ReviewStatus != domain.ReviewPending || g.Escalated || g.Details != details {
				t.Fatalf("grant = %+v", g)
			}
			if u, _ := a.DB.UserByID(ctx, c.doctor.ID); u.FailedLogins != 0 {
				t.Errorf("failed logins after the right password = %d, want 0", u.FailedLogins)
			}

			// Read and add to that record.
			for _, req := range []struct {
				method, path string
				body         any
				status       int
			}{
				{"GET", p1, nil, 200},
				{"GET", p1 + "/entries", nil, 200},
				{"POST", p1 + "/entries", map[string]string{"kind": "allergy", "description": "Penicillin"}, 201},
				{"GET", p1 + "/changes", nil, 200},
				{"GET", "/api/v1/appointments?patient_id=" + c.p1.ID, nil, 200},
				// Not change the patient's details, nor another patient's record.
				{"PATCH", p1, map[string]string{"phone": "+1 555 0100"}, 403},
				{"GET", "/api/v1/patients/" + c.p2.ID, nil, 403},
				{"GET", "/api/v1/patients/" + c.p2.ID + "/entries", nil, 403},
			} {
				if res := a.do(req.method, req.path, doc, req.body); res.Status != req.status {
					t.Errorf("%s %s under emergency access: %d %s, want %d", req.method, req.path, res.Status, res.Body, req.status)
				}
			}
			// Nor change or delete what is there.
			var entries struct{ Entries []domain.ClinicalEntry }
			json.Unmarshal(a.do("GET", p1+"/entries", doc, nil).Body, &entries)
			if len(entries.Entries) != 1 {
				t.Fatalf("entries = %+v", entries)
			}
			entry := p1 + "/entries/" + entries.Entries[0].ID
			if res := a.do("PATCH", entry, doc, map[string]string{"detail": "x"}); res.Status != 403 {
				t.Errorf("change an entry under emergency access: %d %s", res.Status, res.Body)
			}
			if res := a.do("DELETE", entry, doc, nil); res.Status != 403 {
				t.Errorf("delete an entry under emergency access: %d %s", res.Status, res.Body)
			}

			// Every access under the grant is marked as emergency access in
			// the log, naming the patient and the grant; the details stay out.
			evs, err = a.DB.ListAudit(ctx, domain.AuditFilter{PatientID: c.p1.ID, ActorID: c.doctor.ID, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			marked := map[string]int{}
			created := 0
			for _, e := range evs {
				if strings.Contains(e.Detail, "Collapsed") {
					t.Errorf("event %s carries the free-text details", describeEvents([]*domain.AuditEvent{e}))
				}
				if e.ResourceType == "emergency_access" && e.Action == domain.ActionCreate && e.Outcome == domain.OutcomeSuccess {
					created++
					if want := access.DetailEmergency + g.ID + " reason=life_threatening"; !strings.HasPrefix(e.Detail, want) || e.ResourceID != g.ID {
						t.Errorf("grant event %s, want detail starting %q", describeEvents([]*domain.AuditEvent{e}), want)
					}
					continue
				}
				if e.Detail == access.DetailEmergency+g.ID {
					if e.Outcome != domain.OutcomeSuccess || e.PatientID != c.p1.ID {
						t.Errorf("emergency access event %s", describeEvents([]*domain.AuditEvent{e}))
					}
					marked[e.Action+" "+e.ResourceType]++
				}
			}
			if created != 1 {
				t.Errorf("%d grant events, want 1", created)
			}
			for _, k := range []string{"read patient", "read clinical", "create clinical", "read appointment"} {
				if marked[k] == 0 {
					t.Errorf("no emergency access event for %s; got %v", k, marked)
				}
			}
			if denied, _ := a.DB.ListAudit(ctx, domain.AuditFilter{PatientID: c.p2.ID, ActorID: c.doctor.ID}); len(denied) == 0 || denied[0].Outcome != domain.OutcomeDenied {
				t.Errorf("refusal on the other patient not recorded: %s", describeEvents(denied))
			}

			// The privacy officers were told at once; the clinician was not.
			for _, u := range []*domain.User{c.admin, c.officer} {
				notes, err := a.DB.ListNotifications(ctx, u.ID, 50)
				if err != nil || countKind(notes, "emergency_access") != 1 || countKind(notes, "emergency_access_escalated") != 0 {
					t.Errorf("notifications of %s: %+v, %v", u.Role, notes, err)
				}
				for _, n := range notes {
					if strings.Contains(n.Body, c.p1.Name) || strings.Contains(n.Body, "Collapsed") {
						t.Errorf("notification names the patient or the details: %q", n.Body)
					}
				}
			}
			if notes, _ := a.DB.ListNotifications(ctx, c.doctor.ID, 50); countKind(notes, "emergency_access") != 0 {
				t.Errorf("the clinician was notified of their own use")
			}

			// The clinician sees their grant in force.
			var mine struct{ Grants []domain.EmergencyGrant }
			json.Unmarshal(a.do("GET", "/api/v1/emergency-access?active=true&patient_id="+c.p1.ID, doc, nil).Body, &mine)
			if len(mine.Grants) != 1 || mine.Grants[0].ID != g.ID {
				t.Errorf("my active grants = %+v", mine)
			}

			// The options tell each caller whether they review emergency access.
			for u, want := range map[*domain.User]bool{c.admin: true, c.officer: true, c.staff: false, c.doctor: false} {
				var opts struct {
					PrivacyOfficer bool `json:"privacy_officer"`
					MaxMinutes     int  `json:"max_minutes"`
				}
				if res := a.do("GET", "/api/v1/emergency-access/options", c.tok[u.ID], nil); res.Status != 200 || json.Unmarshal(res.Body, &opts) != nil ||
					opts.PrivacyOfficer != want || opts.MaxMinutes != 480 {
					t.Errorf("options for %s: %d %s, want privacy_officer %v", u.Email, res.Status, res.Body, want)
				}
			}

			// Review: privacy officers only, a decision on each grant.
			for _, u := range []*domain.User{c.doctor, c.staff} {
				if res := a.do("GET", "/api/v1/emergency-access/review", c.tok[u.ID], nil); res.Status != 403 {
					t.Errorf("review list as %s (not an officer): %d", u.Email, res.Status)
				}
			}
			off := c.tok[c.officer.ID]
			var list struct{ Grants []emergency.ReviewedGrant }
			res = a.do("GET", "/api/v1/emergency-access/review", off, nil)
			json.Unmarshal(res.Body, &list)
			if res.Status != 200 || len(list.Grants) != 1 || list.Grants[0].ID != g.ID || len(list.Grants[0].Uses) < 4 ||
				list.Grants[0].UserName != c.doctor.Name || list.Grants[0].PatientName != c.p1.Name || list.Grants[0].ReasonLabel == "" {
				t.Fatalf("review list: %d %s", res.Status, res.Body)
			}
			review := "/api/v1/emergency-access/review/" + g.ID
			for _, bad := range []map[string]string{{"decision": "not_justified"}, {"decision": "maybe"}, {}} {
				if res := a.do("POST", review, off, bad); res.Status != 400 {
					t.Errorf("review %v: %d %s, want 400", bad, res.Status, res.Body)
				}
			}
			res = a.do("POST", review, off, map[string]string{"decision": "not_justified", "note": "The patient's own doctor was on duty."})
			var done emergency.ReviewedGrant
			json.Unmarshal(res.Body, &done)
			if res.Status != 200 || done.ReviewStatus != domain.ReviewNotJustified || done.ReviewedBy != c.officer.ID || done.ReviewedAt.IsZero() {
				t.Fatalf("review: %d %s", res.Status, res.Body)
			}
			if res := a.do("POST", review, c.tok[c.admin.ID], map[string]string{"decision": "justified"}); res.Status != 409 {
				t.Errorf("second review: %d %s, want 409", res.Status, res.Body)
			}
			json.Unmarshal(a.do("GET", "/api/v1/emergency-access/review", off, nil).Body, &list)
			if len(list.Grants) != 0 {
				t.Errorf("pending after the review: %d", len(list.Grants))
			}

			// Expired grants allow nothing.
			past := time.Now().Add(-5 * time.Hour)
			old := &domain.EmergencyGrant{UserID: c.doctor.ID, UserRole: "doctor", PatientID: c.p2.ID, Reason: "life_threatening",
				CreatedAt: past, ExpiresAt: past.Add(4 * time.Hour)}
			if _, err := a.DB.CreateEmergencyGrant(ctx, old); err != nil {
				t.Fatal(err)
			}
			if res := a.do("GET", "/api/v1/patients/"+c.p2.ID, doc, nil); res.Status != 403 {
				t.Errorf("under an expired grant: %d %s", res.Status, res.Body)
			}
		})
	}
}

// treatedID books c's doctor with a new patient and returns the patient's id.
func treatedID(t *testing.T, a *api, c *emergencyClinic) string {
	t.Helper()
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	name, dob := "Treated "+a.email("t"), "1975-05-05"
	p, err := a.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob}}, false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.DB.DoctorByUserID(ctx, c.doctor.ID)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour)
	ap := &domain.Appointment{DoctorID: d.ID, PatientID: p.ID, Start: start, End: start.Add(30 * time.Minute),
		Status: domain.StatusFulfilled, CreatedAt: start, UpdatedAt: start}
	if err := a.DB.BookAppointment(ctx, ap, nil); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func countKind(notes []*domain.Notification, kind string) int {
	n := 0
	for _, x := range notes {
		if x.Kind == kind {
			n++
		}
	}
	return n
}

// A clinician with an authenticator app may confirm with its code instead
// of the password; a wrong code is refused on its field.
func TestEmergencyAccessWithTOTP(t *testing.T) {
	eng := engines(t)[0]
	a := newAPI(t, eng.Open(t))
	c := newEmergencyClinic(t, a)
	doc := c.tok[c.doctor.ID]
	res := a.do("POST", "/api/v1/me/mfa/enroll", doc, nil)
	var enrol auth.MFAEnrollment
	if json.Unmarshal(res.Body, &enrol); res.Status != 200 || enrol.Secret == "" {
		t.Fatalf("enrol: %d %s", res.Status, res.Body)
	}
	code := func(at time.Time) string {
		s, err := auth.TOTPCode(enrol.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if res := a.do("POST", "/api/v1/me/mfa/confirm", doc, map[string]string{"code": code(time.Now())}); res.Status != 204 {
		t.Fatalf("confirm: %d %s", res.Status, res.Body)
	}
	body := map[string]any{"patient_id": c.p1.ID, "reason": "urgent_treatment"}
	wrong := code(time.Now().Add(10 * time.Minute)) // a real code, but not the current one
	if wrong == code(time.Now()) {
		wrong = code(time.Now().Add(20 * time.Minute))
	}
	body["totp_code"] = wrong
	res = c.ask(c.doctor, body)
	if e := errorOf(t, res); res.Status != 403 || e.Error.Field != "totp_code" {
		t.Fatalf("wrong code: %d %s", res.Status, res.Body)
	}
	body["totp_code"] = code(time.Now())
	if res := c.ask(c.doctor, body); res.Status != 201 {
		t.Fatalf("right code: %d %s", res.Status, res.Body)
	}
	if res := a.do("GET", "/api/v1/patients/"+c.p1.ID, doc, nil); res.Status != 200 {
		t.Fatalf("read under a grant confirmed by code: %d %s", res.Status, res.Body)
	}
}

// The third grant by one clinician within seven days is escalated: flagged,
// and the privacy officers are told a second time.
func TestEmergencyAccessEscalates(t *testing.T) {
	eng := engines(t)[0]
	a := newAPI(t, eng.Open(t))
	c := newEmergencyClinic(t, a)
	ctx := context.Background()
	for i, ago := range []time.Duration{8 * 24 * time.Hour, 2 * 24 * time.Hour} {
		at := time.Now().Add(-ago)
		g := &domain.EmergencyGrant{UserID: c.doctor.ID, UserRole: "doctor", PatientID: c.p2.ID, Reason: "covering_colleague",
			CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		if _, err := a.DB.CreateEmergencyGrant(ctx, g); err != nil {
			t.Fatal(i, err)
		}
	}
	ask := map[string]any{"patient_id": c.p1.ID, "reason": "life_threatening", "password": testPassword}
	var g domain.EmergencyGrant
	res := c.ask(c.doctor, ask)
	if json.Unmarshal(res.Body, &g); res.Status != 201 || g.Escalated {
		t.Fatalf("second grant within the window: %d %s, want not escalated (the first is older than 7 days)", res.Status, res.Body)
	}
	res = c.ask(c.doctor, ask)
	if json.Unmarshal(res.Body, &g); res.Status != 201 || !g.Escalated {
		t.Fatalf("third grant within the window: %d %s, want escalated", res.Status, res.Body)
	}
	notes, err := a.DB.ListNotifications(ctx, c.officer.ID, 50)
	if err != nil || countKind(notes, "emergency_access") != 2 || countKind(notes, "emergency_access_escalated") != 1 {
		t.Fatalf("officer's notifications: %+v, %v", notes, err)
	}
}
