package portal

import (
	"context"
	"github.com/healthhub/healthhub/backend/policy"
	"slices"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
)

// PatientInput is what creating or changing a patient record may carry.
// Nil fields are left as they are on update.
type PatientInput struct {
	Name                  *string                    `json:"name,omitempty"`
	DateOfBirth           *string                    `json:"date_of_birth,omitempty"`
	Sex                   *string                    `json:"sex,omitempty"`
	Phone                 *string                    `json:"phone,omitempty"`
	Email                 *string                    `json:"email,omitempty"`
	Address               *domain.Address            `json:"address,omitempty"`
	EmergencyContacts     *[]domain.EmergencyContact `json:"emergency_contacts,omitempty"`
	InsuranceProvider     *string                    `json:"insurance_provider,omitempty"`
	InsuranceMemberNumber *string                    `json:"insurance_member_number,omitempty"`
	NationalID            *string                    `json:"national_id,omitempty"`
}

// NewPatient registers a patient: the record, and an account when a
// password is given.
type NewPatient struct {
	PatientInput
	Password string `json:"password,omitempty"`
}

// sealed fields and the context each is bound to.
func sealContext(patientID, field string) string { return "patient:" + patientID + ":" + field }

// apply validates in and writes it onto p, returning the changed field names.
func apply(p *domain.Patient, in PatientInput) ([]string, error) {
	var changed []string
	set := func(name string, dst *string, v string) {
		if *dst != v {
			*dst = v
			changed = append(changed, name)
		}
	}
	if in.Name != nil {
		v, err := text("name", *in.Name, 200, true, false)
		if err != nil {
			return nil, err
		}
		set("name", &p.Name, v)
	}
	if in.DateOfBirth != nil {
		set("date_of_birth", &p.DateOfBirth, *in.DateOfBirth)
	}
	if in.Sex != nil {
		if !sexes[*in.Sex] {
			return nil, domain.Invalid("sex", "Sex must be male, female, other or unknown.")
		}
		set("sex", &p.Sex, *in.Sex)
	}
	if in.Phone != nil {
		v, err := phone("phone", *in.Phone)
		if err != nil {
			return nil, err
		}
		set("phone", &p.Phone, v)
	}
	if in.Email != nil {
		v := ""
		if *in.Email != "" {
			var err error
			if v, err = auth.NormalizeEmail(*in.Email); err != nil {
				return nil, err
			}
		}
		set("email", &p.Email, v)
	}
	if in.Address != nil {
		a := *in.Address
		for _, f := range []struct {
			name string
			v    *string
		}{{"address.line", &a.Line}, {"address.city", &a.City}, {"address.postal_code", &a.PostalCode}, {"address.country", &a.Country}} {
			v, err := text(f.name, *f.v, 200, false, false)
			if err != nil {
				return nil, err
			}
			*f.v = v
		}
		if a != p.Address {
			p.Address = a
			changed = append(changed, "address")
		}
	}
	if in.EmergencyContacts != nil {
		cs := *in.EmergencyContacts
		if len(cs) > 5 {
			return nil, domain.Invalid("emergency_contacts", "Give at most 5 emergency contacts.")
		}
		out := make([]domain.EmergencyContact, len(cs))
		for i, c := range cs {
			var err error
			if out[i].Name, err = text(fieldAt("emergency_contacts", i, "name"), c.Name, 200, true, false); err != nil {
				return nil, err
			}
			if out[i].Relationship, err = text(fieldAt("emergency_contacts", i, "relationship"), c.Relationship, 100, false, false); err != nil {
				return nil, err
			}
			if out[i].Phone, err = phone(fieldAt("emergency_contacts", i, "phone"), c.Phone); err != nil {
				return nil, err
			}
			if out[i].Phone == "" {
				return nil, domain.Invalid(fieldAt("emergency_contacts", i, "phone"), "An emergency contact needs a phone number.")
			}
		}
		if !slices.Equal(out, p.EmergencyContacts) {
			p.EmergencyContacts = out
			changed = append(changed, "emergency_contacts")
		}
	}
	if in.InsuranceProvider != nil {
		v, err := text("insurance_provider", *in.InsuranceProvider, 200, false, false)
		if err != nil {
			return nil, err
		}
		set("insurance_provider", &p.InsuranceProvider, v)
	}
	for _, f := range []struct {
		name string
		in   *string
		dst  *string
	}{{"insurance_member_number", in.InsuranceMemberNumber, &p.InsuranceMemberNumber}, {"national_id", in.NationalID, &p.NationalID}} {
		if f.in == nil {
			continue
		}
		v, err := text(f.name, *f.in, 64, false, false)
		if err != nil {
			return nil, err
		}
		set(f.name, f.dst, v)
	}
	return changed, nil
}

