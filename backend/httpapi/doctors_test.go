package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
)

// TestEveryDoctorIsBookable: a doctor made on the Users page (POST
// /api/v1/users with the doctor role), by a role change, or by completing
// an account made without a profile, is listed for patients and, once their
// hours are in, has free slots a patient can book.
func TestEveryDoctorIsBookable(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			a := newAPI(t, e.Open(t))
			admin := a.login(a.user(domain.RoleAdmin).Email).AccessToken
			sys := domain.WithPrincipal(context.Background(), domain.System)
			name, dob, patientEmail := "Pat Patient", "1985-06-07", a.email("pat")
			me, err := a.Portal.CreatePatient(sys, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob, Email: &patientEmail}, Password: testPassword}, false)
			if err != nil {
				t.Fatal(err)
			}
			patient := a.login(patientEmail).AccessToken

			listed := func(userID string) string {
				t.Helper()
				res := a.do("GET", "/api/v1/doctors", patient, nil)
				var out struct{ Doctors []domain.Doctor }
				if res.Status != 200 || json.Unmarshal(res.Body, &out) != nil {
					t.Fatalf("list doctors: %d %s", res.Status, res.Body)
				}
				for _, d := range out.Doctors {
					if d.UserID == userID {
						return d.ID
					}
				}
				return ""
			}
			// bookable gives the doctor Monday-to-Friday hours, as the doctor
			// does on the Hours page, and books their first free slot.
			bookable := func(userID, email string) {
				t.Helper()
				id := listed(userID)
				if id == "" {
					t.Fatalf("%s is not in the patients' list of doctors", email)
				}
				doctor := a.login(email).AccessToken
				var hours domain.Availability
				res := a.do("GET", "/api/v1/doctors/"+id+"/availability", doctor, nil)
				if res.Status != 200 || json.Unmarshal(res.Body, &hours) != nil {
					t.Fatalf("hours of a new doctor: %d %s", res.Status, res.Body)
				}
				hours.MinNoticeMinutes = 0
				for day := 1; day <= 5; day++ {
					hours.Weekly = append(hours.Weekly, domain.WeeklyHours{Weekday: day, Start: "08:00", End: "18:00"})
				}
				if res := a.do("PUT", "/api/v1/doctors/"+id+"/availability", doctor, hours); res.Status != 200 {
					t.Fatalf("set hours: %d %s", res.Status, res.Body)
				}
				from := time.Now().UTC()
				res = a.do("GET", fmt.Sprintf("/api/v1/doctors/%s/slots?from=%s&to=%s", id, from.Format(time.RFC3339), from.Add(14*24*time.Hour).Format(time.RFC3339)), patient, nil)
				var slots struct {
					Slots []struct{ Start, End time.Time }
				}
				if res.Status != 200 || json.Unmarshal(res.Body, &slots) != nil || len(slots.Slots) == 0 {
					t.Fatalf("free slots of %s: %d %s", email, res.Status, res.Body)
				}
				s := slots.Slots[0]
				res = a.do("POST", "/api/v1/appointments", patient, map[string]any{"doctor_id": id, "patient_id": me.ID, "start": s.Start, "end": s.End, "reason": "check-up"})
				if res.Status != 201 {
					t.Fatalf("book %s: %d %s", email, res.Status, res.Body)
				}
			}

			t.Run("created on the Users page", func(t *testing.T) {
				email := a.email("ada")
				res := a.do("POST", "/api/v1/users", admin, map[string]any{"email": email, "password": testPassword, "name": "Ada Lovelace",
					"role": "doctor", "specialization": "General practice", "time_zone": "Europe/Berlin"})
				var u domain.User
				if res.Status != 201 || json.Unmarshal(res.Body, &u) != nil {
					t.Fatalf("create: %d %s", res.Status, res.Body)
				}
				bookable(u.ID, email)
			})
			t.Run("refused without a specialization or with an unknown time zone", func(t *testing.T) {
				for body, field := range map[string]string{
					`{"email":"x@example.org","password":"correct horse battery","name":"X","role":"doctor"}`:                                                    "specialization",
					`{"email":"x@example.org","password":"correct horse battery","name":"X","role":"doctor","specialization":"GP","time_zone":"Europe/Nowhere"}`: "time_zone",
				} {
					res := a.do("POST", "/api/v1/users", admin, body)
					if res.Status != 400 || res.code() != "invalid" || !strings.Contains(string(res.Body), `"field":"`+field+`"`) {
						t.Errorf("%s: %d %s; want 400 invalid naming %s", body, res.Status, res.Body, field)
					}
				}
			})
			t.Run("role changed to doctor", func(t *testing.T) {
				staff := a.user(domain.RoleStaff)
				res := a.do("PATCH", "/api/v1/users/"+staff.ID, admin, map[string]any{"role": "doctor", "specialization": "Dermatology"})
				if res.Status != 200 {
					t.Fatalf("role change: %d %s", res.Status, res.Body)
				}
				bookable(staff.ID, staff.Email)
			})
			t.Run("an account made without a profile is marked and completed", func(t *testing.T) {
				email := a.email("bare")
				// Stored as an older version left doctor accounts: without a profile.
				bare, err := a.Auth.PrepareAccount(sys, auth.NewAccount{Email: email, Password: testPassword, Name: "Dr. Bare", Role: domain.RoleDoctor})
				if err != nil {
					t.Fatal(err)
				}
				if err := a.DB.CreateUser(context.Background(), bare); err != nil {
					t.Fatal(err)
				}
				res := a.do("GET", "/api/v1/users?role=doctor", admin, nil)
				var list struct {
					DoctorsWithoutProfile []string `json:"doctors_without_profile"`
				}
				if res.Status != 200 || json.Unmarshal(res.Body, &list) != nil || len(list.DoctorsWithoutProfile) != 1 || list.DoctorsWithoutProfile[0] != bare.ID {
					t.Fatalf("users: %d %s; want %s marked as without a profile", res.Status, res.Body, bare.ID)
				}
				res = a.do("POST", "/api/v1/doctors", admin, map[string]any{"email": strings.ToUpper(email), "name": "Dr. Bare", "specialization": "Neurology"})
				if res.Status != 201 {
					t.Fatalf("complete the profile: %d %s", res.Status, res.Body)
				}
				bookable(bare.ID, email)
				res = a.do("POST", "/api/v1/doctors", admin, map[string]any{"email": email, "name": "Dr. Bare", "specialization": "Neurology"})
				if res.Status != 409 || !strings.Contains(string(res.Body), "already a doctor with a profile") {
					t.Fatalf("a second profile: %d %s", res.Status, res.Body)
				}
				res = a.do("POST", "/api/v1/doctors", admin, map[string]any{"email": patientEmail, "name": "P", "specialization": "Neurology"})
				if res.Status != 409 || !strings.Contains(string(res.Body), "change its role to doctor on the Users page") {
					t.Fatalf("a patient's e-mail: %d %s", res.Status, res.Body)
				}
			})
		})
	}
}
