// Package fhir serves HealthHub's patients, doctors, schedules, free slots,
// appointments and audit log as FHIR R4 JSON resources. It authorises and
// audits through the same portal service as the REST API, so a FHIR client
// sees exactly what the same user sees there.
package fhir

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/trail"
)

// Portal is what the FHIR API uses of the portal service; *portal.Service
// is one.
type Portal interface {
	ScopePatients(ctx context.Context, f *domain.PatientFilter) error
	Patient(ctx context.Context, id string) (*domain.Patient, error)
	ListPatients(ctx context.Context, f domain.PatientFilter) ([]*domain.Patient, error)

	Doctor(ctx context.Context, id string) (*domain.Doctor, error)
	ListDoctors(ctx context.Context, specialization string) ([]*domain.Doctor, error)
	Availability(ctx context.Context, doctorID string) (*domain.Availability, error)
	Slots(ctx context.Context, doctorID string, from, to time.Time) ([]portal.Slot, error)

	Appointment(ctx context.Context, id string) (*domain.Appointment, error)
	ScopeAppointments(ctx context.Context, f *domain.AppointmentFilter) error
	ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error)
	Book(ctx context.Context, in portal.BookRequest, idempotencyKey string) (*portal.Booked, error)
}

// Store is what the FHIR API reads directly: the audit log, and the patient
// and appointment lists to count search totals (the pages themselves are
// read through the portal, which audits them). domain.Store is one.
type Store interface {
	ListPatients(ctx context.Context, f domain.PatientFilter) ([]*domain.Patient, error)
	ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error)
	ListAudit(ctx context.Context, f domain.AuditFilter) ([]*domain.AuditEvent, error)
	ScanAudit(ctx context.Context, afterSeq int64, limit int) ([]*domain.AuditEvent, error)
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}

var (
	_ Portal         = (*portal.Service)(nil)
	_ Store          = domain.Store(nil)
	_ audit.Recorder = (*audit.Log)(nil)
)

// Handlers serves the FHIR R4 endpoints.
type Handlers struct {
	portal    Portal
	store     Store
	audit     audit.Recorder
	trail     *trail.Service
	consult   Consultations // nil: no DocumentReference or Encounter (see UseConsultations)
	now       func() time.Time
	logger    *slog.Logger
	baseURL   func(r *http.Request) string
	published time.Time
}

// New builds the handlers. baseURL returns the server's public origin for a
// request (such as https://clinic.example.org); "/fhir/R4" is appended unless
// it already ends with it. With a nil baseURL, or when it returns "", the
// request's own scheme and Host are used.
func New(p Portal, store Store, rec audit.Recorder, now func() time.Time, logger *slog.Logger, baseURL func(r *http.Request) string) *Handlers {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handlers{portal: p, store: store, audit: rec, trail: trail.New(store, rec), now: now, logger: logger, baseURL: baseURL, published: now().UTC().Truncate(time.Second)}
}

// Route is one FHIR endpoint. Every route except the public ones needs a
// signed-in caller in the request context (domain.WithPrincipal); without one
// it answers 401.
type Route struct {
	Method, Path, Summary string
	// Public routes need no caller: the CapabilityStatement.
	Public  bool
	Handler http.Handler
}

// Base is the path every route starts with.
const Base = "/fhir/R4"

// Routes lists every endpoint.
func (h *Handlers) Routes() []Route {
	routes := []Route{
		{Method: "GET", Path: Base + "/metadata", Summary: "FHIR CapabilityStatement: what this server supports", Public: true, Handler: h.serve(h.metadata, false)},
		{Method: "GET", Path: Base + "/Patient", Summary: "Search patients (name); a doctor sees their own", Handler: h.search("Patient", h.searchPatients)},
		{Method: "GET", Path: Base + "/Patient/{id}", Summary: "Read a patient", Handler: h.serve(h.readPatient, true)},
		{Method: "GET", Path: Base + "/Practitioner", Summary: "Search doctors (name, specialty)", Handler: h.search("Practitioner", h.searchPractitioners)},
		{Method: "GET", Path: Base + "/Practitioner/{id}", Summary: "Read a doctor", Handler: h.serve(h.readPractitioner, true)},
		{Method: "GET", Path: Base + "/Schedule", Summary: "Search doctors' schedules (actor)", Handler: h.search("Schedule", h.searchSchedules)},
		{Method: "GET", Path: Base + "/Schedule/{id}", Summary: "Read a doctor's schedule", Handler: h.serve(h.readSchedule, true)},
		{Method: "GET", Path: Base + "/Slot", Summary: "Search free slots of a schedule (schedule, start, status=free)", Handler: h.search("Slot", h.searchSlots)},
		{Method: "GET", Path: Base + "/Appointment", Summary: "Search appointments (patient, practitioner, actor, date, status), narrowed to what the caller may see", Handler: h.search("Appointment", h.searchAppointments)},
		{Method: "GET", Path: Base + "/Appointment/{id}", Summary: "Read an appointment", Handler: h.serve(h.readAppointment, true)},
		{Method: "POST", Path: Base + "/Appointment", Summary: "Book an appointment from a free Slot or start/end and participants (Idempotency-Key makes retries safe)", Handler: h.serve(h.createAppointment, true)},
		{Method: "GET", Path: Base + "/AuditEvent", Summary: "Search the audit log as AuditEvent resources (admins)", Handler: h.search("AuditEvent", h.searchAuditEvents)},
	}
	if h.consult != nil {
		routes = append(routes, h.documentRoutes()...)
	}
	return routes
}

