package fhir

import (
	"fmt"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// The R4 resources HealthHub fills, as far as it fills them
// (https://hl7.org/fhir/R4/resourcelist.html). FHIR JSON has no empty
// strings, arrays or objects, hence omitempty throughout.

type meta struct {
	LastUpdated string `json:"lastUpdated,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

type identifier struct {
	Use      string           `json:"use,omitempty"`
	Type     *codeableConcept `json:"type,omitempty"`
	System   string           `json:"system,omitempty"`
	Value    string           `json:"value,omitempty"`
	Assigner *reference       `json:"assigner,omitempty"`
}

type humanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

type contactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type address struct {
	Line       []string `json:"line,omitempty"`
	City       string   `json:"city,omitempty"`
	PostalCode string   `json:"postalCode,omitempty"`
	Country    string   `json:"country,omitempty"`
}

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type extension struct {
	URL         string `json:"url"`
	ValueString string `json:"valueString,omitempty"`
}

// Identifier systems and extensions of HealthHub.
const (
	systemInsuranceMember = "urn:healthhub:insurance-member"
	systemLicense         = "urn:healthhub:medical-license"
	extSpecialization     = "urn:healthhub:specialization"
	systemIdentifierType  = "http://terminology.hl7.org/CodeSystem/v2-0203"
	systemContactRole     = "http://terminology.hl7.org/CodeSystem/v2-0131"
	systemAppointment     = "http://hl7.org/fhir/appointmentstatus"
	systemSlotStatus      = "http://hl7.org/fhir/slotstatus"
)

// instant formats a time as a FHIR instant.
func instant(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func lastUpdated(t time.Time) *meta {
	if t.IsZero() {
		return nil
	}
	return &meta{LastUpdated: instant(t)}
}

// splitName makes a HumanName of a single name string, best effort: "Family,
// Given Names" or "Given Names Family".
func splitName(name string) humanName {
	name = strings.TrimSpace(name)
	n := humanName{Use: "official", Text: name}
	if fam, given, ok := strings.Cut(name, ","); ok {
		n.Family = strings.TrimSpace(fam)
		n.Given = strings.Fields(given)
		return n
	}
	parts := strings.Fields(name)
	if len(parts) >= 2 {
		n.Family, n.Given = parts[len(parts)-1], parts[:len(parts)-1]
	}
	return n
}

func names(name string) []humanName {
	if strings.TrimSpace(name) == "" {
		return nil
	}
	return []humanName{splitName(name)}
}

type patientResource struct {
	ResourceType string           `json:"resourceType"`
	ID           string           `json:"id"`
	Meta         *meta            `json:"meta,omitempty"`
	Identifier   []identifier     `json:"identifier,omitempty"`
	Name         []humanName      `json:"name,omitempty"`
	Telecom      []contactPoint   `json:"telecom,omitempty"`
	Gender       string           `json:"gender,omitempty"`
	BirthDate    string           `json:"birthDate,omitempty"`
	Address      []address        `json:"address,omitempty"`
	Contact      []patientContact `json:"contact,omitempty"`
}

type patientContact struct {
	Relationship []codeableConcept `json:"relationship,omitempty"`
	Name         *humanName        `json:"name,omitempty"`
	Telecom      []contactPoint    `json:"telecom,omitempty"`
}

var genders = map[string]bool{"male": true, "female": true, "other": true, "unknown": true}

// toPatient maps a patient record. The insurance member number is there only
// when p carries it: opened records of callers allowed to read them (lists
// blank it).
func toPatient(p *domain.Patient) patientResource {
	out := patientResource{ResourceType: "Patient", ID: p.ID, Meta: lastUpdated(p.UpdatedAt), Name: names(p.Name)}
	if p.InsuranceMemberNumber != "" {
		id := identifier{Use: "secondary", System: systemInsuranceMember, Value: p.InsuranceMemberNumber,
			Type: &codeableConcept{Coding: []coding{{System: systemIdentifierType, Code: "MB", Display: "Member Number"}}, Text: "Insurance member number"}}
		if p.InsuranceProvider != "" {
			id.Assigner = &reference{Display: p.InsuranceProvider}
		}
		out.Identifier = append(out.Identifier, id)
	}
	if p.Phone != "" {
		out.Telecom = append(out.Telecom, contactPoint{System: "phone", Value: p.Phone})
	}
	if p.Email != "" {
		out.Telecom = append(out.Telecom, contactPoint{System: "email", Value: p.Email})
	}
	if p.Sex != "" {
		out.Gender = p.Sex
		if !genders[p.Sex] {
			out.Gender = "unknown"
		}
	}
	if _, err := time.Parse(time.DateOnly, p.DateOfBirth); err == nil {
		out.BirthDate = p.DateOfBirth
	}
	if a := p.Address; a != (domain.Address{}) {
		fa := address{City: a.City, PostalCode: a.PostalCode, Country: a.Country}
		if a.Line != "" {
			fa.Line = []string{a.Line}
		}
		out.Address = []address{fa}
	}
	for _, c := range p.EmergencyContacts {
		pc := patientContact{Relationship: []codeableConcept{{Coding: []coding{{System: systemContactRole, Code: "C", Display: "Emergency Contact"}}}}}
		if c.Relationship != "" {
			pc.Relationship = append(pc.Relationship, codeableConcept{Text: c.Relationship})
		}
		if c.Name != "" {
			n := splitName(c.Name)
			n.Use = ""
			pc.Name = &n
		}
		if c.Phone != "" {
			pc.Telecom = []contactPoint{{System: "phone", Value: c.Phone}}
		}
		if pc.Name == nil && pc.Telecom == nil {
			continue // pat-1: a contact needs details
		}
		out.Contact = append(out.Contact, pc)
	}
	return out
}

type practitionerResource struct {
	ResourceType  string          `json:"resourceType"`
	ID            string          `json:"id"`
	Meta          *meta           `json:"meta,omitempty"`
	Extension     []extension     `json:"extension,omitempty"`
	Identifier    []identifier    `json:"identifier,omitempty"`
	Name          []humanName     `json:"name,omitempty"`
	Qualification []qualification `json:"qualification,omitempty"`
}

type qualification struct {
	Code codeableConcept `json:"code"`
}

func toPractitioner(d *domain.Doctor) practitionerResource {
	out := practitionerResource{ResourceType: "Practitioner", ID: d.ID, Meta: lastUpdated(d.UpdatedAt), Name: names(d.Name)}
	if d.Specialization != "" {
		out.Extension = []extension{{URL: extSpecialization, ValueString: d.Specialization}}
	}
	if d.LicenseNumber != "" {
		out.Identifier = []identifier{{Use: "official", System: systemLicense, Value: d.LicenseNumber}}
	}
	for _, q := range d.Qualifications {
		if q = strings.TrimSpace(q); q != "" {
			out.Qualification = append(out.Qualification, qualification{Code: codeableConcept{Text: q}})
		}
	}
	return out
}

type scheduleResource struct {
	ResourceType    string            `json:"resourceType"`
	ID              string            `json:"id"`
	Meta            *meta             `json:"meta,omitempty"`
	Active          bool              `json:"active"`
	ServiceType     []codeableConcept `json:"serviceType,omitempty"`
	Specialty       []codeableConcept `json:"specialty,omitempty"`
	Actor           []reference       `json:"actor"`
	PlanningHorizon *period           `json:"planningHorizon,omitempty"`
	Comment         string            `json:"comment,omitempty"`
}

// toSchedule maps a doctor's availability: one schedule per doctor, with the
// doctor's id. The planning horizon runs from now to the booking horizon.
func toSchedule(d *domain.Doctor, a *domain.Availability, now time.Time) scheduleResource {
	out := scheduleResource{ResourceType: "Schedule", ID: d.ID, Meta: lastUpdated(a.UpdatedAt), Active: true,
		Actor: []reference{{Reference: "Practitioner/" + d.ID, Display: d.Name}}}
	if d.Specialization != "" {
		out.ServiceType = []codeableConcept{{Text: d.Specialization}}
		out.Specialty = []codeableConcept{{Text: d.Specialization}}
	}
	if a.HorizonDays > 0 {
		start := now.UTC().Truncate(time.Second)
		out.PlanningHorizon = &period{Start: instant(start), End: instant(start.AddDate(0, 0, a.HorizonDays))}
	}
	if a.SlotMinutes > 0 && a.TimeZone != "" {
		out.Comment = fmt.Sprintf("%d-minute slots, time zone %s.", a.SlotMinutes, a.TimeZone)
	}
	return out
}

type slotResource struct {
	ResourceType string    `json:"resourceType"`
	ID           string    `json:"id"`
	Schedule     reference `json:"schedule"`
	Status       string    `json:"status"`
	Start        string    `json:"start"`
	End          string    `json:"end"`
}

func toSlot(doctorID string, start, end time.Time) slotResource {
	return slotResource{ResourceType: "Slot", ID: slotID(doctorID, start, end), Schedule: reference{Reference: "Schedule/" + doctorID},
		Status: "free", Start: instant(start), End: instant(end)}
}

type appointmentResource struct {
	ResourceType      string           `json:"resourceType"`
	ID                string           `json:"id"`
	Meta              *meta            `json:"meta,omitempty"`
	Status            string           `json:"status"`
	CancelationReason *codeableConcept `json:"cancelationReason,omitempty"`
	Description       string           `json:"description,omitempty"`
	Start             string           `json:"start,omitempty"`
	End               string           `json:"end,omitempty"`
	MinutesDuration   int              `json:"minutesDuration,omitempty"`
	Created           string           `json:"created,omitempty"`
	Participant       []participant    `json:"participant"`
}

type participant struct {
	Actor  *reference `json:"actor,omitempty"`
	Status string     `json:"status"`
}

// appointmentStatuses is the R4 Appointment status value set, which
// HealthHub uses as is.
var appointmentStatuses = map[string]bool{
	domain.StatusProposed: true, domain.StatusPending: true, domain.StatusBooked: true, domain.StatusArrived: true,
	domain.StatusFulfilled: true, domain.StatusCancelled: true, domain.StatusNoShow: true, domain.StatusEnteredInError: true,
	domain.StatusCheckedIn: true, domain.StatusWaitlist: true,
}

func toAppointment(a *domain.Appointment) appointmentResource {
	out := appointmentResource{ResourceType: "Appointment", ID: a.ID, Meta: lastUpdated(a.UpdatedAt), Status: a.Status,
		Description: a.Reason, Participant: []participant{
			{Actor: &reference{Reference: "Patient/" + a.PatientID}, Status: "accepted"},
			{Actor: &reference{Reference: "Practitioner/" + a.DoctorID}, Status: "accepted"},
		}}
	if a.Status == domain.StatusCancelled && strings.TrimSpace(a.CancelReason) != "" {
		out.CancelationReason = &codeableConcept{Text: a.CancelReason}
	}
	if !a.Start.IsZero() && !a.End.IsZero() {
		out.Start, out.End = instant(a.Start), instant(a.End)
		out.MinutesDuration = int(a.End.Sub(a.Start) / time.Minute)
	}
	if !a.CreatedAt.IsZero() {
		out.Created = instant(a.CreatedAt)
	}
	return out
}
