package consult

import (
	"context"
	"fmt"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Audit resource types.
const (
	ResourceConsultation = "consultation"
	ResourceRecording    = "recording"
	ResourceTranscript   = "transcript"
	ResourceVisitNote    = "visit_note"
)

// resource describes a consultation (or one to be made, c.ID empty) for
// the policy: the patient's record as the caller sees it, with the
// consultation's doctor.
func (s *Service) resource(ctx context.Context, typ string, c *domain.Consultation) (policy.Resource, error) {
	res, err := s.o.Records.PatientResource(ctx, typ, c.PatientID)
	if err != nil {
		return res, err
	}
	res.Type, res.ID, res.DoctorUserID = typ, c.ID, c.DoctorUserID
	return res, nil
}

// authorize decides action on c, recording a refusal.
func (s *Service) authorize(ctx context.Context, typ, action string, c *domain.Consultation) error {
	res, err := s.resource(ctx, typ, c)
	if err != nil {
		return err
	}
	return s.o.Guard.Authorize(ctx, action, res)
}

// load reads a consultation and decides action on it. A consultation the
// caller may not see is answered as not found when they are a patient
// (whose own drafts do not exist for them) and refused otherwise.
func (s *Service) load(ctx context.Context, typ, action, id string) (*domain.Consultation, error) {
	c, err := s.o.Store.Consultation(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, s.authorize(ctx, typ, action, c)
}

// CreateInput starts a consultation.
type CreateInput struct {
	AppointmentID string `json:"appointment_id,omitempty"`
	PatientID     string `json:"patient_id,omitempty"`
	// Consent notes the patient's consent to recording at once.
	Consent    bool   `json:"consent,omitempty"`
	ConsentHow string `json:"consent_how,omitempty"`
}

var consentWays = map[string]bool{"verbal": true, "written": true}

// Create starts a consultation of the calling doctor with a patient they
// treat, for one of their appointments or without one. An appointment
// that already has a consultation gets that one back (created false).
func (s *Service) Create(ctx context.Context, in CreateInput) (*domain.Consultation, bool, error) {
	me, err := s.o.Records.CallerDoctor(ctx)
	if err != nil {
		return nil, false, err
	}
	c := &domain.Consultation{ID: newID(), AppointmentID: in.AppointmentID, PatientID: in.PatientID, NoteStatus: domain.NoteNone}
	if me != nil {
		c.DoctorID, c.DoctorUserID = me.ID, me.UserID
	}
	if in.AppointmentID != "" {
		a, err := s.o.Store.AppointmentByID(ctx, in.AppointmentID)
		if domain.IsCode(err, domain.ENOTFOUND) {
			return nil, false, domain.Invalid("appointment_id", "There is no appointment with that id.")
		} else if err != nil {
			return nil, false, err
		}
		if in.PatientID != "" && in.PatientID != a.PatientID {
			return nil, false, domain.Invalid("patient_id", "The appointment is with another patient.")
		}
		c.PatientID = a.PatientID
		if me != nil && a.DoctorID != me.ID {
			// Someone else's appointment: the consultation would be theirs.
			d, err := s.o.Store.DoctorByID(ctx, a.DoctorID)
			if err != nil {
				return nil, false, err
			}
			c.DoctorID, c.DoctorUserID = d.ID, d.UserID
		}
	}
	if c.PatientID == "" {
		return nil, false, domain.Invalid("patient_id", "Name the appointment (appointment_id) or the patient (patient_id) of the consultation.")
	}
	if _, err := s.o.Store.PatientByID(ctx, c.PatientID); domain.IsCode(err, domain.ENOTFOUND) {
		return nil, false, domain.Invalid("patient_id", "There is no patient with that id.")
	} else if err != nil {
		return nil, false, err
	}
	if err := s.authorize(ctx, policy.Consultation, policy.Create, c); err != nil {
		return nil, false, err
	}
	if me == nil || c.DoctorID != me.ID {
		// Allowed for the patient (emergency access), but a consultation
		// is only ever the calling doctor's own.
		return nil, false, s.o.Guard.Refused(ctx, policy.Create, policy.Resource{Type: policy.Consultation, PatientID: c.PatientID},
			&domain.Error{Code: domain.EFORBIDDEN, Message: "Only the doctor of the appointment starts its consultation."})
	}
	if in.AppointmentID != "" {
		existing, err := s.o.Store.ListConsultations(ctx, domain.ConsultFilter{AppointmentID: in.AppointmentID, Limit: 1})
		if err != nil {
			return nil, false, err
		}
		if len(existing) > 0 {
			c, err := s.o.Store.Consultation(ctx, existing[0].ID)
			if err != nil {
				return nil, false, err
			}
			return c, false, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: ResourceConsultation, ResourceID: c.ID, PatientID: c.PatientID})
		}
	}
	now := s.o.Now()
	c.CreatedAt, c.UpdatedAt = now, now
	if in.Consent {
		if !consentWays[in.ConsentHow] {
			return nil, false, domain.Invalid("consent_how", "Say how the patient consented: verbal or written.")
		}
		c.ConsentAt, c.ConsentBy, c.ConsentHow = now, me.UserID, in.ConsentHow
	}
	if err := s.o.Store.CreateConsultation(ctx, c); domain.IsCode(err, domain.ECONFLICT) && c.AppointmentID != "" {
		// Started at the same moment from another window: that one.
		existing, lerr := s.o.Store.ListConsultations(ctx, domain.ConsultFilter{AppointmentID: c.AppointmentID, Limit: 1})
		if lerr != nil || len(existing) == 0 {
			return nil, false, err
		}
		return existing[0], false, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: ResourceConsultation, ResourceID: existing[0].ID, PatientID: c.PatientID})
	} else if err != nil {
		return nil, false, err
	}
	if err := s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: ResourceConsultation, ResourceID: c.ID, PatientID: c.PatientID,
		Detail: fmt.Sprintf("appointment=%t consent=%t", c.AppointmentID != "", in.Consent)}); err != nil {
		return nil, false, err
	}
	c, err = s.o.Store.Consultation(ctx, c.ID)
	return c, true, err
}