// serve adapts a handler that returns its error: content negotiation first,
// then the caller check, and every error as an OperationOutcome.
func (h *Handlers) serve(fn func(w http.ResponseWriter, r *http.Request) error, signedIn bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := negotiate(r); err != nil {
			h.WriteError(w, r, err)
			return
		}
		if signedIn && domain.PrincipalFrom(r.Context()) == nil {
			h.WriteError(w, r, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "Sign in first: send Authorization: Bearer <access token>."})
			return
		}
		if err := fn(w, r); err != nil {
			h.WriteError(w, r, err)
		}
	})
}

// search serves the search-type interaction of resource. Strict handling
// is the default: the handler refuses a parameter it does not support. With
// Prefer: handling=lenient the parameters the CapabilityStatement does not
// declare are left out first, and the answer says so.
func (h *Handlers) search(resource string, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return h.serve(func(w http.ResponseWriter, r *http.Request) error {
		if prefersLenient(r.Header) {
			w.Header().Set("Preference-Applied", "handling=lenient")
			r = ignoreUnknown(r, resource)
		}
		return fn(w, r)
	}, true)
}

// ContentType is the media type of every response.
const ContentType = "application/fhir+json; charset=utf-8"

// jsonTypes are the media types that mean FHIR JSON.
var jsonTypes = map[string]bool{"json": true, "application/json": true, "application/fhir+json": true, "application/json+fhir": true}

// negotiate refuses requests for a format other than JSON (_format, Accept)
// and checks _pretty.
func negotiate(r *http.Request) error {
	q := r.URL.Query()
	for _, f := range q["_format"] {
		mt, _, _ := strings.Cut(f, ";")
		if !jsonTypes[strings.ToLower(strings.TrimSpace(mt))] {
			return &outcomeError{status: http.StatusNotAcceptable, code: "not-supported",
				msg: "HealthHub serves FHIR as JSON only; use _format=json or leave _format out."}
		}
	}
	for _, p := range q["_pretty"] {
		if p != "true" && p != "false" {
			return domain.Invalid("_pretty", "_pretty must be true or false.")
		}
	}
	if accept := r.Header.Get("Accept"); accept != "" && len(q["_format"]) == 0 && !acceptsJSON(accept) {
		return &outcomeError{status: http.StatusNotAcceptable, code: "not-supported",
			msg: "HealthHub serves FHIR as JSON only; send Accept: application/fhir+json."}
	}
	return nil
}

func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt == "*/*" || mt == "application/*" || jsonTypes[mt] || strings.HasSuffix(mt, "+json") {
			return true
		}
	}
	return false
}

// write sends one resource.
func (h *Handlers) write(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // JSON, never HTML: links keep their '&'
	if r.URL.Query().Get("_pretty") == "true" {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		h.logger.Warn("fhir response not written", "err", err, "request_id", domain.RequestMetaFrom(r.Context()).RequestID)
	}
}

// base is the FHIR base URL of the server as the caller reaches it.
func (h *Handlers) base(r *http.Request) string {
	var b string
	if h.baseURL != nil {
		b = strings.TrimRight(h.baseURL(r), "/")
	}
	if b == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		b = scheme + "://" + r.Host
	}
	if !strings.HasSuffix(b, Base) {
		b += Base
	}
	return b
}
