package fhir

import (
	"context"
	"crypto/sha1" // R4 Attachment.hash is defined as SHA-1
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/domain"
)

// Consultations is what the FHIR API uses of consultations; *consult.Service
// is one. Both methods decide access and audit the read, so every visit
// note or encounter served went through them.
type Consultations interface {
	List(ctx context.Context, f consult.ListFilter) ([]*domain.Consultation, error)
	Get(ctx context.Context, id string) (*domain.Consultation, []*domain.Recording, error)
}

var _ Consultations = (*consult.Service)(nil)

// UseConsultations serves consultations as Encounter resources and their
// signed visit notes as DocumentReference resources. Call it before Routes:
// without it those routes and their CapabilityStatement entries do not
// exist.
func (h *Handlers) UseConsultations(c Consultations) { h.consult = c }

func (h *Handlers) documentRoutes() []Route {
	return []Route{
		{Method: "GET", Path: Base + "/DocumentReference", Summary: "Search signed visit notes (patient, date), as the consultation service lets the caller see them", Handler: h.search("DocumentReference", h.searchDocumentReferences)},
		{Method: "GET", Path: Base + "/DocumentReference/{id}", Summary: "Read a signed visit note", Handler: h.serve(h.readDocumentReference, true)},
		{Method: "GET", Path: Base + "/Encounter", Summary: "Search consultations as encounters (patient, date)", Handler: h.search("Encounter", h.searchEncounters)},
		{Method: "GET", Path: Base + "/Encounter/{id}", Summary: "Read a consultation as an encounter", Handler: h.serve(h.readEncounter, true)},
	}
}

// documentCapabilities are the CapabilityStatement entries of the routes
// UseConsultations adds.
var documentCapabilities = []capabilityResource{
	{Type: "DocumentReference", Documentation: "Signed visit notes, one per consultation (the id is the consultation's, and context.encounter its Encounter); drafts are never exported. Doctors see those of patients they treat, patients their own where the clinic lets them; the front desk and admins none. The note is a text/plain attachment. A search looks at the 200 newest consultations it matches.",
		Interaction: interactions("read", "search-type"),
		SearchParam: []searchParam{{Name: "patient", Type: "reference", Documentation: "Patient/{id}; required for patients. Without it a doctor gets their own consultations' notes."},
			{Name: "date", Type: "date", Documentation: "When the note was signed: prefix ge, gt, le, lt or eq; a date without a time is that day in UTC."}, countParam, offsetParam, summaryParam}},
	{Type: "Encounter", Documentation: "One ambulatory encounter per consultation: finished once its note is signed, in progress before. Access as for DocumentReference (patients see only encounters with a signed note). A search looks at the 200 newest consultations it matches.",
		Interaction: interactions("read", "search-type"),
		SearchParam: []searchParam{{Name: "patient", Type: "reference", Documentation: "Patient/{id}; required for patients. Without it a doctor gets their own consultations."},
			{Name: "date", Type: "date", Documentation: "Encounters whose period overlaps the range (an unsigned one lasts until now and on): prefix ge, gt, le, lt or eq."}, countParam, offsetParam, summaryParam}},
}

// readDocumentReference reads a consultation through the consultation
// service, which decides and audits; one whose note is not signed is no
// document.
func (h *Handlers) readDocumentReference(w http.ResponseWriter, r *http.Request) error {
	c, err := h.readConsultation(r, "DocumentReference")
	if err != nil {
		return err
	}
	if c.NoteStatus != domain.NoteSigned {
		return domain.Errorf(domain.ENOTFOUND, "This visit note is not signed, so it is not a document yet; only signed notes are exported as DocumentReference.")
	}
	h.write(w, r, http.StatusOK, toDocumentReference(c))
	return nil
}

func (h *Handlers) readEncounter(w http.ResponseWriter, r *http.Request) error {
	c, err := h.readConsultation(r, "Encounter")
	if err != nil {
		return err
	}
	h.write(w, r, http.StatusOK, toEncounter(c))
	return nil
}

func (h *Handlers) readConsultation(r *http.Request, resource string) (*domain.Consultation, error) {
	id := r.PathValue("id")
	if err := checkID(resource, id); err != nil {
		return nil, err
	}
	if _, err := parseParams(r.URL.RawQuery, resource+" read"); err != nil {
		return nil, err
	}
	c, _, err := h.consult.Get(r.Context(), id)
	return c, err
}

// searchDocumentReferences lists the signed notes among the consultations
// the service lets the caller see, by when they were signed.
func (h *Handlers) searchDocumentReferences(w http.ResponseWriter, r *http.Request) error {
	return h.searchAs(w, r, "DocumentReference", func(c *domain.Consultation, rng dateRange) bool {
		return c.NoteStatus == domain.NoteSigned && rng.contains(c.SignedAt)
	}, func(c *domain.Consultation) any { return toDocumentReference(c) })
}

