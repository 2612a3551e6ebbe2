package upstream

import (
	"context"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Slot leases: a node that is online asks for a block of a doctor's time;
// while it holds the lease, only its bookings may hold time there (the
// databases refuse anyone else's), so it confirms bookings inside it at
// once, even offline, and they can never conflict.

// Lease bounds.
const (
	MaxLeaseBlock = 14 * 24 * time.Hour // the longest block of time one lease covers
	MaxLeaseTTL   = 7 * 24 * time.Hour  // the longest a lease is held before it expires
)

// LeaseRequest is a node's request for a block of a doctor's time.
type LeaseRequest struct {
	DoctorID string    `json:"doctor_id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// TTL is how long the node wants it, in seconds (default: until End,
	// at most MaxLeaseTTL).
	TTL int64 `json:"ttl_seconds"`
}

// Leased is a granted lease and the appointments that already hold time in
// its block, which the node stores before it books there.
type Leased struct {
	Lease        *domain.SyncLease     `json:"lease"`
	Appointments []*domain.Appointment `json:"appointments"`
}

// Lease grants a node a block of a doctor's time, when no other lease
// holds any of it. Expired leases are released first.
func (s *Service) Lease(ctx context.Context, n *domain.SyncNode, in LeaseRequest) (*Leased, error) {
	if err := s.guard.Authorize(ctx, policy.Create, policy.Resource{Type: policy.SyncFeed, ID: n.ID}); err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case in.DoctorID == "":
		return nil, domain.Invalid("doctor_id", "Name the doctor whose time to lease.")
	case in.Start.IsZero() || in.End.IsZero() || !in.End.After(in.Start):
		return nil, domain.Invalid("end", "Give a start and an end after it (RFC 3339).")
	case in.End.Sub(in.Start) > MaxLeaseBlock:
		return nil, domain.Invalid("end", "A lease covers at most 14 days.")
	case !in.End.After(now):
		return nil, domain.Invalid("end", "The block is over already.")
	case in.TTL < 0 || in.TTL > int64(MaxLeaseTTL/time.Second):
		return nil, domain.Invalid("ttl_seconds", "A lease is held for at most 7 days.")
	}
	if !inScope(n, in.DoctorID) {
		return nil, s.guard.Refused(ctx, policy.Create, policy.Resource{Type: policy.SyncFeed, ID: n.ID},
			&domain.Error{Code: domain.EFORBIDDEN, Message: "This node may not lease that doctor's time."})
	}
	if _, err := s.store.DoctorByID(ctx, in.DoctorID); err != nil {
		if domain.IsCode(err, domain.ENOTFOUND) {
			return nil, domain.Invalid("doctor_id", "There is no doctor with id %q.", truncate(in.DoctorID, 64))
		}
		return nil, err
	}
	if _, err := s.ExpireLeases(ctx); err != nil {
		return nil, err
	}
	expires := in.End
	if in.TTL > 0 {
		expires = now.Add(time.Duration(in.TTL) * time.Second)
	}
	expires = minTime(expires, now.Add(MaxLeaseTTL))
	l := &domain.SyncLease{ID: newID(), NodeID: n.ID, DoctorID: in.DoctorID, Start: in.Start.UTC(), End: in.End.UTC(), ExpiresAt: expires.UTC(),
		CreatedAt: now}
	if err := s.store.GrantSyncLease(ctx, l); err != nil {
		return nil, err
	}
	// What already holds time in the block: the node must know all of it
	// to book there without conflict.
	var held []*domain.Appointment
	for offset := 0; ; offset += 500 {
		page, err := s.store.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: l.DoctorID, From: l.Start, To: l.End, Limit: 500, Offset: offset})
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			if domain.Blocks(a.Status) {
				a.IdempotencyKey = ""
				held = append(held, a)
			}
		}
		if len(page) < 500 {
			break
		}
	}
	evs := []audit.Event{{Action: domain.ActionCreate, ResourceType: policy.SyncFeed, ResourceID: l.ID, Detail: "lease doctor=" + l.DoctorID}}
	for _, a := range held {
		evs = append(evs, audit.Event{Action: domain.ActionRead, ResourceType: policy.Appointment, ResourceID: a.ID, PatientID: a.PatientID, Detail: "sync_lease"})
	}
	if err := audit.RecordEach(ctx, s.audit, evs); err != nil {
		return nil, err
	}
	if held == nil {
		held = []*domain.Appointment{}
	}
	return &Leased{Lease: l, Appointments: held}, nil
}

// ReleaseLease ends one of the node's leases before it expires.
func (s *Service) ReleaseLease(ctx context.Context, n *domain.SyncNode, id string) (*domain.SyncLease, error) {
	if err := s.guard.Authorize(ctx, policy.Update, policy.Resource{Type: policy.SyncFeed, ID: n.ID}); err != nil {
		return nil, err
	}
	if err := s.store.ReleaseSyncLease(ctx, id, n.ID, s.now()); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.SyncFeed, ResourceID: id, Detail: "lease_released"}); err != nil {
		return nil, err
	}
	return s.store.SyncLeaseByID(ctx, id)
}

// Lease expiry. A node confirms bookings in its lease at once, offline
// too, and sends them when it is back; so an expired lease stops holding
// time only once its holder has been seen since it expired (then every
// booking it made under the lease has arrived), or LeaseGrace after expiry
// for a node that never comes back. ClockMargin covers the nodes' clocks:
// a node stops confirming at once that long before its lease expires, and
// the upstream waits that long after.
const (
	LeaseGrace  = 7 * 24 * time.Hour
	ClockMargin = 15 * time.Minute
)

// ExpireLeases releases leases whose time is up (see LeaseGrace); the
// server calls it on a timer, so an expired lease stops holding time even
// when no node asks.
func (s *Service) ExpireLeases(ctx context.Context) (int, error) {
	now := s.now()
	leases, err := s.store.ListSyncLeases(ctx, true, 10000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range leases {
		if now.Before(l.ExpiresAt.Add(ClockMargin)) {
			continue
		}
		holder, err := s.store.SyncNodeByID(ctx, l.NodeID)
		if err != nil && !domain.IsCode(err, domain.ENOTFOUND) {
			return n, err
		}
		// Seen after expiry, and long enough ago that the round it came
		// in has finished.
		back := holder != nil && holder.LastSeenAt.After(l.ExpiresAt.Add(ClockMargin)) && now.Sub(holder.LastSeenAt) > 2*time.Minute
		if holder == nil || holder.Revoked() || back || now.After(l.ExpiresAt.Add(LeaseGrace)) {
			if err := s.store.ReleaseSyncLease(ctx, l.ID, l.NodeID, now); err != nil && !domain.IsCode(err, domain.ENOTFOUND) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// TombstoneRetention is how long the change log keeps the last change of a
// cancelled appointment, a resolved conflict or a released lease. A node
// that has not pulled for longer pulls everything again (a resync).
const TombstoneRetention = 90 * 24 * time.Hour

// CompactChanges drops superseded changes and tombstones older than
// TombstoneRetention from the change log, returning how many went.
func (s *Service) CompactChanges(ctx context.Context) (int, error) {
	return s.store.CompactChanges(ctx, s.now().Add(-TombstoneRetention))
}