// seal encrypts the identifiers of p in place (a copy is stored).
func (s *Service) sealed(p *domain.Patient) (*domain.Patient, error) {
	c := *p
	for _, f := range []struct {
		name string
		v    *string
	}{{"insurance_member_number", &c.InsuranceMemberNumber}, {"national_id", &c.NationalID}} {
		if *f.v == "" {
			continue
		}
		v, err := s.keys.Seal([]byte(*f.v), sealContext(c.ID, f.name))
		if err != nil {
			return nil, err
		}
		*f.v = v
	}
	return &c, nil
}

// SealPatient returns a copy of p with its identifiers sealed with this
// installation's keys (a patient record that arrived by sync).
func (s *Service) SealPatient(p *domain.Patient) (*domain.Patient, error) { return s.sealed(p) }

// OpenPatient opens the identifiers of a stored patient in place (a record
// about to travel to a node by sync, over TLS).
func (s *Service) OpenPatient(p *domain.Patient) (*domain.Patient, error) { return s.open(p) }

// open decrypts the identifiers of a stored patient in place.
func (s *Service) open(p *domain.Patient) (*domain.Patient, error) {
	for _, f := range []struct {
		name string
		v    *string
	}{{"insurance_member_number", &p.InsuranceMemberNumber}, {"national_id", &p.NationalID}} {
		if *f.v == "" {
			continue
		}
		b, err := s.keys.Open(*f.v, sealContext(p.ID, f.name))
		if err != nil {
			s.logger.Error("sealed patient field does not open", "patient_id", p.ID, "field", f.name)
			return nil, domain.Errorf(domain.EINTERNAL, "A protected field of this record cannot be decrypted; the encryption keyring may be missing a key.")
		}
		*f.v = string(b)
	}
	return p, nil
}

// CreatePatient registers a patient. With a password (staff registering a
// patient who wants portal access, or self-registration) the account is
// created in the same transaction, with a welcome notification in the outbox.
func (s *Service) CreatePatient(ctx context.Context, in NewPatient, self bool) (*domain.Patient, error) {
	if !self {
		if err := s.Authorize(ctx, policy.Create, policy.Resource{Type: policy.Patient}); err != nil {
			return nil, err
		}
	}
	now := s.now()
	if in.Name == nil {
		return nil, domain.Invalid("name", "A patient needs a name.")
	}
	// Someone registering themselves may give the date of birth later;
	// the front desk registers it with the patient.
	if in.DateOfBirth != nil || !self {
		if in.DateOfBirth == nil {
			return nil, domain.Invalid("date_of_birth", "Give the patient's date of birth (YYYY-MM-DD).")
		}
		if err := birthDate(*in.DateOfBirth, now); err != nil {
			return nil, err
		}
	}
	if self {
		open, err := s.accounts.SelfRegistrationOpen(ctx)
		if err != nil {
			return nil, err
		}
		if !open {
			return nil, domain.Errorf(domain.EFORBIDDEN, "This clinic does not allow self-registration; please ask the front desk to create your account.")
		}
		if in.Password == "" || in.Email == nil {
			return nil, domain.Invalid("password", "Choose a password and give your e-mail address to register.")
		}
		if err := s.accounts.AllowRegistration(ctx); err != nil {
			return nil, err
		}
	}
	p := &domain.Patient{ID: newID(), CreatedAt: now, UpdatedAt: now, EmergencyContacts: []domain.EmergencyContact{}}
	if _, err := apply(p, in.PatientInput); err != nil {
		return nil, err
	}
	var account *domain.User
	var notes []*domain.Notification
	if in.Password != "" {
		if p.Email == "" {
			return nil, domain.Invalid("email", "An e-mail address is needed to create a portal account.")
		}
		var err error
		account, err = s.accounts.PrepareAccount(ctx, auth.NewAccount{Email: p.Email, Password: in.Password, Name: p.Name, Role: domain.RolePatient})
		if err != nil {
			return nil, err
		}
		account.ID = newID()
		notes = append(notes, &domain.Notification{UserID: account.ID, Kind: domain.NotifyWelcome, CreatedAt: now,
			DedupeKey: "welcome:" + account.ID, Subject: "Welcome to HealthHub",
			Body: "Hello " + p.Name + ",\n\nyour patient portal account is ready. You can book appointments and see your records there.\n"})
	}
	stored, err := s.sealed(p)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreatePatient(ctx, stored, account, notes); err != nil {
		return nil, err
	}
	p.UserID = stored.UserID
	ev := audit.Event{Action: domain.ActionCreate, ResourceType: "patient", ResourceID: p.ID, PatientID: p.ID}
	if self {
		ev.Actor, ev.Detail = &domain.Principal{UserID: p.UserID, Role: domain.RolePatient}, "self-registration"
	}
	if err := s.audit.Record(ctx, ev); err != nil {
		return nil, err
	}
	for _, n := range notes {
		if n.ID != "" {
			s.publish(ctx, domain.EventNotification, n.ID, n, []string{n.UserID})
		}
	}
	return p, nil
}

