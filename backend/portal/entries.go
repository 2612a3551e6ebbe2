package portal

import (
	"context"
	"github.com/healthhub/healthhub/backend/policy"
	"strconv"
	"strings"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// EntryInput creates or changes a clinical entry; nil fields are left as
// they are on update.
type EntryInput struct {
	Kind        string  `json:"kind,omitempty"`
	Description *string `json:"description,omitempty"`
	Detail      *string `json:"detail,omitempty"`
	Status      *string `json:"status,omitempty"`
	OnsetDate   *string `json:"onset_date,omitempty"`
	EndDate     *string `json:"end_date,omitempty"`
	Notes       *string `json:"notes,omitempty"`
}

var entryKinds = map[string]bool{domain.EntryCondition: true, domain.EntryAllergy: true, domain.EntryMedication: true}
var entryStatuses = map[string]bool{"active": true, "resolved": true, "inactive": true}

func applyEntry(e *domain.ClinicalEntry, in EntryInput) ([]string, error) {
	var changed []string
	for _, f := range []struct {
		name      string
		in        *string
		dst       *string
		max       int
		required  bool
		multiline bool
	}{
		{"description", in.Description, &e.Description, 300, true, false},
		{"detail", in.Detail, &e.Detail, 500, false, false},
		{"notes", in.Notes, &e.Notes, 4000, false, true},
	} {
		if f.in == nil {
			continue
		}
		v, err := text(f.name, *f.in, f.max, f.required, f.multiline)
		if err != nil {
			return nil, err
		}
		if *f.dst != v {
			*f.dst, changed = v, append(changed, f.name)
		}
	}
	if in.Status != nil {
		if !entryStatuses[*in.Status] {
			return nil, domain.Invalid("status", "Status must be active, resolved or inactive.")
		}
		if e.Status != *in.Status {
			e.Status, changed = *in.Status, append(changed, "status")
		}
	}
	for _, f := range []struct {
		name string
		in   *string
		dst  *string
	}{{"onset_date", in.OnsetDate, &e.OnsetDate}, {"end_date", in.EndDate, &e.EndDate}} {
		if f.in == nil {
			continue
		}
		if _, err := civilDate(f.name, *f.in, false); err != nil {
			return nil, err
		}
		if *f.dst != *f.in {
			*f.dst, changed = *f.in, append(changed, f.name)
		}
	}
	if e.OnsetDate != "" && e.EndDate != "" && e.EndDate < e.OnsetDate {
		return nil, domain.Invalid("end_date", "The end date is before the onset date.")
	}
	return changed, nil
}

// AddEntry records a condition, allergy or medication.
func (s *Service) AddEntry(ctx context.Context, patientID string, in EntryInput) (*domain.ClinicalEntry, error) {
	if err := s.authorizePatient(ctx, policy.Clinical, policy.Create, patientID); err != nil {
		return nil, err
	}
	if !entryKinds[in.Kind] {
		return nil, domain.Invalid("kind", "Kind must be condition, allergy or medication.")
	}
	if in.Description == nil {
		return nil, domain.Invalid("description", "Description is required.")
	}
	now := s.now()
	e := &domain.ClinicalEntry{ID: newID(), PatientID: patientID, Kind: in.Kind, Status: "active", CreatedAt: now, UpdatedAt: now}
	if p := domain.PrincipalFrom(ctx); p != nil {
		e.RecordedBy = p.UserID
	}
	if _, err := applyEntry(e, in); err != nil {
		return nil, err
	}
	if err := s.store.CreateEntry(ctx, e, s.change(ctx, patientID, e.Kind, e.ID, domain.ActionCreate, []string{"description"})); err != nil {
		return nil, err
	}
	return e, s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "clinical_entry", ResourceID: e.ID, PatientID: patientID, Detail: "kind=" + e.Kind})
}

// entryOf returns the patient's entry. An entry of another patient,
// addressed through a patient the caller may act on, is refused and
// recorded under the patient it belongs to, and answered as not found.
func (s *Service) entryOf(ctx context.Context, action, patientID, entryID string) (*domain.ClinicalEntry, error) {
	e, err := s.store.Entry(ctx, patientID, entryID)
	if !domain.IsCode(err, domain.ENOTFOUND) {
		return e, err
	}
	other, oerr := s.store.Entry(ctx, "", entryID)
	switch {
	case domain.IsCode(oerr, domain.ENOTFOUND):
		return nil, err
	case oerr != nil:
		return nil, oerr
	}
	return nil, s.access.Hidden(ctx, action, policy.Resource{Type: policy.Clinical, ID: entryID, PatientID: other.PatientID}, "No such entry for this patient.")
}

// UpdateEntry changes an entry of the patient.
func (s *Service) UpdateEntry(ctx context.Context, patientID, entryID string, in EntryInput) (*domain.ClinicalEntry, error) {
	if err := s.authorizePatient(ctx, policy.Clinical, policy.Update, patientID); err != nil {
		return nil, err
	}
	e, err := s.entryOf(ctx, policy.Update, patientID, entryID)
	if err != nil {
		return nil, err
	}
	if in.Kind != "" && in.Kind != e.Kind {
		return nil, domain.Invalid("kind", "The kind of an entry cannot change; delete it and add a new one.")
	}
	changed, err := applyEntry(e, in)
	if err != nil || len(changed) == 0 {
		return e, err
	}
	e.UpdatedAt = s.now()
	if err := s.store.UpdateEntry(ctx, e, s.change(ctx, patientID, e.Kind, e.ID, domain.ActionUpdate, changed)); err != nil {
		return nil, err
	}
	return e, s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "clinical_entry", ResourceID: e.ID, PatientID: patientID, Detail: "fields=" + join(changed)})
}

// DeleteEntry removes an entry (entered in error); the change history keeps
// that it existed.
func (s *Service) DeleteEntry(ctx context.Context, patientID, entryID string) error {
	if err := s.authorizePatient(ctx, policy.Clinical, policy.Delete, patientID); err != nil {
		return err
	}
	e, err := s.entryOf(ctx, policy.Delete, patientID, entryID)
	if err != nil {
		return err
	}
	if err := s.store.DeleteEntry(ctx, patientID, entryID, s.change(ctx, patientID, e.Kind, e.ID, domain.ActionDelete, nil)); err != nil {
		return err
	}
	return s.audit.Record(ctx, audit.Event{Action: domain.ActionDelete, ResourceType: "clinical_entry", ResourceID: entryID, PatientID: patientID})
}

// Entries lists a patient's entries of one kind ("" for all).
func (s *Service) Entries(ctx context.Context, patientID, kind string) ([]*domain.ClinicalEntry, error) {
	if err := s.authorizePatient(ctx, policy.Clinical, policy.Read, patientID); err != nil {
		return nil, err
	}
	if kind != "" && !entryKinds[kind] {
		return nil, domain.Invalid("kind", "Kind must be condition, allergy or medication.")
	}
	es, err := s.store.Entries(ctx, patientID, kind)
	if err != nil {
		return nil, err
	}
	return es, s.audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "clinical_entry", PatientID: patientID, Detail: "kind=" + kind})
}

func itoa(n int) string           { return strconv.Itoa(n) }
func join(fields []string) string { return strings.Join(fields, ",") }
