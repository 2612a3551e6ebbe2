package auth

import (
	"context"
	"github.com/healthhub/healthhub/backend/policy"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// CreateAPIKey makes a key for the caller's other tools. The key itself is
// returned once and only its hash is kept.
func (s *Service) CreateAPIKey(ctx context.Context, p *domain.Principal, name string) (string, *domain.APIKey, error) {
	if err := s.access.Self(p, policy.Create); err != nil {
		return "", nil, err
	}
	n, err := ValidateName(name)
	if err != nil {
		return "", nil, domain.Invalid("name", "Give the key a name (up to 200 characters) so you can tell it apart later.")
	}
	key, hash := newOpaqueToken(apiKeyPrefix)
	k := &domain.APIKey{UserID: p.UserID, Name: n, Prefix: key[:len(apiKeyPrefix)+6], Hash: hash, CreatedAt: s.now()}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return "", nil, err
	}
	if err := s.record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "api_key", ResourceID: k.ID}); err != nil {
		return "", nil, err
	}
	return key, k, nil
}

// ListAPIKeys returns the caller's keys (without the keys themselves).
func (s *Service) ListAPIKeys(ctx context.Context, p *domain.Principal) ([]*domain.APIKey, error) {
	if err := s.access.Self(p, policy.List); err != nil {
		return nil, err
	}
	keys, err := s.store.ListAPIKeys(ctx, p.UserID)
	if keys == nil {
		keys = []*domain.APIKey{}
	}
	return keys, err
}

// RevokeAPIKey revokes one of the caller's keys.
func (s *Service) RevokeAPIKey(ctx context.Context, p *domain.Principal, id string) error {
	if err := s.access.Self(p, policy.Delete); err != nil {
		return err
	}
	if err := s.store.RevokeAPIKey(ctx, p.UserID, id, s.now()); domain.IsCode(err, domain.ENOTFOUND) {
		// Someone else's key, or none: refused and recorded, and not
		// revealed.
		return s.access.Hidden(ctx, policy.Delete, policy.Resource{Type: policy.APIKey, ID: id}, "No such API key.")
	} else if err != nil {
		return err
	}
	s.cache.forgetAPIKey(id)
	s.tellPeers(ctx, forget{APIKey: id})
	return s.record(ctx, audit.Event{Action: domain.ActionDelete, ResourceType: "api_key", ResourceID: id})
}

func (s *Service) authenticateAPIKey(ctx context.Context, key string) (*domain.Principal, error) {
	invalid := &domain.Error{Code: domain.EUNAUTHORIZED, Message: "The API key is not valid or has been revoked."}
	if len(key) > 128 {
		return nil, invalid
	}
	hash := hashToken(key)
	if p, ok := s.cache.apiKey(hash, s.now()); ok {
		return p, nil
	}
	epoch := s.cache.sessionEpoch()
	k, err := s.store.APIKeyByHash(ctx, hash)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if !k.RevokedAt.IsZero() {
		return nil, invalid
	}
	u, err := s.store.UserByID(ctx, k.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "This account is disabled; contact the clinic's administrator."}
	}
	p := &domain.Principal{UserID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, APIKeyID: k.ID, Account: u}
	s.cache.putAPIKey(hash, p, s.now(), epoch)
	return p, nil
}
