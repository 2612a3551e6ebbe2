package upstream

import (
	"context"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// MaxChanges is the most changes one page of the feed carries.
const MaxChanges = 500

// Change is one entry of the feed a node pulls: the entity's state as it is
// now at the upstream. Only the field of its entity is set; an appointment
// that was cancelled comes as its cancelled state (its tombstone). A
// patient or appointment removed for good (retention) comes as Deleted,
// with no state: the node removes its copy.
type Change struct {
	Cursor       string               `json:"cursor"`
	Entity       string               `json:"entity"`
	EntityID     string               `json:"entity_id"`
	Deleted      bool                 `json:"deleted,omitempty"`
	Appointment  *domain.Appointment  `json:"appointment,omitempty"`
	Conflict     *domain.SyncConflict `json:"conflict,omitempty"`
	Doctor       *domain.SyncedDoctor `json:"doctor,omitempty"`
	Availability *domain.Availability `json:"availability,omitempty"`
	Patient      *domain.Patient      `json:"patient,omitempty"`
	Lease        *domain.SyncLease    `json:"lease,omitempty"`
}

// Page is a page of the feed; Next resumes after it, More says whether
// more changes were waiting.
type Page struct {
	Changes []Change `json:"changes"`
	Next    string   `json:"next"`
	More    bool     `json:"more"`
}

// Changes returns the changes after the cursor that the node may see. Each
// patient record and appointment sent is recorded in the audit log, naming
// the patient.
func (s *Service) Changes(ctx context.Context, n *domain.SyncNode, after string, limit int) (*Page, error) {
	if err := s.guard.Authorize(ctx, policy.Read, policy.Resource{Type: policy.SyncFeed, ID: n.ID}); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxChanges {
		limit = MaxChanges
	}
	raw, err := s.store.Changes(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	page := &Page{Changes: []Change{}, Next: after, More: len(raw) == limit}
	// A page names an entity once, at its last change: its state now.
	last := map[string]int{}
	for i, c := range raw {
		last[c.Entity+"\x00"+c.EntityID] = i
	}
	var evs []audit.Event
	for i, c := range raw {
		page.Next = c.Cursor
		if last[c.Entity+"\x00"+c.EntityID] != i {
			continue
		}
		ch, patient, err := s.load(ctx, n, c)
		if err != nil {
			return nil, err
		}
		if ch == nil {
			continue
		}
		page.Changes = append(page.Changes, *ch)
		if patient != "" {
			evs = append(evs, audit.Event{Action: domain.ActionRead, ResourceType: c.Entity, ResourceID: c.EntityID, PatientID: patient, Detail: "sync_pull"})
		}
	}
	if len(page.Changes) > 0 {
		// The page is the last change it carries, so a resumed pull starts
		// after it.
		page.Changes[len(page.Changes)-1].Cursor = page.Next
	}
	if err := audit.RecordEach(ctx, s.audit, evs); err != nil {
		return nil, err
	}
	return page, nil
}

// load reads a change's entity as it is now, for the node; nil when the
// node may not see it or it is gone.
func (s *Service) load(ctx context.Context, n *domain.SyncNode, c domain.Change) (*Change, string, error) {
	ch := &Change{Cursor: c.Cursor, Entity: c.Entity, EntityID: c.EntityID}
	gone := func(err error) (*Change, string, error) {
		if domain.IsCode(err, domain.ENOTFOUND) {
			if c.Entity == domain.ChangeEntityPatient || c.Entity == domain.ChangeEntityAppointment {
				// Purged: nothing is read, so no access to record.
				ch.Deleted = true
				return ch, "", nil
			}
			return nil, "", nil
		}
		return nil, "", err
	}
	switch c.Entity {
	case domain.ChangeEntityAppointment:
		a, err := s.store.AppointmentByID(ctx, c.EntityID)
		if err != nil {
			return gone(err)
		}
		if !inScope(n, a.DoctorID) {
			return nil, "", nil
		}
		a.IdempotencyKey = ""
		ch.Appointment = a
		return ch, a.PatientID, nil
	case domain.ChangeEntityConflict:
		k, err := s.store.SyncConflictByID(ctx, c.EntityID)
		if err != nil {
			return gone(err)
		}
		if !inScope(n, k.DoctorID) {
			return nil, "", nil
		}
		ch.Conflict = k
		return ch, k.PatientID, nil
	case domain.ChangeEntityDoctor:
		d, err := s.store.DoctorByID(ctx, c.EntityID)
		if err != nil {
			return gone(err)
		}
		u, err := s.store.UserByID(ctx, d.UserID)
		if err != nil {
			return gone(err)
		}
		// The account travels without anything to sign in with.
		ch.Doctor = &domain.SyncedDoctor{Doctor: d, Account: &domain.User{ID: u.ID, Email: u.Email, Name: u.Name, Role: domain.RoleDoctor,
			Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}}
		return ch, "", nil
	case domain.ChangeEntityAvailability:
		av, err := s.store.Availability(ctx, c.EntityID)
		if err != nil {
			return gone(err)
		}
		ch.Availability = av
		return ch, "", nil
	case domain.ChangeEntityLease:
		l, err := s.store.SyncLeaseByID(ctx, c.EntityID)
		if err != nil {
			return gone(err)
		}
		ch.Lease = l
		return ch, "", nil
	case domain.ChangeEntityPatient:
		p, err := s.store.PatientByID(ctx, c.EntityID)
		if err != nil {
			return gone(err)
		}
		if p, err = s.patients.OpenPatient(p); err != nil {
			return nil, "", err
		}
		p.UserID = "" // portal accounts stay with the upstream
		ch.Patient = p
		return ch, p.ID, nil
	}
	return nil, "", nil
}
