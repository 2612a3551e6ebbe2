package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
)

// readAppointment authorises like GET /api/v1/appointments/{id}; the portal
// audits the read.
func (h *Handlers) readAppointment(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkID("Appointment", id); err != nil {
		return err
	}
	if _, err := parseParams(r.URL.RawQuery, "Appointment read"); err != nil {
		return err
	}
	a, err := h.portal.Appointment(r.Context(), id)
	if err != nil {
		return err
	}
	h.write(w, r, http.StatusOK, toAppointment(a))
	return nil
}

// searchAppointments follows GET /api/v1/appointments: the portal narrows
// the search to what the caller may see and refuses asking for someone
// else's. date matches appointments whose time overlaps the date range.
func (h *Handlers) searchAppointments(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := parseParams(r.URL.RawQuery, "Appointment", "patient", "practitioner", "actor", "date", "status", "_count", "_offset")
	if err != nil {
		return err
	}
	base := h.base(r)
	var f domain.AppointmentFilter
	if _, f.PatientID, err = q.reference("patient", base, "Patient"); err != nil {
		return err
	}
	if _, f.DoctorID, err = q.reference("practitioner", base, "Practitioner"); err != nil {
		return err
	}
	typ, actor, err := q.reference("actor", base, "Patient", "Practitioner")
	if err != nil {
		return err
	}
	switch typ {
	case "Patient":
		if f.PatientID != "" && f.PatientID != actor {
			return domain.Invalid("actor", "patient and actor name different patients; give one of them.")
		}
		f.PatientID = actor
	case "Practitioner":
		if f.DoctorID != "" && f.DoctorID != actor {
			return domain.Invalid("actor", "practitioner and actor name different practitioners; give one of them.")
		}
		f.DoctorID = actor
	}
	if f.Status, err = q.token("status", systemAppointment); err != nil {
		return err
	}
	if f.Status != "" && !appointmentStatuses[f.Status] {
		return domain.Invalid("status", "Unknown appointment status %q; use proposed, pending, booked, arrived, fulfilled, cancelled, noshow, entered-in-error, checked-in or waitlist.", clip(f.Status, 40))
	}
	rng, err := q.dates("date")
	if err != nil {
		return err
	}
	f.From, f.To = rng.From, rng.To
	pg, err := q.page()
	if err != nil {
		return err
	}
	if err := h.portal.ScopeAppointments(ctx, &f); err != nil {
		return err
	}
	total, err := count(ctx, func(ctx context.Context, limit, offset int) (int, error) {
		c := f
		c.Limit, c.Offset = limit, offset
		as, err := h.store.ListAppointments(ctx, c)
		return len(as), err
	})
	if err != nil {
		return err
	}
	f.Limit, f.Offset = pg.count, pg.offset
	list, err := h.portal.ListAppointments(ctx, f)
	if err != nil {
		return err
	}
	var items []entry
	for _, a := range list {
		items = append(items, entry{a.ID, toAppointment(a)})
	}
	h.write(w, r, http.StatusOK, h.searchset(r, "Appointment", items, &total, pg, pg.offset+pg.count < total))
	return nil
}

// maxBody limits a posted resource.
const maxBody = 1 << 20

// appointmentIn is what HealthHub reads of a posted Appointment; other
// elements are ignored.
type appointmentIn struct {
	ResourceType string          `json:"resourceType"`
	Status       string          `json:"status"`
	Description  string          `json:"description"`
	Start        string          `json:"start"`
	End          string          `json:"end"`
	Slot         []referenceIn   `json:"slot"`
	Participant  []participantIn `json:"participant"`
}

type referenceIn struct {
	Reference string `json:"reference"`
}

type participantIn struct {
	Actor  *referenceIn `json:"actor"`
	Status string       `json:"status"`
}

var participationStatuses = map[string]bool{"accepted": true, "declined": true, "tentative": true, "needs-action": true}

// createAppointment books an appointment, like POST /api/v1/appointments:
// from a Slot reference, or from start and end with the practitioner among
// the participants. A repeated Idempotency-Key answers 200 with the
// appointment the first request made.
func (h *Handlers) createAppointment(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseParams(r.URL.RawQuery, "Appointment create"); err != nil {
		return err
	}
	if r.Header.Get("If-None-Exist") != "" {
		return domain.Invalid("If-None-Exist", "Conditional create is not supported; send an Idempotency-Key header to make retries safe.")
	}
	in, err := decodeAppointment(w, r)
	if err != nil {
		return err
	}
	req, err := bookRequest(in, h.base(r))
	if err != nil {
		return err
	}
	b, err := h.portal.Book(r.Context(), req, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if b.Replayed {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", h.base(r)+"/Appointment/"+b.Appointment.ID)
	h.write(w, r, status, toAppointment(b.Appointment))
	return nil
}

// decodeAppointment reads one JSON object of at most maxBody bytes.
func decodeAppointment(w http.ResponseWriter, r *http.Request) (*appointmentIn, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &outcomeError{status: http.StatusUnsupportedMediaType, code: "not-supported",
				msg: "Send the Appointment as JSON with Content-Type: application/fhir+json."}
		}
	}
	return decodeAppointmentJSON(http.MaxBytesReader(w, r.Body, maxBody))
}

