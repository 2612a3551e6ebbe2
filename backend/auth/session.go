package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// Credentials is a sign-in attempt.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	TOTPCode string `json:"totp_code,omitempty"`
}

var errBadCredentials = &domain.Error{Code: domain.EUNAUTHORIZED, Message: "The e-mail address or password is incorrect."}

// Login checks credentials (and the second factor when enrolled) and starts a
// session. Failures count towards the account lockout; attempts are rate
// limited per IP address and per account.
func (s *Service) Login(ctx context.Context, c Credentials) (*TokenPair, error) {
	now := s.now()
	meta := domain.RequestMetaFrom(ctx)
	email := strings.ToLower(strings.TrimSpace(c.Email))
	if email == "" || c.Password == "" {
		return nil, domain.Invalid("email", "Enter your e-mail address and password.")
	}
	if len(c.Password) > MaxPasswordLength || len(email) > 254 {
		return nil, errBadCredentials
	}
	if ok, wait := s.perIP.Allow(ctx, meta.SourceIP, now); !ok {
		return nil, rateLimited(wait, "Too many sign-in attempts from this address; wait %s and try again.")
	}
	if ok, wait := s.perAccount.Allow(ctx, email, now); !ok {
		return nil, rateLimited(wait, "Too many sign-in attempts for this account; wait %s and try again.")
	}
	fail := func(u *domain.User, reason string, err error) (*TokenPair, error) {
		ev := audit.Event{Action: domain.ActionLogin, ResourceType: "user", Outcome: domain.OutcomeFailure, Detail: "reason=" + reason}
		if u != nil {
			ev.ResourceID = u.ID
			ev.Actor = &domain.Principal{UserID: u.ID, Role: u.Role}
		}
		if aerr := s.record(ctx, ev); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	u, err := s.store.UserByEmail(ctx, email)
	if domain.IsCode(err, domain.ENOTFOUND) {
		if _, err := s.verifyPassword(ctx, c.Password, s.dummyHash); err != nil {
			return nil, err
		}
		return fail(nil, "unknown_account", errBadCredentials)
	}
	if err != nil {
		return nil, err
	}
	if now.Before(u.LockedUntil) {
		return fail(u, "locked", rateLimited(u.LockedUntil.Sub(now),
			"This account is locked after repeated failed sign-ins; try again in %s or ask an administrator to unlock it."))
	}
	ok, err := s.verifyPassword(ctx, c.Password, u.PasswordHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		if _, err := s.store.RecordLoginFailure(ctx, u.ID, s.lockUntil); err != nil {
			return nil, err
		}
		return fail(u, "bad_password", errBadCredentials)
	}
	if u.Disabled {
		return fail(u, "disabled", &domain.Error{Code: domain.EUNAUTHORIZED, Message: "This account is disabled; contact the clinic's administrator."})
	}
	if u.MFAEnabled {
		if strings.TrimSpace(c.TOTPCode) == "" {
			return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Field: "totp_code", Message: "Enter the 6-digit code from your authenticator app."}
		}
		ok, err := s.checkTOTP(u, c.TOTPCode, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			if _, err := s.store.RecordLoginFailure(ctx, u.ID, s.lockUntil); err != nil {
				return nil, err
			}
			return fail(u, "bad_totp", &domain.Error{Code: domain.EUNAUTHORIZED, Field: "totp_code", Message: "That code is not correct or has expired; enter the current code from your authenticator app."})
		}
	}
	if u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		if err := s.store.ResetLoginFailures(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	pair, err := s.newSession(ctx, u)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, audit.Event{Actor: &domain.Principal{UserID: u.ID, Role: u.Role}, Action: domain.ActionLogin,
		ResourceType: "user", ResourceID: u.ID}); err != nil {
		return nil, err
	}
	return pair, nil
}

// lockUntil is the lockout policy: from the threshold on, each failure locks
// the account for twice as long as the one before, up to the maximum.
func (s *Service) lockUntil(failures int) time.Time {
	if failures < s.cfg.LockoutThreshold {
		return time.Time{}
	}
	d := s.cfg.LockoutBase
	for i := s.cfg.LockoutThreshold; i < failures && d < s.cfg.LockoutMax; i++ {
		d *= 2
	}
	return s.now().Add(min(d, s.cfg.LockoutMax))
}

func rateLimited(wait time.Duration, format string) error {
	secs := int(wait.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &domain.Error{Code: domain.ERATELIMITED, Message: fmt.Sprintf(format, humanDuration(wait)), RetryAfter: secs}
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", max(1, int(d.Round(time.Second)/time.Second)))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
	}
	return fmt.Sprintf("%d hours", int((d+time.Hour-1)/time.Hour))
}

