package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/domain"
)

// auditRow is what the audit log must hold for each request of a matrix
// route, found by the request's id:
//   - a caller who has not signed in (401) leaves no event;
//   - a refusal (403, or 404 for someone else's record hidden as not
//     found) leaves exactly one event, outcome denied, naming the patient
//     whose record it was;
//   - an allowed request (2xx) leaves success events, each naming the
//     patient (success of them; perPatient for searches: one for each
//     patient whose records came back, at least one);
//   - any other answer (400, 426, a 404 of what does not exist) leaves none.
type auditRow struct {
	success int
	// patient is the id of the patient the route's record belongs to for
	// the ownership; nil when it belongs to none.
	patient func(e caseEnv, o ownership) string
	// anyPatient: allowed requests name a patient made by the request.
	anyPatient bool
	// hidden: someone else's record is answered 404 (refused and recorded).
	hidden bool
}

const perPatient = -1

func ofPatient(e caseEnv, o ownership) string { return e.w.patient(o).ID }

func ownPatientID(e caseEnv, _ ownership) string { return e.w.ownPatient.ID }

var (
	noAudit     = auditRow{}
	oneEvent    = auditRow{success: 1}
	ofPatient1  = auditRow{success: 1, patient: ofPatient}
	hiddenOwned = auditRow{hidden: true}
)