// NoteConsent records that the patient agreed to recording.
func (s *Service) NoteConsent(ctx context.Context, id, how string) (*domain.Consultation, error) {
	c, err := s.load(ctx, policy.Consultation, policy.Update, id)
	if err != nil {
		return nil, err
	}
	if !consentWays[how] {
		return nil, domain.Invalid("consent_how", "Say how the patient consented: verbal or written.")
	}
	p := domain.PrincipalFrom(ctx)
	if err := s.o.Store.SetConsent(ctx, id, how, p.UserID, s.o.Now()); err != nil {
		return nil, err
	}
	if err := s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: ResourceConsultation, ResourceID: c.ID, PatientID: c.PatientID, Detail: "consent=" + how}); err != nil {
		return nil, err
	}
	return s.o.Store.Consultation(ctx, id)
}

// Get returns a consultation with its recordings. A patient gets their
// signed note alone, where the clinic lets patients read them; a draft,
// or a note the clinic keeps from patients, is not found for them.
func (s *Service) Get(ctx context.Context, id string) (*domain.Consultation, []*domain.Recording, error) {
	c, err := s.o.Store.Consultation(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if p := domain.PrincipalFrom(ctx); p != nil && p.Role == domain.RolePatient {
		if err := s.authorize(ctx, policy.VisitNote, policy.Read, c); err != nil {
			return nil, nil, err
		}
		st, err := s.settings(ctx)
		if err != nil {
			return nil, nil, err
		}
		if c.NoteStatus != domain.NoteSigned || !st.PatientsSeeNotes {
			return nil, nil, s.o.Guard.Hidden(ctx, policy.Read, policy.Resource{Type: policy.VisitNote, ID: id, PatientID: c.PatientID}, "There is no such visit note.")
		}
		return patientView(c), nil, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: ResourceVisitNote, ResourceID: c.ID, PatientID: c.PatientID})
	}
	if err := s.authorize(ctx, policy.Consultation, policy.Read, c); err != nil {
		return nil, nil, err
	}
	recs, err := s.o.Store.Recordings(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return c, recs, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: ResourceConsultation, ResourceID: c.ID, PatientID: c.PatientID})
}