// Refresh exchanges a refresh token for a new pair. The old token is used up;
// presenting it again ends the session (token theft): every access and
// refresh token issued to it stops working at once, as after Logout.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (*TokenPair, error) {
	if !strings.HasPrefix(refreshToken, refreshPrefix) || len(refreshToken) > 128 {
		return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "That refresh token is not valid. Please sign in again."}
	}
	now := s.now()
	next, hash := newOpaqueToken(refreshPrefix)
	sess, err := s.store.RotateRefreshToken(ctx, hashToken(refreshToken), &domain.RefreshToken{Hash: hash, IssuedAt: now})
	if errors.Is(err, domain.ErrRefreshReused) {
		// The store has revoked the session; what this process remembers
		// of it must not answer for its access tokens any longer.
		if sess != nil {
			s.forgetSession(ctx, sess.ID)
		} else {
			s.cache.forgetSessions()
			s.tellPeers(ctx, forget{All: true})
		}
		if aerr := s.record(ctx, audit.Event{Action: domain.ActionLogin, ResourceType: "session", Outcome: domain.OutcomeFailure,
			Detail: "reason=refresh_token_reuse"}); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	set, err := s.settings.get(ctx)
	if err != nil {
		return nil, err
	}
	if !sess.Active(now, set.idle()) {
		return nil, s.endedSession(ctx, sess, now)
	}
	u, err := s.store.UserByID(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "This account is disabled; contact the clinic's administrator."}
	}
	return s.pair(ctx, u, sess.ID, next, now)
}

// endedSession revokes a session that timed out and says why.
func (s *Service) endedSession(ctx context.Context, sess *domain.Session, now time.Time) error {
	if sess.RevokedAt.IsZero() {
		if err := s.store.RevokeSession(ctx, sess.ID, now); err != nil {
			return err
		}
	}
	if !sess.RevokedAt.IsZero() {
		return &domain.Error{Code: domain.EUNAUTHORIZED, Message: "This session has ended. Please sign in again."}
	}
	return &domain.Error{Code: domain.EUNAUTHORIZED, Message: "You were signed out after a period of inactivity. Please sign in again."}
}

// Logout ends the caller's session: its access and refresh tokens stop working.
func (s *Service) Logout(ctx context.Context, p *domain.Principal) error {
	if p.SessionID == "" {
		return domain.Invalid("", "API keys have no session to sign out of; revoke the key instead.")
	}
	if err := s.store.RevokeSession(ctx, p.SessionID, s.now()); err != nil {
		return err
	}
	s.forgetSession(ctx, p.SessionID)
	return s.record(ctx, audit.Event{Action: domain.ActionLogout, ResourceType: "user", ResourceID: p.UserID})
}

// touchEvery limits how often activity is written back to the session.
const touchEvery = 30 * time.Second

// Authenticate resolves a bearer credential (access token or API key) to the
// caller. The account is read on every request so that disabling it or
// changing its role takes effect at once.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*domain.Principal, error) {
	if IsAPIKey(bearer) {
		return s.authenticateAPIKey(ctx, bearer)
	}
	now := s.now()
	tok, ok := s.cache.token(bearer, now)
	if !ok {
		userID, sessionID, exp, err := s.signer.Parse(bearer)
		if err != nil {
			return nil, err
		}
		tok = tokenEntry{userID: userID, sessionID: sessionID, expires: exp}
		s.cache.putToken(bearer, tok)
	}
	entry, ok := s.cache.session(tok.sessionID, now)
	if !ok {
		epoch := s.cache.sessionEpoch()
		sess, u, err := s.store.SessionWithUser(ctx, tok.sessionID)
		if domain.IsCode(err, domain.ENOTFOUND) {
			return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "The access token is not valid."}
		}
		if err != nil {
			return nil, err
		}
		entry = sessionEntry{sess: sess, user: u, fetched: now}
		s.cache.putSession(entry, epoch)
	}
	sess, u := entry.sess, entry.user
	if sess.UserID != tok.userID {
		return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "The access token is not valid."}
	}
	set, err := s.settings.get(ctx)
	if err != nil {
		return nil, err
	}
	if !sess.Active(now, set.idle()) {
		s.cache.forgetSession(sess.ID)
		return nil, s.endedSession(ctx, sess, now)
	}
	if u.Disabled {
		return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "This account is disabled; contact the clinic's administrator."}
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			return nil, err
		}
		s.cache.forgetSession(sess.ID)
	}
	return &domain.Principal{
		UserID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, SessionID: sess.ID,
		MFAPending: set.requiresMFA(u.Role) && !u.MFAEnabled, Account: u,
	}, nil
}