// matrixAudit holds the audit expectation of every route; a route without
// one fails the test, as a route without an access rule does.
var matrixAudit = map[string]auditRow{
	"GET /healthz": noAudit, "GET /readyz": noAudit, "GET /metrics": noAudit, "GET /api/openapi.json": noAudit,
	"GET /api/v1/setup": noAudit, "POST /api/v1/setup": noAudit,
	"POST /api/v1/auth/register": {success: 1, anyPatient: true},
	"POST /api/v1/auth/login":    oneEvent, "POST /api/v1/auth/refresh": noAudit, "POST /api/v1/auth/logout": oneEvent,
	"GET /api/v1/me": noAudit, "POST /api/v1/me/mfa/enroll": oneEvent, "POST /api/v1/me/mfa/confirm": noAudit,
	"GET /api/v1/me/api-keys": noAudit, "POST /api/v1/me/api-keys": oneEvent,
	"DELETE /api/v1/me/api-keys/{id}": {success: 1, hidden: true},
	"GET /api/v1/users":               oneEvent, "POST /api/v1/users": oneEvent, "GET /api/v1/users/{id}": oneEvent, "PATCH /api/v1/users/{id}": oneEvent,
	"GET /api/v1/settings": noAudit, "PATCH /api/v1/settings": oneEvent,
	"GET /api/v1/audit/events": oneEvent, "GET /api/v1/audit/verify": oneEvent, "GET /api/v1/audit/export": oneEvent,
	"GET /api/v1/admin/health":      oneEvent,
	"POST /api/v1/sync/enrollments": oneEvent, "GET /api/v1/sync/nodes": noAudit, "POST /api/v1/sync/nodes/{id}/revoke": oneEvent,
	"POST /api/v1/sync/enroll": oneEvent, "POST /api/v1/sync/ops": noAudit, "GET /api/v1/sync/changes": noAudit,
	"GET /api/v1/sync/audit": noAudit, "POST /api/v1/sync/audit": noAudit, "GET /api/v1/sync/status": noAudit,
	"POST /api/v1/sync/run": noAudit, "POST /api/v1/sync/upstream": noAudit, "GET /api/v1/sync/conflicts": noAudit,
	"POST /api/v1/sync/conflicts/{id}/resolve": {success: 1, patient: ownPatientID},
	"POST /api/v1/sync/leases":                 noAudit, "POST /api/v1/sync/leases/{id}/release": noAudit, "GET /api/v1/sync/node/leases": noAudit,
	"POST /api/v1/sync/node/leases": noAudit, "POST /api/v1/sync/node/leases/{id}/release": noAudit,

	"GET /api/v1/knowledge/sources": noAudit, "POST /api/v1/knowledge/sources": oneEvent,
	"DELETE /api/v1/knowledge/sources/{id}": oneEvent, "POST /api/v1/knowledge/sources/{id}/sync": noAudit,
	"GET /api/v1/knowledge/sources/{id}/failures": noAudit, "GET /api/v1/knowledge/documents": noAudit,
	"GET /api/v1/knowledge/search": noAudit,

	"GET /api/v1/conversations": noAudit, "POST /api/v1/conversations": noAudit,
	"GET /api/v1/conversations/{id}": hiddenOwned, "PATCH /api/v1/conversations/{id}": hiddenOwned,
	"DELETE /api/v1/conversations/{id}": hiddenOwned, "GET /api/v1/conversations/{id}/export": hiddenOwned,
	// The answer is written after the request returns, with its id.
	"POST /api/v1/conversations/{id}/messages": {success: 1, hidden: true},
	"POST /api/v1/conversations/{id}/stop":     hiddenOwned,
	"GET /api/v1/ai/models":                    noAudit, "GET /api/v1/ai/providers": noAudit, "POST /api/v1/ai/providers": oneEvent,
	"PUT /api/v1/ai/providers/{id}": oneEvent, "DELETE /api/v1/ai/providers/{id}": oneEvent,
	"GET /api/v1/ai/settings": noAudit, "PATCH /api/v1/ai/settings": oneEvent, "GET /api/v1/ai/usage": noAudit,
	"GET /api/v1/analytics/appointments": noAudit,
	"GET /v1/models":                     noAudit, "POST /v1/chat/completions": oneEvent,

	"GET /api/v1/me/patient": {success: 1, patient: ownPatientID},
	"GET /api/v1/patients":   {success: perPatient}, "POST /api/v1/patients": {success: 1, anyPatient: true},
	"GET /api/v1/patients/{id}": ofPatient1, "PATCH /api/v1/patients/{id}": ofPatient1,
	"GET /api/v1/patients/{id}/entries": ofPatient1, "POST /api/v1/patients/{id}/entries": ofPatient1,
	"PATCH /api/v1/patients/{id}/entries/{entry_id}": ofPatient1, "DELETE /api/v1/patients/{id}/entries/{entry_id}": ofPatient1,
	"GET /api/v1/patients/{id}/changes": ofPatient1,

	// A doctor is an account and a profile: two events.
	"GET /api/v1/doctors": noAudit, "POST /api/v1/doctors": {success: 2},
	"GET /api/v1/doctors/{id}": noAudit, "GET /api/v1/doctors/{id}/availability": noAudit,
	"PUT /api/v1/doctors/{id}/availability": oneEvent, "GET /api/v1/doctors/{id}/slots": noAudit,

	"GET /api/v1/appointments": {success: perPatient}, "POST /api/v1/appointments": ofPatient1,
	"GET /api/v1/appointments/{id}": ofPatient1, "POST /api/v1/appointments/{id}/cancel": ofPatient1,
	"POST /api/v1/appointments/{id}/reschedule": ofPatient1, "POST /api/v1/appointments/{id}/status": ofPatient1,

	"POST /api/v1/consultations": ofPatient1, "GET /api/v1/consultations": ofPatient1, "GET /api/v1/consultations/{id}": ofPatient1,
	"POST /api/v1/consultations/{id}/consent": ofPatient1, "GET /api/v1/consultations/{id}/transcript": ofPatient1,
	"GET /api/v1/consultations/{id}/audio": noAudit, "POST /api/v1/consultations/{id}/recordings": ofPatient1,
	"GET /api/v1/consultations/{id}/recordings/{rid}/audio": ofPatient1, "POST /api/v1/consultations/{id}/draft": ofPatient1,
	"PUT /api/v1/consultations/{id}/note": ofPatient1, "POST /api/v1/consultations/{id}/sign": ofPatient1,
	"GET /api/v1/transcription/settings": noAudit, "PUT /api/v1/transcription/settings": oneEvent,
	"GET /api/v1/ws": noAudit, "GET /api/v1/notifications": noAudit, "POST /api/v1/notifications/{id}/read": hiddenOwned,

	"GET /fhir/R4/metadata": noAudit, "GET /fhir/R4/Patient": {success: perPatient}, "GET /fhir/R4/Patient/{id}": ofPatient1,
	"GET /fhir/R4/Practitioner": noAudit, "GET /fhir/R4/Practitioner/{id}": noAudit, "GET /fhir/R4/Schedule": noAudit,
	"GET /fhir/R4/Schedule/{id}": noAudit, "GET /fhir/R4/Slot": noAudit,
	"GET /fhir/R4/Appointment": {success: perPatient}, "GET /fhir/R4/Appointment/{id}": ofPatient1,
	"POST /fhir/R4/Appointment": ofPatient1, "GET /fhir/R4/AuditEvent": oneEvent,
	"GET /fhir/R4/DocumentReference": ofPatient1, "GET /fhir/R4/DocumentReference/{id}": ofPatient1,
	"GET /fhir/R4/Encounter": ofPatient1, "GET /fhir/R4/Encounter/{id}": ofPatient1,
}

