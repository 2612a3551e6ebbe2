package node

import (
	"context"
	"net/url"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// LeaseRequest is what an admin asks the upstream to lend this node.
type LeaseRequest = upstream.LeaseRequest

// RequestLease asks the upstream for a block of a doctor's time (an
// admin's, while online). The appointments that already hold time in the
// block are stored first, then the lease, as this installation's own:
// bookings inside it are confirmed at once from then on.
func (s *Service) RequestLease(ctx context.Context, in LeaseRequest) (*domain.SyncLease, error) {
	if err := s.guard.Authorize(ctx, policy.Update, policy.Resource{Type: policy.SyncStatus}); err != nil {
		return nil, err
	}
	c, err := s.connected()
	if err != nil {
		return nil, err
	}
	var out upstream.Leased
	if err := c.call(ctx, "POST", "/api/v1/sync/leases", in, &out); err != nil {
		return nil, asPersonError(err)
	}
	for _, a := range out.Appointments {
		if _, err := s.store.PutSyncedAppointment(ctx, s.local(a)); err != nil {
			return nil, err
		}
	}
	l := *out.Lease
	l.NodeID = ""
	if err := s.store.PutSyncLease(ctx, &l); err != nil {
		return nil, err
	}
	s.publishLease(ctx, &l)
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: policy.SyncStatus, ResourceID: l.ID,
		Detail: "lease doctor=" + l.DoctorID}); err != nil {
		return nil, err
	}
	return &l, nil
}

// ReleaseLease gives a lease back to the upstream before it expires.
func (s *Service) ReleaseLease(ctx context.Context, id string) (*domain.SyncLease, error) {
	if err := s.guard.Authorize(ctx, policy.Update, policy.Resource{Type: policy.SyncStatus}); err != nil {
		return nil, err
	}
	c, err := s.connected()
	if err != nil {
		return nil, err
	}
	if err := c.call(ctx, "POST", "/api/v1/sync/leases/"+url.PathEscape(id)+"/release", nil, nil); err != nil {
		return nil, asPersonError(err)
	}
	if err := s.store.ReleaseSyncLease(ctx, id, "", s.now()); err != nil && !domain.IsCode(err, domain.ENOTFOUND) {
		return nil, err
	}
	if l, err := s.store.SyncLeaseByID(ctx, id); err == nil {
		s.publishLease(ctx, l)
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.SyncStatus, ResourceID: id, Detail: "lease_released"}); err != nil {
		return nil, err
	}
	return s.store.SyncLeaseByID(ctx, id)
}

// Leases lists the leases this installation knows of: its own (node "")
// and other sites', for the front desk to see which time is whose.
func (s *Service) Leases(ctx context.Context) ([]*domain.SyncLease, error) {
	if err := s.guard.Authorize(ctx, policy.Read, policy.Resource{Type: policy.SyncStatus}); err != nil {
		return nil, err
	}
	list, err := s.store.ListSyncLeases(ctx, true, 500)
	if list == nil {
		list = []*domain.SyncLease{}
	}
	return list, err
}

// Leased reports whether this installation holds a lease that covers the
// doctor's [start, end): a booking there is confirmed at once.
func (s *Service) Leased(ctx context.Context, doctorID string, start, end time.Time) bool {
	l, err := s.store.LeaseCovering(ctx, "", doctorID, start, end)
	// Not in its last minutes: this node's clock may run ahead of or behind
	// the upstream's.
	return err == nil && l.Active(s.now().Add(upstream.ClockMargin))
}

// connected returns the client to the upstream, or why there is none.
func (s *Service) connected() (*client, error) {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return nil, domain.Errorf(domain.EINVALID, "This installation is not enrolled with an upstream server; enrol it first.")
	}
	return c, nil
}

// asPersonError turns the upstream's answer into one for the person who
// asked: its own refusal, or that it cannot be reached now.
func asPersonError(err error) error {
	if r, ok := err.(*refusal); ok {
		code := domain.EINVALID
		switch r.Status {
		case 404:
			code = domain.ENOTFOUND
		case 409:
			code = domain.ECONFLICT
		case 401, 403:
			code = domain.EFORBIDDEN
		}
		return &domain.Error{Code: code, Message: "The upstream server refused: " + r.Message}
	}
	return domain.Errorf(domain.EUNAVAILABLE, "The upstream server cannot be reached now; try again when it is online.")
}

// local is an appointment as the upstream sent it, with this node's own
// origin written as "" (this installation), as its own leases are.
func (s *Service) local(a *domain.Appointment) *domain.Appointment {
	s.mu.Lock()
	self := s.nodeID
	s.mu.Unlock()
	if a.OriginNode != "" && a.OriginNode == self {
		c := *a
		c.OriginNode = ""
		return &c
	}
	return a
}

// localLease is a lease as the upstream sent it, this node's own as "".
func (s *Service) localLease(l *domain.SyncLease) *domain.SyncLease {
	s.mu.Lock()
	self := s.nodeID
	s.mu.Unlock()
	c := *l
	if c.NodeID == self {
		c.NodeID = ""
	}
	return &c
}

// EventLease is the live event of a slot lease granted, given back or
// expired, here or at another site: the front desk's free times change.
const EventLease = "sync.lease"

func (s *Service) publishLease(ctx context.Context, l *domain.SyncLease) {
	if s.events != nil {
		publish(ctx, s.events, s.now(), EventLease, l.ID, l, nil)
	}
}
