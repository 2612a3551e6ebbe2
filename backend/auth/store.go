package auth

import (
	"context"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// Store is what the service reads and writes: the methods of the store it
// uses (domain.Store has them all).
type Store interface {
	APIKeyByHash(ctx context.Context, hash string) (*domain.APIKey, error)
	CountUsers(ctx context.Context, role domain.Role) (int, error)
	CreateAPIKey(ctx context.Context, k *domain.APIKey) error
	CreateDoctor(ctx context.Context, d *domain.Doctor, account *domain.User, hours *domain.Availability) error
	CreateSession(ctx context.Context, s *domain.Session, first *domain.RefreshToken) error
	CreateUser(ctx context.Context, u *domain.User) error
	DoctorByUserID(ctx context.Context, userID string) (*domain.Doctor, error)
	ListAPIKeys(ctx context.Context, userID string) ([]*domain.APIKey, error)
	ListUsers(ctx context.Context, f domain.UserFilter) ([]*domain.User, error)
	PutSetting(ctx context.Context, key, value string) error
	PutSettingIfAbsent(ctx context.Context, key, value string) (string, error)
	RecordLoginFailure(ctx context.Context, userID string, lockUntil func(failures int) time.Time) (failures int, err error)
	ResetLoginFailures(ctx context.Context, userID string) error
	RevokeAPIKey(ctx context.Context, userID, id string, at time.Time) error
	RevokeSession(ctx context.Context, id string, at time.Time) error
	RevokeUserSessions(ctx context.Context, userID string, at time.Time) error
	RotateRefreshToken(ctx context.Context, oldHash string, next *domain.RefreshToken) (*domain.Session, error)
	SessionWithUser(ctx context.Context, id string) (*domain.Session, *domain.User, error)
	Setting(ctx context.Context, key string) (value string, ok bool, err error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	UpdateUser(ctx context.Context, u *domain.User) error
	UserByEmail(ctx context.Context, email string) (*domain.User, error)
	UserByID(ctx context.Context, id string) (*domain.User, error)
}
