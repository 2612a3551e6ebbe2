package audit

import (
	"context"
	"encoding/json"
	"io"

	"github.com/healthhub/healthhub/backend/domain"
)

// FHIR R4 AuditEvent, the subset HealthHub fills. Field names follow the
// specification (https://hl7.org/fhir/R4/auditevent.html).
type FHIRAuditEvent struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Meta         *fhirMeta       `json:"meta,omitempty"`
	Type         fhirCoding      `json:"type"`
	Subtype      []fhirCoding    `json:"subtype,omitempty"`
	Action       string          `json:"action,omitempty"`
	Recorded     string          `json:"recorded"`
	Outcome      string          `json:"outcome,omitempty"`
	OutcomeDesc  string          `json:"outcomeDesc,omitempty"`
	Agent        []fhirAgent     `json:"agent"`
	Source       fhirSource      `json:"source"`
	Entity       []fhirEntity    `json:"entity,omitempty"`
	Extension    []fhirExtension `json:"extension,omitempty"`
}

type fhirMeta struct {
	VersionID string `json:"versionId,omitempty"`
}

type fhirCoding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type fhirCodeableConcept struct {
	Coding []fhirCoding `json:"coding,omitempty"`
	Text   string       `json:"text,omitempty"`
}

type fhirReference struct {
	Reference  string          `json:"reference,omitempty"`
	Identifier *fhirIdentifier `json:"identifier,omitempty"`
	Display    string          `json:"display,omitempty"`
}

type fhirIdentifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type fhirAgent struct {
	Who       fhirReference         `json:"who"`
	Role      []fhirCodeableConcept `json:"role,omitempty"`
	Requestor bool                  `json:"requestor"`
	Network   *fhirNetwork          `json:"network,omitempty"`
}

type fhirNetwork struct {
	Address string `json:"address"`
	Type    string `json:"type"` // 2 = IP address
}

type fhirSource struct {
	Site     string        `json:"site,omitempty"`
	Observer fhirReference `json:"observer"`
}

type fhirEntity struct {
	What *fhirReference `json:"what,omitempty"`
	Role *fhirCoding    `json:"role,omitempty"`
}

type fhirExtension struct {
	URL         string `json:"url"`
	ValueString string `json:"valueString"`
}

const (
	systemEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	systemInteraction = "http://hl7.org/fhir/restful-interaction"
	systemEntityRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	systemUser        = "urn:healthhub:user"
	extChain          = "urn:healthhub:audit-chain-hash"
)

// fhirResourceTypes maps HealthHub resource types to FHIR resource types
// where one exists; others are referenced by identifier.
var fhirResourceTypes = map[string]string{
	"patient": "Patient", "doctor": "Practitioner", "appointment": "Appointment",
	"schedule": "Schedule", "slot": "Slot", "audit_event": "AuditEvent",
}

// restActions maps HealthHub actions to the FHIR AuditEvent action code and
// the restful-interaction subtype.
var restActions = map[string]struct{ action, interaction string }{
	domain.ActionCreate: {"C", "create"},
	domain.ActionRead:   {"R", "read"},
	domain.ActionUpdate: {"U", "update"},
	domain.ActionDelete: {"D", "delete"},
	domain.ActionSearch: {"E", "search-type"},
}

// ToFHIR converts one event to a FHIR R4 AuditEvent resource.
func ToFHIR(e *domain.AuditEvent) FHIRAuditEvent {
	f := FHIRAuditEvent{
		ResourceType: "AuditEvent", ID: e.ID,
		Recorded:  e.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		Agent:     []fhirAgent{agentOf(e)},
		Source:    fhirSource{Site: "HealthHub", Observer: fhirReference{Display: "HealthHub"}},
		Extension: []fhirExtension{{URL: extChain, ValueString: e.Hash}},
	}
	switch e.Action {
	case domain.ActionLogin, domain.ActionLogout:
		f.Type = fhirCoding{System: systemDICOM, Code: "110114", Display: "User Authentication"}
		if e.Action == domain.ActionLogin {
			f.Subtype = []fhirCoding{{System: systemDICOM, Code: "110122", Display: "Login"}}
		} else {
			f.Subtype = []fhirCoding{{System: systemDICOM, Code: "110123", Display: "Logout"}}
		}
		f.Action = "E"
	case domain.ActionExport:
		f.Type = fhirCoding{System: systemDICOM, Code: "110106", Display: "Export"}
		f.Action = "R"
	default:
		f.Type = fhirCoding{System: systemEventType, Code: "rest", Display: "RESTful Operation"}
		if m, ok := restActions[e.Action]; ok {
			f.Action = m.action
			f.Subtype = []fhirCoding{{System: systemInteraction, Code: m.interaction}}
		} else {
			f.Action = "E"
			f.Subtype = []fhirCoding{{System: "urn:healthhub:audit-action", Code: e.Action}}
		}
	}
	switch e.Outcome {
	case domain.OutcomeSuccess:
		f.Outcome = "0"
	case domain.OutcomeDenied:
		f.Outcome, f.OutcomeDesc = "4", "denied"
	default:
		f.Outcome, f.OutcomeDesc = "8", e.Outcome
	}
	if e.ResourceType != "" {
		what := &fhirReference{Display: e.ResourceType}
		if t, ok := fhirResourceTypes[e.ResourceType]; ok && e.ResourceID != "" {
			what.Reference = t + "/" + e.ResourceID
		} else if e.ResourceID != "" {
			what.Identifier = &fhirIdentifier{System: "urn:healthhub:" + e.ResourceType, Value: e.ResourceID}
		}
		f.Entity = append(f.Entity, fhirEntity{What: what, Role: &fhirCoding{System: systemEntityRole, Code: "4", Display: "Domain Resource"}})
	}
	if e.PatientID != "" && (e.ResourceType != "patient" || e.ResourceID != e.PatientID) {
		f.Entity = append(f.Entity, fhirEntity{
			What: &fhirReference{Reference: "Patient/" + e.PatientID},
			Role: &fhirCoding{System: systemEntityRole, Code: "1", Display: "Patient"},
		})
	}
	return f
}

func agentOf(e *domain.AuditEvent) fhirAgent {
	a := fhirAgent{Requestor: true, Who: fhirReference{Identifier: &fhirIdentifier{System: systemUser, Value: e.ActorID}}}
	if e.ActorRole != "" {
		a.Role = []fhirCodeableConcept{{Text: e.ActorRole}}
	}
	if e.SourceIP != "" {
		a.Network = &fhirNetwork{Address: e.SourceIP, Type: "2"}
	}
	return a
}

// ExportNDJSON writes the events matching f as FHIR AuditEvent resources, one
// JSON object per line, newest first, a page at a time.
func ExportNDJSON(ctx context.Context, store Reader, f domain.AuditFilter, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	n := 0
	f.Limit = 1000
	for {
		page, err := store.ListAudit(ctx, f)
		if err != nil {
			return n, err
		}
		for _, e := range page {
			if err := enc.Encode(ToFHIR(e)); err != nil {
				return n, err
			}
			n++
		}
		if len(page) < f.Limit {
			return n, nil
		}
		f.BeforeSeq = page[len(page)-1].Seq
	}
}
