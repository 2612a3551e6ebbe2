package node

import (
	"context"
	"sync/atomic"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// Purger removes this installation's copy of a patient the upstream
// purged (retention.Service).
type Purger interface {
	PurgeDeletedPatient(ctx context.Context, patientID string) error
}

type purgerRef struct{ p atomic.Pointer[purgerBox] }

type purgerBox struct{ Purger }

// UsePurger makes the node remove its copy of each patient the upstream
// purged; without one, such deletions are left to a resync.
func (s *Service) UsePurger(p Purger) { s.purger.p.Store(&purgerBox{p}) }

// applyDeleted applies an entity the upstream removed for good. A patient
// goes with everything of theirs here (appointments included, so an
// appointment's own deletion needs nothing more).
func (s *Service) applyDeleted(ctx context.Context, ch *upstream.Change) error {
	b := s.purger.p.Load()
	if ch.Entity != domain.ChangeEntityPatient || b == nil {
		return nil
	}
	return b.PurgeDeletedPatient(ctx, ch.EntityID)
}
