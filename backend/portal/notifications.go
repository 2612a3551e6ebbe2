package portal

import (
	"context"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Notifications lists the caller's own notifications, newest first.
func (s *Service) Notifications(ctx context.Context, limit int) ([]*domain.Notification, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.Authorize(ctx, policy.List, policy.Resource{Type: policy.Notification, OwnerID: principalID(p)}); err != nil {
		return nil, err
	}
	ns, err := s.store.ListNotifications(ctx, p.UserID, limit)
	if ns == nil {
		ns = []*domain.Notification{}
	}
	return ns, err
}

// MarkNotificationRead marks one of the caller's notifications read.
// Someone else's is refused, recorded, and answered as not found.
func (s *Service) MarkNotificationRead(ctx context.Context, id string) error {
	p := domain.PrincipalFrom(ctx)
	if err := s.Authorize(ctx, policy.Update, policy.Resource{Type: policy.Notification, ID: id, OwnerID: principalID(p)}); err != nil {
		return err
	}
	err := s.store.MarkNotificationRead(ctx, p.UserID, id, s.now())
	if domain.IsCode(err, domain.ENOTFOUND) {
		return s.access.Hidden(ctx, policy.Update, policy.Resource{Type: policy.Notification, ID: id}, "No such notification.")
	}
	return err
}

func principalID(p *domain.Principal) string {
	if p == nil {
		return ""
	}
	return p.UserID
}