// Patient returns a patient record with its identifiers opened, to a
// caller allowed to read it; the read is audited.
func (s *Service) Patient(ctx context.Context, id string) (*domain.Patient, error) {
	if err := s.authorizePatient(ctx, policy.Patient, policy.Read, id); err != nil {
		return nil, err
	}
	p, err := s.store.PatientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "patient", ResourceID: id, PatientID: id}); err != nil {
		return nil, err
	}
	return s.open(p)
}

// PatientRef is a patient record without opening or auditing it, for
// authorisation decisions.
func (s *Service) PatientRef(ctx context.Context, id string) (*domain.Patient, error) {
	return s.store.PatientByID(ctx, id)
}

// PatientOfUser is the patient record of a patient's account.
func (s *Service) PatientOfUser(ctx context.Context, userID string) (*domain.Patient, error) {
	return s.store.PatientByUserID(ctx, userID)
}

// MyPatient is the caller's own patient record (patients).
func (s *Service) MyPatient(ctx context.Context) (*domain.Patient, error) {
	ref, err := s.store.PatientByUserID(ctx, principalID(domain.PrincipalFrom(ctx)))
	if err != nil {
		return nil, err
	}
	return s.Patient(ctx, ref.ID)
}

// ScopePatients decides whether the caller may search patients and narrows
// f to those they may see: a doctor their own patients, the front desk and
// admins everyone.
func (s *Service) ScopePatients(ctx context.Context, f *domain.PatientFilter) error {
	if err := s.Authorize(ctx, policy.List, policy.Resource{Type: policy.Patient}); err != nil {
		return err
	}
	d, err := s.CallerDoctor(ctx)
	switch {
	case err != nil:
		return err
	case d != nil:
		f.DoctorID = d.ID
	case domain.PrincipalFrom(ctx).Role == domain.RoleDoctor:
		f.DoctorID = "none" // a doctor account without a profile has no patients
	}
	return nil
}

// ListPatients returns patients matching f (identifiers stay sealed and are
// blanked: lists never carry them).
func (s *Service) ListPatients(ctx context.Context, f domain.PatientFilter) ([]*domain.Patient, error) {
	if err := s.ScopePatients(ctx, &f); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 200)
	ps, err := s.store.ListPatients(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		p.InsuranceMemberNumber, p.NationalID = "", ""
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	if err := s.recordSearch(ctx, "patient", ids); err != nil {
		return nil, err
	}
	return ps, nil
}

// UpdatePatient changes a record and records who changed which fields.
func (s *Service) UpdatePatient(ctx context.Context, id string, in PatientInput) (*domain.Patient, error) {
	if err := s.authorizePatient(ctx, policy.Patient, policy.Update, id); err != nil {
		return nil, err
	}
	// Patients keep their contact details up to date; identity and billing
	// fields change through the front desk, who check them.
	if p := domain.PrincipalFrom(ctx); p.Role == domain.RolePatient &&
		(in.Name != nil || in.DateOfBirth != nil || in.Sex != nil || in.InsuranceProvider != nil || in.InsuranceMemberNumber != nil || in.NationalID != nil) {
		return nil, s.access.Refused(ctx, policy.Update, policy.Resource{Type: policy.Patient, ID: id, PatientID: id},
			domain.Errorf(domain.EFORBIDDEN, "You can change your phone, e-mail, address and emergency contacts here; ask the front desk to change your name, date of birth, sex, insurance or national id."))
	}
	stored, err := s.store.PatientByID(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := s.open(stored)
	if err != nil {
		return nil, err
	}
	if in.DateOfBirth != nil {
		if err := birthDate(*in.DateOfBirth, s.now()); err != nil {
			return nil, err
		}
	}
	changed, err := apply(p, in)
	if err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		// Nothing changed, but the record goes back to the caller: a read.
		return p, s.audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "patient", ResourceID: id, PatientID: id})
	}
	p.UpdatedAt = s.now()
	toStore, err := s.sealed(p)
	if err != nil {
		return nil, err
	}
	if err := s.store.UpdatePatient(ctx, toStore, s.change(ctx, p.ID, "profile", p.ID, domain.ActionUpdate, changed)); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "patient", ResourceID: id, PatientID: id,
		Detail: "fields=" + join(changed)}); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Service) change(ctx context.Context, patientID, entity, entityID, action string, fields []string) *domain.PatientChange {
	c := &domain.PatientChange{PatientID: patientID, Entity: entity, EntityID: entityID, Action: action, Fields: fields, At: s.now()}
	if p := domain.PrincipalFrom(ctx); p != nil {
		c.ActorID, c.ActorRole = p.UserID, string(p.Role)
	}
	return c
}

// Changes lists who changed what in a patient's record, newest first.
func (s *Service) Changes(ctx context.Context, patientID string) ([]*domain.PatientChange, error) {
	if err := s.authorizePatient(ctx, policy.Clinical, policy.Read, patientID); err != nil {
		return nil, err
	}
	cs, err := s.store.PatientChanges(ctx, patientID, 200)
	if err != nil {
		return nil, err
	}
	return cs, s.audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "patient_history", ResourceID: patientID, PatientID: patientID})
}
