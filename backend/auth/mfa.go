package auth

import (
	"context"
	"github.com/healthhub/healthhub/backend/policy"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// MFAEnrollment is what an authenticator app needs: the secret, and the same
// as an otpauth:// URI for a QR code.
type MFAEnrollment struct {
	Secret string `json:"secret"`
	URI    string `json:"otpauth_uri"`
}

var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func mfaContext(userID string) string { return "user:" + userID + ":mfa" }

// EnrollMFA starts two-factor enrolment with a fresh secret. It takes effect
// only once ConfirmMFA sees a valid code from it.
func (s *Service) EnrollMFA(ctx context.Context, p *domain.Principal) (*MFAEnrollment, error) {
	if err := s.access.Self(p, policy.Update); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if u.MFAEnabled {
		return nil, domain.Errorf(domain.ECONFLICT, "Two-factor authentication is already on for this account; an administrator can reset it.")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "HealthHub", AccountName: u.Email, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	sealed, err := s.keys.Seal([]byte(key.Secret()), mfaContext(u.ID))
	if err != nil {
		return nil, err
	}
	u.MFASecret, u.UpdatedAt = sealed, s.now()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	s.forgetUser(ctx, u.ID)
	if err := s.record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "user", ResourceID: u.ID, Detail: "mfa=enroll"}); err != nil {
		return nil, err
	}
	return &MFAEnrollment{Secret: key.Secret(), URI: key.URL()}, nil
}

// ConfirmMFA turns two-factor authentication on once the user proves their
// app produces valid codes.
func (s *Service) ConfirmMFA(ctx context.Context, p *domain.Principal, code string) error {
	if err := s.access.Self(p, policy.Update); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	if u.MFAEnabled {
		return domain.Errorf(domain.ECONFLICT, "Two-factor authentication is already on for this account.")
	}
	if u.MFASecret == "" {
		return domain.Errorf(domain.ECONFLICT, "Start enrolment first (POST /api/v1/me/mfa/enroll).")
	}
	ok, err := s.checkTOTP(u, code, s.now())
	if err != nil {
		return err
	}
	if !ok {
		return domain.Invalid("code", "That code is not correct or has expired; enter the current 6-digit code from your authenticator app.")
	}
	u.MFAEnabled, u.UpdatedAt = true, s.now()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	s.forgetUser(ctx, u.ID)
	return s.record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "user", ResourceID: u.ID, Detail: "mfa=confirm"})
}

func (s *Service) checkTOTP(u *domain.User, code string, now time.Time) (bool, error) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return false, nil
	}
	secret, err := s.keys.Open(u.MFASecret, mfaContext(u.ID))
	if err != nil {
		s.logger.Error("two-factor secret cannot be decrypted", "user_id", u.ID)
		return false, domain.Errorf(domain.EINTERNAL, "Two-factor authentication is misconfigured for this account; ask an administrator to reset it.")
	}
	ok, err := totp.ValidateCustom(code, string(secret), now.UTC(), totpOpts)
	return ok && err == nil, nil
}

// TOTPCode returns the current code for a secret; tests and the CLI use it.
func TOTPCode(secret string, now time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, now.UTC(), totpOpts)
}
