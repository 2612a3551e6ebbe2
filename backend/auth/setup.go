package auth

import (
	"context"
	"github.com/healthhub/healthhub/backend/policy"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

const (
	setupTokenSetting   = "setup.token_hash"
	setupClaimedSetting = "setup.claimed"
)

// PrepareSetup makes a one-time setup token when the clinic has no admin
// yet, so the person installing HealthHub can create the first one. Each
// start replaces the previous token. It returns "" when setup is done.
func (s *Service) PrepareSetup(ctx context.Context) (string, error) {
	n, err := s.store.CountUsers(ctx, domain.RoleAdmin)
	if err != nil || n > 0 {
		return "", err
	}
	token, hash := newOpaqueToken("hhs_")
	if err := s.store.PutSetting(ctx, setupTokenSetting, hash); err != nil {
		return "", err
	}
	return token, nil
}

// NeedsSetup reports whether no admin exists yet.
func (s *Service) NeedsSetup(ctx context.Context) (bool, error) {
	n, err := s.store.CountUsers(ctx, domain.RoleAdmin)
	return n == 0, err
}

// CompleteSetup creates the first admin with the one-time setup token.
func (s *Service) CompleteSetup(ctx context.Context, token string, in NewAccount) (*domain.User, error) {
	want, ok, err := s.store.Setting(ctx, setupTokenSetting)
	if err != nil {
		return nil, err
	}
	if !ok || want == "" || !constantTimeEqual(hashToken(token), want) {
		return nil, s.access.Refused(ctx, policy.Create, policy.Resource{Type: policy.Setup},
			&domain.Error{Code: domain.EFORBIDDEN, Message: "The setup link is not valid or was already used. Restart the server to print a new one, or use 'healthhubd user create'."})
	}
	if done, err := s.NeedsSetup(ctx); err != nil {
		return nil, err
	} else if !done {
		return nil, domain.Errorf(domain.ECONFLICT, "Setup is already complete; sign in as an admin.")
	}
	in.Role = domain.RoleAdmin
	u, err := s.validate(ctx, in)
	if err != nil {
		return nil, err
	}
	// Two people using the link at once: only the first claim proceeds.
	claim := newID()
	claimed, err := s.store.PutSettingIfAbsent(ctx, setupClaimedSetting+":"+want, claim)
	if err != nil {
		return nil, err
	}
	if claimed != claim {
		return nil, domain.Errorf(domain.ECONFLICT, "Setup is already complete; sign in as an admin.")
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	if err := s.store.PutSetting(ctx, setupTokenSetting, ""); err != nil {
		return nil, err
	}
	return u, s.record(ctx, audit.Event{Actor: &domain.Principal{UserID: u.ID, Role: u.Role}, Action: domain.ActionCreate,
		ResourceType: "user", ResourceID: u.ID, Detail: "first-admin setup"})
}
