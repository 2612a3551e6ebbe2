package auth

import (
	"context"
	"strings"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// Reauthenticate checks that the person at the keyboard is the signed-in
// account holder, before something that needs more than a session (such as
// emergency access to a record): the account's password, or, for an account
// with two-factor authentication, the current code from the authenticator
// app instead. A wrong answer counts towards the account's lockout like a
// failed sign-in and is recorded; it is refused as forbidden, not
// unauthorized, because the session itself stays valid.
func (s *Service) Reauthenticate(ctx context.Context, p *domain.Principal, password, totpCode string) error {
	if p == nil {
		return &domain.Error{Code: domain.EUNAUTHORIZED, Message: "Sign in first."}
	}
	password, totpCode = strings.TrimSpace(password), strings.TrimSpace(totpCode)
	if password == "" && totpCode == "" {
		return &domain.Error{Code: domain.EINVALID, Field: "password", Message: "Enter your password (or the code from your authenticator app) to confirm it is you."}
	}
	now := s.now()
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	if now.Before(u.LockedUntil) {
		return rateLimited(u.LockedUntil.Sub(now), "This account is locked after repeated failed attempts; try again in %s or ask an administrator to unlock it.")
	}
	var ok bool
	field, reason := "password", "bad_password"
	switch {
	case password != "":
		if len(password) <= MaxPasswordLength {
			if ok, err = s.verifyPassword(ctx, password, u.PasswordHash); err != nil {
				return err
			}
		}
	case !u.MFAEnabled:
		return &domain.Error{Code: domain.EINVALID, Field: "password", Message: "Your account has no authenticator app set up; enter your password."}
	default:
		field, reason = "totp_code", "bad_totp"
		if ok, err = s.checkTOTP(u, totpCode, now); err != nil {
			return err
		}
	}
	if !ok {
		if _, err := s.store.RecordLoginFailure(ctx, u.ID, s.lockUntil); err != nil {
			return err
		}
		if err := s.record(ctx, audit.Event{Action: domain.ActionVerify, ResourceType: "user", ResourceID: u.ID,
			Outcome: domain.OutcomeFailure, Detail: "reauthenticate reason=" + reason}); err != nil {
			return err
		}
		if field == "totp_code" {
			return &domain.Error{Code: domain.EFORBIDDEN, Field: field, Message: "That code is not correct or has expired; enter the current code from your authenticator app."}
		}
		return &domain.Error{Code: domain.EFORBIDDEN, Field: field, Message: "That password is not correct."}
	}
	if u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		if err := s.store.ResetLoginFailures(ctx, u.ID); err != nil {
			return err
		}
	}
	return nil
}