// patientView is what a patient reads of their signed note.
func patientView(c *domain.Consultation) *domain.Consultation {
	return &domain.Consultation{ID: c.ID, PatientID: c.PatientID, DoctorID: c.DoctorID, AppointmentID: c.AppointmentID, CreatedAt: c.CreatedAt,
		UpdatedAt: c.UpdatedAt, Note: c.Note, NoteStatus: c.NoteStatus, SignedAt: c.SignedAt, DoctorName: c.DoctorName, PatientName: c.PatientName}
}

// ListFilter narrows List.
type ListFilter struct {
	PatientID     string
	AppointmentID string
}

// List returns the consultations of a patient (or of one appointment) the
// caller may see: a doctor, those of a patient they treat; a patient,
// their own signed notes where the clinic allows. Without a patient or
// appointment, a doctor gets their own consultations.
func (s *Service) List(ctx context.Context, f ListFilter) ([]*domain.Consultation, error) {
	p := domain.PrincipalFrom(ctx)
	if p == nil {
		return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "Sign in first."}
	}
	df := domain.ConsultFilter{PatientID: f.PatientID, AppointmentID: f.AppointmentID, Limit: 200}
	if f.AppointmentID != "" {
		a, err := s.o.Store.AppointmentByID(ctx, f.AppointmentID)
		if domain.IsCode(err, domain.ENOTFOUND) {
			return nil, domain.Invalid("appointment_id", "There is no appointment with that id.")
		} else if err != nil {
			return nil, err
		}
		if df.PatientID != "" && df.PatientID != a.PatientID {
			return []*domain.Consultation{}, nil
		}
		df.PatientID = a.PatientID
	}
	typ := policy.Consultation
	if p.Role == domain.RolePatient {
		typ, df.SignedOnly = policy.VisitNote, true
	}
	switch {
	case df.PatientID != "":
		if _, err := s.o.Store.PatientByID(ctx, df.PatientID); domain.IsCode(err, domain.ENOTFOUND) {
			return nil, domain.Invalid("patient_id", "There is no patient with that id.")
		} else if err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, typ, policy.List, &domain.Consultation{PatientID: df.PatientID}); err != nil {
			return nil, err
		}
	case p.Role == domain.RoleDoctor:
		me, err := s.o.Records.CallerDoctor(ctx)
		if err != nil {
			return nil, err
		}
		if me == nil {
			return []*domain.Consultation{}, nil
		}
		df.DoctorID = me.ID
	case p.Role == domain.RolePatient:
		return nil, domain.Invalid("patient_id", "Name the patient (patient_id).")
	default:
		return nil, s.o.Guard.Authorize(ctx, policy.List, policy.Resource{Type: policy.Consultation})
	}
	if p.Role == domain.RolePatient {
		st, err := s.settings(ctx)
		if err != nil {
			return nil, err
		}
		if !st.PatientsSeeNotes {
			return []*domain.Consultation{}, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionSearch, ResourceType: ResourceVisitNote, PatientID: df.PatientID, Detail: "results=0 hidden_by_setting"})
		}
	}
	cs, err := s.o.Store.ListConsultations(ctx, df)
	if err != nil {
		return nil, err
	}
	var evs []audit.Event
	seen := map[string]bool{}
	for i, c := range cs {
		if p.Role == domain.RolePatient {
			cs[i] = patientView(c)
		}
		if !seen[c.PatientID] {
			seen[c.PatientID] = true
			evs = append(evs, audit.Event{Action: domain.ActionSearch, ResourceType: ResourceConsultation, PatientID: c.PatientID, Detail: fmt.Sprintf("results=%d", len(cs))})
		}
	}
	if len(evs) == 0 {
		evs = append(evs, audit.Event{Action: domain.ActionSearch, ResourceType: ResourceConsultation, PatientID: df.PatientID, Detail: "results=0"})
	}
	return cs, audit.RecordEach(ctx, s.o.Audit, evs)
}
