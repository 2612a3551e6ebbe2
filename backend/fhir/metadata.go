package fhir

import (
	"net/http"
	"slices"
	"time"
)

// FHIRVersion is the version of FHIR served.
const FHIRVersion = "4.0.1"

type capabilityStatement struct {
	ResourceType   string           `json:"resourceType"`
	Status         string           `json:"status"`
	Date           string           `json:"date"`
	Publisher      string           `json:"publisher,omitempty"`
	Kind           string           `json:"kind"`
	Software       *software        `json:"software,omitempty"`
	Implementation *implementation  `json:"implementation,omitempty"`
	FHIRVersion    string           `json:"fhirVersion"`
	Format         []string         `json:"format"`
	Rest           []capabilityRest `json:"rest"`
}

type software struct {
	Name string `json:"name"`
}

type implementation struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

type capabilityRest struct {
	Mode          string               `json:"mode"`
	Documentation string               `json:"documentation,omitempty"`
	Security      *restSecurity        `json:"security,omitempty"`
	Resource      []capabilityResource `json:"resource"`
}

type restSecurity struct {
	Description string `json:"description"`
}

type capabilityResource struct {
	Type          string        `json:"type"`
	Documentation string        `json:"documentation,omitempty"`
	Interaction   []interaction `json:"interaction"`
	SearchParam   []searchParam `json:"searchParam,omitempty"`
}

type interaction struct {
	Code string `json:"code"`
}

type searchParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

func interactions(codes ...string) []interaction {
	out := make([]interaction, len(codes))
	for i, c := range codes {
		out[i] = interaction{Code: c}
	}
	return out
}

var (
	countParam   = searchParam{Name: "_count", Type: "number", Documentation: "Matches per page, 0 to 200 (default 50); 0 gives the total alone, as _summary=count does."}
	offsetParam  = searchParam{Name: "_offset", Type: "number", Documentation: "Skip this many matches (the next and previous links set it)."}
	summaryParam = searchParam{Name: "_summary", Type: "token", Documentation: "count: the total alone, without the matches. false: the matches in full (the default). Other values are refused."}
)

// capabilities lists what every route supports; the handlers refuse any
// other search parameter, and a lenient search (Prefer: handling=lenient)
// leaves out every parameter not declared here.
var capabilities = []capabilityResource{
	{Type: "Patient", Documentation: "Patients may read their own record; doctors the records of patients they have appointments with; the front desk and admins every record. Only doctors, the front desk and admins may search, doctors among their own patients. Search results leave out identifiers.",
		Interaction: interactions("read", "search-type"),
		SearchParam: []searchParam{{Name: "name", Type: "string", Documentation: "Part of the name (also matches the e-mail address), ignoring case."}, countParam, offsetParam, summaryParam}},
	{Type: "Practitioner", Documentation: "Doctors; any signed-in user may read them. The specialization is the extension " + extSpecialization + ".",
		Interaction: interactions("read", "search-type"),
		SearchParam: []searchParam{{Name: "name", Type: "string", Documentation: "Part of the name, ignoring case."},
			{Name: "specialty", Type: "token", Documentation: "The specialization, matched exactly, ignoring case."}, countParam, offsetParam, summaryParam}},
	{Type: "Schedule", Documentation: "One schedule per doctor with bookable hours; its id is the Practitioner id.",
		Interaction: interactions("read", "search-type"),
		SearchParam: []searchParam{{Name: "actor", Type: "reference", Documentation: "Practitioner/{id}."}, countParam, offsetParam, summaryParam}},
	{Type: "Slot", Documentation: "Free bookable slots, computed from the schedule and the bookings; book one by posting an Appointment that refers to it.",
		Interaction: interactions("search-type"),
		SearchParam: []searchParam{{Name: "schedule", Type: "reference", Documentation: "Required: Schedule/{id}."},
			{Name: "start", Type: "date", Documentation: "Slot start with prefix ge, gt, le, lt or eq; repeat for a range. Default: from now for 7 days; at most 62 days."},
			{Name: "status", Type: "token", Documentation: "free only."}, countParam, offsetParam, summaryParam}},
	{Type: "Appointment", Documentation: "Patients see their own appointments, doctors their own schedule, the front desk and admins all. Create books a free Slot (or start/end with a Practitioner participant) for a Patient participant; send an Idempotency-Key header to make retries safe.",
		Interaction: interactions("read", "search-type", "create"),
		SearchParam: []searchParam{{Name: "patient", Type: "reference", Documentation: "Patient/{id}."},
			{Name: "practitioner", Type: "reference", Documentation: "Practitioner/{id}."},
			{Name: "actor", Type: "reference", Documentation: "Patient/{id} or Practitioner/{id}."},
			{Name: "date", Type: "date", Documentation: "Appointments whose time overlaps the range: prefix ge, gt, le, lt or eq; a date without a time is that day in UTC."},
			{Name: "status", Type: "token", Documentation: "An appointment status."}, countParam, offsetParam, summaryParam}},
	{Type: "AuditEvent", Documentation: "The audit log, newest first (admins only). Reading it is audited.",
		Interaction: interactions("search-type"),
		SearchParam: []searchParam{{Name: "patient", Type: "reference", Documentation: "Patient/{id}."},
			{Name: "agent", Type: "reference", Documentation: "The id of the user who acted."},
			{Name: "date", Type: "date", Documentation: "When recorded: prefix ge, gt, le, lt or eq."},
			{Name: "_count", Type: "number", Documentation: "Events per page, 1 to 200 (default 50)."},
			{Name: "_before", Type: "number", Documentation: "Paging cursor; the next link sets it."}}},
}

// declaredParams names the search parameters the CapabilityStatement
// declares for a search of resource (none for any other interaction). The
// document entries count whether or not they are served: a search of them
// reaches a handler only when they are.
func declaredParams(resource string) []string {
	for _, c := range slices.Concat(capabilities, documentCapabilities) {
		if c.Type == resource {
			names := make([]string, len(c.SearchParam))
			for i, sp := range c.SearchParam {
				names[i] = sp.Name
			}
			return names
		}
	}
	return nil
}

// servedResources lists the resources served: the document ones only with
// consultations (UseConsultations).
func (h *Handlers) servedResources() []capabilityResource {
	if h.consult == nil {
		return capabilities
	}
	return slices.Concat(capabilities, documentCapabilities)
}

func (h *Handlers) metadata(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseParams(r.URL.RawQuery, "metadata"); err != nil {
		return err
	}
	base := h.base(r)
	cs := capabilityStatement{
		ResourceType: "CapabilityStatement", Status: "active", Date: h.published.Format(time.RFC3339), Publisher: "HealthHub",
		Kind: "instance", Software: &software{Name: "HealthHub"},
		Implementation: &implementation{Description: "HealthHub FHIR R4 API", URL: base},
		FHIRVersion:    FHIRVersion, Format: []string{"json"},
		Rest: []capabilityRest{{Mode: "server",
			Documentation: "Unsupported search parameters are refused with 400 rather than ignored, unless the search is sent with Prefer: handling=lenient: then they are ignored, left out of the self link and named in an OperationOutcome entry of search mode outcome.",
			Security:      &restSecurity{Description: "Send Authorization: Bearer <access token> (from POST /api/v1/auth/login). Only this statement is public."},
			Resource:      h.servedResources()}},
	}
	h.write(w, r, http.StatusOK, cs)
	return nil
}
