package domain

import (
	"context"
	"time"
)

// Role is what a user is in the clinic; the authorization policy is written in
// terms of roles and ownership.
type Role string

const (
	RolePatient Role = "patient"
	RoleDoctor  Role = "doctor"
	RoleStaff   Role = "staff"
	RoleAdmin   Role = "admin"
)

// Roles lists every role, in order of increasing administrative reach.
var Roles = []Role{RolePatient, RoleDoctor, RoleStaff, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// User is an account. Secrets never leave the server: PasswordHash and
// MFASecret are not serialised.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"`
	MFAEnabled   bool      `json:"mfa_enabled"`
	MFASecret    string    `json:"-"` // encrypted at rest
	Disabled     bool      `json:"disabled"`
	FailedLogins int       `json:"-"`
	LockedUntil  time.Time `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// UserFilter narrows ListUsers. Zero values match everything.
type UserFilter struct {
	Role   Role
	Query  string // case-insensitive substring of e-mail or name
	Limit  int
	Offset int
}

// Session is one login. Access tokens name their session, so revoking the
// session (logout, refresh-token reuse, idle timeout) ends every token of it.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute limit, however active the session is
	RevokedAt  time.Time // zero while active
	SourceIP   string
	UserAgent  string
}

// Active reports whether the session may still be used at now with the given
// idle timeout.
func (s *Session) Active(now time.Time, idle time.Duration) bool {
	if !s.RevokedAt.IsZero() || !now.Before(s.ExpiresAt) {
		return false
	}
	return idle <= 0 || now.Sub(s.LastSeenAt) < idle
}

// RefreshToken is stored by the SHA-256 of its value. Every token is used at
// most once: using it marks it used and issues the next one in the family
// (the session).
type RefreshToken struct {
	Hash      string
	SessionID string
	IssuedAt  time.Time
	UsedAt    time.Time
}

// APIKey lets a user's other tools call the OpenAI-compatible endpoint.
type APIKey struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"` // first characters, to tell keys apart
	Hash       string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// UserStore keeps accounts, sessions, refresh tokens and API keys.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	ListUsers(ctx context.Context, f UserFilter) ([]*User, error)
	// UpdateUser writes every mutable field of u and sets u.UpdatedAt.
	UpdateUser(ctx context.Context, u *User) error
	CountUsers(ctx context.Context, role Role) (int, error)
	// RecordLoginFailure increments the failure count atomically and, when
	// lockUntil returns a non-zero time for the new count, locks the account.
	RecordLoginFailure(ctx context.Context, userID string, lockUntil func(failures int) time.Time) (failures int, err error)
	ResetLoginFailures(ctx context.Context, userID string) error

	// CreateSession stores a session and its first refresh token together.
	CreateSession(ctx context.Context, s *Session, first *RefreshToken) error
	SessionByID(ctx context.Context, id string) (*Session, error)
	// SessionWithUser returns a session and its account in one read: it runs
	// on every authenticated request.
	SessionWithUser(ctx context.Context, id string) (*Session, *User, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	RevokeSession(ctx context.Context, id string, at time.Time) error
	RevokeUserSessions(ctx context.Context, userID string, at time.Time) error
	// RotateRefreshToken marks the token with oldHash used and stores next in
	// its family, atomically. A token that was already used revokes its whole
	// session and returns it with ErrRefreshReused (so that the caller can
	// forget it at once); an unknown one returns not_found.
	RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken) (*Session, error)

	CreateAPIKey(ctx context.Context, k *APIKey) error
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	ListAPIKeys(ctx context.Context, userID string) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, userID, id string, at time.Time) error
}

// ErrRefreshReused is returned when a refresh token is presented a second
// time: a sign that it was stolen, so its whole family is revoked.
var ErrRefreshReused = &Error{Code: EUNAUTHORIZED, Message: "This refresh token was already used; the session has been ended for safety. Please sign in again."}

// SettingStore keeps small clinic-wide settings as strings.
type SettingStore interface {
	Setting(ctx context.Context, key string) (value string, ok bool, err error)
	PutSetting(ctx context.Context, key, value string) error
	// PutSettingIfAbsent stores value unless key exists, and returns the value
	// in force afterwards; replicas starting together agree on one value.
	PutSettingIfAbsent(ctx context.Context, key, value string) (string, error)
}
