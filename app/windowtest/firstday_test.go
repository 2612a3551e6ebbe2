//go:build desktopwindow

package windowtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The clinic's people on its first day in the desktop app.
var (
	doctor    = person{"Dr Sam Lee", "sam.lee@clinic.example", "maple river compass"}
	frontDesk = person{"Rita Reception", "rita@clinic.example", "copper window meadow"}
	patient   = person{"Pat Patient", "pat@example.org", "blue kettle morning tide"}
)

type person struct{ name, email, password string }

// api calls the app's own server directly, to check what the window did
// and to set up what a step is not about.
type api struct {
	t   *testing.T
	url string
}

func (a api) do(method, path, token string, body, out any) {
	a.t.Helper()
	var r *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, a.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		a.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b.String())
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			a.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

func (a api) login(p person) string {
	a.t.Helper()
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	a.do("POST", "/api/v1/auth/login", "", map[string]string{"email": p.email, "password": p.password}, &tokens)
	return tokens.AccessToken
}

// signIn signs in through the window's sign-in page.
func signIn(w *window, log *appLog, p person) {
	w.t.Helper()
	w.fill("entry", "^E-mail address$", p.email)
	w.fill("password text", "^Password$", p.password)
	w.press("push button", "^Sign in$")
	w.find("push button", "^Sign out$")
}

func signOut(w *window, log *appLog) {
	w.t.Helper()
	w.press("push button", "^Sign out$")
	w.find("push button", "^Sign in$")
}

// firstDay is the clinic's first day in the window, from the first
// administrator, signed in: a doctor and a front-desk account made on the
// Users page, a patient who registers and books the doctor, and the front
// desk checking the patient in. Each role's home page is screenshot.
func firstDay(t *testing.T, w *window, log *appLog, srv api, out string) {
	// The administrator's home page: the installation's health.
	w.find("heading", "^Installation health$")
	screenshot(t, out, "desktop-home-admin")

	// A doctor, made on the Users page.
	w.press("link", "^Users$")
	w.find("heading", "^Create an account$")
	createAccount := func(p person, role, first string) {
		w.fill("entry", "^Full name$", p.name)
		w.fill("entry", "^E-mail address$", p.email)
		w.fill("password text", "^Password \\(", p.password)
		w.choose("^Role$", first, func() bool {
			// The doctor role adds the specialization; the others do not.
			_, found := w.lookup("entry", "^Specialization$")
			return found == (role == "doctor")
		})
		if role == "doctor" {
			w.fill("entry", "^Specialization$", "General practice")
		}
		w.press("push button", "^Create account$")
		w.waitText(regexp.QuoteMeta(p.name) + `\.|created for ` + regexp.QuoteMeta(p.name))
	}
	createAccount(doctor, "doctor", "d")
	createAccount(frontDesk, "staff", "s")
	screenshot(t, out, "desktop-users")
	admin := srv.login(person{"Ada Admin", adminEmail, adminPassword})
	var doctors struct {
		Doctors []struct {
			ID, Name, Specialization string
		} `json:"doctors"`
	}
	srv.do("GET", "/api/v1/doctors", admin, nil, &doctors)
	if len(doctors.Doctors) != 1 || doctors.Doctors[0].Name != doctor.name || doctors.Doctors[0].Specialization != "General practice" {
		t.Fatalf("doctors after the Users page: %+v", doctors.Doctors)
	}
	var users struct {
		Users []struct{ Name, Role string } `json:"users"`
	}
	srv.do("GET", "/api/v1/users?q=rita", admin, nil, &users)
	if len(users.Users) != 1 || users.Users[0].Role != "staff" {
		t.Fatalf("the front desk's account: %+v", users.Users)
	}

	// The doctor's hours, through the API: the browser test publishes
	// them on the Hours page; here the whole day, every day, so that a
	// free time is near whenever this runs.
	weekly := []map[string]any{}
	for d := range 7 {
		weekly = append(weekly, map[string]any{"weekday": d, "start": "00:00", "end": "23:59"})
	}
	doc := srv.login(doctor)
	hours := "/api/v1/doctors/" + doctors.Doctors[0].ID + "/availability"
	var availability map[string]any
	srv.do("GET", hours, doc, nil, &availability)
	if zone, _ := availability["time_zone"].(string); zone == "" {
		t.Fatalf("the new doctor has no time zone: %v", availability)
	}
	availability["weekly"], availability["slot_minutes"] = weekly, 30
	srv.do("PUT", hours, doc, availability, nil)

	// A patient registers from the sign-in page and books the doctor.
	signOut(w, log)
	w.press("link", "^New patient\\? Create an account$")
	w.fill("entry", "^Full name$", patient.name)
	w.fill("entry", "^E-mail address$", patient.email)
	w.fillDate("^Date of birth$", time.Date(1990, 4, 12, 0, 0, 0, 0, time.UTC))
	w.fill("password text", "^Password \\(", patient.password)
	w.press("push button", "^Create account$")
	w.find("push button", "^Sign out$")
	w.find("link", "^Book an appointment$")
	screenshot(t, out, "desktop-home-patient-new")
	w.press("link", "^Book$")
	w.find("heading", "^Book an appointment$")
	w.choose("^Specialization$", "g", func() bool { return w.comboValue("^Specialization$") == "General practice" })
	w.choose("^Doctor$", "d", func() bool { return strings.Contains(w.comboValue("^Doctor$"), doctor.name) })
	// The first free time of today, or of tomorrow after the day's last.
	day := time.Now()
	w.fillDate(`^Day\b`, day)
	slot, found := w.waitFor("radio button", `^\d{1,2}:\d{2}`, "^No free times on this day")
	if !found {
		day = day.AddDate(0, 0, 1)
		w.fillDate(`^Day\b`, day)
		slot = w.find("radio button", `^\d{1,2}:\d{2}`)
	}
	w.focus(slot)
	run(t, "xdotool", "key", "space")
	w.fill("entry", "^Reason for the visit$", "first visit")
	w.press("push button", "^Book .* with "+regexp.QuoteMeta(doctor.name)+"$")
	w.waitText("^Booked: .* with " + regexp.QuoteMeta(doctor.name) + `\.`)
	w.press("link", "^Home$")
	w.find("link", "^Reschedule or cancel")
	screenshot(t, out, "desktop-home-patient")

	// The doctor's day.
	signOut(w, log)
	signIn(w, log, doctor)
	w.find("link", "^"+regexp.QuoteMeta(patient.name)+"$")
	screenshot(t, out, "desktop-home-doctor")

	// The front desk checks the patient in from the clinic's day.
	signOut(w, log)
	signIn(w, log, frontDesk)
	w.find("heading", "^The clinic today$")
	screenshot(t, out, "desktop-home-staff")
	w.press("link", "^Clinic day$")
	w.find("heading", "^The clinic's day$")
	w.fillDate(`^Day\b`, day)
	w.press("push button", "^Check in "+regexp.QuoteMeta(patient.name)+"$")
	w.waitText("^" + regexp.QuoteMeta(patient.name) + " is checked in\\.$")
	screenshot(t, out, "desktop-checked-in")
	var appts struct {
		Appointments []struct{ Status string } `json:"appointments"`
	}
	srv.do("GET", "/api/v1/appointments", admin, nil, &appts)
	if len(appts.Appointments) != 1 || appts.Appointments[0].Status != "arrived" {
		t.Fatalf("appointments after the check-in: %+v", appts.Appointments)
	}
}
