package node

import (
	"context"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// People's side of the node: what the API offers, each decision made and
// recorded by the guard.

// StatusFor is Status for a signed-in caller who may see it.
func (s *Service) StatusFor(ctx context.Context) (*Status, error) {
	if err := s.guard.Authorize(ctx, policy.Read, policy.Resource{Type: policy.SyncStatus}); err != nil {
		return nil, err
	}
	return s.Status(ctx)
}

// RunNow runs a round at once (an admin's) and returns the status after it;
// a failed round is reported in the status, not as an error.
func (s *Service) RunNow(ctx context.Context) (*Status, error) {
	if err := s.guard.Authorize(ctx, policy.Update, policy.Resource{Type: policy.SyncStatus}); err != nil {
		return nil, err
	}
	if !s.Queueing() {
		return nil, domain.Errorf(domain.EINVALID, "This installation is not enrolled with an upstream server; enrol it first.")
	}
	_ = s.RunOnce(ctx)
	return s.Status(ctx)
}

// EnrollAs is Enroll for an admin, recorded.
func (s *Service) EnrollAs(ctx context.Context, in EnrollOptions) (*Status, error) {
	if err := s.guard.Authorize(ctx, policy.Update, policy.Resource{Type: policy.SyncStatus}); err != nil {
		return nil, err
	}
	st, err := s.Enroll(ctx, in)
	if err != nil {
		return nil, err
	}
	return st, s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.SyncStatus, ResourceID: st.NodeID, Detail: "enrolled"})
}

// Conflicts lists the conflicts to rebook (open ones, or all), for the
// front desk; each names a patient, and the read is recorded for each.
func (s *Service) Conflicts(ctx context.Context, openOnly bool) ([]*domain.SyncConflict, error) {
	if err := s.guard.Authorize(ctx, policy.List, policy.Resource{Type: policy.SyncConflict}); err != nil {
		return nil, err
	}
	list, err := s.store.ListSyncConflicts(ctx, openOnly, 500)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []*domain.SyncConflict{}
	}
	evs := make([]audit.Event, 0, len(list))
	for _, c := range list {
		evs = append(evs, audit.Event{Action: domain.ActionSearch, ResourceType: policy.SyncConflict, ResourceID: c.ID, PatientID: c.PatientID})
	}
	return list, audit.RecordEach(ctx, s.audit, evs)
}

// Resolve marks a conflict as dealt with (rebooked, or the patient told).
func (s *Service) Resolve(ctx context.Context, id string) (*domain.SyncConflict, error) {
	c, err := s.store.SyncConflictByID(ctx, id)
	if err != nil {
		return nil, err
	}
	res := policy.Resource{Type: policy.SyncConflict, ID: id, PatientID: c.PatientID}
	if err := s.guard.Authorize(ctx, policy.Update, res); err != nil {
		return nil, err
	}
	p := domain.PrincipalFrom(ctx)
	if err := s.store.ResolveSyncConflict(ctx, id, p.UserID, s.now()); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.SyncConflict, ResourceID: id, PatientID: c.PatientID,
		Detail: "resolved"}); err != nil {
		return nil, err
	}
	return s.store.SyncConflictByID(ctx, id)
}