// searchEncounters lists the consultations the service lets the caller
// see whose period overlaps the date range.
func (h *Handlers) searchEncounters(w http.ResponseWriter, r *http.Request) error {
	return h.searchAs(w, r, "Encounter", func(c *domain.Consultation, rng dateRange) bool {
		return rng.overlaps(c.CreatedAt, c.SignedAt)
	}, func(c *domain.Consultation) any { return toEncounter(c) })
}

// searchAs answers a search of consultations as resource: those keep
// admits, newest first, each mapped by toResource.
func (h *Handlers) searchAs(w http.ResponseWriter, r *http.Request, resource string, keep func(*domain.Consultation, dateRange) bool, toResource func(*domain.Consultation) any) error {
	cs, rng, pg, err := h.searchConsultations(r, resource)
	if err != nil {
		return err
	}
	var match []*domain.Consultation
	for _, c := range cs {
		if keep(c, rng) {
			match = append(match, c)
		}
	}
	shown, total, more := window(match, pg)
	var items []entry
	for _, c := range shown {
		items = append(items, entry{c.ID, toResource(c)})
	}
	h.write(w, r, http.StatusOK, h.searchset(r, resource, items, total, pg, more))
	return nil
}

// searchConsultations reads the parameters both searches share and lists
// the consultations through the service, which narrows them to what the
// caller may see and audits the search.
func (h *Handlers) searchConsultations(r *http.Request, resource string) ([]*domain.Consultation, dateRange, page, error) {
	ctx := r.Context()
	var rng dateRange
	var pg page
	q, err := parseParams(r.URL.RawQuery, resource, "patient", "date", "_count", "_offset")
	if err != nil {
		return nil, rng, pg, err
	}
	_, patientID, err := q.reference("patient", h.base(r), "Patient")
	if err != nil {
		return nil, rng, pg, err
	}
	if rng, err = q.dates("date"); err != nil {
		return nil, rng, pg, err
	}
	if pg, err = q.page(); err != nil {
		return nil, rng, pg, err
	}
	if p := domain.PrincipalFrom(ctx); patientID == "" && p != nil && p.Role == domain.RolePatient {
		return nil, rng, pg, domain.Invalid("patient", "Give the patient whose %s resources to search: patient=Patient/{id} with the id of your own record.", resource)
	}
	cs, err := h.consult.List(ctx, consult.ListFilter{PatientID: patientID})
	return cs, rng, pg, searchError(err)
}

// searchError names the search parameter where the consultation service
// names its own input field.
func searchError(err error) error {
	var de *domain.Error
	if errors.As(err, &de) && de.Code == domain.EINVALID && de.Field == "patient_id" {
		return domain.Invalid("patient", "%s", de.Message)
	}
	return err
}

// contains reports whether t lies in the range.
func (d dateRange) contains(t time.Time) bool {
	return !t.IsZero() && (d.From.IsZero() || !t.Before(d.From)) && (d.To.IsZero() || t.Before(d.To))
}

// overlaps reports whether the period from start to end (open when end is
// zero) shares a moment with the range.
func (d dateRange) overlaps(start, end time.Time) bool {
	return (d.To.IsZero() || start.Before(d.To)) && (d.From.IsZero() || end.IsZero() || !end.Before(d.From))
}

// Code systems of the documents and encounters.
const (
	systemLOINC            = "http://loinc.org"
	systemDocumentCategory = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
	systemActCode          = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	systemParticipantType  = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
)

// visitNoteType is the LOINC document type of a signed visit note. A
// HealthHub note records one outpatient visit (its reason, the history
// taken, the findings and the plan) within ongoing care, which is what
// 11506-3 Progress note describes; 34117-2 History and physical note is the
// comprehensive admission or initial work-up, which a short visit note is
// not. 11506-3 is also one of the note types US Core's clinical notes
// require, so clients that look for notes look for it.
var visitNoteType = codeableConcept{Coding: []coding{{System: systemLOINC, Code: "11506-3", Display: "Progress note"}}, Text: "Visit note"}

var clinicalNote = codeableConcept{Coding: []coding{{System: systemDocumentCategory, Code: "clinical-note", Display: "Clinical Note"}}}

type documentReferenceResource struct {
	ResourceType  string            `json:"resourceType"`
	ID            string            `json:"id"`
	Meta          *meta             `json:"meta,omitempty"`
	Status        string            `json:"status"`
	DocStatus     string            `json:"docStatus"`
	Type          codeableConcept   `json:"type"`
	Category      []codeableConcept `json:"category"`
	Subject       reference         `json:"subject"`
	Date          string            `json:"date,omitempty"`
	Author        []reference       `json:"author,omitempty"`
	Authenticator *reference        `json:"authenticator,omitempty"`
	Description   string            `json:"description,omitempty"`
	Content       []documentContent `json:"content"`
	Context       *documentContext  `json:"context,omitempty"`
}

type documentContent struct {
	Attachment attachment `json:"attachment"`
}

