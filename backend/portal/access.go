package portal

import (
	"context"
	"github.com/healthhub/healthhub/backend/audit"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Authorize decides whether the caller in ctx may do action on res and
// records a refusal (access.Guard).
func (s *Service) Authorize(ctx context.Context, action string, res policy.Resource) error {
	return s.access.Authorize(ctx, action, res)
}

// CallerDoctor is the calling doctor's profile, or nil for other callers.
func (s *Service) CallerDoctor(ctx context.Context) (*domain.Doctor, error) {
	p := domain.PrincipalFrom(ctx)
	if p == nil || p.Role != domain.RoleDoctor {
		return nil, nil
	}
	d, err := s.store.DoctorByUserID(ctx, p.UserID)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return nil, nil
	}
	return d, err
}

// PatientResource describes a patient's record (typ: policy.Patient or
// policy.Clinical) for the policy: whose it is and whether the calling
// doctor treats them.
func (s *Service) PatientResource(ctx context.Context, typ, patientID string) (policy.Resource, error) {
	pat, err := s.store.PatientByID(ctx, patientID)
	if err != nil {
		return policy.Resource{}, err
	}
	res := policy.Resource{Type: typ, ID: patientID, OwnerID: pat.UserID, PatientID: patientID}
	d, err := s.CallerDoctor(ctx)
	if err != nil || d == nil {
		return res, err
	}
	res.CareTeam, err = s.store.TreatsPatient(ctx, d.ID, patientID)
	return res, err
}

// AppointmentResource describes an appointment (existing, or one to be
// booked when id is empty) for the policy. An unknown doctor or patient is
// invalid input.
func (s *Service) AppointmentResource(ctx context.Context, doctorID, patientID, id string) (policy.Resource, error) {
	res := policy.Resource{Type: policy.Appointment, ID: id, PatientID: patientID}
	pat, err := s.store.PatientByID(ctx, patientID)
	switch {
	case domain.IsCode(err, domain.ENOTFOUND):
		return res, domain.Invalid("patient_id", "There is no patient with that id.")
	case err != nil:
		return res, err
	}
	doc, err := s.store.DoctorByID(ctx, doctorID)
	switch {
	case domain.IsCode(err, domain.ENOTFOUND):
		return res, domain.Invalid("doctor_id", "There is no doctor with that id.")
	case err != nil:
		return res, err
	}
	res.OwnerID, res.DoctorUserID = pat.UserID, doc.UserID
	if me, err := s.CallerDoctor(ctx); err != nil {
		return res, err
	} else if me != nil && me.ID == doc.ID {
		if res.CareTeam, err = s.store.TreatsPatient(ctx, doc.ID, patientID); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ScopeAppointments narrows a filter to what the caller may see: a patient
// their own appointments, a doctor their own schedule. Asking explicitly for
// someone else's is refused.
func (s *Service) ScopeAppointments(ctx context.Context, f *domain.AppointmentFilter) error {
	if err := s.Authorize(ctx, policy.List, policy.Resource{Type: policy.Appointment}); err != nil {
		return err
	}
	p := domain.PrincipalFrom(ctx)
	switch p.Role {
	case domain.RolePatient:
		mine, err := s.store.PatientByUserID(ctx, p.UserID)
		if err != nil {
			return err
		}
		if f.PatientID != "" && f.PatientID != mine.ID {
			return s.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Appointment, OwnerID: "someone-else", PatientID: f.PatientID})
		}
		f.PatientID = mine.ID
	case domain.RoleDoctor:
		d, err := s.CallerDoctor(ctx)
		if err != nil {
			return err
		}
		if d == nil || (f.DoctorID != "" && f.DoctorID != d.ID) {
			return s.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Appointment, DoctorUserID: "someone-else", PatientID: f.PatientID})
		}
		if f.PatientID != "" && f.DoctorID == "" {
			// Under emergency access, the patient's whole list.
			if ok, err := s.access.Covered(ctx, policy.Read, policy.Resource{Type: policy.Appointment, PatientID: f.PatientID}); err != nil || ok {
				return err
			}
		}
		f.DoctorID = d.ID
	}
	return nil
}

// recordSearch records a search of resourceType: one event for each patient
// whose records came back (patientIDs, in order, repeats allowed), so that
// each patient's audit trail shows it, or one event naming no patient when
// none did. Each event says how many records the search returned.
func (s *Service) recordSearch(ctx context.Context, resourceType string, patientIDs []string) error {
	detail := "results=" + itoa(len(patientIDs))
	var evs []audit.Event
	seen := map[string]bool{}
	for _, id := range patientIDs {
		if id != "" && !seen[id] {
			seen[id] = true
			evs = append(evs, audit.Event{Action: domain.ActionSearch, ResourceType: resourceType, PatientID: id, Detail: detail})
		}
	}
	if len(evs) == 0 {
		evs = []audit.Event{{Action: domain.ActionSearch, ResourceType: resourceType, Detail: detail}}
	}
	return audit.RecordEach(ctx, s.audit, evs)
}

// authorizePatient decides action on the record (typ: policy.Patient or
// policy.Clinical) of a patient.
func (s *Service) authorizePatient(ctx context.Context, typ, action, patientID string) error {
	res, err := s.PatientResource(ctx, typ, patientID)
	if err != nil {
		return err
	}
	return s.Authorize(ctx, action, res)
}

// authorizeAppointment decides action on an appointment and returns it as
// it stands.
func (s *Service) authorizeAppointment(ctx context.Context, action, id string) (*domain.Appointment, error) {
	a, err := s.store.AppointmentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := s.AppointmentResource(ctx, a.DoctorID, a.PatientID, a.ID)
	if err != nil {
		return nil, err
	}
	return a, s.Authorize(ctx, action, res)
}
