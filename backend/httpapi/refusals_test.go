package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/domain"
)

// eventsOf returns the audit events of one request.
func eventsOf(t *testing.T, a *api, res response) []*domain.AuditEvent {
	t.Helper()
	return eventsByRequest(t, a, res.Header.Get("X-Request-ID"), false)
}

// Refusals an attacker with an account would try, each answered and
// recorded under the patient whose data it was, so that the patient's
// audit trail shows it.
func TestRefusalsAreRecordedUnderThePatient(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a, w, users, _ := openWorld(t, eng)
			otherID := w.otherPatient.ID
			doctor := a.login(users[domain.RoleDoctor].Email).AccessToken
			patient := a.login(users[domain.RolePatient].Email).AccessToken
			admin := a.login(users[domain.RoleAdmin].Email).AccessToken

			// A doctor addresses another patient's medical entry through a
			// patient they do treat: not found, recorded under its patient.
			entry := w.entry(other)
			res := a.do("PATCH", "/api/v1/patients/"+w.ownPatient.ID+"/entries/"+entry.ID, doctor, map[string]string{"status": "inactive"})
			if res.Status != 404 {
				t.Fatalf("entry of another patient: status %d, want 404: %s", res.Status, res.Body)
			}
			evs := eventsOf(t, a, res)
			if len(evs) != 1 || evs[0].Outcome != domain.OutcomeDenied || evs[0].PatientID != otherID || evs[0].Detail != access.DetailHidden {
				t.Errorf("entry of another patient: events %s, want one denial naming the other patient", describeEvents(evs))
			}
			res = a.do("DELETE", "/api/v1/patients/"+w.ownPatient.ID+"/entries/"+entry.ID, doctor, nil)
			if evs := eventsOf(t, a, res); res.Status != 404 || len(evs) != 1 || evs[0].PatientID != otherID {
				t.Errorf("deleting it: status %d, events %s", res.Status, describeEvents(evs))
			}
			// An entry that does not exist is not a refusal.
			res = a.do("PATCH", "/api/v1/patients/"+w.ownPatient.ID+"/entries/0190aaaa-0000-7000-8000-000000000000", doctor, map[string]string{"status": "inactive"})
			if evs := eventsOf(t, a, res); res.Status != 404 || len(evs) != 0 {
				t.Errorf("an entry that does not exist: status %d, events %s", res.Status, describeEvents(evs))
			}

			// A patient asks for another patient's appointments, in FHIR
			// and REST: refused and recorded with that patient's id.
			for _, path := range []string{"/fhir/R4/Appointment?patient=Patient/" + otherID, "/api/v1/appointments?patient_id=" + otherID} {
				res := a.do("GET", path, patient, nil)
				evs := eventsOf(t, a, res)
				if res.Status != 403 || len(evs) != 1 || evs[0].Outcome != domain.OutcomeDenied || evs[0].PatientID != otherID {
					t.Errorf("%s: status %d, events %s, want 403 and one denial naming the patient", path, res.Status, describeEvents(evs))
				}
			}

			// A patient fills in another patient's name on their own record:
			// refused, and recorded.
			res = a.do("PATCH", "/api/v1/patients/"+w.ownPatient.ID, patient, map[string]string{"name": "Someone Else"})
			if evs := eventsOf(t, a, res); res.Status != 403 || len(evs) != 1 || evs[0].PatientID != w.ownPatient.ID {
				t.Errorf("a patient changing their name: status %d, events %s", res.Status, describeEvents(evs))
			}

			// The admin finds every refused attempt on the other patient's
			// data by patient.
			res = a.do("GET", "/api/v1/audit/events?patient_id="+otherID+"&limit=1000", admin, nil)
			var page struct{ Events []*domain.AuditEvent }
			decodeBody(t, res, &page)
			denied := 0
			for _, ev := range page.Events {
				if ev.Outcome == domain.OutcomeDenied {
					denied++
				}
			}
			if denied < 4 {
				t.Errorf("audit/events?patient_id=<other patient> holds %d refusals, want the 4 above", denied)
			}

			// A search records whose records came back.
			staff := a.login(users[domain.RoleStaff].Email).AccessToken
			res = a.do("GET", "/api/v1/patients?limit=50", staff, nil)
			var list struct{ Patients []*domain.Patient }
			decodeBody(t, res, &list)
			named := map[string]bool{}
			for _, ev := range eventsOf(t, a, res) {
				named[ev.PatientID] = true
			}
			if len(list.Patients) < 2 || len(named) != len(list.Patients) {
				t.Errorf("a search returning %d patients recorded events naming %d", len(list.Patients), len(named))
			}
			for _, p := range list.Patients {
				if !named[p.ID] {
					t.Errorf("the search returned patient %s but recorded no event naming them", p.ID)
				}
			}
		})
	}
}

func decodeBody(t *testing.T, res response, v any) {
	t.Helper()
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	if err := json.Unmarshal(res.Body, v); err != nil {
		t.Fatalf("%v: %s", err, res.Body)
	}
}
