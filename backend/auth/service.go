// Package auth is accounts and access: registration, sign-in with lockout and
// rate limits, TOTP two-factor authentication, access and refresh tokens,
// idle logoff, API keys and the clinic's account settings.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"github.com/healthhub/healthhub/backend/access"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/ratelimit"
	"github.com/healthhub/healthhub/backend/secret"
)

// Config holds the security parameters. Zero values take the defaults below.
type Config struct {
	Issuer        string
	Audience      string
	AccessTTL     time.Duration // access token lifetime (15 minutes)
	SessionMaxAge time.Duration // absolute session limit (12 hours)
	// IdleTimeout is the automatic logoff after inactivity (15 minutes);
	// admins can change it in the settings.
	IdleTimeout time.Duration
	// LockoutThreshold failures in a row lock the account for LockoutBase,
	// doubling with each further failure up to LockoutMax.
	LockoutThreshold int
	LockoutBase      time.Duration
	LockoutMax       time.Duration
	// Sign-in attempts allowed per minute from one IP address and for one
	// account; negative disables the limit.
	LoginPerIPPerMinute      float64
	LoginPerAccountPerMinute float64
	Argon2                   Argon2Params
	// RegistrationsPerIPPerHour bounds self-registrations from one address
	// (default 20; negative disables the limit).
	RegistrationsPerIPPerHour float64
	// SelfRegistration is the default for the self-registration setting.
	SelfRegistration bool
	// SigningKey, when set, signs access tokens; otherwise a key is made once
	// and kept, sealed, in the database so every replica shares it.
	SigningKey []byte
	// ClinicTimeZone is the default of the clinic's time zone setting
	// (default: this machine's zone).
	ClinicTimeZone string
	// SharedLimits, when set, keeps the rate limits' buckets where every
	// server process of the deployment counts toward them (the database
	// replicas share).
	SharedLimits ratelimit.Store
	// ReadSessionsAlways reads the session and account from the database on
	// every request instead of for up to a second, so that a logout or a
	// disabled account through another server process is refused on this
	// one from the moment it is answered (replicas).
	ReadSessionsAlways bool
}

func (c *Config) withDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Issuer == "" {
		c.Issuer = "healthhub"
	}
	if c.Audience == "" {
		c.Audience = "healthhub-api"
	}
	def(&c.AccessTTL, 15*time.Minute)
	def(&c.SessionMaxAge, 12*time.Hour)
	def(&c.IdleTimeout, 15*time.Minute)
	def(&c.LockoutBase, time.Minute)
	def(&c.LockoutMax, time.Hour)
	if c.LockoutThreshold == 0 {
		c.LockoutThreshold = 5
	}
	if c.LoginPerIPPerMinute == 0 {
		c.LoginPerIPPerMinute = 30
	}
	if c.LoginPerAccountPerMinute == 0 {
		c.LoginPerAccountPerMinute = 10
	}
	if c.RegistrationsPerIPPerHour == 0 {
		c.RegistrationsPerIPPerHour = 20
	}
	if c.ClinicTimeZone == "" {
		c.ClinicTimeZone = LocalTimeZone(os.Getenv)
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2
	}
}

// Service implements accounts and access.
type Service struct {
	cfg      Config
	store    Store
	audit    audit.Recorder
	access   *access.Guard
	keys     *secret.Keyring
	now      func() time.Time
	logger   *slog.Logger
	signer   *Signer
	settings *settingsCache
	cache    *authCache

	// peers hears of and tells the other processes' cache invalidations.
	peers     Peers
	peersDone chan struct{}

	perIP      *ratelimit.Limiter
	perAccount *ratelimit.Limiter
	registerIP *ratelimit.Limiter
	// kdfSlots bounds how many password hashes run at once: each takes
	// Argon2.Memory, so unbounded parallel sign-ins or registrations could
	// exhaust the server's memory.
	kdfSlots chan struct{}
	// dummyHash makes a sign-in for an unknown e-mail cost as much as one
	// for a known account, so timing does not reveal which accounts exist.
	dummyHash string
}

// New builds the service, loading or creating the token signing key.
func New(ctx context.Context, cfg Config, store Store, rec audit.Recorder, keys *secret.Keyring, now func() time.Time, logger *slog.Logger) (*Service, error) {
	cfg.withDefaults()
	key := cfg.SigningKey
	if len(key) == 0 {
		var err error
		if key, err = loadSigningKey(ctx, store, keys); err != nil {
			return nil, err
		}
	}
	signer, err := NewSigner(key, cfg.Issuer, cfg.Audience, cfg.AccessTTL, now)
	if err != nil {
		return nil, err
	}
	dummy, err := unmatchableHash(cfg.Argon2)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, store: store, audit: rec, access: access.New(rec), keys: keys, now: now, logger: logger, signer: signer,
		perIP:      ratelimit.New(cfg.LoginPerIPPerMinute, max(int(cfg.LoginPerIPPerMinute), 1)),
		perAccount: ratelimit.New(cfg.LoginPerAccountPerMinute, max(int(cfg.LoginPerAccountPerMinute), 1)),
		dummyHash:  dummy,
		cache:      newAuthCache(cacheTTL(cfg)),
		registerIP: ratelimit.New(cfg.RegistrationsPerIPPerHour/60, max(int(cfg.RegistrationsPerIPPerHour/6), 1)),
		kdfSlots:   make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
	}
	if cfg.SharedLimits != nil {
		s.perIP.Share(cfg.SharedLimits, "login-ip", logger)
		s.perAccount.Share(cfg.SharedLimits, "login-account", logger)
		s.registerIP.Share(cfg.SharedLimits, "register-ip", logger)
	}
	s.settings = &settingsCache{store: store, now: now, defaults: Settings{
		SelfRegistration: cfg.SelfRegistration, IdleTimeoutMinutes: int(cfg.IdleTimeout / time.Minute),
		MFARequiredRoles: []domain.Role{}, TimeZone: cfg.ClinicTimeZone,
	}}
	return s, nil
}