type attachment struct {
	ContentType string `json:"contentType"`
	Data        string `json:"data"`
	Size        int    `json:"size"`
	Hash        string `json:"hash"`
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

type documentContext struct {
	Encounter []reference `json:"encounter,omitempty"`
	Period    *period     `json:"period,omitempty"`
}

// noteContentType is the attachment's media type.
const noteContentType = "text/plain; charset=utf-8"

// toDocumentReference maps a consultation with a signed note.
func toDocumentReference(c *domain.Consultation) documentReferenceResource {
	text := []byte(noteText(c.Note))
	sum := sha1.Sum(text)
	signed := instant(c.SignedAt)
	out := documentReferenceResource{ResourceType: "DocumentReference", ID: c.ID, Meta: lastUpdated(c.UpdatedAt),
		Status: "current", DocStatus: "final", Type: visitNoteType, Category: []codeableConcept{clinicalNote},
		Subject: reference{Reference: "Patient/" + c.PatientID, Display: c.PatientName}, Date: signed,
		Description: "Visit note",
		Content: []documentContent{{Attachment: attachment{ContentType: noteContentType, Data: base64.StdEncoding.EncodeToString(text),
			Size: len(text), Hash: base64.StdEncoding.EncodeToString(sum[:]), Title: "Visit note of " + c.SignedAt.UTC().Format(time.DateOnly), Creation: signed}}},
		Context: &documentContext{Encounter: []reference{{Reference: "Encounter/" + c.ID}}, Period: consultationPeriod(c)},
	}
	if c.DoctorID != "" {
		doctor := reference{Reference: "Practitioner/" + c.DoctorID, Display: c.DoctorName}
		out.Author = []reference{doctor}
		out.Authenticator = &doctor
	}
	return out
}

// noteParts are the headings of the note's text, in order.
var noteParts = []struct {
	heading string
	text    func(domain.VisitNote) string
}{
	{"Reason for visit", func(n domain.VisitNote) string { return n.Reason }},
	{"History", func(n domain.VisitNote) string { return n.History }},
	{"Findings", func(n domain.VisitNote) string { return n.Findings }},
	{"Plan", func(n domain.VisitNote) string { return n.Plan }},
}

// noteText is a visit note as plain text: each part under its heading, an
// empty part said to be so.
func noteText(n domain.VisitNote) string {
	var b strings.Builder
	for i, p := range noteParts {
		if i > 0 {
			b.WriteString("\n")
		}
		text := strings.TrimSpace(p.text(n))
		if text == "" {
			text = "Not recorded."
		}
		b.WriteString(p.heading + "\n" + text + "\n")
	}
	return b.String()
}

type encounterResource struct {
	ResourceType string                 `json:"resourceType"`
	ID           string                 `json:"id"`
	Meta         *meta                  `json:"meta,omitempty"`
	Status       string                 `json:"status"`
	Class        coding                 `json:"class"`
	Subject      reference              `json:"subject"`
	Participant  []encounterParticipant `json:"participant,omitempty"`
	Appointment  []reference            `json:"appointment,omitempty"`
	Period       *period                `json:"period,omitempty"`
	ReasonCode   []codeableConcept      `json:"reasonCode,omitempty"`
}

type encounterParticipant struct {
	Type       []codeableConcept `json:"type,omitempty"`
	Individual *reference        `json:"individual,omitempty"`
}

// ambulatory is the class of every consultation: an outpatient visit.
var ambulatory = coding{System: systemActCode, Code: "AMB", Display: "ambulatory"}

var primaryPerformer = codeableConcept{Coding: []coding{{System: systemParticipantType, Code: "PPRF", Display: "primary performer"}}}

// toEncounter maps a consultation: finished once its note is signed. The
// reason is given from a signed note only, drafts being unfinished text.
func toEncounter(c *domain.Consultation) encounterResource {
	out := encounterResource{ResourceType: "Encounter", ID: c.ID, Meta: lastUpdated(c.UpdatedAt), Status: "in-progress", Class: ambulatory,
		Subject: reference{Reference: "Patient/" + c.PatientID, Display: c.PatientName}, Period: consultationPeriod(c)}
	if c.NoteStatus == domain.NoteSigned {
		out.Status = "finished"
		if reason := strings.TrimSpace(c.Note.Reason); reason != "" {
			out.ReasonCode = []codeableConcept{{Text: reason}}
		}
	}
	if c.DoctorID != "" {
		out.Participant = []encounterParticipant{{Type: []codeableConcept{primaryPerformer},
			Individual: &reference{Reference: "Practitioner/" + c.DoctorID, Display: c.DoctorName}}}
	}
	if c.AppointmentID != "" {
		out.Appointment = []reference{{Reference: "Appointment/" + c.AppointmentID}}
	}
	return out
}

// consultationPeriod runs from the consultation's start to its note's
// signature (open while unsigned).
func consultationPeriod(c *domain.Consultation) *period {
	var p period
	if !c.CreatedAt.IsZero() {
		p.Start = instant(c.CreatedAt)
	}
	if c.NoteStatus == domain.NoteSigned && !c.SignedAt.IsZero() {
		p.End = instant(c.SignedAt)
	}
	if p == (period{}) {
		return nil
	}
	return &p
}