// sentRequest is one request of the matrix, for the audit check.
type sentRequest struct {
	route, role string
	o           ownership
	status      int
	id          string // X-Request-ID
	patient     string // the expected patient, "" for none
	row         auditRow
}

// wantEvents is how many events the request must leave, and their outcome:
// perPatient for "one or more".
func (r sentRequest) wantEvents() (int, string) {
	switch {
	case r.status == 401:
		return 0, ""
	case r.status == 403, r.status == 404 && r.row.hidden && r.o == other:
		return 1, domain.OutcomeDenied
	case r.status >= 200 && r.status < 300:
		return r.row.success, domain.OutcomeSuccess
	}
	return 0, ""
}

// checkMatrixAudit waits until every request's events are in the log (an
// answer written after its request returns records later), then checks
// each request's events exactly.
func checkMatrixAudit(t *testing.T, a *api, sent []sentRequest) {
	t.Helper()
	var byRequest map[string][]*domain.AuditEvent
	deadline := time.Now().Add(2 * time.Minute) // only reached when an event is missing
	for {
		evs, err := a.DB.ListAudit(context.Background(), domain.AuditFilter{Limit: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		byRequest = map[string][]*domain.AuditEvent{}
		for _, ev := range evs {
			byRequest[ev.RequestID] = append(byRequest[ev.RequestID], ev)
		}
		missing := 0
		for _, r := range sent {
			if n, _ := r.wantEvents(); len(byRequest[r.id]) < max(n, 0) || (n == perPatient && len(byRequest[r.id]) == 0) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the log; the deadline above is what bounds the wait
	}
	for _, r := range sent {
		evs := byRequest[r.id]
		n, outcome := r.wantEvents()
		where := fmt.Sprintf("%s as %s (%s), status %d", r.route, r.role, r.o, r.status)
		switch {
		case n == perPatient && len(evs) == 0:
			t.Errorf("%s: no audit event, want one for each patient found", where)
			continue
		case n != perPatient && len(evs) != n:
			t.Errorf("%s: %d audit events %s, want %d", where, len(evs), describeEvents(evs), n)
			continue
		}
		for _, ev := range evs {
			if ev.Outcome != outcome {
				t.Errorf("%s: event %s, want outcome %s", where, describeEvents([]*domain.AuditEvent{ev}), outcome)
			}
			if ev.ActorID == "" && r.role != "anonymous" {
				t.Errorf("%s: event %s names no actor", where, describeEvents([]*domain.AuditEvent{ev}))
			}
			if ev.SourceIP == "" || ev.UserAgent == "" {
				t.Errorf("%s: event %s lacks the address or user agent", where, describeEvents([]*domain.AuditEvent{ev}))
			}
			switch {
			case n == perPatient:
				if ev.PatientID == "" && len(evs) > 1 {
					t.Errorf("%s: a search event names no patient among %d", where, len(evs))
				}
			case outcome == domain.OutcomeSuccess && r.row.anyPatient:
				if ev.PatientID == "" {
					t.Errorf("%s: event %s names no patient", where, describeEvents([]*domain.AuditEvent{ev}))
				}
			case ev.PatientID != r.patient:
				t.Errorf("%s: event %s names patient %q, want %q", where, describeEvents([]*domain.AuditEvent{ev}), ev.PatientID, r.patient)
			}
			if outcome == domain.OutcomeDenied && r.status == 404 && ev.Detail != access.DetailHidden {
				t.Errorf("%s: a record hidden as not found is recorded with detail %q", where, ev.Detail)
			}
		}
	}
}

func describeEvents(evs []*domain.AuditEvent) string {
	var parts []string
	for _, ev := range evs {
		parts = append(parts, fmt.Sprintf("[%s %s %s patient=%s %s]", ev.Action, ev.ResourceType, ev.Outcome, ev.PatientID, ev.Detail))
	}
	return strings.Join(parts, " ")
}