func cacheTTL(cfg Config) time.Duration {
	if cfg.ReadSessionsAlways {
		return 0
	}
	return sessionCacheTTL
}

const signingKeySetting = "auth.signing_key"

func loadSigningKey(ctx context.Context, store domain.SettingStore, keys *secret.Keyring) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	sealed, err := keys.Seal(fresh, signingKeySetting)
	if err != nil {
		return nil, err
	}
	stored, err := store.PutSettingIfAbsent(ctx, signingKeySetting, sealed)
	if err != nil {
		return nil, fmt.Errorf("store token signing key: %w", err)
	}
	key, err := keys.Open(stored, signingKeySetting)
	if err != nil {
		return nil, fmt.Errorf("the token signing key in the database was sealed with a different encryption keyring; " +
			"give this server the same keyring file as the others (HEALTHHUB_KEYRING_FILE)")
	}
	return key, nil
}

// TokenPair is what a successful sign-in or refresh returns.
type TokenPair struct {
	AccessToken  string       `json:"access_token"`
	RefreshToken string       `json:"refresh_token"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int          `json:"expires_in"`
	User         *domain.User `json:"user"`
	// MFAEnrollmentRequired tells the client to send the user to enrolment:
	// their role requires two-factor authentication and they have none yet.
	MFAEnrollmentRequired bool `json:"mfa_enrollment_required,omitempty"`
}

func (s *Service) record(ctx context.Context, ev audit.Event) error {
	if err := s.audit.Record(ctx, ev); err != nil {
		return err
	}
	return nil
}

// newSession starts a session for u and returns its first token pair.
func (s *Service) newSession(ctx context.Context, u *domain.User) (*TokenPair, error) {
	now := s.now()
	meta := domain.RequestMetaFrom(ctx)
	sess := &domain.Session{
		ID: newID(), UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionMaxAge),
		SourceIP: meta.SourceIP, UserAgent: truncate(meta.UserAgent, 256),
	}
	refresh, hash := newOpaqueToken(refreshPrefix)
	if err := s.store.CreateSession(ctx, sess, &domain.RefreshToken{Hash: hash, IssuedAt: now}); err != nil {
		return nil, err
	}
	return s.pair(ctx, u, sess.ID, refresh, now)
}

func (s *Service) pair(ctx context.Context, u *domain.User, sessionID, refresh string, now time.Time) (*TokenPair, error) {
	access, err := s.signer.Issue(u.ID, sessionID, now)
	if err != nil {
		return nil, err
	}
	set, err := s.settings.get(ctx)
	if err != nil {
		return nil, err
	}
	return &TokenPair{
		AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(s.cfg.AccessTTL / time.Second), User: u,
		MFAEnrollmentRequired: set.requiresMFA(u.Role) && !u.MFAEnabled,
	}, nil
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// constantTimeEqual compares two secrets without leaking where they differ.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// kdfWait is how long a password hash waits for a free slot before the
// request is refused as busy.
const kdfWait = 5 * time.Second

// withKDF runs fn, a password hash or check, once a slot is free.
func (s *Service) withKDF(ctx context.Context, fn func()) error {
	t := time.NewTimer(kdfWait)
	defer t.Stop()
	select {
	case s.kdfSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return domain.Unavailable(nil, "The server is busy signing other people in; please try again in a moment.")
	}
	defer func() { <-s.kdfSlots }()
	fn()
	return nil
}

func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	var hash string
	var herr error
	if err := s.withKDF(ctx, func() { hash, herr = HashPassword(password, s.cfg.Argon2) }); err != nil {
		return "", err
	}
	return hash, herr
}

func (s *Service) verifyPassword(ctx context.Context, password, encoded string) (bool, error) {
	var ok bool
	err := s.withKDF(ctx, func() { ok = VerifyPassword(password, encoded) })
	return ok, err
}

// AllowRegistration applies the per-address limit on self-registration.
func (s *Service) AllowRegistration(ctx context.Context) error {
	if s.cfg.RegistrationsPerIPPerHour < 0 {
		return nil
	}
	if ok, wait := s.registerIP.Allow(ctx, domain.RequestMetaFrom(ctx).SourceIP, s.now()); !ok {
		return rateLimited(wait, "Too many registrations from this address; wait %s and try again, or ask the front desk.")
	}
	return nil
}