// decodeAppointmentJSON decodes a posted Appointment; the fuzz target drives it.
func decodeAppointmentJSON(body io.Reader) (*appointmentIn, error) {
	var in appointmentIn
	dec := json.NewDecoder(body)
	if err := dec.Decode(&in); err != nil {
		return nil, describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, describeJSONError(err)
		}
		return nil, domain.Invalid("", "The request body must hold exactly one JSON object, the Appointment.")
	}
	if in.ResourceType != "Appointment" {
		return nil, domain.Invalid("", "The body must be a FHIR Appointment resource (\"resourceType\": \"Appointment\"), not %q.", clip(in.ResourceType, 40))
	}
	return &in, nil
}

func describeJSONError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return domain.Invalid("", "The request body is empty; send an Appointment resource as JSON.")
	case errors.As(err, &tooBig):
		return &domain.Error{Code: domain.ETOOLARGE, Message: fmt.Sprintf("The request body is larger than the %d KiB allowed.", tooBig.Limit/1024)}
	case errors.As(err, &syntax):
		return domain.Invalid("", "The request body is not valid JSON (error at byte %d).", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Invalid("", "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &typ):
		if typ.Field != "" {
			return domain.Invalid("Appointment."+typ.Field, "Appointment.%s has the wrong type (%s); see https://hl7.org/fhir/R4/appointment.html.", typ.Field, typ.Value)
		}
		return domain.Invalid("", "The request body must be a JSON object, the Appointment, not %s.", typ.Value)
	}
	return domain.Invalid("", "The request body could not be read as JSON.")
}

// bookRequest turns a posted Appointment into a booking: the patient from
// the participants, the doctor and time from the slot or from the
// practitioner participant and start/end.
func bookRequest(in *appointmentIn, base string) (portal.BookRequest, error) {
	var req portal.BookRequest
	switch in.Status {
	case "", domain.StatusBooked:
	default:
		if appointmentStatuses[in.Status] {
			return req, domain.Invalid("Appointment.status", "HealthHub creates appointments as booked; send status booked or leave it out.")
		}
		return req, domain.Invalid("Appointment.status", "Unknown appointment status %q; send booked.", clip(in.Status, 40))
	}
	for i, p := range in.Participant {
		field := fmt.Sprintf("Appointment.participant[%d]", i)
		if p.Status != "" && !participationStatuses[p.Status] {
			return req, domain.Invalid(field+".status", "Unknown participant status %q; use accepted, tentative or needs-action.", clip(p.Status, 40))
		}
		if p.Status == "declined" {
			return req, domain.Invalid(field+".status", "A participant of a new appointment cannot have declined it.")
		}
		if p.Actor == nil || p.Actor.Reference == "" {
			return req, domain.Invalid(field+".actor", "Each participant needs actor.reference: Patient/{id} or Practitioner/{id}.")
		}
		typ, id, err := parseReference(field+".actor", p.Actor.Reference, base, "Patient", "Practitioner")
		if err != nil {
			return req, err
		}
		dst := &req.PatientID
		if typ == "Practitioner" {
			dst = &req.DoctorID
		}
		if *dst != "" && *dst != id {
			return req, domain.Invalid(field+".actor", "An appointment has one %s; the participants name two.", strings.ToLower(typ))
		}
		*dst = id
	}
	start, err := parseInstant("Appointment.start", in.Start)
	if err != nil {
		return req, err
	}
	end, err := parseInstant("Appointment.end", in.End)
	if err != nil {
		return req, err
	}
	switch len(in.Slot) {
	case 0:
		if start.IsZero() || end.IsZero() {
			return req, domain.Invalid("Appointment.slot", "Give the slot to book (\"slot\": [{\"reference\": \"Slot/{id}\"}] from GET /fhir/R4/Slot), or start and end.")
		}
		if req.DoctorID == "" {
			return req, domain.Invalid("Appointment.participant", "Name the practitioner: a participant with actor.reference Practitioner/{id}, or book a Slot.")
		}
	case 1:
		_, id, err := parseReference("Appointment.slot[0]", in.Slot[0].Reference, base, "Slot")
		if err != nil {
			return req, err
		}
		doctorID, s, e, err := parseSlotID("Appointment.slot[0]", id)
		if err != nil {
			return req, err
		}
		if req.DoctorID != "" && req.DoctorID != doctorID {
			return req, domain.Invalid("Appointment.participant", "The practitioner participant is not the practitioner of the slot.")
		}
		if (!start.IsZero() && !start.Equal(s)) || (!end.IsZero() && !end.Equal(e)) {
			return req, domain.Invalid("Appointment.start", "start and end differ from the slot's; leave them out or give the slot's times.")
		}
		req.DoctorID, start, end = doctorID, s, e
	default:
		return req, domain.Invalid("Appointment.slot", "Book one slot per appointment.")
	}
	if req.PatientID == "" {
		return req, domain.Invalid("Appointment.participant", "Name the patient: a participant with actor.reference Patient/{id}.")
	}
	req.Start, req.End, req.Reason = start, end, in.Description
	return req, nil
}

// parseInstant reads an optional FHIR instant (RFC 3339 with a zone).
func parseInstant(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, domain.Invalid(field, "%s must be an instant with a time zone, such as 2026-03-01T09:00:00Z.", field)
	}
	return t, nil
}
